package policy

import (
	"crypto/sha256"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/policy/std"
	"github.com/aurora-federation/aurora/treaty"
)

// StdParams are the standard law's params (std.Params): allowed regions,
// minimum provider reputation (permille), price cap per GPU-hour (micro-USD)
// and the lane quotas; zero means no limit. Encode gives the canonical CBOR.
type StdParams = std.Params

// DecodeStdParams parses the standard law's params strictly: canonical CBOR,
// every key present, no unknown keys, values in range.
func DecodeStdParams(b []byte) (StdParams, error) {
	q, err := sdk.DecodeParams(b)
	if err != nil {
		return StdParams{}, err
	}
	return std.ParamsFrom(q)
}

// StdParamsFromTreaty returns the standard law's params for orders on lane
// of t: the treaty's regions, reputation threshold and price cap with the
// lane's quotas.
func StdParamsFromTreaty(t *treaty.Treaty, lane treaty.Lane) StdParams {
	return StdParams{
		AllowedRegions:        append([]string(nil), t.Regions...),
		MinProviderReputation: t.MinProviderReputation,
		MaxPricePerGPUHour:    t.MaxPricePerGPUHour,
		MaxInflight:           lane.MaxInflight,
		OrdersPerMin:          lane.OrdersPerMin,
		GPUHoursPerDay:        lane.GPUHoursPerDay,
	}
}

// TreatyParams returns the params blob that judges orders on lane of t: the
// treaty's own PolicyRef.Params when set, otherwise, for the standard law
// (PolicyRef.Module ""), StdParamsFromTreaty encoded.
func TreatyParams(t *treaty.Treaty, lane treaty.Lane) []byte {
	if len(t.Policy.Params) > 0 || t.Policy.Module != "" {
		return t.Policy.Params
	}
	p := StdParamsFromTreaty(t, lane)
	return p.Encode()
}

// emptyParams is the canonical encoding of no params (an empty CBOR map).
var emptyParams = []byte{0xa0}

// ParamsCID names a params blob: CIDv1, dag-cbor, sha2-256. An empty blob
// means no params and is named as the empty map.
func ParamsCID(params []byte) cid.Cid {
	if len(params) == 0 {
		params = emptyParams
	}
	return treaty.CIDOf(params)
}

// ModuleCID names a module: CIDv1, raw, sha2-256 of its exact bytes.
func ModuleCID(wasm []byte) cid.Cid {
	sum := sha256.Sum256(wasm)
	mh, _ := multihash.Encode(sum[:], multihash.SHA2_256) // cannot fail for sha2-256 and 32 bytes
	return cid.NewCidV1(cid.Raw, mh)
}

// CheckModuleCID checks that c can name a module: CIDv1, raw codec,
// sha2-256.
func CheckModuleCID(c cid.Cid) error {
	if !c.Defined() || c.Version() != 1 || c.Type() != cid.Raw || c.Prefix().MhType != multihash.SHA2_256 {
		return &LoadError{Module: c, Check: CheckHash, Detail: "module CIDs must be CIDv1, raw codec, sha2-256"}
	}
	return nil
}

// VerifyModuleCID checks that wasm hashes to want, which must be a raw
// sha2-256 CIDv1; a mismatch is a *HashMismatchError.
func VerifyModuleCID(want cid.Cid, wasm []byte) error {
	if err := CheckModuleCID(want); err != nil {
		return err
	}
	if got := ModuleCID(wasm); !got.Equals(want) {
		return &LoadError{Module: want, Check: CheckHash, Detail: "bytes do not match the CID", Err: &HashMismatchError{Want: want, Got: got}}
	}
	return nil
}

// LimitsFromTreaty returns the evaluation limits a treaty's policy section
// sets (zero fields: the engine's defaults).
func LimitsFromTreaty(ref treaty.PolicyRef) Limits {
	return Limits{
		Deadline:    time.Duration(max(ref.DeadlineMS, 0)) * time.Millisecond,
		MemoryPages: uint32(min(max(ref.MemoryPages, 0), MaxMemoryPages)),
	}
}
