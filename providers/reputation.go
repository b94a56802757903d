package providers

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/treaty"
)

// ReputationConfig configures a Reputation. The zero value works: an EWMA
// with Alpha 0.05 whose evidence also halves every 10 minutes of clock time,
// and a prior of 800 permille worth 2 observations.
//
// Both decays apply. Alpha bounds the evidence to roughly the last 1/Alpha
// observations, so a score follows a provider's recent behaviour; HalfLife
// makes evidence age, so an entry that is no longer observed (for example a
// provider excluded by a minimum reputation) drifts back toward Prior and is
// tried again instead of being excluded forever.
type ReputationConfig struct {
	// HalfLife is the clock time after which evidence keeps half its weight.
	// Default 10 minutes; < 0 disables time decay.
	HalfLife time.Duration
	// Alpha is the weight of each new observation, in (0, 1]. Default 0.05
	// (roughly the last 20 launches).
	Alpha float64
	// Prior is the score in permille (1..1000) of a provider or peer never
	// observed. Default 800.
	Prior int64
	// PriorLatency is the launch latency assumed of a provider never
	// observed, worth PriorWeight observations at first and fading as
	// evidence grows. Default 60s (launches take tens of seconds to minutes
	// on most networks). An optimistic zero would send every order to an
	// unobserved network until its first launch reports, minutes later.
	PriorLatency time.Duration
	// PriorWeight is how many observations the priors are worth; it keeps a
	// score from jumping to 0 or 1000 on the first launch. Default 2.
	PriorWeight float64
	// BlendWeight is the most observations one entry of a peer's report
	// counts as at trust 1 (Blend). Default 8.
	BlendWeight float64
	// Epoch is the period over which reports' influence is bounded: in one
	// Epoch of clock time, one reporter at trust 1 moves one entry's score
	// by at most MaxReportMove, and all reporters together by at most
	// MaxEpochMove (docs/OPERATIONS.md, "Trust model"). Default 1 minute,
	// the mesh's reputation epoch.
	Epoch time.Duration
	// MaxReportMove is the most permille one reporter at trust 1 moves one
	// entry's score in one Epoch (scaled by its trust). Default 25.
	MaxReportMove int64
	// MaxEpochMove is the most permille all reporters together move one
	// entry's score in one Epoch. Default 100.
	MaxEpochMove int64
	// Trust, when set, is the authority on reporters: Blend uses the lower
	// of the trust its caller passes and Trust(reporter), so a reporter it
	// gives 0 (anyone without an active treaty with this node) is ignored.
	// Default nil: the caller's trust alone.
	Trust func(reporter treaty.DID) float64
	// Registerer receives the reputation's metrics (reports and entries
	// accepted or ignored by reason, observations by outcome). Default nil:
	// not registered.
	Registerer prometheus.Registerer
	// MaxEntries bounds how many providers plus peers Blend may add (peer
	// reports are hostile input). Local observations are always recorded.
	// Default 4096.
	MaxEntries int
	// MaxStaleness lets Snapshot return a view up to this much clock time
	// behind the latest observations, sparing a rebuild per read under a
	// steady stream of observations. Default 0: always current.
	MaxStaleness time.Duration
	// Clock ages evidence (HalfLife). Default SystemClock.
	Clock Clock
}

func (c *ReputationConfig) validate() error {
	if c.HalfLife == 0 {
		c.HalfLife = 10 * time.Minute
	}
	if c.HalfLife < 0 {
		c.HalfLife = 0 // disabled
	}
	if c.Alpha == 0 {
		c.Alpha = 0.05
	}
	if !(c.Alpha > 0 && c.Alpha <= 1) {
		return fmt.Errorf("providers: reputation alpha %g not in (0, 1]", c.Alpha)
	}
	if c.Prior == 0 {
		c.Prior = 800
	}
	if c.Prior < 1 || c.Prior > treaty.PermilleMax {
		return fmt.Errorf("providers: reputation prior %d not in [1, %d]", c.Prior, treaty.PermilleMax)
	}
	if c.PriorLatency == 0 {
		c.PriorLatency = time.Minute
	}
	if c.PriorLatency < 0 {
		return fmt.Errorf("providers: reputation prior latency %s is negative", c.PriorLatency)
	}
	if c.PriorWeight == 0 {
		c.PriorWeight = 2
	}
	if c.BlendWeight == 0 {
		c.BlendWeight = 8
	}
	if !(c.PriorWeight > 0) || !(c.BlendWeight > 0) {
		return errors.New("providers: reputation prior and blend weights must be positive")
	}
	if c.Epoch == 0 {
		c.Epoch = time.Minute
	}
	if c.MaxReportMove == 0 {
		c.MaxReportMove = 25
	}
	if c.MaxEpochMove == 0 {
		c.MaxEpochMove = 100
	}
	if c.Epoch < 0 || c.MaxReportMove < 0 || c.MaxEpochMove < 0 || c.MaxReportMove > treaty.PermilleMax || c.MaxEpochMove > treaty.PermilleMax {
		return fmt.Errorf("providers: reputation epoch %s, max report move %d, max epoch move %d: want a positive epoch and moves in [0, %d]",
			c.Epoch, c.MaxReportMove, c.MaxEpochMove, treaty.PermilleMax)
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = 4096
	}
	if c.MaxEntries < 0 {
		return fmt.Errorf("providers: reputation max entries %d is negative", c.MaxEntries)
	}
	if c.MaxStaleness < 0 {
		return fmt.Errorf("providers: reputation max staleness %s is negative", c.MaxStaleness)
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	return nil
}

// Reputation tracks, per provider and per treaty peer, an exponentially
// weighted average of launch success (fill, for peers) and of launch latency
// (RTT, for peers), plus per-epoch counts for the signed ReputationReport.
//
// Writers (Observe, ObservePeer, Blend, Report) serialise on a mutex; readers
// take an immutable ReputationSnapshot published through an atomic pointer:
// Snapshot is an O(1) lock-free load unless something changed since the last
// one, in which case it rebuilds in O(entries). A Reputation is safe for
// concurrent use.
type Reputation struct {
	cfg   ReputationConfig
	snap  atomic.Pointer[ReputationSnapshot]
	dirty atomic.Bool

	m *repMetrics

	mu      sync.Mutex       // protects following
	provIdx map[string]int32 // local providers, by name
	// remoteIdx are other operators' providers, known from their reports;
	// their slots are in prov too.
	remoteIdx map[ProviderID]int32
	peerIdx   map[treaty.DID]int32
	prov      []repState
	peer      []repState
	// moves is what reports moved each entry in the current Epoch
	// (moveEpoch), bounding their influence; lastReport is each
	// reporter's latest report epoch blended.
	moves      map[moveKey]*moveBudget
	moveEpoch  int64
	lastReport map[treaty.DID]int64
}

// repState is one provider's or peer's mutable record.
type repState struct {
	ok  ewma // success (1) or failure (0)
	lat ewma // latency in seconds, successes only
	n   int64
	// epoch counters, reset by Report; for peers launched = forwarded and
	// failed = forwarded - filled.
	launched, failed int64
	hist             *latencyHist // providers only, allocated on first latency
}

// ewma is a decayed weighted mean in sum form: value = s / w.
type ewma struct {
	s, w float64
	at   int64 // unix ns of the last update (HalfLife mode)
}

// NewReputation returns an empty Reputation.
func NewReputation(cfg ReputationConfig) (*Reputation, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newRepMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	r := &Reputation{
		cfg:        cfg,
		m:          m,
		provIdx:    map[string]int32{},
		remoteIdx:  map[ProviderID]int32{},
		peerIdx:    map[treaty.DID]int32{},
		moves:      map[moveKey]*moveBudget{},
		lastReport: map[treaty.DID]int64{},
	}
	r.snap.Store(&ReputationSnapshot{prior: cfg.Prior, priorLat: cfg.PriorLatency, at: cfg.Clock.Now(), provIdx: r.provIdx, remoteIdx: r.remoteIdx, peerIdx: r.peerIdx})
	return r, nil
}

// Prior returns the score of an entry never observed.
func (r *Reputation) Prior() int64 { return r.cfg.Prior }

// Track registers provider names so they appear in snapshots (at Prior) and
// accept blended reports before their first local launch. The router tracks
// its providers.
func (r *Reputation) Track(names ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range names {
		r.provSlotLocked(n)
	}
	r.dirty.Store(true)
}

// track registers one provider and returns its slot, which never changes.
func (r *Reputation) track(name string) int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dirty.Store(true)
	return r.provSlotLocked(name)
}

// Observe records one launch attempt on provider name: ok or failed, and for
// a success the latency from launch to running. A negative latency means it
// is not known yet (the lease is still launching); report it later with
// ObserveLatency.
func (r *Reputation) Observe(name string, ok bool, latency time.Duration) {
	now := r.now()
	r.mu.Lock()
	s := &r.prov[r.provSlotLocked(name)]
	s.ok.add(b2f(ok), 1, r.decay(&s.ok, now, 1), now)
	s.n++
	s.launched++
	if !ok {
		s.failed++
	} else if latency >= 0 {
		r.latencyLocked(s, latency, now)
	}
	r.mu.Unlock()
	r.dirty.Store(true)
	outcome := "ok"
	if !ok {
		outcome = "failed"
	}
	r.m.observations.WithLabelValues("provider", outcome).Inc()
}

// ObserveLatency records the launch-to-running latency of a launch already
// counted by Observe.
func (r *Reputation) ObserveLatency(name string, latency time.Duration) {
	if latency < 0 {
		return
	}
	now := r.now()
	r.mu.Lock()
	r.latencyLocked(&r.prov[r.provSlotLocked(name)], latency, now)
	r.mu.Unlock()
	r.dirty.Store(true)
}

func (r *Reputation) latencyLocked(s *repState, latency time.Duration, now int64) {
	s.lat.add(latency.Seconds(), 1, r.decay(&s.lat, now, 1), now)
	if s.hist == nil {
		s.hist = new(latencyHist)
	}
	s.hist.add(latency)
}

// ObservePeer records one order forwarded to peer did: filled (the peer
// signed an Ack) or not (a Denial, a refusal or no answer: all count as a
// failure), and the round trip (send → answer) when known (rtt < 0 =
// unknown). ObservePeerOutcome tells these apart.
func (r *Reputation) ObservePeer(did treaty.DID, filled bool, rtt time.Duration) {
	o := peerNotFilled
	if filled {
		o = PeerAcked
	}
	r.ObservePeerOutcome(did, o, rtt)
}

// Score returns provider name's score in permille (Prior if never observed).
func (r *Reputation) Score(name string) int64 { return r.Snapshot().Score(name) }

// PeerScore returns peer did's fill score in permille (Prior if never
// observed).
func (r *Reputation) PeerScore(did treaty.DID) int64 { return r.Snapshot().PeerScore(did) }

// Report builds the local report for epoch from the launches and forwards
// observed since the previous Report, and starts a new epoch. Entries are
// sorted as treaty validation requires; when there are more than
// treaty.MaxReportEntries, the busiest are kept. Provider names that are not
// treaty names are left out. The caller signs the report.
func (r *Reputation) Report(reporter treaty.DID, federation string, epoch int64, now time.Time) *treaty.ReputationReport {
	rep := &treaty.ReputationReport{
		V:          treaty.Version,
		Reporter:   reporter,
		Federation: federation,
		Epoch:      epoch,
		At:         now.Unix(),
		Providers:  []treaty.ProviderStat{},
		Peers:      []treaty.PeerStat{},
	}
	r.mu.Lock()
	for name, i := range r.provIdx {
		s := &r.prov[i]
		if s.launched > 0 && treatyName(name) {
			st := treaty.ProviderStat{Name: name, Launched: s.launched, Failed: s.failed}
			if s.hist != nil {
				st.LaunchP95MS = s.hist.quantileMS(0.95)
			}
			rep.Providers = append(rep.Providers, st)
		}
		s.launched, s.failed = 0, 0
		if s.hist != nil {
			*s.hist = latencyHist{}
		}
	}
	for did, i := range r.peerIdx {
		s := &r.peer[i]
		if s.launched > 0 {
			rep.Peers = append(rep.Peers, treaty.PeerStat{DID: did, Forwarded: s.launched, Filled: s.launched - s.failed})
		}
		s.launched, s.failed = 0, 0
	}
	r.mu.Unlock()

	if len(rep.Providers) > treaty.MaxReportEntries {
		slices.SortFunc(rep.Providers, func(a, b treaty.ProviderStat) int {
			if a.Launched != b.Launched {
				return int(b.Launched - a.Launched)
			}
			return strings.Compare(a.Name, b.Name)
		})
		rep.Providers = rep.Providers[:treaty.MaxReportEntries]
	}
	if len(rep.Peers) > treaty.MaxReportEntries {
		slices.SortFunc(rep.Peers, func(a, b treaty.PeerStat) int {
			if a.Forwarded != b.Forwarded {
				return int(b.Forwarded - a.Forwarded)
			}
			return strings.Compare(string(a.DID), string(b.DID))
		})
		rep.Peers = rep.Peers[:treaty.MaxReportEntries]
	}
	slices.SortFunc(rep.Providers, func(a, b treaty.ProviderStat) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(rep.Peers, func(a, b treaty.PeerStat) int { return strings.Compare(string(a.DID), string(b.DID)) })
	return rep
}

// Snapshot returns the current immutable view. It is a lock-free load when
// nothing changed since the last call (or the last snapshot is younger than
// MaxStaleness) and, with time decay, the last snapshot is younger than
// HalfLife/16; otherwise it rebuilds in O(entries).
func (r *Reputation) Snapshot() *ReputationSnapshot {
	s := r.snap.Load()
	dirty := r.dirty.Load()
	if !dirty && r.cfg.HalfLife == 0 {
		return s
	}
	age := r.cfg.Clock.Now().Sub(s.at)
	if (!dirty || age < r.cfg.MaxStaleness) && (r.cfg.HalfLife == 0 || age < r.cfg.HalfLife/16) {
		return s
	}
	return r.rebuild()
}

func (r *Reputation) rebuild() *ReputationSnapshot {
	now := r.cfg.Clock.Now()
	nowNS := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dirty.Store(false)
	s := &ReputationSnapshot{
		prior:     r.cfg.Prior,
		priorLat:  r.cfg.PriorLatency,
		at:        now,
		provIdx:   r.provIdx,
		remoteIdx: r.remoteIdx,
		peerIdx:   r.peerIdx,
		prov:      make([]ReputationEntry, len(r.prov)),
		peer:      make([]ReputationEntry, len(r.peer)),
	}
	for i := range r.prov {
		s.prov[i] = r.entry(&r.prov[i], nowNS, true)
	}
	for i := range r.peer {
		s.peer[i] = r.entry(&r.peer[i], nowNS, false)
	}
	r.snap.Store(s)
	return s
}

// entry computes a snapshot entry. Provider latencies are blended with
// PriorLatency like scores with Prior; peer RTTs are plain means.
func (r *Reputation) entry(st *repState, now int64, provider bool) ReputationEntry {
	prior := float64(r.cfg.Prior) / 1000
	pw := r.cfg.PriorWeight
	d := r.decay(&st.ok, now, 0)
	e := ReputationEntry{
		Score:        int64(math.Round(1000 * (st.ok.s*d + prior*pw) / (st.ok.w*d + pw))),
		Observations: st.n,
	}
	e.LatencyKnown = st.lat.w > 0
	switch {
	case provider:
		// The prior latency is a guess: its weight fades as evidence grows.
		dl := r.decay(&st.lat, now, 0)
		w := st.lat.w * dl
		plw := pw / (1 + w)
		e.Latency = time.Duration((st.lat.s*dl + r.cfg.PriorLatency.Seconds()*plw) / (w + plw) * float64(time.Second))
	case e.LatencyKnown:
		e.Latency = time.Duration(st.lat.s / st.lat.w * float64(time.Second))
	}
	return e
}

func (r *Reputation) now() int64 {
	if r.cfg.HalfLife == 0 {
		return 0
	}
	return r.cfg.Clock.Now().UnixNano()
}

// decay is the factor old evidence keeps when evidence of weight w arrives
// at now: (1-Alpha)^w, times 2^(-elapsed/HalfLife) with time decay.
func (r *Reputation) decay(e *ewma, now int64, w float64) float64 {
	var d float64
	switch w {
	case 0:
		d = 1
	case 1:
		d = 1 - r.cfg.Alpha
	default:
		d = math.Pow(1-r.cfg.Alpha, w)
	}
	if r.cfg.HalfLife > 0 && e.at != 0 {
		if dt := now - e.at; dt > 0 {
			d *= math.Exp2(-float64(dt) / float64(r.cfg.HalfLife))
		}
	}
	return d
}

func (e *ewma) add(x, w, d float64, now int64) {
	e.s = e.s*d + w*x
	e.w = e.w*d + w
	if now > e.at {
		e.at = now
	}
}

// provSlotLocked returns name's slot, adding it. The index map is copied on
// write because published snapshots share it.
func (r *Reputation) provSlotLocked(name string) int32 {
	if i, ok := r.provIdx[name]; ok {
		return i
	}
	m := maps.Clone(r.provIdx)
	i := int32(len(r.prov))
	m[name] = i
	r.provIdx = m
	r.prov = append(r.prov, repState{})
	return i
}

func (r *Reputation) peerSlotLocked(did treaty.DID) int32 {
	if i, ok := r.peerIdx[did]; ok {
		return i
	}
	m := maps.Clone(r.peerIdx)
	i := int32(len(r.peer))
	m[did] = i
	r.peerIdx = m
	r.peer = append(r.peer, repState{})
	return i
}

// ReputationEntry is one provider's or peer's standing in a snapshot.
type ReputationEntry struct {
	Score int64 // permille: launch success (providers) or fill (peers)
	// Latency is the expected launch-to-running time of a provider (its
	// average blended with PriorLatency), or a peer's mean RTT (0 until
	// observed).
	Latency      time.Duration
	LatencyKnown bool  // a latency was observed
	Observations int64 // local observations ever
}

// ReputationSnapshot is an immutable view of a Reputation. All methods are
// O(1), lock-free and safe for concurrent use; a nil snapshot answers with
// the default prior.
type ReputationSnapshot struct {
	prior     int64
	priorLat  time.Duration
	at        time.Time
	provIdx   map[string]int32
	remoteIdx map[ProviderID]int32
	peerIdx   map[treaty.DID]int32
	prov      []ReputationEntry
	peer      []ReputationEntry
}

// RemoteProvider returns the entry of another operator's provider, as its
// reports describe it, if any report was blended.
func (s *ReputationSnapshot) RemoteProvider(id ProviderID) (ReputationEntry, bool) {
	if s != nil {
		if i, ok := s.remoteIdx[id]; ok && int(i) < len(s.prov) {
			return s.prov[i], true
		}
	}
	return ReputationEntry{Score: s.Prior(), Latency: s.priorLatency()}, false
}

// Provider returns provider name's entry, if it was ever observed or tracked.
func (s *ReputationSnapshot) Provider(name string) (ReputationEntry, bool) {
	if s != nil {
		if i, ok := s.provIdx[name]; ok && int(i) < len(s.prov) {
			return s.prov[i], true
		}
	}
	return ReputationEntry{Score: s.Prior(), Latency: s.priorLatency()}, false
}

func (s *ReputationSnapshot) priorLatency() time.Duration {
	if s == nil {
		return time.Minute
	}
	return s.priorLat
}

// providerAt is Provider for a slot from Reputation.track: an index instead
// of a map lookup on the router's hot path.
func (s *ReputationSnapshot) providerAt(slot int32, name string) ReputationEntry {
	if s != nil && slot >= 0 && int(slot) < len(s.prov) {
		return s.prov[slot]
	}
	e, _ := s.Provider(name)
	return e
}

// Peer returns peer did's entry, if it was ever observed.
func (s *ReputationSnapshot) Peer(did treaty.DID) (ReputationEntry, bool) {
	if s != nil {
		if i, ok := s.peerIdx[did]; ok && int(i) < len(s.peer) {
			return s.peer[i], true
		}
	}
	return ReputationEntry{Score: s.Prior()}, false
}

// Score returns provider name's score in permille.
func (s *ReputationSnapshot) Score(name string) int64 {
	e, _ := s.Provider(name)
	return e.Score
}

// PeerScore returns peer did's fill score in permille.
func (s *ReputationSnapshot) PeerScore(did treaty.DID) int64 {
	e, _ := s.Peer(did)
	return e.Score
}

// Prior returns the score of an entry never observed.
func (s *ReputationSnapshot) Prior() int64 {
	if s == nil {
		return 800
	}
	return s.prior
}

// At returns when the snapshot was built.
func (s *ReputationSnapshot) At() time.Time {
	if s == nil {
		return time.Time{}
	}
	return s.at
}

// latencyHist is a log-linear histogram of milliseconds: exact below 8 ms,
// then four buckets per power of two (≤ 19% wide), up to 2^40 ms.
type latencyHist struct {
	n int64
	b [160]uint32
}

func histBucket(ms uint64) int {
	if ms < 8 {
		return int(ms)
	}
	e := bits.Len64(ms) - 1 // ≥ 3
	i := 8 + (e-3)*4 + int(ms>>(e-2)&3)
	return min(i, len(latencyHist{}.b)-1)
}

// histUpper is the largest value in bucket i.
func histUpper(i int) int64 {
	if i < 8 {
		return int64(i)
	}
	e := (i-8)/4 + 3
	frac := int64((i - 8) % 4)
	return (4+frac+1)<<(e-2) - 1
}

func (h *latencyHist) add(d time.Duration) {
	ms := max(d.Milliseconds(), 0)
	h.b[histBucket(uint64(ms))]++
	h.n++
}

// quantileMS returns an upper bound of the q quantile, capped to what a
// treaty report accepts.
func (h *latencyHist) quantileMS(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var cum int64
	for i, c := range h.b {
		cum += int64(c)
		if cum >= rank {
			return min(histUpper(i), 1<<32)
		}
	}
	return 1 << 32
}

// treatyName reports whether s is a valid treaty name ([a-z0-9][a-z0-9._-]*).
func treatyName(s string) bool {
	if s == "" || len(s) > treaty.MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || i > 0 && (b == '-' || b == '.' || b == '_')) {
			return false
		}
	}
	return true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
