package order_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aurora-federation/aurora/clock"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// memLog is an in-memory provenance log: the leaves, in order.
type memLog struct {
	mu     sync.Mutex
	leaves [][]byte
}

func (l *memLog) Append(_ context.Context, leaves ...[]byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := uint64(len(l.leaves))
	l.leaves = append(l.leaves, leaves...)
	return first, nil
}

// cancels returns the Cancel records in the log.
func (l *memLog) cancels(t *testing.T) []*treaty.Cancel {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*treaty.Cancel
	for _, b := range l.leaves {
		var e treaty.LogEntry
		if err := treaty.Decode(b, &e); err != nil {
			t.Fatal(err)
		}
		if e.Cancel != nil {
			out = append(out, e.Cancel)
		}
	}
	return out
}

// withLog restarts n's core over a ledger that logs to a memLog.
func withLog(n *tnode) *memLog {
	l := &memLog{}
	n.ledger = order.NewLedger(order.LedgerConfig{Store: n.store, Log: l})
	n.cfg.Ledger = n.ledger
	n.start()
	return l
}

// signCancel signs a Cancel of job with signer's key, naming client as
// the client (a forgery when they differ).
func signCancel(t *testing.T, signer *treaty.PrivateKey, client treaty.DID, job string, at time.Time) []byte {
	t.Helper()
	c, err := cid.Decode(job)
	if err != nil {
		t.Fatal(err)
	}
	k := &treaty.Cancel{V: treaty.Version, Order: treaty.LinkTo(c), Client: signer.DID(), At: at.Unix(), Reason: "done with it"}
	if err := treaty.Sign(k, signer); err != nil {
		t.Fatal(err)
	}
	k.Client = client
	b, err := treaty.Encode(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantReject(t *testing.T, err error, status int, code, field string) {
	t.Helper()
	var re *order.RejectError
	if !errors.As(err, &re) || re.Status != status || re.Code != code || re.Field != field {
		t.Fatalf("got %v, want %d %s naming %q", err, status, code, field)
	}
}

func jobStatus(t *testing.T, n *tnode, id string) string {
	t.Helper()
	j, err := n.ledger.Job(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j.Status()
}

// TestCancelRunning: the tenant's Cancel of a running job terminates its
// lease at the provider, logs the Cancel with the canceled job record, and
// a second Cancel is a no-op. A stranger's Cancel is refused.
func TestCancelRunning(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100"})
	m := order.NewMetrics(nil)
	n.cfg.Metrics = m
	log := withLog(n)
	client := key(t, "client")
	r, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now()))
	if err != nil || r.Ack == nil {
		t.Fatalf("submit: %+v %v", r, err)
	}
	run(ctx, clk, clk.Now().Add(time.Minute), n)
	if st := jobStatus(t, n, r.Job); st != treaty.StatusRunning || n.prov.Stats().Active != 1 {
		t.Fatalf("before the cancel: %s with %d leases", st, n.prov.Stats().Active)
	}

	stranger := key(t, "stranger")
	_, err = n.core.Cancel(ctx, signCancel(t, stranger, stranger.DID(), r.Job, clk.Now()), "")
	wantReject(t, err, 403, order.CodeNotClient, "client")
	_, err = n.core.Cancel(ctx, signCancel(t, stranger, client.DID(), r.Job, clk.Now()), "")
	wantReject(t, err, 403, "bad_signature", "sig")
	_, err = n.core.Cancel(ctx, signCancel(t, client, client.DID(), r.Job, clk.Now().Add(treaty.MaxClockSkew+time.Second)), "")
	wantReject(t, err, 400, "bad_record", "at")
	if n.prov.Stats().Active != 1 || len(log.cancels(t)) != 0 {
		t.Fatal("a refused cancel ended the lease or was logged")
	}

	res, err := n.core.Cancel(ctx, signCancel(t, client, client.DID(), r.Job, clk.Now()), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Already || res.Job.Status() != treaty.StatusCanceled {
		t.Errorf("cancel: already=%v status=%s", res.Already, res.Job.Status())
	}
	if got := n.prov.Stats().Active; got != 0 {
		t.Errorf("%d leases still held at the provider after the cancel", got)
	}
	if cs := log.cancels(t); len(cs) != 1 || cs[0].Client != client.DID() || cs[0].Order.String() != r.Job {
		t.Errorf("cancel leaves: %+v", cs)
	}
	if st := jobStatus(t, n, r.Job); st != treaty.StatusCanceled {
		t.Errorf("ledger status %s", st)
	}
	leaves := len(log.leaves)
	again, err := n.core.Cancel(ctx, signCancel(t, client, client.DID(), r.Job, clk.Now().Add(time.Second)), "")
	if err != nil || !again.Already {
		t.Errorf("second cancel: %+v %v, want a no-op", again, err)
	}
	if len(log.leaves) != leaves {
		t.Errorf("second cancel logged %d leaves", len(log.leaves)-leaves)
	}
	for result, want := range map[string]float64{order.CancelRefused: 3, order.CancelCanceled: 1, order.CancelAlready: 1, order.CancelFailed: 0} {
		if got := testutil.ToFloat64(m.Cancels.WithLabelValues(result)); got != want {
			t.Errorf("aurora_job_cancels_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

// TestCancelFinishedOrUnknown: a job that failed cannot be canceled (409
// naming the job's order), an unknown job is 404.
func TestCancelFinishedOrUnknown(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100", latency: time.Second, failAfter: true})
	client := key(t, "client")
	r, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now()))
	if err != nil || r.Ack == nil {
		t.Fatalf("submit: %+v %v", r, err)
	}
	run(ctx, clk, clk.Now().Add(time.Minute), n)
	if st := jobStatus(t, n, r.Job); st != treaty.StatusFailed {
		t.Fatalf("status %s, want failed", st)
	}
	_, err = n.core.Cancel(ctx, signCancel(t, client, client.DID(), r.Job, clk.Now()), "")
	wantReject(t, err, 409, order.CodeJobFinished, "order")
	other := treaty.CIDOf([]byte("no such order")).String()
	_, err = n.core.Cancel(ctx, signCancel(t, client, client.DID(), other, clk.Now()), "")
	wantReject(t, err, 404, "not_found", "order")
}

// TestCancelBeforeLaunch: a job canceled while its launch is queued never
// reaches the provider, and its launch slot is free again.
func TestCancelBeforeLaunch(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100", slots: 1})
	client := key(t, "client")
	r, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now()))
	if err != nil || r.Ack == nil {
		t.Fatalf("submit: %+v %v", r, err)
	}
	if n.core.SlotsUsed() != 1 {
		t.Fatalf("slots used %d", n.core.SlotsUsed())
	}
	if _, err := n.core.Cancel(ctx, signCancel(t, client, client.DID(), r.Job, clk.Now()), ""); err != nil {
		t.Fatal(err)
	}
	run(ctx, clk, clk.Now().Add(time.Minute), n)
	if st := n.prov.Stats(); st.Calls != 0 || st.Active != 0 {
		t.Errorf("provider saw %d launch calls, holds %d leases", st.Calls, st.Active)
	}
	if n.core.SlotsUsed() != 0 {
		t.Errorf("slots used %d after the cancel", n.core.SlotsUsed())
	}
	if st := jobStatus(t, n, r.Job); st != treaty.StatusCanceled {
		t.Errorf("status %s", st)
	}
	// A restart does not relaunch it.
	n.restart(ctx)
	run(ctx, clk, clk.Now().Add(time.Minute), n)
	if n.prov.Stats().Calls != 0 {
		t.Error("the canceled job was relaunched after a restart")
	}
}

// TestCancelWhileStarting: a lease launched and not yet running is
// terminated by the cancel, and no poll or fallback follows.
func TestCancelWhileStarting(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100", latency: time.Hour})
	client := key(t, "client")
	r, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now()))
	if err != nil || r.Ack == nil {
		t.Fatalf("submit: %+v %v", r, err)
	}
	n.core.Drain(ctx)
	if n.prov.Stats().Active != 1 {
		t.Fatalf("leases %d after the launch", n.prov.Stats().Active)
	}
	res, err := n.core.Cancel(ctx, signCancel(t, client, client.DID(), r.Job, clk.Now()), "")
	if err != nil {
		t.Fatal(err)
	}
	if n.prov.Stats().Active != 0 {
		t.Error("the starting lease was not terminated")
	}
	run(ctx, clk, clk.Now().Add(2*time.Hour), n)
	if st := n.prov.Stats(); st.Calls != 1 || st.Active != 0 {
		t.Errorf("after the cancel: %d launch calls, %d leases", st.Calls, st.Active)
	}
	if st := jobStatus(t, n, r.Job); st != treaty.StatusCanceled || res.Job.Status() != st {
		t.Errorf("status %s", st)
	}
}

// gateProvider holds every Launch until released: a launch in flight.
type gateProvider struct {
	providers.Provider
	started chan struct{}
	release chan struct{}
}

func (g *gateProvider) Launch(ctx context.Context, spec providers.LaunchSpec) (providers.Lease, error) {
	g.started <- struct{}{}
	<-g.release
	return g.Provider.Launch(ctx, spec)
}

// TestCancelDuringLaunchCall: the cancel lands while the provider's Launch
// call is in flight; the lease it returns is terminated at once.
func TestCancelDuringLaunchCall(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100"})
	g := &gateProvider{Provider: n.prov, started: make(chan struct{}), release: make(chan struct{})}
	n.cfg.Providers = map[string]providers.Provider{n.prov.Name(): g}
	router, err := providers.NewRouter(providers.RouterConfig{Providers: []providers.Provider{g}, Reputation: n.rep, Clock: clk, LaunchTimeout: -1, FetchParallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	n.cfg.Router = router
	n.start()
	client := key(t, "client")
	r, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now()))
	if err != nil || r.Ack == nil {
		t.Fatalf("submit: %+v %v", r, err)
	}
	done := make(chan struct{})
	go func() { defer close(done); n.core.Step(ctx) }()
	<-g.started
	if _, err := n.core.Cancel(ctx, signCancel(t, client, client.DID(), r.Job, clk.Now()), ""); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	<-done
	run(ctx, clk, clk.Now().Add(time.Minute), n)
	if st := n.prov.Stats(); st.Launched != 1 || st.Active != 0 {
		t.Errorf("launched %d, holding %d leases: the lease of the launch in flight was not terminated", st.Launched, st.Active)
	}
	if st := jobStatus(t, n, r.Job); st != treaty.StatusCanceled {
		t.Errorf("status %s", st)
	}
}

// TestCancelRacesLaunch: many jobs, each canceled while workers launch
// them; every cancel succeeds and no lease is left at the provider.
func TestCancelRacesLaunch(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100"})
	client := key(t, "client")
	const jobs = 64
	ids := make([]string, jobs)
	for i := range ids {
		r, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now()))
		if err != nil || r.Ack == nil {
			t.Fatalf("submit: %+v %v", r, err)
		}
		ids[i] = r.Job
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for n.core.Step(ctx) {
			}
		})
	}
	errs := make(chan error, jobs)
	for _, id := range ids {
		wg.Go(func() {
			_, err := n.core.Cancel(ctx, signCancel(t, client, client.DID(), id, clk.Now()), "")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	run(ctx, clk, clk.Now().Add(time.Minute), n)
	st := n.prov.Stats()
	t.Logf("%d of %d jobs reached the provider before their cancel", st.Launched, jobs)
	if st.Active != 0 {
		t.Errorf("%d of %d launched leases left running after every job was canceled", st.Active, st.Launched)
	}
	for _, id := range ids {
		if st := jobStatus(t, n, id); st != treaty.StatusCanceled {
			t.Errorf("job %s: %s", id, st)
		}
	}
	if n.core.SlotsUsed() != 0 {
		t.Errorf("slots used %d", n.core.SlotsUsed())
	}
}

// cancelLink relays cancels from origin to peer as the mesh would.
type cancelLink struct{ *link }

func (l cancelLink) Cancel(ctx context.Context, _ treaty.DID, _ treaty.Link, data []byte) ([]byte, error) {
	r, err := l.to.core.Cancel(ctx, data, l.from.key.DID())
	if err != nil {
		return nil, err
	}
	return treaty.Encode(&r.Job.Record)
}

// TestCancelForwarded: a Cancel at the origin reaches the peer that runs
// the job, which terminates the lease; both log it and record the job
// canceled.
func TestCancelForwarded(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	a := newNode(t, clk, "a", nodeOpts{gpu: "A100", peersFirst: true})
	b := newNode(t, clk, "b", nodeOpts{gpu: "A100"})
	alog, blog := withLog(a), withLog(b)
	l := pair(a, b, faultNone)
	a.cfg.Cancels = cancelLink{l}
	a.start()
	client := key(t, "client")
	r, err := a.core.Submit(ctx, newOrder(t, client, "A100", clk.Now()))
	if err != nil || r.Ack == nil || r.Ack.Route.Kind != treaty.RoutePeer {
		t.Fatalf("submit: %+v %v", r, err)
	}
	run(ctx, clk, clk.Now().Add(time.Minute), a, b)
	if b.prov.Stats().Active != 1 {
		t.Fatal("the peer runs no lease")
	}
	stranger := key(t, "stranger")
	_, err = a.core.Cancel(ctx, signCancel(t, stranger, stranger.DID(), r.Job, clk.Now()), "")
	wantReject(t, err, 403, order.CodeNotClient, "client")
	// The peer takes a relayed cancel only from the node that forwarded.
	_, err = b.core.Cancel(ctx, signCancel(t, client, client.DID(), r.Job, clk.Now()), stranger.DID())
	wantReject(t, err, 403, "not_yours", "")

	if _, err := a.core.Cancel(ctx, signCancel(t, client, client.DID(), r.Job, clk.Now()), ""); err != nil {
		t.Fatal(err)
	}
	if b.prov.Stats().Active != 0 {
		t.Error("the peer's lease was not terminated")
	}
	for _, x := range []struct {
		n   *tnode
		log *memLog
	}{{a, alog}, {b, blog}} {
		if st := jobStatus(t, x.n, r.Job); st != treaty.StatusCanceled {
			t.Errorf("%s: status %s", x.n.name, st)
		}
		if len(x.log.cancels(t)) != 1 {
			t.Errorf("%s: %d cancel leaves", x.n.name, len(x.log.cancels(t)))
		}
	}
	if again, err := a.core.Cancel(ctx, signCancel(t, client, client.DID(), r.Job, clk.Now()), ""); err != nil || !again.Already {
		t.Errorf("second cancel at the origin: %+v %v", again, err)
	}
}

// failTerminate is a provider whose Terminate fails.
type failTerminate struct{ providers.Provider }

func (failTerminate) Terminate(context.Context, string) error {
	return errors.New("network unreachable")
}

// TestCancelTerminateFails: when the provider cannot terminate the lease
// the cancel is 502 and the job is not recorded canceled (the tenant may
// cancel again).
func TestCancelTerminateFails(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewVirtual(start)
	n := newNode(t, clk, "a", nodeOpts{gpu: "A100"})
	n.cfg.Providers = map[string]providers.Provider{n.prov.Name(): failTerminate{n.prov}}
	m := order.NewMetrics(nil)
	n.cfg.Metrics = m
	n.start()
	client := key(t, "client")
	r, err := n.core.Submit(ctx, newOrder(t, client, "A100", clk.Now()))
	if err != nil || r.Ack == nil {
		t.Fatalf("submit: %+v %v", r, err)
	}
	run(ctx, clk, clk.Now().Add(time.Minute), n)
	_, err = n.core.Cancel(ctx, signCancel(t, client, client.DID(), r.Job, clk.Now()), "")
	wantReject(t, err, 502, "terminate_failed", "")
	if got := testutil.ToFloat64(m.Cancels.WithLabelValues(order.CancelFailed)); got != 1 {
		t.Errorf("aurora_job_cancels_total{result=\"failed\"} = %v, want 1", got)
	}
	if st := jobStatus(t, n, r.Job); st != treaty.StatusRunning {
		t.Errorf("status %s after a failed terminate, want running", st)
	}
}
