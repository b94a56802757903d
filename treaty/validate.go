package treaty

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
)

// Named limits. Peer input is hostile: every list and string is bounded.
const (
	MaxRecordSize      = 64 << 10 // bytes of dag-cbor per record
	MaxClockSkew       = 5 * time.Minute
	MaxOrderLifetime   = 24 * time.Hour
	MinNonceLen        = 16
	MaxNonceLen        = 32
	MaxNameLen         = 64   // provider, region, federation, template names
	MaxImageLen        = 512  // container image reference
	MaxArgLen          = 1024 // one cmd argument
	MaxEnvValueLen     = 4096
	MaxCmdArgs         = 64
	MaxEnvVars         = 64
	MaxSealedLen       = 32 << 10 // bytes of an order's sealed secrets box
	MaxPorts           = 16
	MaxRegions         = 32
	MaxProviders       = 32
	MaxGPUs            = 64
	MaxCPU             = 1024 * 1000 // millicores
	MaxMemory          = 16 << 20    // MiB (16 TiB)
	MaxDisk            = 1 << 30     // MiB
	MaxDuration        = 90 * 24 * 3600
	MaxPrice           = 1_000_000_000_000 // micro-USD per hour
	MaxParties         = 16
	MaxLanes           = 64
	MaxVia             = 4 // forward hops
	MaxReasons         = 32
	MaxTransitions     = 32
	MaxDetailLen       = 512
	MaxReportEntries   = 256
	MaxParamsLen       = 16 << 10
	MaxCheckpointLen   = 16 << 10
	MaxTSATokens       = 4
	MaxTSATokenLen     = 8 << 10
	MaxTreatyLifetime  = 5 * 365 * 24 * time.Hour
	MaxPolicyDeadline  = 1000 // ms
	MaxPolicyMemPages  = 1024 // 64 MiB
	PermilleMax        = 1000
	maxLeaseLen        = 256
	maxResultLen       = 64
	maxJobIDLen        = 128
	maxRouteNameLen    = MaxDIDLen
	policyABIFedpolicy = "fedpolicy/1"
)

// ValidationError names the record kind, the field (a dotted path) and the
// rule it broke.
type ValidationError struct {
	Kind  string
	Field string
	Rule  string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("treaty: %s: %s", e.Kind, e.Rule)
	}
	return fmt.Sprintf("treaty: %s.%s: %s", e.Kind, e.Field, e.Rule)
}

// checker accumulates the first validation failure.
type checker struct {
	kind string
	err  *ValidationError
}

func (c *checker) fail(field, format string, args ...any) {
	if c.err == nil {
		c.err = &ValidationError{Kind: c.kind, Field: field, Rule: fmt.Sprintf(format, args...)}
	}
}

func (c *checker) result() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

func (c *checker) version(v int64) {
	if v != Version {
		c.fail("v", "unsupported version %d, want %d", v, Version)
	}
}

func (c *checker) did(field string, d DID) {
	if _, err := d.PublicKey(); err != nil {
		c.fail(field, "%v", err)
	}
}

func (c *checker) rangeInt(field string, v, lo, hi int64) {
	if v < lo || v > hi {
		c.fail(field, "%d out of range [%d, %d]", v, lo, hi)
	}
}

func (c *checker) str(field, s string, minLen, maxLen int) {
	if len(s) < minLen {
		if minLen == 1 {
			c.fail(field, "must not be empty")
		} else {
			c.fail(field, "shorter than %d bytes", minLen)
		}
		return
	}
	if len(s) > maxLen {
		c.fail(field, "%d bytes, limit %d", len(s), maxLen)
		return
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			c.fail(field, "contains a control character")
			return
		}
	}
}

// name checks a lowercase identifier: [a-z0-9][a-z0-9._-]*.
func (c *checker) name(field, s string) {
	if s == "" {
		c.fail(field, "must not be empty")
		return
	}
	if len(s) > MaxNameLen {
		c.fail(field, "%d bytes, limit %d", len(s), MaxNameLen)
		return
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		ok := b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || i > 0 && (b == '-' || b == '.' || b == '_')
		if !ok {
			c.fail(field, "%q is not a lowercase name ([a-z0-9][a-z0-9._-]*)", s)
			return
		}
	}
}

func (c *checker) names(field string, list []string, max int) {
	if len(list) > max {
		c.fail(field, "%d entries, limit %d", len(list), max)
		return
	}
	for i, s := range list {
		c.name(fmt.Sprintf("%s[%d]", field, i), s)
	}
	if !sortedUnique(list) {
		c.fail(field, "must be sorted with no duplicates")
	}
}

func sortedUnique[T ~string](list []T) bool {
	for i := 1; i < len(list); i++ {
		if list[i-1] >= list[i] {
			return false
		}
	}
	return true
}

func (c *checker) link(field string, id Link) {
	if !id.Defined() {
		c.fail(field, "missing CID")
	}
}

// Validate checks o's fields against the named limits and the order window
// at now. It does not check the signature (see Verify).
func (o *Order) Validate(now time.Time) error {
	c := checker{kind: "order"}
	c.version(o.V)
	c.did("client", o.Client)
	if n := len(o.Nonce); n < MinNonceLen || n > MaxNonceLen {
		c.fail("nonce", "%d bytes, want %d to %d", n, MinNonceLen, MaxNonceLen)
	}
	nowS := now.Unix()
	skew := int64(MaxClockSkew / time.Second)
	switch {
	case o.Created > nowS+skew:
		c.fail("created", "%d is more than %s in the future", o.Created, MaxClockSkew)
	case o.Expires <= o.Created:
		c.fail("expires", "must be after created")
	case o.Expires-o.Created > int64(MaxOrderLifetime/time.Second):
		c.fail("expires", "lifetime %ds exceeds %s", o.Expires-o.Created, MaxOrderLifetime)
	case o.Expires <= nowS:
		c.fail("expires", "order expired at %d (now %d)", o.Expires, nowS)
	}
	o.Workload.check(&c)
	k := o.Constraints
	c.names("constraints.regions", k.Regions, MaxRegions)
	c.rangeInt("constraints.max_price_per_hour", k.MaxPricePerHour, 1, MaxPrice)
	c.rangeInt("constraints.min_reputation", k.MinReputation, 0, PermilleMax)
	c.names("constraints.providers", k.Providers, MaxProviders)
	if se := o.Secrets; se != nil {
		c.did("secrets.to", se.To)
		if n := len(se.Box); n < minSealedLen || n > MaxSealedLen {
			c.fail("secrets.box", "%d bytes, want %d to %d", n, minSealedLen, MaxSealedLen)
		}
	}
	if len(o.Sig) > 64 {
		c.fail("sig", "%d bytes, want 64", len(o.Sig))
	}
	return c.result()
}

func (w *Workload) check(c *checker) {
	c.str("workload.image", w.Image, 1, MaxImageLen)
	if len(w.Cmd) > MaxCmdArgs {
		c.fail("workload.cmd", "%d arguments, limit %d", len(w.Cmd), MaxCmdArgs)
	}
	for i, a := range w.Cmd {
		c.str(fmt.Sprintf("workload.cmd[%d]", i), a, 0, MaxArgLen)
	}
	if len(w.Env) > MaxEnvVars {
		c.fail("workload.env", "%d variables, limit %d", len(w.Env), MaxEnvVars)
	}
	for i, e := range w.Env {
		f := fmt.Sprintf("workload.env[%d]", i)
		if !envName(e.Name) {
			c.fail(f+".name", "%q is not an environment variable name", e.Name)
		}
		c.str(f+".value", e.Value, 0, MaxEnvValueLen)
		if i > 0 && w.Env[i-1].Name >= e.Name {
			c.fail("workload.env", "must be sorted by name with no duplicates")
		}
	}
	if g := w.GPU; g != nil {
		c.str("workload.gpu.model", g.Model, 1, MaxNameLen)
		c.rangeInt("workload.gpu.count", g.Count, 1, MaxGPUs)
		c.rangeInt("workload.gpu.min_vram", g.MinVRAM, 0, 1<<20)
	}
	c.rangeInt("workload.cpu", w.CPU, 0, MaxCPU)
	c.rangeInt("workload.memory", w.Memory, 0, MaxMemory)
	c.rangeInt("workload.disk", w.Disk, 0, MaxDisk)
	c.rangeInt("workload.duration", w.Duration, 1, MaxDuration)
	if len(w.Ports) > MaxPorts {
		c.fail("workload.ports", "%d ports, limit %d", len(w.Ports), MaxPorts)
	}
	for i, p := range w.Ports {
		c.rangeInt(fmt.Sprintf("workload.ports[%d]", i), p, 1, 65535)
	}
}

func envName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b == '_' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || i > 0 && b >= '0' && b <= '9') {
			return false
		}
	}
	return true
}

// GPUHours is the GPU-hours an order asks for (rounded up), the unit of
// treaty GPU-hour quotas.
func (w *Workload) GPUHours() int64 {
	if w.GPU == nil {
		return 0
	}
	return (w.GPU.Count*w.Duration + 3599) / 3600
}

func (r *Route) check(c *checker, prefix string) {
	switch r.Kind {
	case RouteProvider:
		c.name(prefix+".name", r.Name)
	case RoutePeer:
		c.did(prefix+".name", DID(r.Name))
		if r.Treaty == nil || !r.Treaty.Defined() {
			c.fail(prefix+".treaty", "a peer route names its treaty")
		}
	default:
		c.fail(prefix+".kind", "%q is not %q or %q", r.Kind, RouteProvider, RoutePeer)
	}
}

// Validate checks a's fields.
func (a *Ack) Validate() error {
	c := checker{kind: "ack"}
	c.version(a.V)
	c.link("order", a.Order)
	c.str("job", a.Job, 1, maxJobIDLen)
	c.did("operator", a.Operator)
	if len(a.Via) > MaxVia {
		c.fail("via", "%d hops, limit %d", len(a.Via), MaxVia)
	}
	for i, h := range a.Via {
		c.did(fmt.Sprintf("via[%d].operator", i), h.Operator)
		if len(h.Ack) == 0 || len(h.Ack) > MaxRecordSize/2 {
			c.fail(fmt.Sprintf("via[%d].ack", i), "%d bytes, want 1 to %d", len(h.Ack), MaxRecordSize/2)
		}
	}
	a.Route.check(&c, "route")
	c.rangeInt("price", a.Price, 0, MaxPrice)
	c.rangeInt("at", a.At, 1, 1<<40)
	return c.result()
}

// Validate checks d's fields.
func (d *Denial) Validate() error {
	c := checker{kind: "denial"}
	c.version(d.V)
	c.link("order", d.Order)
	c.did("operator", d.Operator)
	if len(d.Reasons) == 0 || len(d.Reasons) > MaxReasons {
		c.fail("reasons", "%d reasons, want 1 to %d", len(d.Reasons), MaxReasons)
	}
	for i, r := range d.Reasons {
		c.str(fmt.Sprintf("reasons[%d]", i), r, 1, MaxDetailLen)
	}
	c.rangeInt("reason_bits", d.ReasonBits, 0, 0xFFFFFFFF)
	c.str("policy", d.Policy, 0, 128)
	c.rangeInt("at", d.At, 1, 1<<40)
	return c.result()
}

// Validate checks j's fields.
func (j *JobRecord) Validate() error {
	c := checker{kind: "job"}
	c.version(j.V)
	c.str("job", j.Job, 1, maxJobIDLen)
	c.link("order", j.Order)
	c.link("ack", j.Ack)
	c.did("operator", j.Operator)
	c.did("client", j.Client)
	j.Route.check(&c, "route")
	c.rangeInt("price", j.Price, 0, MaxPrice)
	c.str("lease", j.Lease, 0, maxLeaseLen)
	if len(j.Transitions) == 0 || len(j.Transitions) > MaxTransitions {
		c.fail("transitions", "%d transitions, want 1 to %d", len(j.Transitions), MaxTransitions)
	}
	for i, t := range j.Transitions {
		f := fmt.Sprintf("transitions[%d]", i)
		if !slices.Contains(jobStatuses, t.Status) {
			c.fail(f+".status", "%q is not a job status", t.Status)
		}
		c.str(f+".detail", t.Detail, 0, MaxDetailLen)
		if i > 0 && t.At < j.Transitions[i-1].At {
			c.fail(f+".at", "goes back in time")
		}
	}
	if len(j.Result) > maxResultLen {
		c.fail("result", "%d bytes, limit %d", len(j.Result), maxResultLen)
	}
	return c.result()
}

var jobStatuses = []string{StatusAccepted, StatusLaunching, StatusRunning, StatusSucceeded, StatusFailed, StatusTerminated, StatusForwarded, StatusCanceled}

// Validate checks c's fields (not its signature: see Verify). Whether At
// is fresh is the receiver's decision (CheckCancelTime).
func (c *Cancel) Validate() error {
	k := checker{kind: "cancel"}
	k.version(c.V)
	k.link("order", c.Order)
	k.did("client", c.Client)
	k.rangeInt("at", c.At, 1, 1<<40)
	k.str("reason", c.Reason, 0, MaxDetailLen)
	return k.result()
}

// CheckCancelTime refuses a Cancel dated more than MaxClockSkew after now.
// An old Cancel stays valid: a job is canceled once, so replaying one
// changes nothing.
func (c *Cancel) CheckCancelTime(now time.Time) error {
	if c.At > now.Unix()+int64(MaxClockSkew/time.Second) {
		return &ValidationError{Kind: "cancel", Field: "at", Rule: fmt.Sprintf("%d is more than %s in the future", c.At, MaxClockSkew)}
	}
	return nil
}

// Validate checks t's fields (not its signatures: see VerifyTreaty).
func (t *Treaty) Validate() error {
	c := checker{kind: "treaty"}
	c.version(t.V)
	c.name("federation", t.Federation)
	if t.Template != "" {
		c.name("template", t.Template)
	}
	if n := len(t.Parties); n < 2 || n > MaxParties {
		c.fail("parties", "%d parties, want 2 to %d", n, MaxParties)
	}
	for i, p := range t.Parties {
		c.did(fmt.Sprintf("parties[%d]", i), p)
	}
	if !sortedUnique(t.Parties) {
		c.fail("parties", "must be sorted with no duplicates")
	}
	c.rangeInt("seq", t.Seq, 1, 1<<40)
	switch {
	case t.NotBefore <= 0:
		c.fail("not_before", "must be set")
	case t.NotAfter <= t.NotBefore:
		c.fail("not_after", "must be after not_before")
	case t.NotAfter-t.NotBefore > int64(MaxTreatyLifetime/time.Second):
		c.fail("not_after", "validity exceeds %s", MaxTreatyLifetime)
	}
	if len(t.Lanes) > MaxLanes {
		c.fail("lanes", "%d lanes, limit %d", len(t.Lanes), MaxLanes)
	}
	for i, l := range t.Lanes {
		f := fmt.Sprintf("lanes[%d]", i)
		if !slices.Contains(t.Parties, l.From) {
			c.fail(f+".from", "%s is not a party", l.From.Short())
		}
		if !slices.Contains(t.Parties, l.To) {
			c.fail(f+".to", "%s is not a party", l.To.Short())
		}
		if l.From == l.To {
			c.fail(f, "from and to are the same party")
		}
		c.rangeInt(f+".max_inflight", l.MaxInflight, 0, 1<<20)
		c.rangeInt(f+".orders_per_min", l.OrdersPerMin, 0, 1<<24)
		c.rangeInt(f+".gpu_hours_per_day", l.GPUHoursPerDay, 0, 1<<24)
	}
	c.names("regions", t.Regions, MaxRegions)
	c.rangeInt("min_provider_reputation", t.MinProviderReputation, 0, PermilleMax)
	c.rangeInt("max_price_per_gpu_hour", t.MaxPricePerGPUHour, 0, MaxPrice)
	c.rangeInt("credit.limit", t.Credit.Limit, 0, MaxPrice)
	c.rangeInt("credit.settle_days", t.Credit.SettleDays, 0, 365)
	c.rangeInt("credit.min_markup", t.Credit.MinMarkup, 0, MaxMarkup)
	c.rangeInt("credit.max_markup", t.Credit.MaxMarkup, t.Credit.MinMarkup, MaxMarkup)
	c.names("providers", t.Providers, MaxProviders)
	p := t.Policy
	if p.ABI != policyABIFedpolicy {
		c.fail("policy.abi", "%q is not %q", p.ABI, policyABIFedpolicy)
	}
	if p.Module != "" {
		if _, err := cid.Decode(p.Module); err != nil {
			c.fail("policy.module", "not a CID: %v", err)
		}
	}
	if len(p.Params) > MaxParamsLen {
		c.fail("policy.params", "%d bytes, limit %d", len(p.Params), MaxParamsLen)
	}
	c.rangeInt("policy.deadline_ms", p.DeadlineMS, 0, MaxPolicyDeadline)
	c.rangeInt("policy.memory_pages", p.MemoryPages, 0, MaxPolicyMemPages)
	c.rangeInt("sla.fill_rate", t.SLA.FillRate, 0, PermilleMax)
	c.rangeInt("sla.rtt_p95_ms", t.SLA.RTTP95MS, 0, 3_600_000)
	if len(t.Sigs) > len(t.Parties) {
		c.fail("sigs", "%d signatures for %d parties", len(t.Sigs), len(t.Parties))
	}
	for i, s := range t.Sigs {
		if i > 0 && t.Sigs[i-1].DID >= s.DID {
			c.fail("sigs", "must be sorted by DID with no duplicates")
		}
		if len(s.Sig) != 64 {
			c.fail(fmt.Sprintf("sigs[%d].sig", i), "%d bytes, want 64", len(s.Sig))
		}
	}
	return c.result()
}

// LaneFor returns the lane from → to, if t has one.
func (t *Treaty) LaneFor(from, to DID) (Lane, bool) {
	for _, l := range t.Lanes {
		if l.From == from && l.To == to {
			return l, true
		}
	}
	return Lane{}, false
}

// IsParty reports whether d is a party to t.
func (t *Treaty) IsParty(d DID) bool { return slices.Contains(t.Parties, d) }

// Validate checks r's fields.
func (r *Revocation) Validate() error {
	c := checker{kind: "revocation"}
	c.version(r.V)
	c.link("treaty", r.Treaty)
	c.did("by", r.By)
	c.rangeInt("at", r.At, 1, 1<<40)
	c.str("reason", r.Reason, 0, MaxDetailLen)
	return c.result()
}

// Validate checks r's fields. Staleness (an epoch too old to judge) is the
// receiver's decision, not a property of the record.
func (r *ReputationReport) Validate() error {
	c := checker{kind: "reputation"}
	c.version(r.V)
	c.did("reporter", r.Reporter)
	c.name("federation", r.Federation)
	c.rangeInt("epoch", r.Epoch, 0, 1<<40)
	c.rangeInt("at", r.At, 1, 1<<40)
	if len(r.Providers) > MaxReportEntries {
		c.fail("providers", "%d entries, limit %d", len(r.Providers), MaxReportEntries)
	}
	for i, p := range r.Providers {
		f := fmt.Sprintf("providers[%d]", i)
		c.name(f+".name", p.Name)
		c.rangeInt(f+".launched", p.Launched, 0, 1<<40)
		c.rangeInt(f+".failed", p.Failed, 0, p.Launched)
		c.rangeInt(f+".launch_p95_ms", p.LaunchP95MS, 0, 1<<32)
		if i > 0 && r.Providers[i-1].Name >= p.Name {
			c.fail("providers", "must be sorted by name with no duplicates")
		}
	}
	if len(r.Peers) > MaxReportEntries {
		c.fail("peers", "%d entries, limit %d", len(r.Peers), MaxReportEntries)
	}
	for i, p := range r.Peers {
		f := fmt.Sprintf("peers[%d]", i)
		c.did(f+".did", p.DID)
		c.rangeInt(f+".forwarded", p.Forwarded, 0, 1<<40)
		c.rangeInt(f+".filled", p.Filled, 0, p.Forwarded)
		if i > 0 && r.Peers[i-1].DID >= p.DID {
			c.fail("peers", "must be sorted by did with no duplicates")
		}
	}
	return c.result()
}

// Validate checks a's fields.
func (a *Anchor) Validate() error {
	c := checker{kind: "anchor"}
	c.version(a.V)
	c.str("origin", a.Origin, 1, 256)
	if a.Checkpoint == "" || len(a.Checkpoint) > MaxCheckpointLen {
		c.fail("checkpoint", "%d bytes, want 1 to %d", len(a.Checkpoint), MaxCheckpointLen)
	}
	if !strings.HasPrefix(a.Checkpoint, a.Origin+"\n") {
		c.fail("checkpoint", "does not start with the origin line")
	}
	if len(a.TSA) > MaxTSATokens {
		c.fail("tsa", "%d tokens, limit %d", len(a.TSA), MaxTSATokens)
	}
	for i, tok := range a.TSA {
		if len(tok) == 0 || len(tok) > MaxTSATokenLen {
			c.fail(fmt.Sprintf("tsa[%d]", i), "%d bytes, want 1 to %d", len(tok), MaxTSATokenLen)
		}
	}
	return c.result()
}

// Validate checks that exactly one member is set and that it is valid.
func (e *LogEntry) Validate() error {
	n := 0
	var err error
	if e.Job != nil {
		n++
		err = e.Job.Validate()
	}
	if e.Anchor != nil {
		n++
		err = e.Anchor.Validate()
	}
	if e.TSA != nil {
		n++
		c := checker{kind: "entry"}
		c.rangeInt("tsa.size", e.TSA.Size, 0, 1<<48)
		if len(e.TSA.CheckpointSHA256) != 32 {
			c.fail("tsa.checkpoint_sha256", "%d bytes, want 32", len(e.TSA.CheckpointSHA256))
		}
		if len(e.TSA.TokensSHA256) == 0 || len(e.TSA.TokensSHA256) > MaxTSATokens {
			c.fail("tsa.tokens_sha256", "%d digests, want 1 to %d", len(e.TSA.TokensSHA256), MaxTSATokens)
		}
		for i, d := range e.TSA.TokensSHA256 {
			if len(d) != 32 {
				c.fail(fmt.Sprintf("tsa.tokens_sha256[%d]", i), "%d bytes, want 32", len(d))
			}
		}
		c.rangeInt("tsa.at", e.TSA.At, 1, 1<<40)
		err = c.result()
	}
	if e.Release != nil {
		n++
		err = e.Release.Validate()
	}
	if e.Cancel != nil {
		n++
		err = e.Cancel.Validate()
	}
	if e.Settlement != nil {
		n++
		err = e.Settlement.Validate()
	}
	if e.SettlementReply != nil {
		n++
		err = e.SettlementReply.Validate()
	}
	if e.Snapshot != nil {
		n++
		c := checker{kind: "entry"}
		e.Snapshot.validate(&c)
		err = c.result()
	}
	if n != 1 {
		return &ValidationError{Kind: "entry", Rule: fmt.Sprintf("%d members set, want exactly one of job, anchor, tsa, release, cancel, settlement, settlement_reply, snapshot", n)}
	}
	return err
}

// Limits of a ReleaseEntry.
const (
	ReleaseVersion    = 1
	MaxReleaseNameLen = 128
	MaxReleaseTokens  = 8
)

// Validate checks a release entry: version 1; a name of 1 to
// MaxReleaseNameLen bytes of [A-Za-z0-9._-] that does not start with a dot;
// a 32-byte SHA-256; a signer of 40 lowercase hex digits (an OpenPGP v4
// fingerprint); 1 to MaxReleaseTokens token digests of 32 bytes; at > 0.
func (r *ReleaseEntry) Validate() error {
	c := checker{kind: "entry"}
	if r.V != ReleaseVersion {
		c.fail("release.v", "unsupported version %d, want %d", r.V, ReleaseVersion)
	}
	if !releaseName(r.Name) {
		c.fail("release.name", "want 1 to %d bytes of [A-Za-z0-9._-], not starting with a dot", MaxReleaseNameLen)
	}
	if len(r.SHA256) != 32 {
		c.fail("release.sha256", "%d bytes, want 32", len(r.SHA256))
	}
	if !lowerHex(r.Signer, 40) {
		c.fail("release.signer", "want an OpenPGP v4 fingerprint: 40 lowercase hex digits")
	}
	if len(r.TokensSHA256) == 0 || len(r.TokensSHA256) > MaxReleaseTokens {
		c.fail("release.tokens_sha256", "%d digests, want 1 to %d", len(r.TokensSHA256), MaxReleaseTokens)
	}
	for i, d := range r.TokensSHA256 {
		if len(d) != 32 {
			c.fail(fmt.Sprintf("release.tokens_sha256[%d]", i), "%d bytes, want 32", len(d))
		}
	}
	c.rangeInt("release.at", r.At, 1, 1<<40)
	return c.result()
}

func releaseName(s string) bool {
	if s == "" || len(s) > MaxReleaseNameLen || s[0] == '.' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
