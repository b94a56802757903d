package render

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aurora-federation/aurora/providers/internal/httpx"
)

// Wire types of the Render Compute ("Dispersed") API as its reference
// documents them (api-reference/compute/list-compute-offers,
// api-reference/jobs/create-job, stop-job; service-consumers/job-monitoring).

// offersResponse is GET /v1/compute/offers.
type offersResponse struct {
	Data  []offer `json:"data"`
	Limit int64   `json:"limit"`
	Page  int64   `json:"page"`
	Total int64   `json:"total"`
}

type offer struct {
	OfferID    string `json:"offer_id"`
	RegionCode string `json:"region_code"`
	Pricing    struct {
		HourlyRateUSD json.Number `json:"hourly_rate_usd"`
		QuotedAt      string      `json:"quoted_at,omitempty"`
	} `json:"pricing"`
	HardwareSummary struct {
		CPUCores      json.Number `json:"cpu_cores,omitempty"`
		GPUCount      int64       `json:"gpu_count"`
		GPUModelLabel string      `json:"gpu_model_label"`
		GPUModels     []struct {
			Count           int64       `json:"count"`
			GPURegistryUUID string      `json:"gpu_registry_uuid"`
			MinVRAMGiB      json.Number `json:"min_vram_gib"`
			Name            string      `json:"name"`
		} `json:"gpu_models"`
		GPURegistryUUID string      `json:"gpu_registry_uuid,omitempty"`
		RAMGiB          json.Number `json:"ram_gib,omitempty"`
		StorageGiB      json.Number `json:"storage_gib,omitempty"`
		MinGPUVRAMGiB   json.Number `json:"min_gpu_vram_gib,omitempty"`
	} `json:"hardware_summary"`
	Availability json.RawMessage `json:"availability,omitempty"`
}

// gpuModel is the offer's model name: the label, else the first model's name.
func (o offer) gpuModel() string {
	if o.HardwareSummary.GPUModelLabel != "" {
		return o.HardwareSummary.GPUModelLabel
	}
	if len(o.HardwareSummary.GPUModels) > 0 {
		return o.HardwareSummary.GPUModels[0].Name
	}
	return ""
}

// registryUUID is the GpuRegistry uuid of the offer's GPU: the first
// model's, else the summary's; "" if neither is stated.
func (o offer) registryUUID() string {
	if len(o.HardwareSummary.GPUModels) > 0 && o.HardwareSummary.GPUModels[0].GPURegistryUUID != "" {
		return o.HardwareSummary.GPUModels[0].GPURegistryUUID
	}
	return o.HardwareSummary.GPURegistryUUID
}

// registryName is the registry's name of the offer's first GPU model, ""
// if not stated. (gpu_model_label is a display label.)
func (o offer) registryName() string {
	if len(o.HardwareSummary.GPUModels) > 0 {
		return o.HardwareSummary.GPUModels[0].Name
	}
	return ""
}

// vramMiB is the offer's smallest per-GPU memory, 0 if not stated.
func (o offer) vramMiB() int64 {
	g := o.HardwareSummary.MinGPUVRAMGiB
	if g == "" && len(o.HardwareSummary.GPUModels) > 0 {
		g = o.HardwareSummary.GPUModels[0].MinVRAMGiB
	}
	f, err := strconv.ParseFloat(g.String(), 64)
	if err != nil || f <= 0 || f > 1<<20 {
		return 0
	}
	return int64(f * 1024)
}

// jobRequest is POST /v1/jobs.
type jobRequest struct {
	Task               string        `json:"task"`
	Title              string        `json:"title"`
	CPUCount           int64         `json:"cpu_count"`
	GPUCount           int64         `json:"gpu_count"`
	GPUName            string        `json:"gpu_name,omitempty"`
	GPURegistryUUID    string        `json:"gpu_registry_uuid,omitempty"`
	MinRAMGB           int64         `json:"min_ram_gb"`
	MinStorageGB       int64         `json:"min_storage_gb"`
	MinVRAMGB          int64         `json:"min_vram_gb,omitempty"`
	MaxTimeoutRunMS    *int64        `json:"max_timeout_run_ms"` // null for PERSISTENT
	MaxNodeCount       int64         `json:"max_node_count"`
	MaxRetryCount      int64         `json:"max_retry_count"`
	MaxTimeoutAssignMS int64         `json:"max_timeout_assign_ms"`
	MaxTimeoutStartMS  int64         `json:"max_timeout_start_ms"`
	Parameters         jobParameters `json:"parameters"`
}

type jobParameters struct {
	Type       string       `json:"type"` // "docker"
	Parameters dockerParams `json:"parameters"`
}

type dockerParams struct {
	Image string            `json:"image"`
	Tag   string            `json:"tag"`
	Env   map[string]string `json:"env"`
	Ports []int64           `json:"ports"`
}

// job is the Job object.
type job struct {
	Object       string `json:"object"`
	UUID         string `json:"uuid"`
	Status       string `json:"status"`
	StatusReason string `json:"status_reason,omitempty"`
	Task         string `json:"task"`
	Title        string `json:"title"`
	GPUCount     int64  `json:"gpu_count"`
	GPUName      string `json:"gpu_name,omitempty"`
	CreatedAt    any    `json:"created_at,omitempty"`
	UpdatedAt    any    `json:"updated_at,omitempty"`
	StartedAt    any    `json:"started_at,omitempty"`
	CompletedAt  any    `json:"completed_at,omitempty"`
	Parameters   struct {
		Parameters struct {
			Ports []int64 `json:"ports"`
		} `json:"parameters"`
	} `json:"parameters"`
}

// runsResponse is GET /v1/job-runs?filter[job_uuid]= (Render Compute docs
// service-consumers/job-monitoring).
type runsResponse struct {
	Data  []jobRun `json:"data"`
	Page  int64    `json:"page"`
	Limit int64    `json:"limit"`
	Total int64    `json:"total"`
}

type jobRun struct {
	UUID        string `json:"uuid"`
	Status      string `json:"status"`
	StartedAtMS int64  `json:"started_at_ms"`
	NodeURLs    []struct {
		Description string `json:"description"`
		Hostname    string `json:"hostname"`
		Port        int64  `json:"port"`
		Protocol    string `json:"protocol"`
	} `json:"node_urls"`
}

// Bounds of a job-runs answer the adapter reads.
const (
	maxRuns     = 64
	maxNodeURLs = 32
)

func parseRuns(b []byte) (runsResponse, error) {
	var r runsResponse
	if err := httpx.DecodeJSON(b, &r); err != nil {
		return r, fmt.Errorf("render: job runs: %w", err)
	}
	if len(r.Data) > maxRuns {
		r.Data = r.Data[:maxRuns]
	}
	for i := range r.Data {
		run := &r.Data[i]
		if len(run.NodeURLs) > maxNodeURLs {
			run.NodeURLs = run.NodeURLs[:maxNodeURLs]
		}
		for _, u := range run.NodeURLs {
			if !validHost(u.Hostname) || u.Port < 1 || u.Port > 65535 {
				return r, fmt.Errorf("render: job run %s: bad node url %q:%d", httpx.Excerpt([]byte(run.UUID), 64), httpx.Excerpt([]byte(u.Hostname), 64), u.Port)
			}
		}
	}
	return r, nil
}

// validHost accepts a DNS name or an IP literal without brackets: no
// scheme, path, user or white space.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// jobsResponse is GET /v1/jobs.
type jobsResponse struct {
	Data  []job `json:"data"`
	Limit int64 `json:"limit"`
	Page  int64 `json:"page"`
	Total int64 `json:"total"`
}

// Job statuses (job lifecycle guide).
const (
	statusPending    = "PENDING"
	statusAssigned   = "ASSIGNED"
	statusRunning    = "RUNNING"
	statusCompleted  = "COMPLETED"
	statusCancelling = "CANCELLING"
	statusCancelled  = "CANCELLED"
	statusFailed     = "FAILED"
)

func parseOffers(b []byte) (offersResponse, error) {
	var r offersResponse
	if err := httpx.DecodeJSON(b, &r); err != nil {
		return r, fmt.Errorf("render: offers: %w", err)
	}
	for _, o := range r.Data {
		if !validID(o.OfferID) {
			return r, fmt.Errorf("render: offers: bad offer_id %q", httpx.Excerpt([]byte(o.OfferID), 80))
		}
		if o.HardwareSummary.GPUCount < 0 {
			return r, fmt.Errorf("render: offer %s: negative gpu_count", o.OfferID)
		}
	}
	if r.Total < 0 || r.Limit < 0 || r.Page < 0 {
		return r, fmt.Errorf("render: offers: negative paging fields")
	}
	return r, nil
}

func parseJob(b []byte) (job, error) {
	var j job
	if err := httpx.DecodeJSON(b, &j); err != nil {
		return j, fmt.Errorf("render: job: %w", err)
	}
	if !validID(j.UUID) || j.Status == "" {
		return j, fmt.Errorf("render: job: missing uuid or status in %s", httpx.Excerpt(b, 200))
	}
	return j, nil
}

func parseJobs(b []byte) (jobsResponse, error) {
	var r jobsResponse
	if err := httpx.DecodeJSON(b, &r); err != nil {
		return r, fmt.Errorf("render: jobs: %w", err)
	}
	for _, j := range r.Data {
		if !validID(j.UUID) {
			return r, fmt.Errorf("render: jobs: bad uuid %q", httpx.Excerpt([]byte(j.UUID), 80))
		}
	}
	if r.Total < 0 {
		return r, fmt.Errorf("render: jobs: negative total")
	}
	return r, nil
}

// validID accepts uuid-like ids; it keeps path injection out of requests
// built from ids the network or a caller hands us.
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parseTime reads a timestamp the API may write as RFC 3339 text or as Unix
// milliseconds (the job-runs objects use *_ms fields); zero if neither.
func parseTime(v any) time.Time {
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t
		}
	case float64:
		if x > 0 && x < 1e15 {
			return time.UnixMilli(int64(x)).UTC()
		}
	}
	return time.Time{}
}

// normStatus upper-cases a status for comparison.
func normStatus(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }
