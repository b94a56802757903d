package treaty

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// Template names.
const (
	TemplateBilateral     = "bilateral"
	TemplateGPUInference  = "gpu-inference"
	TemplateSovereignEU   = "sovereign-eu"
	TemplateBurstOverflow = "burst-overflow"
)

// Templates lists the template names in a stable order.
func Templates() []string {
	return []string{TemplateBilateral, TemplateBurstOverflow, TemplateGPUInference, TemplateSovereignEU}
}

// Proposal describes a treaty to create from a template.
type Proposal struct {
	Template   string
	Federation string
	// Proposer is the DID of the node proposing; Peer the counterparty.
	Proposer DID
	Peer     DID
	// Now starts the validity window.
	Now time.Time
	// Set overrides template values: key=value pairs, see TemplateKeys.
	Set map[string]string
}

// TemplateKeys are the keys Proposal.Set accepts.
func TemplateKeys() []string {
	return []string{"credit_limit", "gpu_hours_per_day", "max_inflight", "max_markup", "max_price_per_gpu_hour", "min_markup", "min_provider_reputation",
		"orders_per_min", "policy_deadline_ms", "policy_memory_pages", "policy_module", "policy_params", "providers",
		"regions", "seq", "validity_days"}
}

// FromTemplate builds an unsigned treaty from a template.
//
//   - bilateral: lanes both ways, 64 in flight and 600 orders/min each way,
//     reputation ≥ 500‰, 90 days.
//   - gpu-inference: lanes both ways with a GPU-hour budget (240/day), price cap
//     4 USD per GPU-hour, reputation ≥ 800‰, SLA fill 95 %, RTT p95 350 ms.
//   - sovereign-eu: like bilateral, restricted to EU regions.
//   - burst-overflow: one lane, proposer → peer, 256 in flight and 1,200
//     orders/min, 7 days.
//
// Every template names the standard law (policy.module "") with params
// from the treaty's own fields; the policy_module key names another module
// by CID (CIDv1, raw codec, sha2-256 of its wasm: `aurora policy add`
// prints it), policy_params gives its params (base64 of their canonical
// CBOR, at most MaxParamsLen bytes), policy_deadline_ms and
// policy_memory_pages its limits.
func FromTemplate(p Proposal) (*Treaty, error) {
	if p.Proposer == p.Peer {
		return nil, fmt.Errorf("treaty: template: proposer and peer are the same DID")
	}
	for _, d := range []DID{p.Proposer, p.Peer} {
		if _, err := d.PublicKey(); err != nil {
			return nil, err
		}
	}
	parties := []DID{p.Proposer, p.Peer}
	slices.Sort(parties)
	t := &Treaty{
		V:          Version,
		Federation: p.Federation,
		Template:   p.Template,
		Parties:    parties,
		Seq:        1,
		NotBefore:  p.Now.Unix(),
		Regions:    []string{},
		Providers:  []string{},
		Policy:     PolicyRef{ABI: policyABIFedpolicy, Params: []byte{}, DeadlineMS: 50}, // MemoryPages 0: the engine default (Go-built modules need ≥ 33 pages)
		Sigs:       []PartySig{},
		SLA:        SLA{FillRate: 800, RTTP95MS: 350},
	}
	validity := 90
	both := func(inflight, perMin, gpuHours int64) []Lane {
		return []Lane{
			{From: p.Proposer, To: p.Peer, MaxInflight: inflight, OrdersPerMin: perMin, GPUHoursPerDay: gpuHours},
			{From: p.Peer, To: p.Proposer, MaxInflight: inflight, OrdersPerMin: perMin, GPUHoursPerDay: gpuHours},
		}
	}
	switch p.Template {
	case TemplateBilateral:
		t.Lanes = both(64, 600, 0)
		t.MinProviderReputation = 500
	case TemplateGPUInference:
		t.Lanes = both(32, 300, 240)
		t.MinProviderReputation = 800
		t.MaxPricePerGPUHour = 4_000_000
		t.SLA = SLA{FillRate: 950, RTTP95MS: 350}
	case TemplateSovereignEU:
		t.Lanes = both(64, 600, 0)
		t.MinProviderReputation = 500
		t.Regions = []string{"eu-central", "eu-north", "eu-west"}
	case TemplateBurstOverflow:
		t.Lanes = []Lane{{From: p.Proposer, To: p.Peer, MaxInflight: 256, OrdersPerMin: 1200}}
		t.MinProviderReputation = 300
		validity = 7
	default:
		return nil, fmt.Errorf("treaty: unknown template %q (have %s)", p.Template, strings.Join(Templates(), ", "))
	}
	keys := make([]string, 0, len(p.Set))
	for k := range p.Set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := p.Set[k]
		if k == "validity_days" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 5*365 {
				return nil, fmt.Errorf("treaty: template: validity_days=%q: want 1 to %d", v, 5*365)
			}
			validity = n
			continue
		}
		if err := t.set(k, v); err != nil {
			return nil, err
		}
	}
	t.NotAfter = t.NotBefore + int64(validity)*86400
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Treaty) set(key, val string) error {
	num := func() (int64, error) {
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("treaty: template: %s=%q: not an integer", key, val)
		}
		return n, nil
	}
	list := func() []string {
		if val == "" {
			return []string{}
		}
		l := strings.Split(val, ",")
		slices.Sort(l)
		return slices.Compact(l)
	}
	var n int64
	var err error
	switch key {
	case "regions":
		t.Regions = list()
	case "providers":
		t.Providers = list()
	case "policy_module":
		if val != "" {
			c, err := cid.Decode(val)
			if err != nil {
				return fmt.Errorf("treaty: template: policy_module=%q: not a CID: %v", val, err)
			}
			if p := c.Prefix(); p.Version != 1 || p.Codec != cid.Raw || p.MhType != multihash.SHA2_256 {
				return fmt.Errorf("treaty: template: policy_module=%q: not a module CID (CIDv1, raw codec, sha2-256 of the wasm)", val)
			}
			val = c.String()
		}
		t.Policy.Module = val
	case "policy_params":
		b, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			return fmt.Errorf("treaty: template: policy_params: not base64: %v", err)
		}
		if len(b) > MaxParamsLen {
			return fmt.Errorf("treaty: template: policy_params: %d bytes, limit %d", len(b), MaxParamsLen)
		}
		t.Policy.Params = b
	case "max_price_per_gpu_hour", "min_provider_reputation", "seq", "max_inflight", "orders_per_min", "gpu_hours_per_day",
		"policy_deadline_ms", "policy_memory_pages", "min_markup", "max_markup", "credit_limit":
		if n, err = num(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("treaty: template: unknown key %q (have %s)", key, strings.Join(TemplateKeys(), ", "))
	}
	switch key {
	case "max_price_per_gpu_hour":
		t.MaxPricePerGPUHour = n
	case "min_markup":
		t.Credit.MinMarkup = n
	case "max_markup":
		t.Credit.MaxMarkup = n
	case "credit_limit":
		t.Credit.Limit = n
	case "min_provider_reputation":
		t.MinProviderReputation = n
	case "seq":
		t.Seq = n
	case "policy_deadline_ms":
		t.Policy.DeadlineMS = n
	case "policy_memory_pages":
		t.Policy.MemoryPages = n
	case "max_inflight":
		for i := range t.Lanes {
			t.Lanes[i].MaxInflight = n
		}
	case "orders_per_min":
		for i := range t.Lanes {
			t.Lanes[i].OrdersPerMin = n
		}
	case "gpu_hours_per_day":
		for i := range t.Lanes {
			t.Lanes[i].GPUHoursPerDay = n
		}
	}
	return nil
}
