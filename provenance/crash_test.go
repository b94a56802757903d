package provenance

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"

	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/treaty"
)

// The crash test runs a child process (this test binary) that drives a log
// and its epochs on a real on-disk badger database (node/store) and kills
// itself with SIGKILL at a chosen point. The parent then reopens the
// database: the startup consistency check must pass, the next CloseEpoch
// must finish the interrupted epoch, and the result must verify.
const (
	crashEnvDir   = "AURORA_PROVENANCE_CRASH_DIR"
	crashEnvPhase = "AURORA_PROVENANCE_CRASH_PHASE"
)

var crashPhases = []string{
	"mid-append",       // killed inside a batch append's commit window
	"after-append",     // leaves appended, no checkpoint
	"after-checkpoint", // checkpoint signed, no epoch record
	"in-witness",       // epoch recorded, witness round interrupted
	"in-pin",           // witnessed, pin interrupted
	"in-announce",      // pinned, gossip interrupted
	"in-tsa",           // announced, timestamps not yet obtained
}

type crashNode struct {
	db     *store.DB
	log    *Log
	ep     *Epochs
	pinner *fakePinner
	ann    *announcer
	peers  *peerWitnesses
}

// openCrashNode opens the node's state in dir; hooks run inside the epoch
// steps (the child uses them to die).
func openCrashNode(t *testing.T, dir string, hook func(step string)) *crashNode {
	t.Helper()
	db, err := store.Open(store.Config{Dir: dir, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	n := &crashNode{db: db, pinner: &fakePinner{}, ann: &announcer{}}
	ctx := context.Background()
	n.log, err = OpenLog(ctx, db.Namespace("provenance"), LogConfig{Origin: testOrigin, Key: testKey(t, 1)})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	clock := newClock()
	n.peers = newPeerWitnesses(t, n.log, 2, clock, func(i int) datastore.Batching {
		return db.Namespace("witness" + string(rune('0'+i)))
	})
	tsa := func(name string) *fakeTSA {
		return &fakeTSA{name: name, clock: clock, fail: func() error { hook("tsa"); return nil }}
	}
	n.ep, err = NewEpochs(ctx, EpochsConfig{
		Log: n.log, Interval: time.Hour, WitnessKeys: n.peers.keys(),
		Witnesses: func(ctx context.Context, req WitnessRequest) [][]byte {
			hook("witness")
			return n.peers.cosign(ctx, req)
		},
		Timestampers: [2]Timestamper{tsa("a"), tsa("b")}, TSAVerifier: fakeTSAVerifier{}, TSARetry: time.Millisecond,
		Pin: func(ctx context.Context, e EpochInfo) (string, error) {
			hook("pin")
			c, err := n.pinner.pin(ctx, e)
			if err == nil {
				err = db.Namespace("pins").Put(ctx, datastore.NewKey("head"), []byte(c))
			}
			return c, err
		},
		Announce: func(ctx context.Context, a *treaty.Anchor) error {
			hook("announce")
			return n.ann.announce(ctx, a)
		},
		Clock: clock,
	})
	if err != nil {
		db.Close()
		t.Fatalf("NewEpochs (startup consistency check): %v", err)
	}
	return n
}

func (n *crashNode) close(t *testing.T) {
	t.Helper()
	n.ep.Close()
	if err := n.db.Close(); err != nil {
		t.Fatal(err)
	}
}

func die() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // not reached
}

// TestCrashChild is the child's body; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir, phase := os.Getenv(crashEnvDir), os.Getenv(crashEnvPhase)
	if dir == "" {
		t.Skip("only runs as the crash test's child")
	}
	ctx := context.Background()
	var armed atomic.Bool // epoch 1 completes; the hooks fire in epoch 2
	armed.Store(phase == "in-tsa")
	n := openCrashNode(t, dir, func(step string) {
		if armed.Load() && "in-"+step == phase {
			die()
		}
	})
	// Epoch 1 completes normally.
	for i := 0; i < 10; i++ {
		if _, err := n.log.Append(ctx, jobLeaf(t, i)); err != nil {
			t.Fatal(err)
		}
	}
	if phase == "in-tsa" {
		n.ep.CloseEpoch(ctx) // the TSA workers kill the process
		select {}
	}
	if _, err := n.ep.CloseEpoch(ctx); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	// Epoch 2 is interrupted.
	batch := make([][]byte, 0, 500)
	for i := 10; i < 510; i++ {
		batch = append(batch, jobLeaf(t, i))
	}
	if phase == "mid-append" {
		go func() { time.Sleep(time.Millisecond); die() }()
		for {
			if _, err := n.log.Append(ctx, batch...); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := n.log.Append(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	switch phase {
	case "after-append":
		die()
	case "after-checkpoint":
		if _, err := n.log.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		die()
	}
	n.ep.CloseEpoch(ctx)
	t.Fatalf("phase %q did not crash", phase)
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, phase := range crashPhases {
		t.Run(phase, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashEnvDir+"="+dir, crashEnvPhase+"="+phase)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !strings.Contains(ee.String(), "killed") {
				t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
			}

			ctx := t.Context()
			n := openCrashNode(t, dir, func(string) {})
			defer n.close(t)
			if err := n.ep.Check(ctx); err != nil {
				t.Fatalf("consistency check after the crash: %v", err)
			}
			size := n.log.Size()
			// 10 leaves of epoch 1, whole 500-leaf batches, and at most one
			// tsa leaf (epoch 1's, appended when epoch 2 closes).
			if size < 10 || (size-10)%500 > 1 {
				t.Fatalf("log size %d: a batch was half written", size)
			}
			// One more job, then close: the interrupted epoch is finished
			// first, then a new one is closed.
			if _, err := n.log.Append(ctx, jobLeaf(t, 9999)); err != nil {
				t.Fatal(err)
			}
			st, err := n.ep.CloseEpoch(ctx)
			if err != nil {
				t.Fatalf("CloseEpoch after the crash: %v", err)
			}
			if st.End != n.log.Size() || !st.Witnessed || !st.Pinned || !st.Announced || st.Cosigs != 2 {
				t.Fatalf("latest epoch after recovery %+v (log size %d)", st, n.log.Size())
			}
			var prevEnd uint64
			for e := uint64(1); e <= st.Epoch; e++ {
				es, err := n.ep.Epoch(ctx, e)
				if err != nil {
					t.Fatal(err)
				}
				if es.Start != prevEnd || !es.Witnessed || !es.Pinned || !es.Announced {
					t.Fatalf("epoch %d after recovery: %+v", e, es)
				}
				prevEnd = es.End
			}
			head, err := n.db.Namespace("pins").Get(ctx, datastore.NewKey("head"))
			if err != nil || string(head) != st.Root {
				t.Fatalf("pinned head %q, latest epoch root %q (%v)", head, st.Root, err)
			}
			waitFor(t, "all epochs attested", func() bool {
				for e := uint64(1); e <= st.Epoch; e++ {
					if es, _ := n.ep.Epoch(ctx, e); !es.Attested {
						return false
					}
				}
				return true
			})
			b, err := n.ep.Bundle(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyBundle(b, VerifyOptions{Origin: testOrigin, LogDID: testKey(t, 1).DID(),
				WitnessKeys: n.peers.keys(), MinWitnesses: 2, TSAVerifier: fakeTSAVerifier{}}); err != nil {
				t.Fatalf("bundle after recovery: %v", err)
			}
		})
	}
}
