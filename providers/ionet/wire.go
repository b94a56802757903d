package ionet

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
)

// Wire types of the IO Cloud CaaS API (https://api.io.solutions/enterprise/v1/io-cloud/caas),
// as documented in io.net's OpenAPI fragments; where only a third-party
// client shows a shape, the decoder is lenient (unknown fields are ignored,
// numbers may arrive as JSON numbers or strings).

// hardwareResponse is GET /hardware/max-gpus-per-container.
type hardwareResponse struct {
	Data struct {
		Hardware []hardware `json:"hardware"`
		Total    int64      `json:"total"`
	} `json:"data"`
}

type hardware struct {
	HardwareID          int64  `json:"hardware_id"`
	HardwareName        string `json:"hardware_name"`
	BrandName           string `json:"brand_name"`
	MaxGPUsPerContainer int64  `json:"max_gpus_per_container"`
	Available           int64  `json:"available"`
}

// replicasResponse is GET /available-replicas.
type replicasResponse struct {
	Data []location `json:"data"`
}

type location struct {
	ID                int64  `json:"id"`
	ISO2              string `json:"iso2"`
	Name              string `json:"name"`
	AvailableReplicas int64  `json:"available_replicas"`
}

// priceResponse is GET /price. total_cost_usdc is the prepaid total for
// the whole duration, all replicas, in USDC.
type priceResponse struct {
	Data struct {
		ReplicaCount     int64       `json:"replica_count"`
		GPUsPerContainer int64       `json:"gpus_per_container"`
		TotalCostUSDC    json.Number `json:"total_cost_usdc"`
		Discount         json.Number `json:"discount,omitempty"`
		IonetFee         json.Number `json:"ionet_fee,omitempty"`
	} `json:"data"`
}

// deployRequest is POST /deploy in the flat form of the current API: every
// configuration field at the top level. The documentation's older nested
// form (container_config, registry_config) is refused with extra_forbidden
// (io.net docs reference/caas/update-deployment-configuration), and
// entrypoint and traffic_port are required
// (reference/caas/deploy-a-container); ionettest.Constraints holds the rows.
type deployRequest struct {
	ResourcePrivateName string            `json:"resource_private_name"`
	DurationHours       int64             `json:"duration_hours"`
	GPUsPerContainer    int64             `json:"gpus_per_container"`
	HardwareID          int64             `json:"hardware_id"`
	LocationIDs         []int64           `json:"location_ids"`
	ReplicaCount        int64             `json:"replica_count"`
	EnvVariables        map[string]string `json:"env_variables,omitempty"`
	SecretEnvVariables  map[string]string `json:"secret_env_variables,omitempty"`
	// Entrypoint is required; an empty list keeps the image's own.
	Entrypoint []string `json:"entrypoint"`
	Args       []string `json:"args,omitempty"`
	// TrafficPort is required: CaaS runs HTTP servers on one port, which
	// it also health-checks.
	TrafficPort      int64  `json:"traffic_port"`
	ImageURL         string `json:"image_url"`
	RegistryUsername string `json:"registry_username,omitempty"`
	RegistrySecret   string `json:"registry_secret,omitempty"`
}

// deployResponse is the answer to POST /deploy and DELETE /deployment/{id}.
type deployResponse struct {
	Status       string `json:"status"`
	DeploymentID string `json:"deployment_id"`
}

// deploymentResponse is GET /deployment/{id}.
type deploymentResponse struct {
	Data deployment `json:"data"`
}

type deployment struct {
	ID                      string      `json:"id"`
	Status                  string      `json:"status"`
	Name                    string      `json:"name,omitempty"`
	CreatedAt               string      `json:"created_at,omitempty"`
	StartedAt               string      `json:"started_at,omitempty"`
	FinishedAt              string      `json:"finished_at,omitempty"`
	AmountPaid              json.Number `json:"amount_paid,omitempty"`
	CompletedPercent        json.Number `json:"completed_percent,omitempty"`
	TotalGPUs               int64       `json:"total_gpus,omitempty"`
	GPUsPerContainer        int64       `json:"gpus_per_container,omitempty"`
	TotalContainers         int64       `json:"total_containers,omitempty"`
	HardwareName            string      `json:"hardware_name,omitempty"`
	HardwareID              int64       `json:"hardware_id,omitempty"`
	BrandName               string      `json:"brand_name,omitempty"`
	ComputeMinutesServed    json.Number `json:"compute_minutes_served,omitempty"`
	ComputeMinutesRemaining json.Number `json:"compute_minutes_remaining,omitempty"`
	Locations               []struct {
		ID   int64  `json:"id"`
		ISO2 string `json:"iso2"`
		Name string `json:"name"`
	} `json:"locations,omitempty"`
	ContainerConfig struct {
		TrafficPort   int64    `json:"traffic_port,omitempty"`
		SecretEnvKeys []string `json:"secret_env_keys,omitempty"`
	} `json:"container_config"`
}

// containersResponse is GET /deployment/{id}/containers: one worker per
// running container, each with the public_url its traffic_port is served
// at. Shape from the third-party client QuantumNous/new-api
// (pkg/ionet/types.go ContainerList, Container) [3P]: io.net's reference
// renders no schema for it.
type containersResponse struct {
	Data struct {
		Total   int64 `json:"total"`
		Workers []struct {
			ContainerID string `json:"container_id"`
			Status      string `json:"status"`
			PublicURL   string `json:"public_url"`
		} `json:"workers"`
	} `json:"data"`
}

// maxWorkers bounds the endpoints read from one containers answer.
const maxWorkers = 64

func parseContainers(b []byte, trafficPort int64) ([]providers.Endpoint, error) {
	var r containersResponse
	if err := httpx.DecodeJSON(b, &r); err != nil {
		return nil, fmt.Errorf("ionet: containers: %w", err)
	}
	var eps []providers.Endpoint
	for _, wk := range r.Data.Workers {
		if len(eps) == maxWorkers {
			break
		}
		if wk.PublicURL == "" {
			continue
		}
		u, err := url.Parse(wk.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil || len(wk.PublicURL) > 512 {
			return nil, fmt.Errorf("ionet: containers: bad public_url %q", httpx.Excerpt([]byte(wk.PublicURL), 80))
		}
		port := 443
		if u.Scheme == "http" {
			port = 80
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("ionet: containers: bad port in public_url %q", httpx.Excerpt([]byte(wk.PublicURL), 80))
			}
			port = n
		}
		eps = append(eps, providers.Endpoint{Kind: providers.EndpointHTTP, Host: u.Hostname(), Port: port, ContainerPort: int(trafficPort), URL: u.String()})
	}
	return eps, nil
}

// deploymentsResponse is GET /deployments (paged).
type deploymentsResponse struct {
	Data struct {
		Deployments []deploymentItem `json:"deployments"`
		Total       int64            `json:"total"`
	} `json:"data"`
}

type deploymentItem struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at,omitempty"`
}

// Statuses of CaaSResourceStatus. The API documents lowercase with spaces;
// third-party fakes use "Running" or "RUNNING", so compare case-insensitively.
const (
	statusRequested   = "deployment requested"
	statusRunning     = "running"
	statusCompleted   = "completed"
	statusFailed      = "failed"
	statusTermination = "termination requested"
	statusDestroyed   = "destroyed"
)

func normStatus(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(strings.ReplaceAll(s, "_", " "))), " ")
}

// Response parsers: each decodes a bounded body and checks what the adapter
// relies on, so a hostile or broken server yields a clear error.

func parseHardware(b []byte) ([]hardware, error) {
	var r hardwareResponse
	if err := httpx.DecodeJSON(b, &r); err != nil {
		return nil, fmt.Errorf("ionet: hardware: %w", err)
	}
	for _, h := range r.Data.Hardware {
		if h.HardwareID <= 0 || h.HardwareName == "" {
			return nil, fmt.Errorf("ionet: hardware: entry without id or name: %+v", h)
		}
		if h.MaxGPUsPerContainer < 0 || h.Available < 0 {
			return nil, fmt.Errorf("ionet: hardware %d: negative count", h.HardwareID)
		}
	}
	return r.Data.Hardware, nil
}

func parseReplicas(b []byte) ([]location, error) {
	var r replicasResponse
	if err := httpx.DecodeJSON(b, &r); err != nil {
		return nil, fmt.Errorf("ionet: available replicas: %w", err)
	}
	for _, l := range r.Data {
		if l.ID <= 0 || l.AvailableReplicas < 0 {
			return nil, fmt.Errorf("ionet: available replicas: bad location %+v", l)
		}
	}
	return r.Data, nil
}

func parsePrice(b []byte) (json.Number, error) {
	var r priceResponse
	if err := httpx.DecodeJSON(b, &r); err != nil {
		return "", fmt.Errorf("ionet: price: %w", err)
	}
	if r.Data.TotalCostUSDC == "" {
		return "", fmt.Errorf("ionet: price: no total_cost_usdc in %s", httpx.Excerpt(b, 200))
	}
	return r.Data.TotalCostUSDC, nil
}

func parseDeploy(b []byte) (deployResponse, error) {
	var r deployResponse
	if err := httpx.DecodeJSON(b, &r); err != nil {
		return r, fmt.Errorf("ionet: deploy: %w", err)
	}
	if !validID(r.DeploymentID) {
		return r, fmt.Errorf("ionet: deploy: bad deployment_id %q", httpx.Excerpt([]byte(r.DeploymentID), 80))
	}
	return r, nil
}

func parseDeployment(b []byte) (deployment, error) {
	var r deploymentResponse
	if err := httpx.DecodeJSON(b, &r); err != nil {
		return deployment{}, fmt.Errorf("ionet: deployment: %w", err)
	}
	if !validID(r.Data.ID) || r.Data.Status == "" {
		return deployment{}, fmt.Errorf("ionet: deployment: missing id or status in %s", httpx.Excerpt(b, 200))
	}
	return r.Data, nil
}

func parseDeployments(b []byte) (deploymentsResponse, error) {
	var r deploymentsResponse
	if err := httpx.DecodeJSON(b, &r); err != nil {
		return r, fmt.Errorf("ionet: deployments: %w", err)
	}
	for _, d := range r.Data.Deployments {
		if !validID(d.ID) {
			return r, fmt.Errorf("ionet: deployments: bad id %q", httpx.Excerpt([]byte(d.ID), 80))
		}
	}
	return r, nil
}

// validID accepts the uuid-like ids io.net issues; it keeps path injection
// ("../", "?") out of later requests built from them.
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
