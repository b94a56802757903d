package monitor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/c2sphttp"
	"github.com/aurora-federation/aurora/provenance/monitor"
	"github.com/aurora-federation/aurora/provenance/trust"
	"github.com/aurora-federation/aurora/treaty"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const origin = "aurora/testfed/12D3KooWMonitored"

func key(t testing.TB, label byte) *treaty.PrivateKey {
	t.Helper()
	k, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{label}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jobLeaf is a job record entry numbered i (salted to fork a history).
func jobLeaf(t testing.TB, i uint64, salt string) []byte {
	t.Helper()
	return jobLeafBy(t, key(t, 1).DID(), i, salt)
}

func jobLeafBy(t testing.TB, op treaty.DID, i uint64, salt string) []byte {
	t.Helper()
	rec := &treaty.JobRecord{V: 1, Job: fmt.Sprintf("job-%d%s", i, salt), Order: treaty.LinkTo(treaty.CIDOf([]byte("o"))), Ack: treaty.LinkTo(treaty.CIDOf([]byte("a"))),
		Operator: op, Client: op, Route: treaty.Route{Kind: treaty.RouteProvider, Name: "sim"},
		Transitions: []treaty.Transition{{Status: treaty.StatusAccepted, At: 1_780_000_000}}}
	b, err := treaty.Encode(&treaty.LogEntry{Job: rec})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testLog is a served log: its leaves, witness and HTTP face.
type testLog struct {
	log     *provenance.Log
	witness *provenance.Witness
	salt    string
	op      treaty.DID
}

func newLog(t testing.TB, salt string) *testLog {
	t.Helper()
	l, err := provenance.OpenLog(context.Background(), dssync.MutexWrap(datastore.NewMapDatastore()), provenance.LogConfig{Origin: origin, Key: key(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	w, err := provenance.NewWitness(provenance.WitnessConfig{Key: key(t, 2), Name: "aurora-witness/w", Store: dssync.MutexWrap(datastore.NewMapDatastore()),
		Logs: func(string) (note.Verifier, bool) { return l.Verifier(), true }})
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{log: l, witness: w, salt: salt, op: key(t, 1).DID()}
}

// grow appends job leaves up to n (plus one undecodable leaf first, once)
// and signs and cosigns a checkpoint.
func (tl *testLog) grow(t testing.TB, n uint64, cosign bool) provenance.Checkpoint {
	t.Helper()
	ctx := context.Background()
	old := tl.log.Size()
	for tl.log.Size() < n {
		var batch [][]byte
		for i := tl.log.Size(); i < n && len(batch) < 1024; i++ {
			batch = append(batch, jobLeafBy(t, tl.op, i, tl.salt))
		}
		if _, err := tl.log.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := tl.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !cosign {
		return cp
	}
	var proof [][]byte
	if old > 0 {
		if proof, err = tl.log.ConsistencyProof(ctx, old, cp.Size); err != nil {
			t.Fatal(err)
		}
	}
	sig, err := tl.witness.AddCheckpoint(ctx, provenance.CosignRequest(old, proof, cp.Note))
	if err != nil {
		t.Fatal(err)
	}
	merged, err := provenance.MergeCosignatures(cp.Note, sig)
	if err != nil {
		t.Fatal(err)
	}
	if cp, err = tl.log.UpdateCosigned(ctx, merged); err != nil {
		t.Fatal(err)
	}
	return cp
}

// server serves whichever log is current, so a test can swap in a fork.
type server struct {
	cur atomic.Pointer[http.Handler]
	srv *httptest.Server
}

func newServer(t testing.TB, tl *testLog) *server {
	s := &server{}
	s.serve(t, tl)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*s.cur.Load()).ServeHTTP(w, r) }))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) serve(t testing.TB, tl *testLog) {
	h, err := c2sphttp.NewTilesHandler(c2sphttp.TilesConfig{Log: tl.log, Latest: tl.log.LatestCheckpoint})
	if err != nil {
		t.Fatal(err)
	}
	s.cur.Store(&h)
}

func (s *server) client(t testing.TB) *c2sphttp.Client {
	c, err := c2sphttp.NewClient(s.srv.URL, s.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func follower(t testing.TB, tl *testLog, f monitor.Fetcher, reg prometheus.Registerer) *monitor.Follower {
	t.Helper()
	pol, err := trust.Parse([]byte(fmt.Sprintf("witness w %s\nquorum w\n", tl.witness.Verifier().VerifierKey())))
	if err != nil {
		t.Fatal(err)
	}
	var m *monitor.Metrics
	if reg != nil {
		if m, err = monitor.NewMetrics(reg); err != nil {
			t.Fatal(err)
		}
	}
	fo, err := monitor.New(monitor.Config{Origin: origin, Verifier: tl.log.Verifier(), Fetcher: f, WitnessKeys: pol.WitnessKeys(), Quorum: pol.Quorum(), QuorumRetry: -1, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return fo
}

func wantFinding(t *testing.T, err error, kind string) *monitor.Finding {
	t.Helper()
	var f *monitor.Finding
	if !errors.As(err, &f) || f.Kind != kind {
		t.Fatalf("Poll = %v, want a %s finding", err, kind)
	}
	return f
}

// TestHonestLog: the monitor follows a growing, cosigned log silently,
// decoding its job records.
func TestHonestLog(t *testing.T) {
	tl := newLog(t, "")
	tl.grow(t, 700, true)
	s := newServer(t, tl)
	reg := prometheus.NewRegistry()
	fo := follower(t, tl, s.client(t), reg)
	for _, n := range []uint64{0, 701, 1500, 1500, 1800} {
		if n > 0 {
			tl.grow(t, n, true)
		}
		u, err := fo.Poll(t.Context())
		if err != nil {
			t.Fatalf("Poll at %d: %v", tl.log.Size(), err)
		}
		if u.To != tl.log.Size() || len(u.Cosigned) != 1 {
			t.Fatalf("update %+v, log size %d", u, tl.log.Size())
		}
	}
	if c := fo.Counts(); c["job"] != 1800 || len(c) != 1 {
		t.Fatalf("counts %v, want 1800 jobs", c)
	}
	mfs, _ := reg.Gather()
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "aurora_monitor_tree_size" && mf.GetMetric()[0].GetGauge().GetValue() == 1800 {
			found = true
		}
		if mf.GetName() == "aurora_monitor_findings_total" {
			t.Fatalf("findings on an honest log: %v", mf)
		}
	}
	if !found {
		t.Fatal("aurora_monitor_tree_size is not 1800")
	}
}

// TestForkedLog: after the monitor saw one history, the same key signs
// another; the evidence it returns convicts the log with its key alone.
func TestForkedLog(t *testing.T) {
	for _, tc := range []struct {
		name          string
		seen, forkTo  uint64
		wantSameSizes bool
	}{
		{"larger fork", 300, 1000, false},
		{"power-of-two prefix", 256, 600, false},
		{"same size", 300, 300, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			honest := newLog(t, "")
			honest.grow(t, tc.seen, true)
			s := newServer(t, honest)
			fo := follower(t, honest, s.client(t), nil)
			if _, err := fo.Poll(t.Context()); err != nil {
				t.Fatal(err)
			}
			// The same key signs another history, cosigned by a witness
			// (same key) that never saw the first.
			fork2 := newLog(t, "-forked")
			fork2.grow(t, tc.forkTo, true)
			s.serve(t, fork2)
			_, err := fo.Poll(t.Context())
			f := wantFinding(t, err, monitor.KindEquivocation)
			eq, verr := provenance.VerifyEvidence(*f.Evidence, honest.log.Verifier())
			if verr != nil {
				t.Fatalf("the evidence does not verify: %v", verr)
			}
			if (eq.SizeA == eq.SizeB) != tc.wantSameSizes || eq.SizeA != tc.seen || eq.SizeB != tc.forkTo {
				t.Fatalf("evidence sizes %d, %d", eq.SizeA, eq.SizeB)
			}
			// The follower kept its state: the honest log is still fine.
			s.serve(t, honest)
			honest.grow(t, tc.forkTo+10, true)
			if _, err := fo.Poll(t.Context()); err != nil {
				t.Fatalf("honest log after the fork: %v", err)
			}
		})
	}
}

// TestRollback: a checkpoint smaller than one already seen.
func TestRollback(t *testing.T) {
	old := newLog(t, "")
	old.grow(t, 100, true)
	cur := newLog(t, "")
	cur.grow(t, 500, true)
	s := newServer(t, cur)
	fo := follower(t, cur, s.client(t), nil)
	if _, err := fo.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.serve(t, old) // same history, older checkpoint
	_, err := fo.Poll(t.Context())
	wantFinding(t, err, monitor.KindRollback)
	if cp, _ := fo.Checkpoint(); cp.Size != 500 {
		t.Fatalf("state moved to %d", cp.Size)
	}
}

// hiding serves everything but one path (404), or corrupts one.
func hiding(c monitor.Fetcher, path string, corrupt bool) monitor.Fetcher {
	return monitor.FetcherFunc(func(ctx context.Context, p string) ([]byte, error) {
		b, err := c.Fetch(ctx, p)
		if p != path || err != nil {
			return b, err
		}
		if corrupt {
			b = bytes.Clone(b)
			b[len(b)-1] ^= 1
			return b, nil
		}
		return nil, &c2sphttp.StatusError{Path: p, Status: 404}
	})
}

func TestMissingAndBadTiles(t *testing.T) {
	tl := newLog(t, "")
	tl.grow(t, 70000/64, true) // 1093: 4 full bundles, one of width 69, level-1 tile of width 4
	s := newServer(t, tl)
	for _, tc := range []struct {
		path    string
		corrupt bool
		kind    string
	}{
		{"tile/entries/001", false, monitor.KindMissingTile},
		{"tile/entries/004.p/69", false, monitor.KindMissingTile},
		{"tile/1/000.p/4", false, monitor.KindMissingTile},
		{"tile/0/004.p/69", false, monitor.KindMissingTile},
		{"checkpoint", false, monitor.KindMissingTile},
		{"tile/entries/002", true, monitor.KindBadTile},
		{"tile/1/000.p/4", true, monitor.KindBadTile},
		{"checkpoint", true, monitor.KindBadCheckpoint},
	} {
		t.Run(fmt.Sprintf("%s corrupt=%v", tc.path, tc.corrupt), func(t *testing.T) {
			fo := follower(t, tl, hiding(s.client(t), tc.path, tc.corrupt), nil)
			_, err := fo.Poll(t.Context())
			f := wantFinding(t, err, tc.kind)
			if tc.kind == monitor.KindMissingTile && f.Path != tc.path {
				t.Fatalf("finding names %q, want %q", f.Path, tc.path)
			}
		})
	}
}

func TestQuorum(t *testing.T) {
	tl := newLog(t, "")
	tl.grow(t, 10, false) // signed, not cosigned
	s := newServer(t, tl)
	fo := follower(t, tl, s.client(t), nil)
	_, err := fo.Poll(t.Context())
	wantFinding(t, err, monitor.KindQuorum)
	// A bad cosignature by the trusted witness is a finding too.
	cp, _ := tl.log.LatestCheckpoint(t.Context())
	sig, err := tl.witness.AddCheckpoint(t.Context(), provenance.CosignRequest(0, nil, cp.Note))
	if err != nil {
		t.Fatal(err)
	}
	// Change one base64 character mid-signature (still canonical base64).
	if sig[len(sig)-20] == 'A' {
		sig[len(sig)-20] = 'B'
	} else {
		sig[len(sig)-20] = 'A'
	}
	bad := append(bytes.Clone(cp.Note), sig...)
	f := monitor.FetcherFunc(func(ctx context.Context, p string) ([]byte, error) {
		if p == "checkpoint" {
			return bad, nil
		}
		return s.client(t).Fetch(ctx, p)
	})
	_, err = follower(t, tl, f, nil).Poll(t.Context())
	wantFinding(t, err, monitor.KindCosignature)
}

// TestResume: a follower resumed from a saved checkpoint (aurora monitor
// --state) clones only what follows it, and still catches a rollback and a
// fork of what it saw before.
func TestResume(t *testing.T) {
	honest := newLog(t, "")
	seen := honest.grow(t, 300, true)
	honest.grow(t, 900, true)
	s := newServer(t, honest)
	fo := follower(t, honest, s.client(t), nil)
	if err := fo.Resume(seen.Note); err != nil {
		t.Fatal(err)
	}
	u, err := fo.Poll(t.Context())
	if err != nil || u.From != 300 || u.To != 900 || u.NewEntries != 600 || fo.Counts()["job"] != 600 {
		t.Fatalf("resumed poll %+v %v, counts %v", u, err, fo.Counts())
	}

	// Resumed at 900, served a fork of 1000 leaves.
	fork := newLog(t, "-forked")
	fork.grow(t, 1000, true)
	s.serve(t, fork)
	fo = follower(t, honest, s.client(t), nil)
	cp, _ := honest.log.LatestCheckpoint(t.Context())
	fo.Resume(cp.Note)
	_, err = fo.Poll(t.Context())
	f := wantFinding(t, err, monitor.KindEquivocation)
	if _, err := provenance.VerifyEvidence(*f.Evidence, honest.log.Verifier()); err != nil {
		t.Fatalf("evidence: %v", err)
	}

	// Resumed at 900, served the checkpoint of 300: a rollback.
	old := newLog(t, "")
	old.grow(t, 300, true)
	s.serve(t, old)
	fo = follower(t, honest, s.client(t), nil)
	fo.Resume(cp.Note)
	_, err = fo.Poll(t.Context())
	wantFinding(t, err, monitor.KindRollback)

	if err := fo.Resume([]byte("not a note")); err == nil {
		t.Fatal("resumed from garbage")
	}
}
