package providers

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aurora-federation/aurora/treaty"
)

// allFailedAbout is a report by reporter that every order it forwarded to
// target failed, and that its provider "sim-eu" never launched.
func allFailedAbout(reporter, target treaty.DID, epoch int64) *treaty.ReputationReport {
	return &treaty.ReputationReport{
		Reporter:  reporter,
		Epoch:     epoch,
		Providers: []treaty.ProviderStat{{Name: "sim-eu", Launched: 1000, Failed: 1000}},
		Peers:     []treaty.PeerStat{{DID: target, Forwarded: 1000, Filled: 0}},
	}
}

// TestReputationSybils is the attack: eight throw-away keys report
// that a provider and a partner peer fail everything. Without a treaty
// they have no trust, so nothing moves — even when the caller passes them
// the old stranger trust of 0.25, Config.Trust has the last word.
func TestReputationSybils(t *testing.T) {
	partner := repDID(t, 1)
	partners := map[treaty.DID]float64{partner: 1}
	reg := prometheus.NewRegistry()
	r, _ := newRep(t, ReputationConfig{Registerer: reg, Trust: func(d treaty.DID) float64 { return partners[d] }})
	r.Track("sim-eu")
	for i := range 8 {
		sybil := repDID(t, byte(100+i))
		for e := range 5 {
			r.Blend(allFailedAbout(sybil, partner, int64(e)), 0.25)
			r.Blend(allFailedAbout(sybil, partner, int64(e)), 1)
		}
		if got := r.RemoteScore(ProviderID{sybil, "sim-eu"}); got != 800 {
			t.Errorf("sybil %d's own provider entry moved to %d", i, got)
		}
	}
	if got := r.Score("sim-eu"); got != 800 {
		t.Errorf("local provider sim-eu = %d after sybil reports, want 800", got)
	}
	if got := r.PeerScore(partner); got != 800 {
		t.Errorf("partner peer = %d after sybil reports, want 800", got)
	}
	if got := testutil.ToFloat64(r.m.reports.WithLabelValues(ReportUntrusted)); got != 80 {
		t.Errorf("aurora_reputation_reports_total{result=untrusted} = %v, want 80", got)
	}
	if got := testutil.ToFloat64(r.m.reports.WithLabelValues(ReportAccepted)); got != 0 {
		t.Errorf("aurora_reputation_reports_total{result=accepted} = %v, want 0", got)
	}
}

// TestReputationBoundedMove: one partner at trust 1 moves a peer's score
// by at most MaxReportMove per epoch, however many reports it sends and
// however large their samples; all partners together by at most
// MaxEpochMove; and a consistent truth still wins over epochs.
func TestReputationBoundedMove(t *testing.T) {
	target := repDID(t, 50)

	t.Run("one partner, one epoch", func(t *testing.T) {
		r, _ := newRep(t, ReputationConfig{})
		partner := repDID(t, 1)
		for e := range 20 { // 20 distinct report epochs inside one clock epoch
			r.Blend(allFailedAbout(partner, target, int64(e)), 1)
		}
		got := r.PeerScore(target)
		if got < 800-25 || got >= 800 {
			t.Errorf("PeerScore = %d after one partner's reports in one epoch, want in [775, 800)", got)
		}
	})

	t.Run("half trust, half the move", func(t *testing.T) {
		r, _ := newRep(t, ReputationConfig{})
		r.Blend(allFailedAbout(repDID(t, 1), target, 1), 0.5)
		if got := r.PeerScore(target); got < 800-13 || got >= 800 {
			t.Errorf("PeerScore = %d, want in [787, 800)", got)
		}
	})

	t.Run("many partners, one epoch", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		r, _ := newRep(t, ReputationConfig{Registerer: reg})
		for i := range 12 {
			rep := allFailedAbout(repDID(t, byte(1+i)), target, 1)
			rep.Providers = nil // the peer entry alone: its moves are the counter's
			r.Blend(rep, 1)
		}
		if got := r.PeerScore(target); got < 800-100 {
			t.Errorf("PeerScore = %d after 12 partners in one epoch, want >= 700", got)
		}
		// 4 partners use the 100 permille; the others find no budget.
		if got := testutil.ToFloat64(r.m.entries.WithLabelValues(EntryBudget)); got < 7 {
			t.Errorf("entries refused for budget = %v, want >= 7", got)
		}
		if got := testutil.ToFloat64(r.m.moved); got > 100.5 {
			t.Errorf("moved %v permille in one epoch, want <= 100", got)
		}
	})

	t.Run("cannot drag 800 below 500 in one epoch", func(t *testing.T) {
		r, _ := newRep(t, ReputationConfig{})
		partner := repDID(t, 1)
		for e := range 1000 {
			r.Blend(allFailedAbout(partner, target, int64(e)), 1)
		}
		if got := r.PeerScore(target); got < 500 {
			t.Errorf("PeerScore = %d, want >= 500", got)
		}
	})

	t.Run("the truth wins over epochs", func(t *testing.T) {
		r, clock := newRep(t, ReputationConfig{HalfLife: -1})
		partner := repDID(t, 1)
		for e := range 40 {
			r.Blend(allFailedAbout(partner, target, int64(e)), 1)
			clock.Advance(time.Minute)
		}
		if got := r.PeerScore(target); got > 500 {
			t.Errorf("PeerScore = %d after 40 epochs of failures, want <= 500", got)
		}
	})

	t.Run("stale report", func(t *testing.T) {
		r, clock := newRep(t, ReputationConfig{})
		partner := repDID(t, 1)
		r.Blend(allFailedAbout(partner, target, 7), 1)
		clock.Advance(time.Minute)
		before := r.PeerScore(target)
		r.Blend(allFailedAbout(partner, target, 7), 1)
		r.Blend(allFailedAbout(partner, target, 3), 1)
		if got := r.PeerScore(target); got != before {
			t.Errorf("a replayed report moved the score %d → %d", before, got)
		}
		if got := testutil.ToFloat64(r.m.reports.WithLabelValues(ReportStale)); got != 2 {
			t.Errorf("stale reports = %v, want 2", got)
		}
	})
}

// TestReputationProviderIDs: honest operators' providers with the same
// name are distinct entries, and neither is the local one.
func TestReputationProviderIDs(t *testing.T) {
	r, _ := newRep(t, ReputationConfig{Alpha: 0.5})
	a, b := repDID(t, 1), repDID(t, 2)
	r.Observe("sim-eu", true, time.Second)
	r.Blend(&treaty.ReputationReport{Reporter: a, Epoch: 1, Providers: []treaty.ProviderStat{{Name: "sim-eu", Launched: 10, Failed: 10}}}, 1)
	r.Blend(&treaty.ReputationReport{Reporter: b, Epoch: 1, Providers: []treaty.ProviderStat{{Name: "sim-eu", Launched: 10, Failed: 0}}}, 1)
	local, ra, rb := r.Score("sim-eu"), r.RemoteScore(ProviderID{a, "sim-eu"}), r.RemoteScore(ProviderID{b, "sim-eu"})
	if !(ra < 800 && rb > 800 && local > 800) {
		t.Errorf("local %d, a's %d, b's %d: want a's < 800 < b's, local unmoved by either (> 800)", local, ra, rb)
	}
	if got := (ProviderID{a, "sim-eu"}).String(); got != "sim-eu@"+string(a) {
		t.Errorf("String() = %q", got)
	}
	// Only local providers are reported.
	rep := r.Report(repDID(t, 9), "fed", 1, repEpoch)
	if len(rep.Providers) != 1 || rep.Providers[0].Name != "sim-eu" || rep.Providers[0].Launched != 1 {
		t.Errorf("report providers = %+v, want the one local launch", rep.Providers)
	}
}

// TestObservePeerOutcome: what each outcome does to a peer's score, RTT and
// the epoch's report.
func TestObservePeerOutcome(t *testing.T) {
	for _, tc := range []struct {
		name               string
		outcomes           []PeerOutcome
		wantScore          string // "up", "down", "same"
		forwarded, filled  int64
		wantRTT            bool
		wantObservedMetric string
	}{
		{"acked", []PeerOutcome{PeerAcked}, "up", 1, 1, true, "acked"},
		{"acked then filled", []PeerOutcome{PeerAcked, PeerFilled}, "up", 1, 1, true, "filled"},
		{"acked then unfilled", []PeerOutcome{PeerAcked, PeerUnfilled}, "down", 1, 0, true, "unfilled"},
		{"denied", []PeerOutcome{PeerDenied}, "same", 1, 0, true, "denied"},
		{"refused", []PeerOutcome{PeerRefused}, "down", 1, 0, true, "refused"},
		{"timeout", []PeerOutcome{PeerTimeout}, "down", 1, 0, true, "timeout"},
		{"unknown outcome", []PeerOutcome{PeerOutcome(99)}, "same", 0, 0, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newRep(t, ReputationConfig{})
			peer := repDID(t, 3)
			for _, o := range tc.outcomes {
				r.ObservePeerOutcome(peer, o, 30*time.Millisecond)
			}
			got := r.PeerScore(peer)
			switch {
			case tc.wantScore == "up" && got <= 800, tc.wantScore == "down" && got >= 800, tc.wantScore == "same" && got != 800:
				t.Errorf("PeerScore = %d, want %s from 800", got, tc.wantScore)
			}
			e, _ := r.Snapshot().Peer(peer)
			if e.LatencyKnown != tc.wantRTT || (tc.wantRTT && e.Latency != 30*time.Millisecond) {
				t.Errorf("RTT %s known %v, want known %v", e.Latency, e.LatencyKnown, tc.wantRTT)
			}
			rep := r.Report(repDID(t, 9), "fed", 1, repEpoch)
			var fwd, filled int64
			for _, p := range rep.Peers {
				fwd, filled = p.Forwarded, p.Filled
			}
			if fwd != tc.forwarded || filled != tc.filled {
				t.Errorf("report forwarded %d filled %d, want %d %d", fwd, filled, tc.forwarded, tc.filled)
			}
			if tc.wantObservedMetric != "" {
				if n := testutil.ToFloat64(r.m.observations.WithLabelValues("peer", tc.wantObservedMetric)); n != 1 {
					t.Errorf("observations{peer,%s} = %v, want 1", tc.wantObservedMetric, n)
				}
			}
		})
	}
	// The legacy call keeps its meaning: filled = an Ack, else a failure.
	r, _ := newRep(t, ReputationConfig{})
	p := repDID(t, 4)
	r.ObservePeer(p, false, -1)
	if got := r.PeerScore(p); got >= 800 {
		t.Errorf("ObservePeer(false) left the score at %d", got)
	}
}

func TestReputationMetricsRegisterer(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewReputation(ReputationConfig{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReputation(ReputationConfig{Registerer: reg}); err == nil {
		t.Fatal("a second Reputation on one Registerer did not fail")
	}
	if _, err := NewReputation(ReputationConfig{MaxReportMove: -1}); err == nil {
		t.Fatal("a negative MaxReportMove validated")
	}
}
