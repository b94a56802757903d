package mesh_test

import (
	"context"
	"errors"
	"net"
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

// hostIPv4 returns a non-loopback IPv4 address of this machine: connections
// between two hosts on it are not exempt from go-libp2p's per-address
// limits, as loopback ones are.
func hostIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address (the netns chaos suite covers the limit: make chaos)")
	return ""
}

// TestPartnerConnRateHosts, on real hosts on a non-loopback address: while
// A and B are treaty partners, B reconnects to A far more often than the
// connection rate limit's burst without a refusal on either side; once the
// treaty is revoked they are strangers and the same churn is refused
// within the burst, counted in aurora_mesh_refused_total.
func TestPartnerConnRateHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: make test-long runs it")
	}
	ip := hostIPv4(t)
	const fed = "connrate"
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: fed, Configure: func(i int, c *mesh.Config) {
		c.ListenAddrs = []string{"/ip4/" + ip + "/tcp/0"}
		c.DialTimeout = 2 * time.Second
	}})
	a, b := nodes[0], nodes[1]
	id := meshtest.Activate(t, fed, a, b)
	refused := func(n *meshtest.Node) float64 {
		return meshtest.Metric(t, n.Registry, "aurora_mesh_refused_total", map[string]string{"kind": "connection", "reason": mesh.RefusedConnRate})
	}
	// churn closes B's connections to A and dials again, n times, and
	// returns how many dials failed.
	churn := func(n int) (failed int, last error) {
		for range n {
			b.Host().Network().ClosePeer(a.ID())
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			err := b.Connect(ctx, meshtest.AddrInfo(a.Mesh))
			cancel()
			if err != nil {
				failed, last = failed+1, err
			}
		}
		return failed, last
	}
	const n = 3 * mesh.StrangerConnBurst
	meshtest.WaitFor(t, meshtest.Wait, "A's partner addresses to include B's", func() bool {
		failed, _ := churn(1)
		return failed == 0
	})
	if failed, err := churn(n); failed > 0 {
		t.Errorf("partners: %d of %d reconnects failed (last: %v), want none", failed, n, err)
	}
	if ra, rb := refused(a), refused(b); ra+rb > 0 {
		t.Errorf("partners: connection refusals A %v, B %v; want none", ra, rb)
	}

	if err := a.Revoke(t.Context(), id, "test"); err != nil {
		t.Fatal(err)
	}
	meshtest.WaitFor(t, meshtest.Wait, "both to see the revocation", func() bool {
		return !a.IsPartner(b.DID()) && !b.IsPartner(a.DID())
	})
	var failed int
	var last error
	meshtest.WaitFor(t, meshtest.Wait, "strangers' reconnects to be refused", func() bool {
		f, err := churn(n)
		failed, last = failed+f, err
		return failed > 0
	})
	t.Logf("strangers: %d reconnects refused (last: %v); refusals counted A %v, B %v", failed, last, refused(a), refused(b))
	if refused(a)+refused(b) == 0 {
		t.Error("strangers' refusals are not counted in aurora_mesh_refused_total{kind=\"connection\"}")
	}
}

// TestForwardWaitEndsWithContext: a forward whose context ends while it
// waits for a partner's dial loop is still a refusal (nothing was sent),
// so the order core may try another candidate.
func TestForwardWaitEndsWithContext(t *testing.T) {
	const fed = "redialctx"
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: fed, Configure: func(i int, c *mesh.Config) {
		c.Redial = mesh.RedialConfig{Min: 5 * time.Second, Max: 10 * time.Second, Wait: 10 * time.Second}
		c.DialTimeout = 2 * time.Second
	}})
	a, b := nodes[0], nodes[1]
	id := meshtest.Activate(t, fed, a, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	meshtest.WaitFor(t, meshtest.Wait, "A to see B gone", func() bool {
		return a.Host().Network().Connectedness(b.ID()) != network.Connected
	})
	// The loop's next dial (under 5 s away) is within the wait (10 s, no
	// deadline): the forward waits, and its caller gives up.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := a.Forward(ctx, b.DID(), id, meshtest.Order(t, meshtest.RandomKey(t), time.Now()))
	var ue *mesh.UnreachableError
	if !errors.As(err, &ue) || !ue.Refused() || !errors.Is(err, context.Canceled) {
		t.Fatalf("forward whose context ended while waiting = %v, want a Refused *UnreachableError wrapping context.Canceled", err)
	}
}
