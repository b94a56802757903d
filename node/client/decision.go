package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// Decision is GET /v1/jobs/{id}/decision: the policy decision a node logged
// for an order, enough for anyone to re-run it. Entry is the canonical
// dag-cbor policy.LogEntry (base64 in JSON), the record a re-run checks;
// the other fields show what it holds.
type Decision struct {
	Job string `json:"job"`
	// Module is the CID of the module that decided (raw, sha2-256 of its
	// wasm); GET /v1/policies/{cid} serves its bytes.
	Module string `json:"module"`
	// Params is the params' CID and ParamsData their canonical CBOR.
	Params     string `json:"params"`
	ParamsData []byte `json:"params_data"`
	// Facts are the input record's fields; Input is the record itself
	// (order-facts/1, 256 bytes) and InputSHA256 its hash (hex).
	Facts       DecisionFacts `json:"facts"`
	Input       []byte        `json:"input"`
	InputSHA256 string        `json:"input_sha256"`
	// Result is "allow", "deny" (reason bits) or "indeterminate"; Word is
	// the module's decision word and Reasons its named reason bits.
	Result  string   `json:"result"`
	Word    uint32   `json:"word"`
	Reasons []string `json:"reasons"`
	// At is the decision time (unix ms), the input's now.
	At    int64  `json:"at"`
	Entry []byte `json:"entry"`
}

// DecisionFacts are the fields of an order-facts/1 record (times in unix
// ms, prices in micro-USD per hour, client the SHA-256 of its DID in hex).
type DecisionFacts struct {
	Now                int64    `json:"now"`
	OrderCreated       int64    `json:"order_created"`
	OrderExpires       int64    `json:"order_expires"`
	NonceFresh         bool     `json:"nonce_fresh"`
	LaneApplies        bool     `json:"lane_applies"`
	Client             string   `json:"client"`
	GPUModel           string   `json:"gpu_model"`
	GPUCount           uint32   `json:"gpu_count"`
	GPUHours           uint32   `json:"gpu_hours"`
	MaxPricePerHour    int64    `json:"max_price_per_hour"`
	OfferPricePerHour  int64    `json:"offer_price_per_hour"`
	ProviderReputation uint32   `json:"provider_reputation"`
	InflightUsed       uint32   `json:"inflight_used"`
	OrdersLastMinute   uint32   `json:"orders_last_minute"`
	GPUHoursUsedToday  uint32   `json:"gpu_hours_used_today"`
	CPUMillis          uint32   `json:"cpu_millis"`
	MemoryMiB          uint32   `json:"memory_mib"`
	DurationSec        uint32   `json:"duration_sec"`
	RegionCount        uint8    `json:"region_count"`
	Regions            []string `json:"regions"`
	Provider           string   `json:"provider"`
	ProviderRegion     string   `json:"provider_region"`
}

// MaxModuleBytes bounds a module Module reads: policy.max_fetch_bytes' own
// maximum (what one bitswap message carries).
const MaxModuleBytes = 4<<20 - 64<<10

// Decision fetches the policy decision a node logged for job.
func (c *Client) Decision(ctx context.Context, job string) (*Decision, error) {
	var out Decision
	if err := c.Do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(job)+"/decision", "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Module fetches a policy module's wasm by CID. The caller checks the
// bytes against the CID before trusting them.
func (c *Client) Module(ctx context.Context, module string) ([]byte, error) {
	b, err := c.Raw(ctx, http.MethodGet, "/v1/policies/"+url.PathEscape(module), "", nil)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxModuleBytes {
		return nil, fmt.Errorf("client: module %s: %d bytes, limit %d", module, len(b), MaxModuleBytes)
	}
	return b, nil
}
