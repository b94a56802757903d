// Package gpulimit is a complete small example policy for the fedpolicy/1
// SDK (see docs/POLICY.md): it caps the GPUs one order may ask for and
// restricts GPU models to an allow-list. The rules are ordinary Go, tested
// natively; guest/ registers them for the WASM build:
//
//	aurora policy build ./policy/examples/gpulimit/guest -o gpulimit.wasm
package gpulimit

import (
	"github.com/aurora-federation/aurora/policy/sdk"
)

// Reason bits, in manifest order.
const (
	BitTooManyGPUs uint32 = 1 << iota
	BitModelNotAllowed
)

// Params keys.
const (
	KeyMaxGPUs = "max_gpus"
	KeyModels  = "models"
)

// Limits is the compiled params: the most GPUs per order (0 = any) and the
// allowed models (empty = any).
type Limits struct {
	MaxGPUs uint32
	Models  []sdk.Code32
}

// Configure reads the params strictly.
func Configure(p *sdk.Params) (Limits, error) {
	if err := p.Only(KeyMaxGPUs, KeyModels); err != nil {
		return Limits{}, err
	}
	n, err := p.Int(KeyMaxGPUs)
	if err != nil {
		return Limits{}, err
	}
	if n < 0 || n > 1<<16 {
		return Limits{}, &sdk.ParamError{Key: KeyMaxGPUs, Rule: "out of range [0, 65536]"}
	}
	models, err := p.Strings(KeyModels)
	if err != nil {
		return Limits{}, err
	}
	l := Limits{MaxGPUs: uint32(n)}
	for _, m := range models {
		if m == "" || len(m) > 32 {
			return Limits{}, &sdk.ParamError{Key: KeyModels, Rule: "a model name is 1 to 32 bytes"}
		}
		l.Models = append(l.Models, sdk.MakeCode32(m))
	}
	return l, nil
}

// Eval decides one order. Orders without GPUs are always allowed.
func (l *Limits) Eval(f *sdk.OrderFacts) uint32 {
	if f.GPUCount == 0 {
		return sdk.Allow
	}
	var w uint32
	if l.MaxGPUs > 0 && f.GPUCount > l.MaxGPUs {
		w |= BitTooManyGPUs
	}
	if len(l.Models) > 0 {
		ok := false
		for _, m := range l.Models {
			ok = ok || m == f.GPUModel
		}
		if !ok {
			w |= BitModelNotAllowed
		}
	}
	return w
}

// Policy returns the policy for sdk.Register.
func Policy() sdk.Policy {
	var limits Limits
	return sdk.Policy{
		Manifest: sdk.Manifest{Name: "gpulimit", Version: "1.0.0", Reasons: []string{"too_many_gpus", "model_not_allowed"}},
		Configure: func(p *sdk.Params) error {
			l, err := Configure(p)
			limits = l
			return err
		},
		Eval: limits.Eval,
	}
}
