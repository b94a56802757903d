package provenance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/treaty"
)

// peerWitnesses are treaty peers cosigning over an in-memory "transport"
// that behaves like the mesh will: try PrevSize, retry once with the size a
// 409 returns.
type peerWitnesses struct {
	ws    []*Witness
	mu    sync.Mutex // protects calls
	calls int
}

func newPeerWitnesses(t testing.TB, l *Log, n int, clock Clock, store func(i int) datastore.Batching) *peerWitnesses {
	t.Helper()
	p := &peerWitnesses{}
	for i := 0; i < n; i++ {
		w, err := NewWitness(WitnessConfig{
			Key: testKey(t, byte(30+i)), Name: fmt.Sprintf("aurora-witness/peer%d", i), Store: store(i), Clock: clock,
			Logs: func(origin string) (note.Verifier, bool) { return l.Verifier(), origin == l.Origin() },
		})
		if err != nil {
			t.Fatal(err)
		}
		p.ws = append(p.ws, w)
	}
	return p
}

func (p *peerWitnesses) keys() []*CosignatureVerifier {
	var out []*CosignatureVerifier
	for _, w := range p.ws {
		out = append(out, w.Verifier())
	}
	return out
}

func (p *peerWitnesses) cosign(ctx context.Context, req WitnessRequest) [][]byte {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	var out [][]byte
	for _, w := range p.ws {
		old := req.PrevSize
		for attempt := 0; attempt < 2; attempt++ {
			body, err := req.Body(ctx, old)
			if err != nil {
				break
			}
			sig, err := w.AddCheckpoint(ctx, body)
			var ce *ConflictError
			if errors.As(err, &ce) {
				old = ce.StoredSize
				continue
			}
			if err == nil {
				out = append(out, sig)
			}
			break
		}
	}
	return out
}

// fakePinner "pins" by recording the head; the CID is derived from the
// epoch and checkpoint so that pinning again is idempotent.
type fakePinner struct {
	mu     sync.Mutex // protects following
	head   string
	infos  []EpochInfo
	leaves []int // leaves read per pin
	fail   int   // fail this many calls first
}

func (p *fakePinner) pin(ctx context.Context, e EpochInfo) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return "", errors.New("injected pin failure")
	}
	k := 0
	if err := e.Leaves(ctx, func(uint64, []byte) error { k++; return nil }); err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(binary.BigEndian.AppendUint64(nil, e.Epoch), e.Checkpoint...))
	c := treaty.CIDOf(sum[:]).String()
	p.head = c
	p.infos = append(p.infos, e)
	p.leaves = append(p.leaves, k)
	return c, nil
}

type announcer struct {
	mu      sync.Mutex // protects anchors
	anchors []*treaty.Anchor
}

func (a *announcer) announce(ctx context.Context, an *treaty.Anchor) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.anchors = append(a.anchors, an)
	return nil
}

type epochFixture struct {
	log    *Log
	ep     *Epochs
	peers  *peerWitnesses
	pinner *fakePinner
	ann    *announcer
	tsas   [2]*fakeTSA
	clock  *fakeClock
	reg    *prometheus.Registry
}

func newEpochFixture(t *testing.T, mutate func(c *EpochsConfig)) *epochFixture {
	t.Helper()
	f := &epochFixture{clock: newClock(), pinner: &fakePinner{}, ann: &announcer{}, reg: prometheus.NewRegistry()}
	f.log = openTestLog(t, memStore(), testKey(t, 1), testOrigin)
	f.peers = newPeerWitnesses(t, f.log, 2, f.clock, func(int) datastore.Batching { return memStore() })
	f.tsas = [2]*fakeTSA{{name: "tsa-a", clock: f.clock}, {name: "tsa-b", clock: f.clock}}
	cfg := EpochsConfig{
		Log: f.log, Interval: time.Hour, Witnesses: f.peers.cosign, WitnessKeys: f.peers.keys(),
		Timestampers: [2]Timestamper{f.tsas[0], f.tsas[1]}, TSAVerifier: fakeTSAVerifier{}, TSARetry: time.Millisecond,
		PinRetry: time.Millisecond, Pin: f.pinner.pin, Announce: f.ann.announce, Clock: f.clock, Registerer: f.reg,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ep, err := NewEpochs(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	f.ep = ep
	return f
}

func (f *epochFixture) appendJobs(t *testing.T, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := f.log.Append(t.Context(), jobLeaf(t, i)); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *epochFixture) waitAttested(t *testing.T, epoch uint64) EpochStatus {
	t.Helper()
	var st EpochStatus
	waitFor(t, fmt.Sprintf("epoch %d attested", epoch), func() bool {
		var err error
		st, err = f.ep.Epoch(t.Context(), epoch)
		return err == nil && st.Attested
	})
	return st
}

func TestEpochLifecycle(t *testing.T) {
	f := newEpochFixture(t, nil)
	ctx := t.Context()
	f.appendJobs(t, 0, 25)
	st, err := f.ep.CloseEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Epoch != 1 || st.Start != 0 || st.End != 25 || st.Jobs != 25 || st.Cosigs != 2 || !st.Witnessed || !st.Pinned || !st.Announced {
		t.Fatalf("epoch 1 status %+v", st)
	}
	if got := counterValue(t, f.ep.records); got != 25 {
		t.Fatalf("records_total %v, want 25", got)
	}
	st = f.waitAttested(t, 1)
	if got := counterValue(t, f.ep.attested); got != 25 {
		t.Fatalf("records_attested_total %v, want 25", got)
	}
	if counterValue(t, f.ep.duration) != 1 {
		t.Fatal("epoch duration not observed")
	}
	// The gossiped anchor is the cosigned checkpoint with the root CID.
	if len(f.ann.anchors) != 1 || f.ann.anchors[0].Checkpoint != string(st.Checkpoint) || f.ann.anchors[0].Root.String() != st.Root {
		t.Fatalf("anchors %+v", f.ann.anchors)
	}
	if f.pinner.infos[0].End != 25 || f.pinner.leaves[0] != 25 {
		t.Fatalf("pin info %+v", f.pinner.infos[0])
	}

	// Epoch 2 starts with the tsa leaf recording epoch 1's two tokens.
	f.appendJobs(t, 25, 5)
	st2, err := f.ep.CloseEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Start != 25 || st2.End != 31 || st2.Jobs != 5 {
		t.Fatalf("epoch 2 %+v", st2)
	}
	var tsaEntry treaty.LogEntry
	found := false
	for i := uint64(25); i < 31; i++ {
		lf, _ := f.log.Leaf(ctx, i)
		if isJobLeaf(lf) {
			continue
		}
		if err := treaty.Decode(lf, &tsaEntry); err != nil || tsaEntry.TSA == nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		found = true
	}
	cp1, _ := ParseCheckpointBody(noteText(st.Checkpoint))
	d := cp1.Digest()
	if !found || tsaEntry.TSA.Size != 25 || string(tsaEntry.TSA.CheckpointSHA256) != string(d[:]) || len(tsaEntry.TSA.TokensSHA256) != 2 {
		t.Fatalf("tsa leaf %+v", tsaEntry.TSA)
	}
	if f.pinner.infos[1].Prev != st.Root || len(f.pinner.infos[1].PrevTokens) != 2 {
		t.Fatal("epoch 2's root does not link epoch 1's root and tokens")
	}

	// A bundle for a job of epoch 1 verifies fully, tokens and root included.
	b, err := f.ep.Bundle(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if b.Root != st.Root || len(b.TSA) != 2 {
		t.Fatalf("bundle root %q tokens %d", b.Root, len(b.TSA))
	}
	r, err := VerifyBundle(b, VerifyOptions{Origin: testOrigin, LogDID: testKey(t, 1).DID(), WitnessKeys: f.peers.keys(), MinWitnesses: 2, TSAVerifier: fakeTSAVerifier{}})
	if err != nil {
		var sb strings.Builder
		r.WriteTo(&sb)
		t.Fatalf("%v\n%s", err, sb.String())
	}
	if _, err := f.ep.Bundle(ctx, 31); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bundle beyond the last epoch: %v", err)
	}
}

func TestEpochNoNewLeaves(t *testing.T) {
	f := newEpochFixture(t, func(c *EpochsConfig) { c.Timestampers = [2]Timestamper{} })
	if _, err := f.ep.CloseEpoch(t.Context()); !errors.Is(err, ErrNoNewLeaves) {
		t.Fatalf("empty log: %v", err)
	}
	f.appendJobs(t, 0, 3)
	if _, err := f.ep.CloseEpoch(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ep.CloseEpoch(t.Context()); !errors.Is(err, ErrNoNewLeaves) {
		t.Fatalf("no growth: %v", err)
	}
	if st, _ := f.ep.Latest(t.Context()); st.Attested {
		t.Fatal("an epoch without timestamps counts as attested")
	}
}

// TestEpochRetries: a failing pin does not fail its epoch or block the
// next one: it is counted, retried in the background, and later epochs are
// pinned in order after it; a failing TSA is retried too.
func TestEpochRetries(t *testing.T) {
	f := newEpochFixture(t, func(c *EpochsConfig) { c.PinRetry = 20 * time.Millisecond })
	f.pinner.mu.Lock()
	f.pinner.fail = 3
	f.pinner.mu.Unlock()
	tsaFails := 2
	var mu sync.Mutex
	f.tsas[1].fail = func() error {
		mu.Lock()
		defer mu.Unlock()
		if tsaFails > 0 {
			tsaFails--
			return errors.New("TSA unavailable")
		}
		return nil
	}
	f.appendJobs(t, 0, 4)
	st, err := f.ep.CloseEpoch(t.Context())
	if err != nil {
		t.Fatalf("CloseEpoch with a failing pin: %v", err)
	}
	if !st.Witnessed || st.Pinned || !st.Announced || st.Root != "" {
		t.Fatalf("after a pin failure: %+v (want witnessed, announced without a root, not pinned)", st)
	}
	f.appendJobs(t, 4, 2)
	st2, err := f.ep.CloseEpoch(t.Context()) // the next checkpoint does not wait for epoch 1's pin
	if err != nil {
		t.Fatal(err)
	}
	if st2.Epoch != 2 || st2.Cosigs != 2 {
		t.Fatalf("epoch 2 %+v", st2)
	}
	if got := counterValue(t, f.ep.failures.WithLabelValues(stepPin)); got < 1 {
		t.Fatalf("pin failures counted %v, want ≥ 1", got)
	}
	waitFor(t, "epochs 1 and 2 pinned by the background retries", func() bool {
		s1, _ := f.ep.Epoch(t.Context(), 1)
		s2, _ := f.ep.Epoch(t.Context(), 2)
		return s1.Pinned && s2.Pinned
	})
	f.pinner.mu.Lock()
	infos := append([]EpochInfo(nil), f.pinner.infos...)
	f.pinner.mu.Unlock()
	if len(infos) != 2 || infos[0].Epoch != 1 || infos[1].Epoch != 2 || infos[1].Prev == "" {
		t.Fatalf("pins %+v: want epochs 1 then 2, 2 linking 1", infos)
	}
	s1, _ := f.ep.Epoch(t.Context(), 1)
	if infos[1].Prev != s1.Root {
		t.Fatalf("epoch 2 links %q, epoch 1's root is %q", infos[1].Prev, s1.Root)
	}
	if counterValue(t, f.ep.failures.WithLabelValues(stepPin)) != 3 {
		t.Fatalf("pin failures %v, want 3", counterValue(t, f.ep.failures.WithLabelValues(stepPin)))
	}
	f.waitAttested(t, 1) // TSA b succeeded after retries
	f.waitAttested(t, 2)
}

// TestEpochAnnounceFailureDoesNotBlock: a failed gossip is counted and the
// next epoch closes anyway.
func TestEpochAnnounceFailureDoesNotBlock(t *testing.T) {
	fails := 0
	f := newEpochFixture(t, func(c *EpochsConfig) {
		c.Announce = func(context.Context, *treaty.Anchor) error { fails++; return errors.New("no gossip peers") }
	})
	f.appendJobs(t, 0, 2)
	if _, err := f.ep.CloseEpoch(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.appendJobs(t, 2, 2)
	st, err := f.ep.CloseEpoch(t.Context())
	if err != nil || st.Epoch != 2 || !st.Pinned {
		t.Fatalf("epoch 2 %+v: %v", st, err)
	}
	if got := counterValue(t, f.ep.failures.WithLabelValues(stepAnnounce)); got < 2 || fails < 2 {
		t.Fatalf("announce failures counted %v (calls %d)", got, fails)
	}
}

// TestEpochIdle: an idle log closes no epoch and calls no TSA, however many
// ticks pass (tokens arriving do not count as growth), and its unchanged
// checkpoint is witnessed again every Heartbeat.
func TestEpochIdle(t *testing.T) {
	var witnessCalls int
	var wmu sync.Mutex
	f := newEpochFixture(t, func(c *EpochsConfig) {
		c.Heartbeat = 30 * time.Minute
		inner := c.Witnesses
		c.Witnesses = func(ctx context.Context, req WitnessRequest) [][]byte {
			wmu.Lock()
			witnessCalls++
			wmu.Unlock()
			return inner(ctx, req)
		}
	})
	calls := func() int { wmu.Lock(); defer wmu.Unlock(); return witnessCalls }
	f.appendJobs(t, 0, 3)
	if _, err := f.ep.CloseEpoch(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.waitAttested(t, 1) // both tokens in: a tsa leaf is due
	tsaCalls := f.tsas[0].count() + f.tsas[1].count()
	size := f.log.Size()
	for range 5 {
		f.clock.Advance(time.Minute)
		if _, err := f.ep.CloseEpoch(t.Context()); !errors.Is(err, ErrNoNewLeaves) {
			t.Fatalf("idle close: %v", err)
		}
	}
	if st, _ := f.ep.Latest(t.Context()); st.Epoch != 1 {
		t.Fatalf("idle log closed epoch %d", st.Epoch)
	}
	if f.log.Size() != size || f.tsas[0].count()+f.tsas[1].count() != tsaCalls {
		t.Fatalf("idle: log %d → %d leaves, TSA calls %d → %d", size, f.log.Size(), tsaCalls, f.tsas[0].count()+f.tsas[1].count())
	}
	if calls() != 1 {
		t.Fatalf("%d witness rounds before the heartbeat, want 1", calls())
	}
	before, _ := f.ep.Latest(t.Context())
	f.clock.Advance(30 * time.Minute)
	if _, err := f.ep.CloseEpoch(t.Context()); !errors.Is(err, ErrNoNewLeaves) {
		t.Fatalf("heartbeat close: %v", err)
	}
	if calls() != 2 {
		t.Fatalf("%d witness rounds after the heartbeat, want 2", calls())
	}
	after, _ := f.ep.Latest(t.Context())
	if after.Epoch != 1 || after.Cosigs != 2 || bytes.Equal(after.Checkpoint, before.Checkpoint) {
		t.Fatalf("heartbeat: epoch %d, %d cosigs, note changed %v", after.Epoch, after.Cosigs, !bytes.Equal(after.Checkpoint, before.Checkpoint))
	}
	if _, err := f.ep.CloseEpoch(t.Context()); !errors.Is(err, ErrNoNewLeaves) || calls() != 2 {
		t.Fatalf("right after a heartbeat: %v, %d rounds", err, calls())
	}
	// Growth closes an epoch again, with the due tsa leaf in it.
	f.appendJobs(t, 3, 1)
	st, err := f.ep.CloseEpoch(t.Context())
	if err != nil || st.Epoch != 2 || st.End != size+2 {
		t.Fatalf("epoch 2 %+v: %v (want the job and the tsa leaf)", st, err)
	}
}

// TestEpochWitnessConflict: a witness that missed an epoch answers 409 and
// the retry from its stored size succeeds.
func TestEpochWitnessConflict(t *testing.T) {
	f := newEpochFixture(t, nil)
	f.appendJobs(t, 0, 3)
	if _, err := f.ep.CloseEpoch(t.Context()); err != nil {
		t.Fatal(err)
	}
	late, err := NewWitness(WitnessConfig{Key: testKey(t, 50), Name: "aurora-witness/late", Store: memStore(), Clock: f.clock,
		Logs: func(string) (note.Verifier, bool) { return f.log.Verifier(), true }})
	if err != nil {
		t.Fatal(err)
	}
	f.peers.ws = append(f.peers.ws, late)
	f.ep.cfg.WitnessKeys = append(f.ep.cfg.WitnessKeys, late.Verifier())
	f.appendJobs(t, 3, 3)
	st, err := f.ep.CloseEpoch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Cosigs != 3 {
		t.Fatalf("%d cosignatures, want 3 (the late witness retried from 0)", st.Cosigs)
	}
}

func TestEpochRun(t *testing.T) {
	f := newEpochFixture(t, func(c *EpochsConfig) { c.Interval = 2 * time.Millisecond })
	f.appendJobs(t, 0, 3)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.ep.Run(ctx) }()
	waitFor(t, "one epoch", func() bool {
		st, err := f.ep.Latest(t.Context())
		return err == nil && st.Epoch >= 1
	})
	f.appendJobs(t, 3, 1)
	waitFor(t, "two epochs", func() bool {
		st, err := f.ep.Latest(t.Context())
		return err == nil && st.Epoch >= 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := f.ep.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestEpochMetricsNames checks the names ops/ rules and dashboards use.
func TestEpochMetricsNames(t *testing.T) {
	f := newEpochFixture(t, nil)
	f.appendJobs(t, 0, 1)
	if _, err := f.ep.CloseEpoch(t.Context()); err != nil {
		t.Fatal(err)
	}
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"aurora_epoch_duration_seconds", "aurora_provenance_records_total", "aurora_provenance_records_attested_total"} {
		if !names[want] {
			t.Errorf("metric %s not registered (have %v)", want, names)
		}
	}
}
