package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/treaty"
)

// LogEntry records one decision so that any peer can re-run it: the module
// and params CIDs, the params themselves (at most MaxLogParams bytes, so an
// entry needs nothing but the module to re-run), the exact input record
// (and its SHA-256), the decision word and reasons, and the decision time
// (the facts' Now). Policies are pure and deterministic, so re-running
// Input under the same module and params must give Word (see
// Engine.Replay). Encode gives canonical dag-cbor; the node stores or logs
// it.
type LogEntry struct {
	V      int64       `cbor:"v"`
	ABI    string      `cbor:"abi"`
	Module treaty.Link `cbor:"module"`
	Params treaty.Link `cbor:"params"`
	// ParamsData are the params Params names (empty: no params).
	ParamsData  []byte   `cbor:"params_data"`
	Input       []byte   `cbor:"input"`
	InputSHA256 []byte   `cbor:"input_sha256"`
	Word        int64    `cbor:"word"`
	Reasons     []string `cbor:"reasons"`
	At          int64    `cbor:"at"` // unix ms, = the input's Now
}

// Kind implements treaty.Record.
func (*LogEntry) Kind() string { return "decision" }

// NewLogEntry records decision d on facts f by module under params.
func NewLogEntry(module cid.Cid, params []byte, f *Facts, d Decision) LogEntry {
	in := f.AppendTo(nil)
	sum := sha256.Sum256(in)
	reasons := d.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	return LogEntry{
		V:           1,
		ABI:         sdk.ABIName,
		Module:      treaty.LinkTo(module),
		Params:      treaty.LinkTo(ParamsCID(params)),
		ParamsData:  append([]byte{}, params...),
		Input:       in,
		InputSHA256: sum[:],
		Word:        int64(d.Word),
		Reasons:     append([]string(nil), reasons...),
		At:          f.Now,
	}
}

// MaxLogParams bounds a LogEntry's ParamsData: a treaty's params
// (treaty.MaxParamsLen), and the node's own policy.params file.
const MaxLogParams = treaty.MaxParamsLen

// Encode returns the entry's canonical dag-cbor.
func (l *LogEntry) Encode() ([]byte, error) { return treaty.Encode(l) }

// DecodeLogEntry parses and checks a canonical dag-cbor log entry.
func DecodeLogEntry(b []byte) (*LogEntry, error) {
	var l LogEntry
	if err := treaty.Decode(b, &l); err != nil {
		return nil, err
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return &l, nil
}

// Validate checks the entry's fields and that its input hash matches.
func (l *LogEntry) Validate() error {
	fail := func(field, format string, args ...any) error {
		return &treaty.ValidationError{Kind: "decision", Field: field, Rule: fmt.Sprintf(format, args...)}
	}
	sum := sha256.Sum256(l.Input)
	var f Facts
	switch {
	case l.V != 1:
		return fail("v", "unsupported version %d, want 1", l.V)
	case l.ABI != sdk.ABIName:
		return fail("abi", "%q, want %q", l.ABI, sdk.ABIName)
	case !l.Module.Defined():
		return fail("module", "missing CID")
	case !l.Params.Defined():
		return fail("params", "missing CID")
	case len(l.ParamsData) > MaxLogParams:
		return fail("params_data", "%d bytes, limit %d", len(l.ParamsData), MaxLogParams)
	case !ParamsCID(l.ParamsData).Equals(l.Params.Cid):
		return fail("params_data", "hashes to %s, not the entry's params %s", ParamsCID(l.ParamsData), l.Params.Cid)
	case len(l.Input) != sdk.RecordSize || !f.Decode(l.Input):
		return fail("input", "not an %s record", sdk.InputSchema)
	case !bytes.Equal(sum[:], l.InputSHA256):
		return fail("input_sha256", "does not match input")
	case l.Word < 0 || l.Word > 0xFFFFFFFF:
		return fail("word", "%d is not a u32", l.Word)
	case len(l.Reasons) > sdk.ReasonBits+1:
		return fail("reasons", "%d reasons, limit %d", len(l.Reasons), sdk.ReasonBits+1)
	case l.At != f.Now:
		return fail("at", "%d differs from the input's now %d", l.At, f.Now)
	}
	return nil
}

// ReplayMismatchError is the evidence of a logged decision that re-running
// did not reproduce.
type ReplayMismatchError struct {
	Entry *LogEntry
	Got   uint32
}

func (e *ReplayMismatchError) Error() string {
	return fmt.Sprintf("policy: replay of module %s: logged word %#x, re-run gives %#x", e.Entry.Module, e.Entry.Word, e.Got)
}

// Replay re-runs a logged decision with params (which must hash to the
// entry's params CID; nil: the entry's own ParamsData) on the already
// loaded module, and returns a *ReplayMismatchError if the word differs.
func (e *Engine) Replay(ctx context.Context, l *LogEntry, params []byte) (Decision, error) {
	if err := l.Validate(); err != nil {
		return Decision{}, err
	}
	if params == nil {
		params = l.ParamsData
	}
	if got := ParamsCID(params); !got.Equals(l.Params.Cid) {
		return Decision{}, fmt.Errorf("policy: replay: params hash to %s, the entry names %s", got, l.Params.Cid)
	}
	var f Facts
	f.Decode(l.Input)
	out := make([]Decision, 1)
	if err := e.Eval(ctx, l.Module.Cid, params, []Facts{f}, out); err != nil {
		return out[0], err
	}
	if int64(out[0].Word) != l.Word {
		return out[0], &ReplayMismatchError{Entry: l, Got: out[0].Word}
	}
	return out[0], nil
}
