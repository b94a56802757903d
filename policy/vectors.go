package policy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/policy/sdk"
)

// VectorsSchema names the conformance vector file format.
const VectorsSchema = "fedpolicy-vectors/1"

// Limits of a vectors file.
const (
	MaxVectorsBytes = 8 << 20
	MaxVectors      = 20000
)

// Vector is one conformance case: under Params, Facts must yield Want.
type Vector struct {
	Name   string
	Params []byte
	Facts  Facts
	Want   uint32
}

// VectorResult is the outcome of one Vector.
type VectorResult struct {
	Name    string
	Want    uint32
	Got     uint32
	Reasons []string // of Got
	Err     error    // evaluation error, if any
}

// Pass reports whether the vector got its expected word.
func (r VectorResult) Pass() bool { return r.Err == nil && r.Got == r.Want }

// vectorFile is the JSON form of a vectors file.
type vectorFile struct {
	Schema string       `json:"schema"`
	Params string       `json:"params,omitempty"` // base64 of the default params
	Cases  []vectorJSON `json:"cases"`
}

type vectorJSON struct {
	Name    string    `json:"name"`
	Params  *string   `json:"params,omitempty"` // base64; overrides the file's
	Facts   FactsJSON `json:"facts"`
	Want    uint32    `json:"want"`
	Reasons []string  `json:"reasons,omitempty"` // informative: names of want's bits
}

// FactsJSON is the human form of Facts used in vector files: names as text,
// the client hash as hex.
type FactsJSON struct {
	Now                int64    `json:"now"`
	OrderCreated       int64    `json:"order_created"`
	OrderExpires       int64    `json:"order_expires"`
	NonceFresh         bool     `json:"nonce_fresh"`
	LaneApplies        bool     `json:"lane_applies"`
	Client             string   `json:"client,omitempty"`
	GPUModel           string   `json:"gpu_model,omitempty"`
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
	Regions            []string `json:"regions,omitempty"`
	Provider           string   `json:"provider,omitempty"`
	ProviderRegion     string   `json:"provider_region,omitempty"`
}

// FactsToJSON returns the JSON form of f. Names are trimmed of padding; a
// name with a zero byte inside does not round-trip.
func FactsToJSON(f *Facts) FactsJSON {
	j := FactsJSON{
		Now: f.Now, OrderCreated: f.OrderCreated, OrderExpires: f.OrderExpires,
		NonceFresh: f.NonceFresh, LaneApplies: f.LaneApplies,
		GPUModel: f.GPUModel.String(), GPUCount: f.GPUCount, GPUHours: f.GPUHours,
		MaxPricePerHour: f.MaxPricePerHour, OfferPricePerHour: f.OfferPricePerHour,
		ProviderReputation: f.ProviderReputation, InflightUsed: f.InflightUsed,
		OrdersLastMinute: f.OrdersLastMinute, GPUHoursUsedToday: f.GPUHoursUsedToday,
		CPUMillis: f.CPUMillis, MemoryMiB: f.MemoryMiB, DurationSec: f.DurationSec,
		RegionCount: f.RegionCount, Provider: f.Provider.String(), ProviderRegion: f.ProviderRegion.String(),
	}
	if f.Client != [32]byte{} {
		j.Client = hex.EncodeToString(f.Client[:])
	}
	for _, r := range f.RequestedRegions() {
		j.Regions = append(j.Regions, r.String())
	}
	return j
}

// Facts checks j and returns it as Facts. Errors name the field.
func (j *FactsJSON) Facts() (Facts, error) {
	f := Facts{
		Now: j.Now, OrderCreated: j.OrderCreated, OrderExpires: j.OrderExpires,
		NonceFresh: j.NonceFresh, LaneApplies: j.LaneApplies,
		GPUCount: j.GPUCount, GPUHours: j.GPUHours,
		MaxPricePerHour: j.MaxPricePerHour, OfferPricePerHour: j.OfferPricePerHour,
		ProviderReputation: j.ProviderReputation, InflightUsed: j.InflightUsed,
		OrdersLastMinute: j.OrdersLastMinute, GPUHoursUsedToday: j.GPUHoursUsedToday,
		CPUMillis: j.CPUMillis, MemoryMiB: j.MemoryMiB, DurationSec: j.DurationSec,
		RegionCount: j.RegionCount,
	}
	if j.Client != "" {
		b, err := hex.DecodeString(j.Client)
		if err != nil || len(b) != 32 {
			return Facts{}, errors.New("facts.client: want 64 hex digits")
		}
		copy(f.Client[:], b)
	}
	code := func(field, s string, n int) error {
		if len(s) > n {
			return fmt.Errorf("facts.%s: %q is longer than %d bytes", field, s, n)
		}
		for i := 0; i < len(s); i++ {
			if s[i] <= 0x20 || s[i] >= 0x7f {
				return fmt.Errorf("facts.%s: %q is not printable ASCII", field, s)
			}
		}
		return nil
	}
	if err := code("gpu_model", j.GPUModel, 32); err != nil {
		return Facts{}, err
	}
	f.GPUModel = sdk.MakeCode32(j.GPUModel)
	if len(j.Regions) > sdk.RegionSlots {
		return Facts{}, fmt.Errorf("facts.regions: %d regions, a record carries %d", len(j.Regions), sdk.RegionSlots)
	}
	if int(j.RegionCount) < len(j.Regions) {
		return Facts{}, fmt.Errorf("facts.region_count: %d is below the %d regions listed", j.RegionCount, len(j.Regions))
	}
	for i, r := range j.Regions {
		if err := code(fmt.Sprintf("regions[%d]", i), r, 16); err != nil {
			return Facts{}, err
		}
		f.Regions[i] = sdk.MakeCode16(r)
	}
	for _, c := range []struct {
		field, s string
		dst      *sdk.Code16
	}{{"provider", j.Provider, &f.Provider}, {"provider_region", j.ProviderRegion, &f.ProviderRegion}} {
		if err := code(c.field, c.s, 16); err != nil {
			return Facts{}, err
		}
		*c.dst = sdk.MakeCode16(c.s)
	}
	return f, nil
}

// ParseVectors reads a vectors file (JSON, schema fedpolicy-vectors/1)
// strictly: unknown fields, oversize input and malformed facts are errors
// naming the case.
func ParseVectors(b []byte) ([]Vector, error) {
	if len(b) > MaxVectorsBytes {
		return nil, fmt.Errorf("policy: vectors: %d bytes, limit %d", len(b), MaxVectorsBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var vf vectorFile
	if err := dec.Decode(&vf); err != nil {
		return nil, fmt.Errorf("policy: vectors: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("policy: vectors: trailing data after the JSON object")
	}
	if vf.Schema != VectorsSchema {
		return nil, fmt.Errorf("policy: vectors: schema %q, want %q", vf.Schema, VectorsSchema)
	}
	if len(vf.Cases) == 0 || len(vf.Cases) > MaxVectors {
		return nil, fmt.Errorf("policy: vectors: %d cases, want 1 to %d", len(vf.Cases), MaxVectors)
	}
	def, err := base64.StdEncoding.DecodeString(vf.Params)
	if err != nil {
		return nil, fmt.Errorf("policy: vectors: params: %w", err)
	}
	out := make([]Vector, len(vf.Cases))
	for i, c := range vf.Cases {
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i)
		}
		params := def
		if c.Params != nil {
			if params, err = base64.StdEncoding.DecodeString(*c.Params); err != nil {
				return nil, fmt.Errorf("policy: vectors: case %s: params: %w", name, err)
			}
		}
		f, err := c.Facts.Facts()
		if err != nil {
			return nil, fmt.Errorf("policy: vectors: case %s: %w", name, err)
		}
		out[i] = Vector{Name: name, Params: params, Facts: f, Want: c.Want}
	}
	return out, nil
}

// EncodeVectors writes vectors as an indented vectors file; reasons, when
// not nil, names the reason bits for the informative "reasons" field.
func EncodeVectors(vs []Vector, reasons []string) ([]byte, error) {
	vf := vectorFile{Schema: VectorsSchema}
	if len(vs) > 0 {
		vf.Params = base64.StdEncoding.EncodeToString(vs[0].Params)
	}
	mf := sdk.Manifest{Reasons: reasons}
	for _, v := range vs {
		c := vectorJSON{Name: v.Name, Facts: FactsToJSON(&v.Facts), Want: v.Want}
		if !bytes.Equal(v.Params, vs[0].Params) {
			s := base64.StdEncoding.EncodeToString(v.Params)
			c.Params = &s
		}
		if reasons != nil && v.Want != sdk.Indeterminate {
			c.Reasons = mf.ReasonNames(nil, v.Want)
		}
		vf.Cases = append(vf.Cases, c)
	}
	b, err := json.MarshalIndent(vf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("policy: vectors: %w", err)
	}
	return append(b, '\n'), nil
}

// RunVectors evaluates every vector against a loaded module, in batches per
// params, and returns one result per vector in order.
func (e *Engine) RunVectors(ctx context.Context, module cid.Cid, vs []Vector) ([]VectorResult, error) {
	results := make([]VectorResult, len(vs))
	groups := map[string][]int{}
	var order []string
	for i, v := range vs {
		k := string(v.Params)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		idx := groups[k]
		p, err := e.Prepare(ctx, module, []byte(k), Limits{})
		if err != nil {
			return nil, err
		}
		facts := make([]Facts, len(idx))
		for j, i := range idx {
			facts[j] = vs[i].Facts
		}
		out := make([]Decision, len(idx))
		evalErr := p.Eval(ctx, facts, out)
		for j, i := range idx {
			results[i] = VectorResult{Name: vs[i].Name, Want: vs[i].Want, Got: out[j].Word, Reasons: out[j].Reasons, Err: evalErr}
		}
	}
	return results, nil
}

// Check runs vectors against a loaded module and returns a
// *ConformanceError listing those that failed.
func (e *Engine) Check(ctx context.Context, module cid.Cid, vs []Vector) error {
	results, err := e.RunVectors(ctx, module, vs)
	if err != nil {
		return err
	}
	ce := &ConformanceError{Module: module, Total: len(vs)}
	for _, r := range results {
		if !r.Pass() {
			ce.Failed = append(ce.Failed, r)
		}
	}
	if len(ce.Failed) > 0 {
		return ce
	}
	return nil
}
