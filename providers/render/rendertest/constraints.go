package rendertest

// Constraint is one published rule of the Render Compute create-job API
// that the fake keeps: Refuse edits a valid create body (ValidJobBody) so
// that it breaks the rule. The fake then refuses the body (400), or, when
// Unassigned, accepts it but never assigns the job to a node, since the GPU
// it names is no GPU of the registry. constraints_test.go checks every row.
// Render publishes no repository; rows cite its rendered API reference
// (stored copies of otoyinc.mintlify.app, read 2026-12).
type Constraint struct {
	Name, Source string
	Refuse       func(body map[string]any)
	Unassigned   bool
}

const (
	createJobPage  = "Render Compute docs https://otoyinc.mintlify.app/api-reference/jobs/create-job"
	listOffersPage = "Render Compute docs https://otoyinc.mintlify.app/api-reference/compute/list-compute-offers"
)

// ValidJobBody is a create-job body the default fake accepts and assigns:
// a BATCH job on the registry's "NVIDIA RTX 4090" by registry uuid. The
// map is new on each call.
func ValidJobBody() map[string]any {
	return map[string]any{
		"task": "BATCH", "title": "aur-constraints", "cpu_count": 4, "gpu_count": 1,
		"gpu_registry_uuid": RegistryUUID("NVIDIA RTX 4090"),
		"min_ram_gb":        16, "min_storage_gb": 10, "min_vram_gb": 16, "max_timeout_run_ms": 3_600_000,
		"max_node_count": 1, "max_retry_count": 0, "max_timeout_assign_ms": 300_000, "max_timeout_start_ms": 300_000,
		"parameters": map[string]any{"type": "docker", "parameters": map[string]any{
			"image": "ghcr.io/aurora-federation/conformance", "tag": "1", "env": map[string]string{}, "ports": []int{8000}}},
	}
}

// Constraints returns the table. The slice is new on each call.
func Constraints() []Constraint {
	return []Constraint{
		{Name: "task is BATCH or PERSISTENT", Source: createJobPage + " (task)",
			Refuse: func(b map[string]any) { b["task"] = "batch" }},
		{Name: "a BATCH job runs at least 60000 ms", Source: createJobPage + " (max_timeout_run_ms: x >= 60000)",
			Refuse: func(b map[string]any) { b["max_timeout_run_ms"] = 59_999 }},
		{Name: "a PERSISTENT job has no run timeout", Source: createJobPage + " (max_timeout_run_ms null for PERSISTENT)",
			Refuse: func(b map[string]any) { b["task"] = "PERSISTENT" }},
		{Name: "gpu_name and gpu_registry_uuid are mutually exclusive", Source: createJobPage + " (gpu_name: mutually exclusive with gpu_registry_uuid)",
			Refuse: func(b map[string]any) { b["gpu_name"] = "NVIDIA RTX 4090" }},
		{Name: "gpu_registry_uuid is a uuid", Source: createJobPage + " (gpu_registry_uuid: UUID of a GPU from the GpuRegistry); " + listOffersPage + " (filter[gpu_registry_uuid]: string<uuid>)",
			Refuse: func(b map[string]any) { b["gpu_registry_uuid"] = "gpu-off-4090-use1" }},
		{Name: "gpu_registry_uuid names a registry GPU", Source: createJobPage + " (gpu_registry_uuid: exact GPU targeting)", Unassigned: true,
			Refuse: func(b map[string]any) { b["gpu_registry_uuid"] = RegistryUUID("RTX 4090") }},
		{Name: "gpu_name is the registry's name, not a looser spelling", Source: createJobPage + ` (gpu_name: "The name of the GPU to use", example "NVIDIA RTX 4090"); ` + listOffersPage + " (gpu_models[].name)", Unassigned: true,
			Refuse: func(b map[string]any) { delete(b, "gpu_registry_uuid"); b["gpu_name"] = "RTX 4090" }},
		{Name: "gpu_name matches case exactly", Source: createJobPage + " (gpu_name)", Unassigned: true,
			Refuse: func(b map[string]any) { delete(b, "gpu_registry_uuid"); b["gpu_name"] = "nvidia rtx 4090" }},
		{Name: "parameters.type is docker", Source: createJobPage + " (parameters.type)",
			Refuse: func(b map[string]any) { b["parameters"].(map[string]any)["type"] = "vm" }},
		{Name: "unknown fields are refused", Source: createJobPage + " (request schema) [I: strictness assumed]",
			Refuse: func(b map[string]any) { b["command"] = []string{"python"} }},
	}
}
