package mesh_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
)

// TestPartnerRedial, on real hosts: while B is down, A's forwards to it
// fail at once as refusals (the order core tries its next candidate)
// without dialling — A's dials follow its loop's backoff however many
// orders are sent — and A counts one partner disconnected; when B comes
// back on the same addresses, A's loop reconnects within one backoff step
// and forwards flow again.
func TestPartnerRedial(t *testing.T) {
	const fed = "redial"
	redial := mesh.RedialConfig{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond, Wait: 50 * time.Millisecond}
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: fed, Configure: func(i int, c *mesh.Config) {
		c.Redial = redial
		c.DialTimeout = 2 * time.Second
	}})
	a, b := nodes[0], nodes[1]
	id := meshtest.Activate(t, fed, a, b)
	if _, err := a.Forward(t.Context(), b.DID(), id, meshtest.Order(t, meshtest.RandomKey(t), time.Now())); err != nil {
		t.Fatalf("forward while connected: %v", err)
	}
	if got := meshtest.Metric(t, a.Registry, "aurora_mesh_partners_disconnected", nil); got != 0 {
		t.Fatalf("aurora_mesh_partners_disconnected = %v while connected, want 0", got)
	}

	// B's listen addresses, to come back on.
	var listen []string
	for _, ad := range b.Addrs() {
		s := ad.String()
		listen = append(listen, s[:strings.Index(s, "/p2p/")])
	}
	cfg := b.Config
	cfg.ListenAddrs = listen
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	meshtest.WaitFor(t, meshtest.Wait, "A to see B gone", func() bool {
		return a.Host().Network().Connectedness(b.ID()) != network.Connected
	})
	if got := meshtest.Metric(t, a.Registry, "aurora_mesh_partners_disconnected", nil); got != 1 {
		t.Errorf("aurora_mesh_partners_disconnected = %v while B is down, want 1", got)
	}

	dials := func() float64 {
		return meshtest.Metric(t, a.Registry, "aurora_mesh_partner_dials_total", map[string]string{"result": mesh.DialFailed}) +
			meshtest.Metric(t, a.Registry, "aurora_mesh_partner_dials_total", map[string]string{"result": mesh.DialOK})
	}
	before, start := dials(), time.Now()
	const orders = 200
	var wg sync.WaitGroup
	errs := make(chan error, orders)
	for range orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			t0 := time.Now()
			_, err := a.Forward(ctx, b.DID(), id, meshtest.Order(t, meshtest.RandomKey(t), time.Now()))
			var ue *mesh.UnreachableError
			switch {
			case !errors.As(err, &ue) || !ue.Refused():
				errs <- err
			case time.Since(t0) > 2*time.Second:
				errs <- errors.New("a forward to a partner that is down took " + time.Since(t0).String())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("forward while B is down = %v, want a prompt *UnreachableError that is Refused", err)
	}
	elapsed := time.Since(start)
	// The loop dials at most once per half its smallest step (plus one in
	// flight); the old forward path dialled once per order.
	if d, limit := dials()-before, 2+float64(elapsed/(redial.Min/2)); d > limit || d >= orders {
		t.Errorf("%v partner dials during %s of %d forwards, want at most %v (the loop's schedule)", d, elapsed.Round(time.Millisecond), orders, limit)
	} else {
		t.Logf("%v partner dials during %s of %d forwards", d, elapsed.Round(time.Millisecond), orders)
	}
	_, err := a.Forward(t.Context(), b.DID(), id, meshtest.Order(t, meshtest.RandomKey(t), time.Now()))
	var down *mesh.PartnerDownError
	if !errors.As(err, &down) {
		t.Errorf("forward to a partner that is down = %v, want it to wrap a *PartnerDownError", err)
	}

	// Let the loop reach its longest step, then bring B back.
	time.Sleep(2 * redial.Max)
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	ctx, cancel := context.WithTimeout(t.Context(), meshtest.Wait)
	defer cancel()
	back, err := mesh.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	up := time.Now()
	meshtest.WaitFor(t, meshtest.Wait, "A to reconnect to B", func() bool {
		return a.Host().Network().Connectedness(b.ID()) == network.Connected
	})
	took := time.Since(up)
	t.Logf("A reconnected %s after B came back (max backoff step %s)", took.Round(time.Millisecond), redial.Max)
	if took > redial.Max+cfg.DialTimeout {
		t.Errorf("reconnected %s after B came back, want within the max step plus a dial (%s)", took, redial.Max+cfg.DialTimeout)
	}
	if got := meshtest.Metric(t, a.Registry, "aurora_mesh_partners_disconnected", nil); got != 0 {
		t.Errorf("aurora_mesh_partners_disconnected = %v after the reconnect, want 0", got)
	}
	if got := meshtest.Metric(t, a.Registry, "aurora_mesh_partner_dials_total", map[string]string{"result": mesh.DialOK}); got < 1 {
		t.Errorf("aurora_mesh_partner_dials_total{result=ok} = %v, want >= 1", got)
	}
}
