package ionettest

import "net/http"

// Constraint is one published rule of io.net's CaaS deploy endpoint that
// the fake keeps: Refuse edits a valid deploy body (ValidDeployBody) so
// that it breaks the rule, and the fake answers Status (constraints_test.go
// checks every row). Source names the page the rule comes from; io.net
// publishes its API reference as rendered OpenAPI pages, not as a
// repository, so rows cite the page (stored copies read 2026-12).
type Constraint struct {
	Name, Source string
	Refuse       func(body map[string]any)
	Status       int
}

const (
	deployPage = "io.net docs https://io.net/docs/reference/caas/deploy-a-container"
	updatePage = "io.net docs https://io.net/docs/reference/caas/update-deployment-configuration"
)

// ValidDeployBody is a flat deploy body the default fake accepts. The map
// is new on each call.
func ValidDeployBody() map[string]any {
	return map[string]any{
		"resource_private_name": "aur-constraints", "duration_hours": 1, "gpus_per_container": 1,
		"hardware_id": 9, "location_ids": []int64{11}, "replica_count": 1,
		"entrypoint": []string{"python3", "-m", "http.server", "8000"}, "traffic_port": 8000,
		"image_url": "ghcr.io/aurora-federation/conformance:1", "env_variables": map[string]string{"K": "V"},
	}
}

// Constraints returns the table. The slice is new on each call.
func Constraints() []Constraint {
	drop := func(k string) func(map[string]any) { return func(b map[string]any) { delete(b, k) } }
	const invalid = http.StatusUnprocessableEntity
	return []Constraint{
		{"entrypoint is required", deployPage + " (entrypoint: string[], required)", drop("entrypoint"), invalid},
		{"traffic_port is required", deployPage + " (traffic_port: integer, required; one HTTP port, used for health checks)", drop("traffic_port"), invalid},
		{"image_url is required", deployPage + " (image_url)", drop("image_url"), invalid},
		{"replica_count is required", deployPage + " (replica_count: integer, required)", drop("replica_count"), invalid},
		{"resource_private_name is required", deployPage + " (resource_private_name: string, required)", drop("resource_private_name"), invalid},
		{"duration_hours is required", deployPage + " (duration_hours: integer, required)", drop("duration_hours"), invalid},
		{"hardware_id is required", deployPage + " (hardware_id: integer, required)", drop("hardware_id"), invalid},
		{"location_ids is required", deployPage + " (location_ids: integer[], required)", drop("location_ids"), invalid},
		{"a container_config wrapper is extra_forbidden", updatePage + ` ("Including a container_config key will result in a extra_forbidden error")`,
			func(b map[string]any) {
				b["container_config"] = map[string]any{"replica_count": 1, "entrypoint": b["entrypoint"], "traffic_port": 8000}
			}, invalid},
		{"fields are typed", deployPage + " (duration_hours: integer)", func(b map[string]any) { b["duration_hours"] = "one" }, invalid},
	}
}
