package c2sp

import (
	"bytes"
	"fmt"
	"slices"
	"sort"

	"github.com/fxamacker/cbor/v2"
)

// JobSummary is what a verifier reports of the job record a leaf holds.
type JobSummary struct {
	// Job is the job's ID.
	Job string
	// Operator and Client are did:key identifiers: the node that ran (or
	// forwarded) the job, whose log this is, and the tenant that ordered it.
	Operator, Client string
	// Transitions are the job's status changes, oldest first.
	Transitions []Transition
	// Release is set, instead of the job fields, by a checker that also
	// accepts release leaves (provenance.CheckLeaf); DecodeJobLeaf never
	// sets it.
	Release *ReleaseSummary
	// Snapshot is set, likewise, for a ledger snapshot leaf.
	Snapshot *SnapshotSummary
}

// SnapshotSummary is what a verifier reports of a snapshot leaf: the
// manifest's CID and SHA-256 and the SHA-256 of each RFC 3161 token over
// it.
type SnapshotSummary struct {
	Manifest     string
	SHA256       [32]byte
	TokensSHA256 [][32]byte
	At           int64 // unix seconds
}

// ReleaseSummary is what a verifier reports of a release leaf: the
// tarball's name and SHA-256, the signing key's OpenPGP fingerprint and
// the SHA-256 of each RFC 3161 token over the tarball.
type ReleaseSummary struct {
	Name         string
	SHA256       [32]byte
	Signer       string
	TokensSHA256 [][32]byte
	At           int64 // unix seconds
}

// Transition is one status change of a job.
type Transition struct {
	Status string
	At     int64 // unix seconds
}

// RecordChecker checks a bundle's leaf and returns the job record it
// holds, or an error naming what is wrong.
type RecordChecker func(leaf []byte) (*JobSummary, error)

// RecordError reports a leaf that is not a job record, naming the field.
type RecordError struct {
	Field string // "leaf", "job.client", "job.transitions[2].status", ...
	Rule  string
}

func (e *RecordError) Error() string { return "provenance: record: " + e.Field + ": " + e.Rule }

// Job record schema (treaty/schema.ipldsch, JobRecord): the keys every
// record has, the one it may have, and the job statuses. Provenance's
// tests check these against package treaty.
var (
	jobKeys        = []string{"v", "job", "order", "ack", "operator", "client", "route", "price", "lease", "transitions"}
	jobOptional    = []string{"result"}
	routeKeys      = []string{"kind", "name"}
	routeOptional  = []string{"treaty"}
	transitionKeys = []string{"status", "at", "detail"}
	jobStatuses    = []string{"accepted", "launching", "running", "succeeded", "failed", "terminated", "forwarded", "canceled"}
)

const (
	recordVersion  = 1
	maxJobIDLen    = 128
	maxTransitions = 32
	cborTagLink    = 42
)

// DecodeJobLeaf is the default RecordChecker. It checks what a verifier
// reports and the record's shape, without package treaty: the leaf is at
// most MaxLeafSize bytes of canonical dag-cbor (it re-encodes to itself),
// a LogEntry whose one member is job; the record has exactly the JobRecord
// keys (result optional), version 1, links (tag 42) for order and ack, a
// route of kind and name, a job ID, did:key operator and client, and 1 to
// 32 transitions of known statuses that never go back in time. The other
// field rules of treaty.JobRecord.Validate (price and lease bounds, route
// names) are the schema's, which nodes apply when they write the record.
func DecodeJobLeaf(leaf []byte) (*JobSummary, error) {
	bad := func(field, format string, args ...any) (*JobSummary, error) {
		return nil, &RecordError{Field: field, Rule: fmt.Sprintf(format, args...)}
	}
	if len(leaf) == 0 || len(leaf) > MaxLeafSize {
		return bad("leaf", "%d bytes, want 1 to %d", len(leaf), MaxLeafSize)
	}
	var v any
	if err := leafDecMode.Unmarshal(leaf, &v); err != nil {
		return bad("leaf", "not dag-cbor: %v", err)
	}
	if canon, err := encMode.Marshal(v); err != nil || !bytes.Equal(canon, leaf) {
		return bad("leaf", "not canonical dag-cbor (key order, integer or length form)")
	}
	entry, ok := v.(map[any]any)
	if !ok || len(entry) != 1 {
		return bad("leaf", "not a LogEntry: want a map with exactly one of job, anchor, tsa, cancel")
	}
	jv, ok := entry["job"]
	if !ok {
		for k := range entry {
			return bad("leaf", "leaf is a %v entry, not a job record entry", k)
		}
	}
	job, ok := jv.(map[any]any)
	if !ok {
		return bad("job", "not a map")
	}
	if err := checkKeys("job", job, jobKeys, jobOptional); err != nil {
		return nil, err
	}
	if n, ok := job["v"].(uint64); !ok || n != recordVersion {
		return bad("job.v", "unsupported version %v, want %d", job["v"], recordVersion)
	}
	s := &JobSummary{}
	if s.Job, ok = job["job"].(string); !ok || s.Job == "" || len(s.Job) > maxJobIDLen {
		return bad("job.job", "want a job ID of 1 to %d bytes", maxJobIDLen)
	}
	for _, f := range []string{"order", "ack"} {
		if t, ok := job[f].(cbor.Tag); !ok || t.Number != cborTagLink {
			return bad("job."+f, "not a link (CBOR tag 42)")
		}
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"operator", &s.Operator}, {"client", &s.Client}} {
		d, ok := job[f.key].(string)
		if !ok {
			return bad("job."+f.key, "not a string")
		}
		if _, err := DIDPublicKey(d); err != nil {
			return bad("job."+f.key, "%v", err)
		}
		*f.dst = d
	}
	route, ok := job["route"].(map[any]any)
	if !ok {
		return bad("job.route", "not a map")
	}
	if err := checkKeys("job.route", route, routeKeys, routeOptional); err != nil {
		return nil, err
	}
	if _, ok := job["price"].(uint64); !ok {
		return bad("job.price", "not a non-negative integer")
	}
	if _, ok := job["lease"].(string); !ok {
		return bad("job.lease", "not a string")
	}
	ts, ok := job["transitions"].([]any)
	if !ok || len(ts) == 0 || len(ts) > maxTransitions {
		return bad("job.transitions", "want 1 to %d transitions", maxTransitions)
	}
	for i, tv := range ts {
		f := fmt.Sprintf("job.transitions[%d]", i)
		t, ok := tv.(map[any]any)
		if !ok {
			return bad(f, "not a map")
		}
		if err := checkKeys(f, t, transitionKeys, nil); err != nil {
			return nil, err
		}
		status, ok := t["status"].(string)
		if !ok || !slices.Contains(jobStatuses, status) {
			return bad(f+".status", "%q is not a job status", Truncate(fmt.Sprint(t["status"])))
		}
		at, ok := t["at"].(uint64)
		if !ok || at > 1<<40 {
			return bad(f+".at", "not a time")
		}
		if i > 0 && int64(at) < s.Transitions[i-1].At {
			return bad(f+".at", "goes back in time")
		}
		s.Transitions = append(s.Transitions, Transition{Status: status, At: int64(at)})
	}
	return s, nil
}

// checkKeys requires m's keys to be the required ones plus any of the
// optional ones, naming the first unknown or missing key.
func checkKeys(field string, m map[any]any, required, optional []string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		s, ok := k.(string)
		if !ok {
			return &RecordError{Field: field, Rule: fmt.Sprintf("key %v is not a string", k)}
		}
		keys = append(keys, s)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			return &RecordError{Field: field + "." + Truncate(k), Rule: "unknown field"}
		}
	}
	for _, k := range required {
		if _, ok := m[k]; !ok {
			return &RecordError{Field: field + "." + k, Rule: "missing"}
		}
	}
	return nil
}
