package providers

import (
	"errors"
	"maps"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/treaty"
)

// ProviderID names a provider globally: the operator whose node runs it
// and its name there. Two operators' "vastai" are two providers with two
// accounts, regions and histories, so one's report never moves the score
// of the other's. A report entry names the reporter's own provider by
// name only (treaty.ProviderStat), so its ID is {reporter, name}; a local
// provider has no Operator.
type ProviderID struct {
	Operator treaty.DID
	Name     string
}

// String returns "name@operator" ("name" for a local provider).
func (id ProviderID) String() string {
	if id.Operator == "" {
		return id.Name
	}
	return id.Name + "@" + string(id.Operator)
}

// PeerOutcome is what became of one order forwarded to a treaty peer, as
// this node saw it.
type PeerOutcome int

// Peer outcomes and what they count as in the peer's fill score (1 good, 0
// bad). A forward ends as exactly one of Acked, Denied, Refused or Timeout;
// Filled and Unfilled follow up an Acked forward once its job reached
// running, or did not.
const (
	// PeerAcked: the peer signed an Ack (counts 1).
	PeerAcked PeerOutcome = iota + 1
	// PeerDenied: the peer signed a Denial. A denial is the peer's law
	// answering, not a fault: it moves no score (the RTT still counts).
	PeerDenied
	// PeerRefused: the peer refused before judging (no lane, not ready,
	// its launch queue full) (counts 0).
	PeerRefused
	// PeerTimeout: no answer in time, unreachable, or the outcome stayed
	// unknown (counts 0).
	PeerTimeout
	// PeerFilled: an Acked order's job reached running on the peer (counts
	// 1 more).
	PeerFilled
	// PeerUnfilled: an Acked order's job never reached running: a broken
	// promise (counts 0, and turns the forward into a failure in the
	// epoch's report).
	PeerUnfilled

	// peerNotFilled is ObservePeer(did, false, rtt): any answer but an Ack
	// (counts 0).
	peerNotFilled
)

var peerOutcomeNames = map[PeerOutcome]string{
	PeerAcked: "acked", PeerDenied: "denied", PeerRefused: "refused", PeerTimeout: "timeout",
	PeerFilled: "filled", PeerUnfilled: "unfilled", peerNotFilled: "not_filled",
}

func (o PeerOutcome) String() string {
	if s, ok := peerOutcomeNames[o]; ok {
		return s
	}
	return "unknown"
}

// ObservePeerOutcome records what became of one order forwarded to peer
// did, and for a forward (Acked, Denied, Refused, Timeout) its round trip
// (rtt < 0 = unknown). Unknown outcomes are ignored.
func (r *Reputation) ObservePeerOutcome(did treaty.DID, o PeerOutcome, rtt time.Duration) {
	name, ok := peerOutcomeNames[o]
	if !ok {
		return
	}
	now := r.now()
	r.mu.Lock()
	s := &r.peer[r.peerSlotLocked(did)]
	s.n++
	switch o {
	case PeerAcked, PeerFilled:
		s.ok.add(1, 1, r.decay(&s.ok, now, 1), now)
	case PeerRefused, PeerTimeout, PeerUnfilled, peerNotFilled:
		s.ok.add(0, 1, r.decay(&s.ok, now, 1), now)
	}
	switch o {
	case PeerFilled:
	case PeerUnfilled:
		if s.failed < s.launched {
			s.failed++
		}
	default: // a forward
		s.launched++
		if o != PeerAcked {
			s.failed++
		}
		if rtt >= 0 {
			s.lat.add(rtt.Seconds(), 1, r.decay(&s.lat, now, 1), now)
		}
	}
	r.mu.Unlock()
	r.dirty.Store(true)
	r.m.observations.WithLabelValues("peer", name).Inc()
}

// moveKey names one entry for the per-epoch move budgets.
type moveKey struct {
	peer bool
	slot int32
}

// moveBudget is what reports moved one entry in the current epoch, in
// permille: in total and per reporter.
type moveBudget struct {
	total float64
	by    map[treaty.DID]float64
}

// Results of aurora_reputation_reports_total and
// aurora_reputation_report_entries_total.
const (
	ReportAccepted  = "accepted"  // a report blended (some entries may be ignored)
	ReportUntrusted = "untrusted" // a reporter without trust (no active treaty): nothing counts
	ReportStale     = "stale"     // a report not newer than the reporter's last one blended
	ReportNil       = "nil"       // no report

	EntryApplied = "applied" // an entry moved a score within its budget
	EntryClamped = "clamped" // an entry moved a score by less than it asked: the budget ran out
	EntryBudget  = "budget"  // an entry moved nothing: the reporter's or the epoch's budget was used
	EntryInvalid = "invalid" // an inconsistent entry (failed > launched, filled > forwarded, none)
	EntrySelf    = "self"    // an entry about the reporter itself
	EntryFull    = "full"    // a new entry beyond MaxEntries
)

// Blend mixes a peer's signed report into the scores, within bounds
// (docs/OPERATIONS.md, "Trust model"):
//
//   - Only trusted reporters count: trust (0..1, clamped; the lower of the
//     caller's and Config.Trust's) must be positive, which the node gives
//     only to parties of an active treaty with it. Anyone else's report is
//     ignored whole.
//   - One report per reporter and report epoch: a report not newer than the
//     reporter's last blended one is ignored.
//   - Each entry weighs trust × min(its sample, BlendWeight) observations,
//     and then only as much as keeps its move of the entry's score within
//     trust × MaxReportMove permille for this reporter, and MaxEpochMove
//     for all reporters together, per Epoch of clock time.
//   - Provider entries name the reporter's own providers (ProviderID
//     {reporter, name}): they never move a local provider's score. Peer
//     entries about the reporter itself are ignored.
//
// The caller has verified the report's signature. Blended evidence moves
// scores but never the local epoch counts, so reports do not echo.
func (r *Reputation) Blend(rep *treaty.ReputationReport, trust float64) {
	if rep == nil {
		r.m.reports.WithLabelValues(ReportNil).Inc()
		return
	}
	if r.cfg.Trust != nil {
		trust = min(trust, r.cfg.Trust(rep.Reporter))
	}
	if !(trust > 0) {
		r.m.reports.WithLabelValues(ReportUntrusted).Inc()
		return
	}
	trust = min(trust, 1)
	now := r.now()
	epoch := r.cfg.Clock.Now().UnixNano() / int64(r.cfg.Epoch)
	var counts [6]int
	r.mu.Lock()
	if last, ok := r.lastReport[rep.Reporter]; ok && rep.Epoch <= last {
		r.mu.Unlock()
		r.m.reports.WithLabelValues(ReportStale).Inc()
		return
	}
	if len(r.lastReport) >= r.cfg.MaxEntries {
		clear(r.lastReport) // only trusted reporters get here: a few
	}
	r.lastReport[rep.Reporter] = rep.Epoch
	if epoch != r.moveEpoch {
		clear(r.moves)
		r.moveEpoch = epoch
	}
	var moved float64
	for _, p := range rep.Providers {
		if p.Launched <= 0 || p.Failed < 0 || p.Failed > p.Launched {
			counts[entryInvalid]++
			continue
		}
		i, ok := r.remoteIdx[ProviderID{rep.Reporter, p.Name}]
		if !ok {
			if len(r.prov)+len(r.peer) >= r.cfg.MaxEntries {
				counts[entryFull]++
				continue
			}
			i = r.remoteSlotLocked(ProviderID{rep.Reporter, p.Name})
		}
		s := &r.prov[i]
		w := trust * min(float64(p.Launched), r.cfg.BlendWeight)
		frac, d, res := r.moveLocked(moveKey{false, i}, &s.ok, float64(p.Launched-p.Failed)/float64(p.Launched), w, trust, rep.Reporter, now)
		counts[res]++
		moved += d
		if good := p.Launched - p.Failed; frac > 0 && good > 0 && p.LaunchP95MS > 0 {
			w := frac * trust * min(float64(good), r.cfg.BlendWeight)
			s.lat.add(float64(p.LaunchP95MS)/1000, w, r.decay(&s.lat, now, w), now)
		}
	}
	for _, p := range rep.Peers {
		switch {
		case p.DID == rep.Reporter:
			counts[entrySelf]++
			continue
		case p.Forwarded <= 0 || p.Filled < 0 || p.Filled > p.Forwarded:
			counts[entryInvalid]++
			continue
		}
		i, ok := r.peerIdx[p.DID]
		if !ok {
			if len(r.prov)+len(r.peer) >= r.cfg.MaxEntries {
				counts[entryFull]++
				continue
			}
			i = r.peerSlotLocked(p.DID)
		}
		s := &r.peer[i]
		w := trust * min(float64(p.Forwarded), r.cfg.BlendWeight)
		_, d, res := r.moveLocked(moveKey{true, i}, &s.ok, float64(p.Filled)/float64(p.Forwarded), w, trust, rep.Reporter, now)
		counts[res]++
		moved += d
	}
	r.mu.Unlock()
	r.dirty.Store(true)
	r.m.reports.WithLabelValues(ReportAccepted).Inc()
	for i, n := range counts {
		if n > 0 {
			r.m.entries.WithLabelValues(entryResults[i]).Add(float64(n))
		}
	}
	r.m.moved.Add(moved)
}

// Indexes of counts in Blend.
const (
	entryApplied = iota
	entryClamped
	entryBudget
	entryInvalid
	entrySelf
	entryFull
)

var entryResults = [6]string{EntryApplied, EntryClamped, EntryBudget, EntryInvalid, EntrySelf, EntryFull}

// moveLocked adds evidence x of weight up to w to e, cut so that the
// score moves within the reporter's and the epoch's remaining budget. It
// returns the fraction of w used, the move in permille and the entry's
// result index.
func (r *Reputation) moveLocked(key moveKey, e *ewma, x, w, trust float64, reporter treaty.DID, now int64) (float64, float64, int) {
	b := r.moves[key]
	if b == nil {
		b = &moveBudget{by: map[treaty.DID]float64{}}
		r.moves[key] = b
	}
	room := min(trust*float64(r.cfg.MaxReportMove)-b.by[reporter], float64(r.cfg.MaxEpochMove)-b.total)
	if room <= 0 {
		return 0, 0, entryBudget
	}
	before := r.scoreOf(e, now)
	move := func(w float64) float64 { return math.Abs(r.scoreAfter(*e, x, w, now) - before) }
	used, res := w, entryApplied
	if move(w) > room {
		// The move grows with the weight: bisect for the most that fits.
		lo, hi := 0.0, w
		for range 40 {
			mid := (lo + hi) / 2
			if move(mid) <= room {
				lo = mid
			} else {
				hi = mid
			}
		}
		used, res = lo, entryClamped
	}
	if !(used > 0) {
		return 0, 0, entryBudget
	}
	d := move(used)
	e.add(x, used, r.decay(e, now, used), now)
	b.total += d
	b.by[reporter] += d
	return used / w, d, res
}

// scoreOf is an entry's score in permille (unrounded), as a snapshot built
// at now computes it.
func (r *Reputation) scoreOf(e *ewma, now int64) float64 {
	d := r.decay(e, now, 0)
	prior, pw := float64(r.cfg.Prior)/1000, r.cfg.PriorWeight
	return 1000 * (e.s*d + prior*pw) / (e.w*d + pw)
}

// scoreAfter is scoreOf once evidence x of weight w is added (on a copy).
func (r *Reputation) scoreAfter(e ewma, x, w float64, now int64) float64 {
	e.add(x, w, r.decay(&e, now, w), now)
	return r.scoreOf(&e, now)
}

// remoteSlotLocked returns id's slot, adding it (copy on write, like
// provSlotLocked).
func (r *Reputation) remoteSlotLocked(id ProviderID) int32 {
	if i, ok := r.remoteIdx[id]; ok {
		return i
	}
	m := maps.Clone(r.remoteIdx)
	i := int32(len(r.prov))
	m[id] = i
	r.remoteIdx = m
	r.prov = append(r.prov, repState{})
	return i
}

// RemoteScore returns the score of another operator's provider, from its
// reports (Prior if none was blended).
func (r *Reputation) RemoteScore(id ProviderID) int64 {
	e, _ := r.Snapshot().RemoteProvider(id)
	return e.Score
}

// repMetrics are the reputation's collectors; they work unregistered.
type repMetrics struct {
	reports      *prometheus.CounterVec
	entries      *prometheus.CounterVec
	observations *prometheus.CounterVec
	moved        prometheus.Counter
}

func newRepMetrics(reg prometheus.Registerer) (*repMetrics, error) {
	m := &repMetrics{
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_reputation_reports_total",
			Help: "Peers' reputation reports offered to Blend, by result (accepted, untrusted, stale, nil).",
		}, []string{"result"}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_reputation_report_entries_total",
			Help: "Entries of accepted reports, by result (applied, clamped, budget, invalid, self, full).",
		}, []string{"result"}),
		observations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_reputation_observations_total",
			Help: "Local observations, by kind (provider, peer) and outcome (ok, failed; acked, denied, refused, timeout, filled, unfilled, not_filled).",
		}, []string{"kind", "outcome"}),
		moved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aurora_reputation_report_moved_permille_total",
			Help: "Permille of score moved by peers' reports, summed over entries (absolute values).",
		}),
	}
	for _, r := range []string{ReportAccepted, ReportUntrusted, ReportStale} {
		m.reports.WithLabelValues(r)
	}
	for _, r := range entryResults {
		m.entries.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.reports, m.entries, m.observations, m.moved}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("providers: reputation metrics already registered: give each Reputation its own Registerer")
			}
			return nil, err
		}
	}
	return m, nil
}
