package providers

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/treaty"
	"github.com/google/go-cmp/cmp"
)

var repEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func repDID(t testing.TB, label byte) treaty.DID {
	t.Helper()
	k, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{label}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k.DID()
}

func newRep(t testing.TB, cfg ReputationConfig) (*Reputation, *VirtualClock) {
	t.Helper()
	clock := NewVirtualClock(repEpoch)
	if cfg.Clock == nil {
		cfg.Clock = clock
	}
	r, err := NewReputation(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, clock
}

// repReference is the documented model, computed the slow way: evidence in
// sum form, each new observation decaying the old by (1-alpha), the prior
// worth priorWeight observations. No time decay.
func repReference(prior int64, alpha, priorWeight float64, obs []bool) int64 {
	var s, w float64
	for _, ok := range obs {
		s *= 1 - alpha
		w *= 1 - alpha
		if ok {
			s++
		}
		w++
	}
	p := float64(prior) / 1000
	return int64(math.Round(1000 * (s + p*priorWeight) / (w + priorWeight)))
}

func TestReputationScore(t *testing.T) {
	seq := func(pattern string, n int) []bool {
		var out []bool
		for range n {
			for _, c := range pattern {
				out = append(out, c == '+')
			}
		}
		return out
	}
	tests := []struct {
		name      string
		cfg       ReputationConfig
		obs       []bool
		wantBelow int64 // score < wantBelow (0 = unchecked)
		wantAbove int64 // score > wantAbove (-1 = unchecked)
	}{
		{name: "never observed is the prior", obs: nil, wantAbove: 799, wantBelow: 801},
		{name: "custom prior", cfg: ReputationConfig{Prior: 500}, obs: nil, wantAbove: 499, wantBelow: 501},
		{name: "all good rises", obs: seq("+", 100), wantAbove: 950, wantBelow: 0},
		{name: "all bad falls", obs: seq("-", 100), wantAbove: -1, wantBelow: 100},
		{name: "one failure barely moves", obs: seq("-", 1), wantAbove: 500, wantBelow: 800},
		{name: "recent failures dominate", obs: append(seq("+", 200), seq("-", 60)...), wantAbove: -1, wantBelow: 200},
		{name: "recent successes dominate", obs: append(seq("-", 200), seq("+", 60)...), wantAbove: 850, wantBelow: 0},
		{name: "three in four", obs: seq("+++-", 100), wantAbove: 650, wantBelow: 850},
		{name: "alpha 1 follows the last", cfg: ReputationConfig{Alpha: 1}, obs: seq("+-", 10), wantAbove: -1, wantBelow: 600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.HalfLife = -1 // pure per-observation model, comparable to the reference
			r, _ := newRep(t, tt.cfg)
			for _, ok := range tt.obs {
				r.Observe("p", ok, time.Second)
			}
			got := r.Score("p")
			prior, alpha := tt.cfg.Prior, tt.cfg.Alpha
			if prior == 0 {
				prior = 800
			}
			if alpha == 0 {
				alpha = 0.05
			}
			if tt.obs != nil {
				if want := repReference(prior, alpha, 2, tt.obs); got != want {
					t.Errorf("Score = %d, reference model says %d", got, want)
				}
			} else if got != prior {
				t.Errorf("Score = %d, want the prior %d", got, prior)
			}
			if tt.wantBelow != 0 && got >= tt.wantBelow {
				t.Errorf("Score = %d, want < %d", got, tt.wantBelow)
			}
			if tt.wantAbove >= 0 && got <= tt.wantAbove {
				t.Errorf("Score = %d, want > %d", got, tt.wantAbove)
			}
		})
	}
}

func TestReputationHalfLifeForgives(t *testing.T) {
	r, clock := newRep(t, ReputationConfig{HalfLife: time.Minute})
	for range 100 {
		r.Observe("flaky", false, 0)
	}
	low := r.Score("flaky")
	if low > 200 {
		t.Fatalf("after 100 failures Score = %d, want < 200", low)
	}
	clock.Advance(time.Minute)
	mid := r.Score("flaky")
	clock.Advance(10 * time.Minute)
	high := r.Score("flaky")
	if !(low < mid && mid < high) {
		t.Errorf("scores while idle: %d, %d, %d; want rising toward the prior", low, mid, high)
	}
	if high < 780 {
		t.Errorf("after 11 idle half-lives Score = %d, want near the prior 800", high)
	}
	// Without time decay nothing is forgiven.
	r2, clock2 := newRep(t, ReputationConfig{HalfLife: -1})
	for range 100 {
		r2.Observe("flaky", false, 0)
	}
	before := r2.Score("flaky")
	clock2.Advance(24 * time.Hour)
	if after := r2.Score("flaky"); after != before {
		t.Errorf("HalfLife < 0: Score moved from %d to %d while idle", before, after)
	}
}

func TestReputationSnapshot(t *testing.T) {
	r, clock := newRep(t, ReputationConfig{})
	s1 := r.Snapshot()
	if s2 := r.Snapshot(); s2 != s1 {
		t.Errorf("Snapshot without changes returned a new pointer")
	}
	r.Observe("a", false, 0)
	s3 := r.Snapshot()
	if s3 == s1 {
		t.Fatal("Snapshot after Observe returned the old pointer")
	}
	if got := s1.Score("a"); got != 800 {
		t.Errorf("old snapshot changed: Score(a) = %d, want 800", got)
	}
	if got := s3.Score("a"); got >= 800 {
		t.Errorf("new snapshot Score(a) = %d, want < 800", got)
	}
	if _, ok := s3.Provider("zzz"); ok {
		t.Errorf("Provider(zzz) found in snapshot")
	}
	var nilSnap *ReputationSnapshot
	if got := nilSnap.Score("a"); got != 800 {
		t.Errorf("nil snapshot Score = %d, want 800", got)
	}

	// MaxStaleness: a change is published only once the snapshot is old.
	rs, clock2 := newRep(t, ReputationConfig{MaxStaleness: time.Second, HalfLife: -1})
	base := rs.Snapshot()
	rs.Observe("a", false, 0)
	if got := rs.Snapshot(); got != base {
		t.Errorf("within MaxStaleness: new snapshot published")
	}
	clock2.Advance(time.Second)
	if got := rs.Snapshot(); got == base || got.Score("a") >= 800 {
		t.Errorf("after MaxStaleness: snapshot not rebuilt")
	}
	_ = clock
}

func TestReputationLatencyAndPeers(t *testing.T) {
	r, _ := newRep(t, ReputationConfig{Alpha: 1, HalfLife: -1})
	if _, ok := r.Snapshot().Provider("p"); ok {
		t.Fatal("unobserved provider present")
	}
	r.Observe("p", true, -1) // launching: latency not known yet
	e, _ := r.Snapshot().Provider("p")
	if e.LatencyKnown {
		t.Errorf("latency known after a success without latency: %+v", e)
	}
	if e.Latency != time.Minute {
		t.Errorf("latency before any observation %s, want the 60s prior", e.Latency)
	}
	r.ObserveLatency("p", 3*time.Second)
	e, _ = r.Snapshot().Provider("p")
	// One 3 s observation against the 60 s prior, whose weight 2 has faded
	// to 2/(1+1): (3 + 60) / 2.
	if !e.LatencyKnown || e.Latency != 31500*time.Millisecond || e.Observations != 1 {
		t.Errorf("entry = %+v, want latency 31.5s, 1 observation", e)
	}
	r.Observe("p", false, time.Hour) // failures do not feed latency
	e, _ = r.Snapshot().Provider("p")
	if e.Latency != 31500*time.Millisecond {
		t.Errorf("failure changed latency to %s", e.Latency)
	}
	r2, _ := newRep(t, ReputationConfig{})
	for range 200 {
		r2.ObserveLatency("p", 3*time.Second)
	}
	if e, _ = r2.Snapshot().Provider("p"); e.Latency > 3500*time.Millisecond {
		t.Errorf("after many 3 s launches latency %s, want near 3s", e.Latency)
	}
	if e, _ := r.Snapshot().Provider("never"); e.Latency != time.Minute {
		t.Errorf("unknown provider latency %s, want the prior", e.Latency)
	}

	peer := repDID(t, 1)
	if got := r.PeerScore(peer); got != 800 {
		t.Errorf("unknown peer score %d, want prior", got)
	}
	r.ObservePeer(peer, false, 40*time.Millisecond)
	pe, ok := r.Snapshot().Peer(peer)
	if !ok || pe.Score >= 800 || pe.Latency != 40*time.Millisecond {
		t.Errorf("peer entry %+v, %v; want score < 800 and RTT 40ms", pe, ok)
	}
}

func TestReputationBlend(t *testing.T) {
	reporter := repDID(t, 1)
	other := repDID(t, 2)
	allFailed := &treaty.ReputationReport{
		Reporter:  reporter,
		Providers: []treaty.ProviderStat{{Name: "p", Launched: 50, Failed: 50, LaunchP95MS: 9000}},
		Peers:     []treaty.PeerStat{{DID: other, Forwarded: 20, Filled: 0}, {DID: reporter, Forwarded: 20, Filled: 20}},
	}
	remote := ProviderID{Operator: reporter, Name: "p"}
	tests := []struct {
		name      string
		rep       *treaty.ReputationReport
		trust     float64
		wantLower bool // the reporter's provider p drops below the prior
		wantPeer  bool // peer other drops below the prior
		selfMoved bool
	}{
		{name: "nil report", rep: nil, trust: 1},
		{name: "zero trust", rep: allFailed, trust: 0},
		{name: "negative trust", rep: allFailed, trust: -3},
		{name: "full trust", rep: allFailed, trust: 1, wantLower: true, wantPeer: true},
		{name: "trust above 1 is clamped", rep: allFailed, trust: 7, wantLower: true, wantPeer: true},
		{name: "inconsistent entries ignored", rep: &treaty.ReputationReport{
			Reporter:  reporter,
			Providers: []treaty.ProviderStat{{Name: "p", Launched: 5, Failed: 9}, {Name: "p", Launched: 0, Failed: 0}},
			Peers:     []treaty.PeerStat{{DID: other, Forwarded: 1, Filled: 5}},
		}, trust: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRep(t, ReputationConfig{})
			r.Blend(tt.rep, tt.trust)
			if got := r.RemoteScore(remote) < 800; got != tt.wantLower {
				t.Errorf("RemoteScore(%s) = %d, lowered %v, want %v", remote, r.RemoteScore(remote), got, tt.wantLower)
			}
			// A report names the reporter's own providers: our "p" is another.
			if got := r.Score("p"); got != 800 {
				t.Errorf("a report moved the local provider p to %d", got)
			}
			if got := r.PeerScore(other) < 800; got != tt.wantPeer {
				t.Errorf("PeerScore(other) = %d, lowered %v, want %v", r.PeerScore(other), got, tt.wantPeer)
			}
			if got := r.PeerScore(reporter); got != 800 {
				t.Errorf("the reporter's report about itself moved its score to %d", got)
			}
			// Blended evidence never shows up in the local report.
			if rep := r.Report(reporter, "fed", 1, repEpoch); len(rep.Providers) != 0 || len(rep.Peers) != 0 {
				t.Errorf("local report after Blend = %+v, want empty", rep)
			}
		})
	}

	// Trust weighs: half trust moves less than full trust.
	half, _ := newRep(t, ReputationConfig{})
	full, _ := newRep(t, ReputationConfig{})
	half.Blend(allFailed, 0.5)
	full.Blend(allFailed, 1)
	if !(full.RemoteScore(remote) < half.RemoteScore(remote) && half.RemoteScore(remote) < 800) {
		t.Errorf("full trust %d, half trust %d: want full < half < 800", full.RemoteScore(remote), half.RemoteScore(remote))
	}
	// Blend cannot grow the table past MaxEntries.
	small, _ := newRep(t, ReputationConfig{MaxEntries: 1})
	small.Observe("mine", true, 0)
	small.Blend(allFailed, 1)
	if _, ok := small.Snapshot().RemoteProvider(remote); ok {
		t.Errorf("Blend added an entry beyond MaxEntries")
	}
}

func TestReputationReport(t *testing.T) {
	r, _ := newRep(t, ReputationConfig{})
	reporter := repDID(t, 1)
	peerA, peerB := repDID(t, 2), repDID(t, 3)
	for i := range 100 {
		r.Observe("vastai", i%10 != 0, time.Duration(i+1)*100*time.Millisecond)
	}
	r.Observe("akash", false, 0)
	r.Observe("Not A Name", true, time.Second) // not a treaty name: left out
	r.Track("idle")
	r.ObservePeer(peerB, true, time.Millisecond)
	r.ObservePeer(peerA, false, time.Millisecond)
	r.ObservePeer(peerA, true, time.Millisecond)

	rep := r.Report(reporter, "fed", 7, repEpoch)
	want := &treaty.ReputationReport{
		V: treaty.Version, Reporter: reporter, Federation: "fed", Epoch: 7, At: repEpoch.Unix(),
		Providers: []treaty.ProviderStat{
			{Name: "akash", Launched: 1, Failed: 1},
			// 90 successes with latencies 0.2..10 s, skipping every tenth: p95 near 9.6 s,
			// reported as the upper bound of its histogram bucket.
			{Name: "vastai", Launched: 100, Failed: 10, LaunchP95MS: rep.Providers[1].LaunchP95MS},
		},
		Peers: []treaty.PeerStat{{DID: peerA, Forwarded: 2, Filled: 1}, {DID: peerB, Forwarded: 1, Filled: 1}},
	}
	if peerB < peerA {
		want.Peers[0], want.Peers[1] = want.Peers[1], want.Peers[0]
	}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("Report (-want +got):\n%s", diff)
	}
	if p95 := rep.Providers[1].LaunchP95MS; p95 < 9400 || p95 > 9400*1.2 {
		t.Errorf("vastai launch p95 = %d ms, want about 9.5 s (bucket upper bound)", p95)
	}
	if err := rep.Validate(); err != nil {
		t.Errorf("report does not validate: %v", err)
	}
	// A new epoch starts empty.
	next := r.Report(reporter, "fed", 8, repEpoch.Add(time.Minute))
	if len(next.Providers) != 0 || len(next.Peers) != 0 {
		t.Errorf("second report = %+v, want empty", next)
	}
	if err := next.Validate(); err != nil {
		t.Errorf("empty report does not validate: %v", err)
	}
}

func TestReputationReportTruncates(t *testing.T) {
	r, _ := newRep(t, ReputationConfig{})
	n := treaty.MaxReportEntries + 10
	for i := range n {
		for range i + 1 { // provider i launched i+1 times
			r.Observe(fmt.Sprintf("p%04d", i), true, time.Millisecond)
		}
	}
	rep := r.Report(repDID(t, 1), "fed", 1, repEpoch)
	if len(rep.Providers) != treaty.MaxReportEntries {
		t.Fatalf("%d providers, want %d", len(rep.Providers), treaty.MaxReportEntries)
	}
	if rep.Providers[0].Name != "p0010" {
		t.Errorf("first kept provider %q, want p0010 (the 10 least busy dropped)", rep.Providers[0].Name)
	}
	if err := rep.Validate(); err != nil {
		t.Error(err)
	}
}

func TestReputationConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ReputationConfig
		wantErr bool
	}{
		{"zero value", ReputationConfig{}, false},
		{"alpha above 1", ReputationConfig{Alpha: 1.5}, true},
		{"negative alpha", ReputationConfig{Alpha: -0.1}, true},
		{"NaN alpha", ReputationConfig{Alpha: math.NaN()}, true},
		{"prior above 1000", ReputationConfig{Prior: 1001}, true},
		{"negative prior", ReputationConfig{Prior: -5}, true},
		{"negative prior weight", ReputationConfig{PriorWeight: -1}, true},
		{"negative max entries", ReputationConfig{MaxEntries: -1}, true},
		{"negative staleness", ReputationConfig{MaxStaleness: -time.Second}, true},
		{"negative prior latency", ReputationConfig{PriorLatency: -time.Second}, true},
		{"half-life disabled", ReputationConfig{HalfLife: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReputation(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Errorf("NewReputation(%+v) = %v, wantErr %v", tt.cfg, err, tt.wantErr)
			}
		})
	}
}

func TestLatencyHistBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(ms uint64) {
		i := histBucket(ms)
		if ms <= 1<<38 && histUpper(i) < int64(ms) {
			t.Fatalf("%d ms in bucket %d whose upper bound is %d", ms, i, histUpper(i))
		}
		if i > 0 && histUpper(i-1) >= int64(ms) {
			t.Fatalf("%d ms in bucket %d but bucket %d reaches %d", ms, i, i-1, histUpper(i-1))
		}
		if up := histUpper(i); i >= 8 && ms > 0 && float64(up) > float64(ms)*1.25+1 {
			t.Fatalf("%d ms: bucket upper bound %d is more than 25%% above", ms, up)
		}
	}
	for ms := range uint64(5000) {
		check(ms)
	}
	for range 10000 {
		check(rng.Uint64N(1 << 38))
	}
	var h latencyHist
	if got := h.quantileMS(0.95); got != 0 {
		t.Errorf("empty quantile = %d", got)
	}
	for i := range 100 {
		h.add(time.Duration(i+1) * time.Millisecond)
	}
	if got := h.quantileMS(0.95); got < 95 || got > 100 {
		t.Errorf("p95 of 1..100 ms = %d, want 95..100", got)
	}
}

func TestReputationConcurrent(t *testing.T) {
	r, clock := newRep(t, ReputationConfig{})
	peer := repDID(t, 9)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				name := fmt.Sprintf("p%d", (g+i)%5)
				r.Observe(name, i%3 != 0, time.Millisecond)
				r.ObservePeer(peer, i%2 == 0, time.Millisecond)
				if s := r.Snapshot().Score(name); s < 0 || s > 1000 {
					t.Errorf("score %d out of range", s)
				}
				clock.Advance(time.Millisecond)
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			r.Report(repDID(t, 1), "fed", 1, repEpoch)
			r.Blend(&treaty.ReputationReport{Providers: []treaty.ProviderStat{{Name: "p1", Launched: 3, Failed: 1}}}, 0.5)
		}
	})
	wg.Wait()
}

func BenchmarkReputationSnapshot(b *testing.B) {
	r, _ := newRep(b, ReputationConfig{})
	for i := range 8 {
		r.Observe(fmt.Sprintf("p%d", i), true, time.Second)
	}
	b.Run("clean", func(b *testing.B) {
		for b.Loop() {
			_ = r.Snapshot().Score("p3")
		}
	})
	b.Run("after-observe", func(b *testing.B) {
		for b.Loop() {
			r.Observe("p3", true, time.Second)
			_ = r.Snapshot().Score("p3")
		}
	})
}
