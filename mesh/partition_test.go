package mesh_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/treaty"
)

// openStore opens a badger-backed node store and returns its "mesh"
// namespace, the view the node gives the mesh.
func openStore(t *testing.T, dir string) (*store.DB, *store.Datastore) {
	t.Helper()
	db, err := store.Open(store.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return db, db.Namespace("mesh")
}

// restart starts node n's mesh again with cfg (a fresh registry).
func restart(t *testing.T, n *meshtest.Node, cfg mesh.Config) *meshtest.Node {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	ctx, cancel := context.WithTimeout(t.Context(), meshtest.Wait)
	defer cancel()
	m, err := mesh.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &meshtest.Node{Mesh: m, Index: n.Index, Key: n.Key, Registry: reg, Acker: n.Acker, Config: cfg}
}

// TestOfflineCatchUp: C is offline while A and B activate a treaty; when C
// comes back, sync (not gossip, which is long gone) brings it the treaty
// within a sync interval of reconnecting.
func TestOfflineCatchUp(t *testing.T) {
	const fed = "partition"
	dir := t.TempDir()
	db, ds := openStore(t, dir)
	nodes := meshtest.Start(t, 3, meshtest.Options{Federation: fed, Configure: func(i int, c *mesh.Config) {
		if i == 2 {
			c.Datastore = ds
		}
	}})
	a, b, c := nodes[0], nodes[1], nodes[2]
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	id := meshtest.Activate(t, fed, a, b)

	db, ds = openStore(t, dir)
	t.Cleanup(func() { db.Close() })
	cfg := c.Config
	cfg.Datastore = ds
	cfg.SyncInterval = 5 * time.Second
	// No bootstrap list: C has few connections, so it redials the peers it
	// remembered.
	c = restart(t, c, cfg)
	meshtest.WaitFor(t, meshtest.Wait, "C to reconnect", func() bool {
		return c.Host().Network().Connectedness(a.ID()) == network.Connected || c.Host().Network().Connectedness(b.ID()) == network.Connected
	})
	reconnected := time.Now()
	meshtest.WaitFor(t, meshtest.Wait, "C to learn the treaty", func() bool {
		info, err := c.Get(id)
		return err == nil && info.State == treaty.StateActive
	})
	t.Logf("converged %s after reconnecting (sync interval %s)", time.Since(reconnected).Round(time.Millisecond), cfg.SyncInterval)
	if got := meshtest.Metric(t, c.Registry, "aurora_sync_repairs_total", nil); got < 1 {
		t.Errorf("aurora_sync_repairs_total = %v, want >= 1: the treaty should come by sync", got)
	}
}

// TestPeerDiesMidForward: B dies while judging A's order; A's Forward
// returns an error promptly instead of waiting for its deadline.
func TestPeerDiesMidForward(t *testing.T) {
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: "dies"})
	a, b := nodes[0], nodes[1]
	id := meshtest.Activate(t, "dies", a, b)
	entered := make(chan struct{})
	b.Acker.SetBefore(func(ctx context.Context, _ treaty.DID) error {
		close(entered)
		<-ctx.Done()
		return ctx.Err()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*meshtest.Wait)
	defer cancel()
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		_, err := a.Forward(ctx, b.DID(), id, meshtest.Order(t, meshtest.RandomKey(t), time.Now()))
		done <- result{err, time.Now()}
	}()
	<-entered
	killed := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	var fe *mesh.ForwardError
	var ue *mesh.UnreachableError
	if !errors.As(r.err, &fe) && !errors.As(r.err, &ue) {
		t.Fatalf("Forward to a dying peer = %v, want a ForwardError or an UnreachableError", r.err)
	}
	if el := r.at.Sub(killed); el > meshtest.StreamTimeout {
		t.Errorf("Forward returned %s after the peer died, more than the stream timeout %s", el, meshtest.StreamTimeout)
	}
	t.Logf("Forward returned %s after the peer died: %v", r.at.Sub(killed).Round(time.Millisecond), r.err)
}

// TestForwardRetry: the connection breaks after B accepted the order but
// before its answer; A redials once and resends the same bytes, and B's
// replay guard answers "replay" instead of running the order twice.
func TestForwardRetry(t *testing.T) {
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: "retry"})
	a, b := nodes[0], nodes[1]
	id := meshtest.Activate(t, "retry", a, b)
	var broken atomic.Bool
	b.Acker.SetDeny(func(*treaty.Order) []string {
		// Runs after the replay guard recorded the nonce.
		if !broken.Swap(true) {
			b.Host().Network().ClosePeer(a.ID())
		}
		return nil
	})
	_, err := a.Forward(t.Context(), b.DID(), id, meshtest.Order(t, meshtest.RandomKey(t), time.Now()))
	var fe *mesh.ForwardError
	if !errors.As(err, &fe) || fe.Code != "replay" {
		t.Fatalf("Forward over a broken connection = %v, want the retry's replay refusal", err)
	}
	if got := b.Acker.Calls(); got != 2 {
		t.Errorf("B's handler ran %d times, want 2 (the order and its one retry)", got)
	}
	if got := meshtest.Metric(t, a.Registry, "aurora_treaty_forward_retries_total", nil); got != 1 {
		t.Errorf("aurora_treaty_forward_retries_total = %v, want 1", got)
	}
}

// TestRestart: a node restarts on the same datastore and key, with no
// bootstrap list, and reconnects to its treaty peer from the addresses it
// stored.
func TestRestart(t *testing.T) {
	const fed = "restart"
	dir := t.TempDir()
	db, ds := openStore(t, dir)
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: fed, Configure: func(i int, c *mesh.Config) {
		if i == 1 {
			c.Datastore = ds
		}
	}})
	a, b := nodes[0], nodes[1]
	id := meshtest.Activate(t, fed, a, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	meshtest.WaitFor(t, meshtest.Wait, "A to notice B left", func() bool {
		return a.Host().Network().Connectedness(b.ID()) != network.Connected
	})

	db, ds = openStore(t, dir)
	t.Cleanup(func() { db.Close() })
	cfg := b.Config
	cfg.Datastore = ds
	if len(cfg.Bootstrap) != 0 {
		t.Fatal("the test must not give B a bootstrap list")
	}
	b = restart(t, b, cfg)
	if info, err := b.Get(id); err != nil || info.State != treaty.StateActive {
		t.Fatalf("after restart the treaty is %v (%v), want active from the datastore", info.State, err)
	}
	meshtest.WaitFor(t, meshtest.Wait, "B to reconnect to A", func() bool {
		return b.Host().Network().Connectedness(a.ID()) == network.Connected
	})
	if _, err := b.Forward(t.Context(), a.DID(), id, meshtest.Order(t, meshtest.RandomKey(t), time.Now())); err != nil {
		t.Fatalf("forward after restart: %v", err)
	}
}
