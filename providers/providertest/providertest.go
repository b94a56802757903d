// Package providertest is the conformance suite every providers.Provider
// adapter runs against its fake server, in the manner of slogtest.Run and
// fstest.TestFS:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, providertest.Harness{
//			Setup: func(t *testing.T) *providertest.Env { ... start fake, build adapter ... },
//			Query: providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"US"}},
//		})
//	}
//
// Each subtest calls Setup for a fresh fake, so subtests are independent.
// What the suite checks, per subtest name:
//
//   - Identity: Name is a lowercase word; Capabilities.Regions has no "".
//   - Offers, OffersPriceCap, OffersNoMatch: offers match GPU model (by
//     providers.SameGPUModel), count, region and price cap; none above the
//     cap; normalized price and raw unit present; no match gives no offers
//     (or ErrNoCapacity/ErrOverPrice); dropping all filters but the GPU
//     model gives at least as many offers.
//   - Lifecycle: Launch returns a non-terminal lease; Status starts pending or
//     launching, moves forward (never backwards) to running as the fake
//     Advances; Terminate; Status then says terminated (or ErrNotFound, for
//     networks that forget destroyed workloads); Terminate again is nil or
//     ErrNotFound; the fake has no live workload left.
//   - LaunchOverCap: a cap below the offer's price gives ErrOverPrice (or
//     ErrNoCapacity) and creates nothing.
//   - IdempotentRelaunch: Launch twice with one IdempotencyKey, also from a
//     second adapter (a restarted process), gives one lease ID and one
//     workload on the fake; another key gives another workload.
//   - LostLaunchResponse (fakes implementing LaunchLoser): the network
//     created the workload but the answer was lost; relaunching finds it.
//   - LaunchFailure: injected server errors on create fail Launch without
//     creating anything, and the adapter recovers.
//   - RateLimit: a few 429s are retried; persistent 429s give ErrRateLimited.
//   - Auth: a wrong credential gives ErrAuth; New rejects an empty one.
//   - NotFound, MalformedID: unknown ids give ErrNotFound; hostile ids give an
//     error, not a request to some other path.
//   - ContextCanceled, ContextDeadline (fakes implementing Staller): a done
//     context ends every method promptly with the context's error.
//   - NoSecretsInLogs: after a busy session, including failures, the secret
//     appears in no log line, error text, or %v/%+v/%#v of the adapter.
//   - Concurrent: methods are safe for concurrent use (run with -race).
//   - Feature/ssh, Feature/registry-auth, Feature/storage,
//     Feature/secret-env: a launch with SSH keys, a registry login, a
//     volume or a secret env variable either works, and the fake
//     (a LaunchInspector) shows it received them in the network's wire
//     format, or, when Capabilities.Features lacks the feature, fails with
//     a *providers.FeatureError (ErrNotSupported) creating nothing. The
//     registry secret and the secret env value appear in no log line,
//     error or formatted spec.
//   - Feature/invalid: malformed SSH keys, registry logins and volumes are
//     refused before anything is created.
//   - Endpoints (adapters listing FeatureEndpoints): a running workload's
//     Status has well-formed endpoints, an ssh one after a launch with
//     keys (FeatureSSH) and one reaching the first workload port
//     (FeaturePorts).
//
// Adapters whose Capabilities say ManualOnly, !Launch or !Offers get
// subtests asserting providers.ErrNotSupported for those methods instead.
package providertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// Fake is the control surface of a fake provider server the suite needs.
// providertest/fakekit.Faults implements the fault hooks.
type Fake interface {
	// FailNextLaunch makes the next n create requests fail with the
	// network's server-error shape, creating nothing (n replaces the count).
	FailNextLaunch(n int)
	// RateLimitNext answers the next n requests with the network's 429.
	RateLimitNext(n int)
	// Advance moves every workload one step along its status progression
	// (pending → launching → running, stopping → stopped, ...). A freshly
	// launched workload must not be running before the first Advance.
	Advance()
	// Workloads counts live (not terminated) workloads on the fake.
	Workloads() int
}

// LaunchLoser is implemented by fakes that can create a workload and then
// lose the response (see fakekit.Faults.LoseNextLaunch).
type LaunchLoser interface{ LoseNextLaunch(n int) }

// Staller is implemented by fakes that can delay responses.
type Staller interface{ SetLatency(d time.Duration) }

// Env is one subtest's adapter, fake and log capture.
type Env struct {
	// Provider is the adapter under test, configured with Secret, logging
	// (at debug level) into Logs, and retrying at least 3 times without
	// real waits (httpx.Config{Sleep: httpx.NoSleep}).
	Provider providers.Provider
	// Connect builds another adapter against the same fake with the given
	// secret and the same logging: a wrong credential, or a restarted
	// process that must find its workload by idempotency key. An empty
	// secret must give an error.
	Connect func(secret string) (providers.Provider, error)
	// Fake controls the fake server; nil for a network with no fake
	// (ManualOnly), which skips the subtests needing it.
	Fake Fake
	// Secret is the credential the fake accepts.
	Secret string
	// Logs returns everything the Env's adapters logged so far.
	Logs func() string
}

// Harness connects the suite to one adapter.
type Harness struct {
	// Setup starts a fresh fake (stopped through t.Cleanup) and returns the
	// subtest's Env. Required.
	Setup func(t *testing.T) *Env
	// Query is an offer query the fake's default inventory satisfies with at
	// least two offers of different prices; set GPUModel, GPUCount and
	// Regions so that the filters are exercised. Required unless the
	// adapter cannot list offers.
	Query providers.Query
	// Workload is what the launch subtests run. Default: DefaultWorkload(Query).
	Workload *treaty.Workload
	// UnknownID is a well-formed id the fake never issued. Default "999999999".
	UnknownID string
	// MaxAdvance bounds the Advance calls waiting for a state. Default 10.
	MaxAdvance int
	// Timeout bounds each subtest's context. Default 30 s.
	Timeout time.Duration
}

// DefaultWorkload is a small container asking for the GPU in q.
func DefaultWorkload(q providers.Query) treaty.Workload {
	w := treaty.Workload{
		Image:    "ghcr.io/aurora-federation/conformance:1",
		Cmd:      []string{"python", "-m", "http.server", "8080"},
		Env:      []treaty.EnvVar{{Name: "AURORA_JOB", Value: "conformance"}},
		CPU:      2000,
		Memory:   4096,
		Disk:     10240,
		Duration: 3600,
		Ports:    []int64{8080},
	}
	if q.GPUModel != "" {
		n := max(q.GPUCount, 1)
		w.GPU = &treaty.GPU{Model: q.GPUModel, Count: n, MinVRAM: q.MinVRAMMiB}
	}
	return w
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Setup == nil {
		t.Fatal("providertest: Harness.Setup is required")
	}
	if h.UnknownID == "" {
		h.UnknownID = "999999999"
	}
	if h.MaxAdvance <= 0 {
		h.MaxAdvance = 10
	}
	if h.Timeout <= 0 {
		h.Timeout = 30 * time.Second
	}
	if h.Workload == nil {
		w := DefaultWorkload(h.Query)
		h.Workload = &w
	}
	s := &suite{h: h}
	// Capabilities decide which subtests apply; read them once.
	caps := s.setup(t).Provider.Capabilities()

	t.Run("Identity", s.identity)
	if caps.ManualOnly || !caps.Offers {
		t.Run("OffersNotSupported", s.offersNotSupported)
	} else {
		t.Run("Offers", s.offers)
		t.Run("OffersPriceCap", s.offersPriceCap)
		t.Run("OffersNoMatch", s.offersNoMatch)
	}
	if caps.ManualOnly || !caps.Launch {
		t.Run("LaunchNotSupported", s.launchNotSupported)
	} else {
		t.Run("Lifecycle", s.lifecycle)
		t.Run("LaunchOverCap", s.launchOverCap)
		t.Run("IdempotentRelaunch", s.idempotentRelaunch)
		t.Run("LostLaunchResponse", s.lostLaunchResponse)
		t.Run("LaunchFailure", s.launchFailure)
		s.runFeatures(t, caps)
	}
	if !caps.ManualOnly {
		t.Run("RateLimit", s.rateLimit)
		t.Run("Auth", s.auth)
		t.Run("NotFound", s.notFound)
		t.Run("MalformedID", s.malformedID)
	}
	t.Run("ContextCanceled", s.contextCanceled)
	t.Run("ContextDeadline", s.contextDeadline)
	t.Run("NoSecretsInLogs", s.noSecrets)
	t.Run("Concurrent", s.concurrent)
}

type suite struct{ h Harness }

func (s *suite) setup(t *testing.T) *Env {
	t.Helper()
	env := s.h.Setup(t)
	if env == nil || env.Provider == nil {
		t.Fatal("providertest: Setup returned no provider")
	}
	if env.Logs == nil {
		env.Logs = func() string { return "" }
	}
	return env
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) needFake(t *testing.T, env *Env) Fake {
	t.Helper()
	if env.Fake == nil {
		t.Skip("no fake server")
	}
	return env.Fake
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

func (s *suite) identity(t *testing.T) {
	p := s.setup(t).Provider
	if !nameRE.MatchString(p.Name()) {
		t.Errorf("Name() = %q, want a lowercase word", p.Name())
	}
	caps := p.Capabilities()
	if slices.Contains(caps.Regions, "") {
		t.Errorf("Capabilities().Regions = %q contains an empty region", caps.Regions)
	}
	if caps.ManualOnly && caps.Launch {
		t.Errorf("Capabilities() says both ManualOnly and Launch")
	}
}

// offersOf calls Offers and treats ErrNoCapacity/ErrOverPrice as no offers.
func offersOf(ctx context.Context, t *testing.T, p providers.Provider, q providers.Query) []providers.Offer {
	t.Helper()
	offers, err := p.Offers(ctx, q)
	if errors.Is(err, providers.ErrNoCapacity) || errors.Is(err, providers.ErrOverPrice) {
		return nil
	}
	if err != nil {
		t.Fatalf("Offers(%+v): %v", q, err)
	}
	return offers
}

// checkOffer reports how o violates q.
func checkOffer(p providers.Provider, q providers.Query, o providers.Offer) []string {
	var bad []string
	if o.Provider != p.Name() {
		bad = append(bad, fmt.Sprintf("Provider = %q, want %q", o.Provider, p.Name()))
	}
	if o.ID == "" {
		bad = append(bad, "empty ID")
	}
	if q.GPUModel != "" && !providers.SameGPUModel(q.GPUModel, o.GPUModel) {
		bad = append(bad, fmt.Sprintf("GPUModel = %q, want %q", o.GPUModel, q.GPUModel))
	}
	if q.GPUCount > 0 && o.GPUCount < q.GPUCount {
		bad = append(bad, fmt.Sprintf("GPUCount = %d, want >= %d", o.GPUCount, q.GPUCount))
	}
	if q.MinVRAMMiB > 0 && o.VRAMMiB > 0 && o.VRAMMiB < q.MinVRAMMiB {
		bad = append(bad, fmt.Sprintf("VRAMMiB = %d, want >= %d", o.VRAMMiB, q.MinVRAMMiB))
	}
	if len(q.Regions) > 0 && !slices.ContainsFunc(q.Regions, func(r string) bool { return strings.EqualFold(r, o.Region) }) {
		bad = append(bad, fmt.Sprintf("Region = %q, want one of %q", o.Region, q.Regions))
	}
	if o.PricePerHour <= 0 {
		bad = append(bad, fmt.Sprintf("PricePerHour = %d, want > 0", o.PricePerHour))
	}
	if q.MaxPricePerHour > 0 && o.PricePerHour > q.MaxPricePerHour {
		bad = append(bad, fmt.Sprintf("PricePerHour = %v above cap %v", o.PricePerHour, q.MaxPricePerHour))
	}
	if o.Raw.Amount == "" || o.Raw.Unit == "" {
		bad = append(bad, fmt.Sprintf("Raw = %+v, want amount and unit", o.Raw))
	}
	return bad
}

func (s *suite) offers(t *testing.T) {
	env := s.setup(t)
	ctx := s.ctx(t)
	q := s.h.Query
	offers := offersOf(ctx, t, env.Provider, q)
	if len(offers) == 0 {
		t.Fatalf("Offers(%+v) = none; the harness query must match the fake's inventory", q)
	}
	for _, o := range offers {
		if bad := checkOffer(env.Provider, q, o); len(bad) > 0 {
			t.Errorf("offer %+v: %s", o, strings.Join(bad, "; "))
		}
	}
	// Without the other filters there is at least as much of the model on
	// offer. (A query without a GPU model asks for no GPU, which a network
	// may answer with CPU-only capacity instead.)
	loose := providers.Query{GPUModel: q.GPUModel}
	all := offersOf(ctx, t, env.Provider, loose)
	if len(all) < len(offers) {
		t.Errorf("Offers(%+v) = %d offers, fewer than the %d of the stricter query", loose, len(all), len(offers))
	}
}

func (s *suite) offersPriceCap(t *testing.T) {
	env := s.setup(t)
	ctx := s.ctx(t)
	q := s.h.Query
	q.MaxPricePerHour = 0
	offers := offersOf(ctx, t, env.Provider, q)
	prices := make([]providers.Money, 0, len(offers))
	for _, o := range offers {
		prices = append(prices, o.PricePerHour)
	}
	slices.Sort(prices)
	prices = slices.Compact(prices)
	if len(prices) < 2 {
		t.Fatalf("Offers(%+v) has %d distinct prices; the harness query needs at least 2", q, len(prices))
	}
	// A cap between the cheapest and the dearest keeps some and drops some.
	q.MaxPricePerHour = prices[0]
	capped := offersOf(ctx, t, env.Provider, q)
	if len(capped) == 0 {
		t.Errorf("Offers with cap %v (the cheapest price) = none, want the cheapest offer", q.MaxPricePerHour)
	}
	if len(capped) >= len(offers) {
		t.Errorf("Offers with cap %v = %d offers, want fewer than the %d uncapped", q.MaxPricePerHour, len(capped), len(offers))
	}
	for _, o := range capped {
		if o.PricePerHour > q.MaxPricePerHour {
			t.Errorf("offer %s at %v is above the cap %v", o.ID, o.PricePerHour, q.MaxPricePerHour)
		}
	}
	q.MaxPricePerHour = 1 // one micro-dollar per hour
	if got := offersOf(ctx, t, env.Provider, q); len(got) != 0 {
		t.Errorf("Offers with cap 1µ$/h = %d offers, want none", len(got))
	}
}

func (s *suite) offersNoMatch(t *testing.T) {
	env := s.setup(t)
	ctx := s.ctx(t)
	tests := []struct {
		name string
		edit func(*providers.Query)
	}{
		{"unknown GPU", func(q *providers.Query) { q.GPUModel = "Imaginary X9000" }},
		{"unknown region", func(q *providers.Query) { q.Regions = []string{"zz-nowhere-9"} }},
		{"too many GPUs", func(q *providers.Query) { q.GPUCount = 4096 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := s.h.Query
			tt.edit(&q)
			if tt.name == "too many GPUs" && q.GPUModel == "" {
				t.Skip("query has no GPU")
			}
			if got := offersOf(ctx, t, env.Provider, q); len(got) != 0 {
				t.Errorf("Offers(%+v) = %d offers (first %+v), want none", q, len(got), got[0])
			}
		})
	}
}

// pickOffer returns an offer for the harness query, or a bare one built from
// the query when the adapter cannot list offers.
func (s *suite) pickOffer(ctx context.Context, t *testing.T, p providers.Provider) providers.Offer {
	t.Helper()
	if !p.Capabilities().Offers {
		return providers.Offer{Provider: p.Name(), GPUModel: s.h.Query.GPUModel, GPUCount: s.h.Query.GPUCount}
	}
	offers := offersOf(ctx, t, p, s.h.Query)
	if len(offers) == 0 {
		t.Fatalf("no offer for %+v to launch on", s.h.Query)
	}
	return offers[0]
}

func (s *suite) spec(ctx context.Context, t *testing.T, p providers.Provider, job string) providers.LaunchSpec {
	t.Helper()
	jobID := "conformance/" + t.Name() + "/" + job
	return providers.LaunchSpec{
		JobID:          jobID,
		IdempotencyKey: providers.IdempotencyKey(jobID),
		Offer:          s.pickOffer(ctx, t, p),
		Workload:       *s.h.Workload,
	}
}

func checkLease(t *testing.T, p providers.Provider, l providers.Lease) {
	t.Helper()
	if l.ID == "" {
		t.Errorf("lease has an empty ID: %+v", l)
	}
	if l.Provider != p.Name() {
		t.Errorf("lease Provider = %q, want %q", l.Provider, p.Name())
	}
	if l.State.Terminal() {
		t.Errorf("fresh lease is in terminal state %q", l.State)
	}
}

var stateRank = map[providers.State]int{
	providers.StatePending:   0,
	providers.StateLaunching: 1,
	providers.StateRunning:   2,
}

// waitState advances the fake until Status(id) reports want (or, if
// allowNotFound, ErrNotFound), checking that states only move forward.
func (s *suite) waitState(ctx context.Context, t *testing.T, env *Env, id string, want providers.State, allowNotFound bool) {
	t.Helper()
	last := -1
	var trail []providers.State
	for i := 0; i <= s.h.MaxAdvance; i++ {
		st, err := env.Provider.Status(ctx, id)
		if allowNotFound && errors.Is(err, providers.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("Status(%s) after %d advances: %v (states so far %v)", id, i, err, trail)
		}
		if st.ID != "" && st.ID != id {
			t.Errorf("Status(%s).ID = %q", id, st.ID)
		}
		trail = append(trail, st.State)
		if st.State == want {
			return
		}
		if want == providers.StateRunning {
			r, ok := stateRank[st.State]
			if !ok {
				t.Fatalf("Status(%s) = %q on the way to running (states %v)", id, st.State, trail)
			}
			if r < last {
				t.Fatalf("state went backwards: %v", trail)
			}
			last = r
		}
		env.Fake.Advance()
	}
	t.Fatalf("Status(%s) never reached %q in %d advances: %v", id, want, s.h.MaxAdvance, trail)
}

func (s *suite) lifecycle(t *testing.T) {
	env := s.setup(t)
	fake := s.needFake(t, env)
	ctx := s.ctx(t)
	p := env.Provider
	spec := s.spec(ctx, t, p, "job")
	lease, err := p.Launch(ctx, spec)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	checkLease(t, p, lease)
	if n := fake.Workloads(); n != 1 {
		t.Errorf("fake has %d workloads after Launch, want 1", n)
	}
	first, err := p.Status(ctx, lease.ID)
	if err != nil {
		t.Fatalf("Status after Launch: %v", err)
	}
	if first.State != providers.StatePending && first.State != providers.StateLaunching {
		t.Errorf("Status before any Advance = %q, want pending or launching", first.State)
	}
	s.waitState(ctx, t, env, lease.ID, providers.StateRunning, false)

	if err := p.Terminate(ctx, lease.ID); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	s.waitState(ctx, t, env, lease.ID, providers.StateTerminated, true)
	if n := fake.Workloads(); n != 0 {
		t.Errorf("fake has %d live workloads after Terminate, want 0", n)
	}
	if err := p.Terminate(ctx, lease.ID); err != nil && !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("second Terminate = %v, want nil or ErrNotFound", err)
	}
}

func (s *suite) launchOverCap(t *testing.T) {
	env := s.setup(t)
	fake := s.needFake(t, env)
	ctx := s.ctx(t)
	spec := s.spec(ctx, t, env.Provider, "job")
	if spec.Offer.PricePerHour < 2 {
		t.Skip("offer has no price to undercut")
	}
	spec.MaxPricePerHour = spec.Offer.PricePerHour / 2
	if spec.Offer.PricePerHour/2 > 1000 {
		spec.MaxPricePerHour = 1000 // 0.1 cent per hour: below every seeded price
	}
	_, err := env.Provider.Launch(ctx, spec)
	if !errors.Is(err, providers.ErrOverPrice) && !errors.Is(err, providers.ErrNoCapacity) {
		t.Errorf("Launch with cap %v under offer price %v = %v, want ErrOverPrice or ErrNoCapacity", spec.MaxPricePerHour, spec.Offer.PricePerHour, err)
	}
	if n := fake.Workloads(); n != 0 {
		t.Errorf("fake has %d live workloads after an over-cap Launch, want 0", n)
	}
}

func (s *suite) idempotentRelaunch(t *testing.T) {
	env := s.setup(t)
	fake := s.needFake(t, env)
	ctx := s.ctx(t)
	if !env.Provider.Capabilities().Idempotent {
		t.Skip("adapter does not claim idempotent Launch")
	}
	spec := s.spec(ctx, t, env.Provider, "a")
	l1, err := env.Provider.Launch(ctx, spec)
	if err != nil {
		t.Fatalf("first Launch: %v", err)
	}
	l2, err := env.Provider.Launch(ctx, spec)
	if err != nil {
		t.Fatalf("second Launch, same key: %v", err)
	}
	if l2.ID != l1.ID {
		t.Errorf("same key, same adapter: lease %q then %q", l1.ID, l2.ID)
	}
	restarted, err := env.Connect(env.Secret)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	l3, err := restarted.Launch(ctx, spec)
	if err != nil {
		t.Fatalf("Launch from a restarted adapter, same key: %v", err)
	}
	if l3.ID != l1.ID {
		t.Errorf("same key, restarted adapter: lease %q then %q", l1.ID, l3.ID)
	}
	if n := fake.Workloads(); n != 1 {
		t.Errorf("fake has %d workloads after three launches with one key, want 1", n)
	}
	// Another job is another workload.
	other := s.spec(ctx, t, env.Provider, "b")
	l4, err := env.Provider.Launch(ctx, other)
	if err != nil {
		t.Fatalf("Launch of another job: %v", err)
	}
	if l4.ID == l1.ID {
		t.Errorf("different keys got the same lease %q", l4.ID)
	}
	if n := fake.Workloads(); n != 2 {
		t.Errorf("fake has %d workloads after two jobs, want 2", n)
	}
}

func (s *suite) lostLaunchResponse(t *testing.T) {
	env := s.setup(t)
	fake := s.needFake(t, env)
	loser, ok := fake.(LaunchLoser)
	if !ok {
		t.Skip("fake cannot lose launch responses")
	}
	if !env.Provider.Capabilities().Idempotent {
		t.Skip("adapter does not claim idempotent Launch")
	}
	ctx := s.ctx(t)
	spec := s.spec(ctx, t, env.Provider, "job")
	loser.LoseNextLaunch(1)
	l1, err1 := env.Provider.Launch(ctx, spec)
	restarted, err := env.Connect(env.Secret)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	l2, err := restarted.Launch(ctx, spec)
	if err != nil {
		t.Fatalf("relaunch after a lost response (first error %v): %v", err1, err)
	}
	if err1 == nil && l1.ID != l2.ID {
		t.Errorf("lease %q, relaunch gave %q", l1.ID, l2.ID)
	}
	if n := fake.Workloads(); n != 1 {
		t.Errorf("fake has %d workloads, want 1", n)
	}
}

func (s *suite) launchFailure(t *testing.T) {
	env := s.setup(t)
	fake := s.needFake(t, env)
	ctx := s.ctx(t)
	spec := s.spec(ctx, t, env.Provider, "job")
	fake.FailNextLaunch(1000)
	_, err := env.Provider.Launch(ctx, spec)
	if err == nil {
		t.Fatal("Launch succeeded while every create failed")
	}
	if errors.Is(err, providers.ErrAuth) || errors.Is(err, providers.ErrNotFound) {
		t.Errorf("Launch error %v is classified as auth/not-found", err)
	}
	if n := fake.Workloads(); n != 0 {
		t.Errorf("fake has %d workloads after failed creates, want 0", n)
	}
	fake.FailNextLaunch(1)
	_, err = env.Provider.Launch(ctx, spec)
	if err != nil { // the adapter may not retry a create; a second call must work
		if _, err := env.Provider.Launch(ctx, spec); err != nil {
			t.Fatalf("Launch after one injected failure: %v", err)
		}
	}
	if n := fake.Workloads(); n != 1 {
		t.Errorf("fake has %d workloads, want 1", n)
	}
}

func (s *suite) rateLimit(t *testing.T) {
	env := s.setup(t)
	fake := s.needFake(t, env)
	ctx := s.ctx(t)
	p := env.Provider
	call := func() error {
		if p.Capabilities().Offers {
			_, err := p.Offers(ctx, s.h.Query)
			return err
		}
		_, err := p.Status(ctx, s.h.UnknownID)
		if errors.Is(err, providers.ErrNotFound) {
			return nil
		}
		return err
	}
	fake.RateLimitNext(2)
	if err := call(); err != nil {
		t.Errorf("after two 429s: %v, want success (retries)", err)
	}
	fake.RateLimitNext(1 << 20)
	err := call()
	if !errors.Is(err, providers.ErrRateLimited) {
		t.Errorf("under persistent 429: %v, want ErrRateLimited", err)
	}
	fake.RateLimitNext(0)
	if err := call(); err != nil {
		t.Errorf("after the limit lifted: %v", err)
	}
}

const wrongSecret = "invalid-credential-for-conformance"

func (s *suite) auth(t *testing.T) {
	env := s.setup(t)
	ctx := s.ctx(t)
	if _, err := env.Connect(""); err == nil {
		t.Errorf("Connect with an empty credential succeeded, want an error")
	}
	bad, err := env.Connect(wrongSecret)
	if err != nil {
		t.Fatalf("Connect(wrong secret): %v", err)
	}
	if _, err := bad.Offers(ctx, s.h.Query); err != nil && !errors.Is(err, providers.ErrAuth) {
		t.Errorf("Offers with a wrong credential = %v, want success (public listing) or ErrAuth", err)
	}
	if _, err := bad.Status(ctx, s.h.UnknownID); !errors.Is(err, providers.ErrAuth) {
		t.Errorf("Status with a wrong credential = %v, want ErrAuth", err)
	}
	if err := bad.Terminate(ctx, s.h.UnknownID); !errors.Is(err, providers.ErrAuth) {
		t.Errorf("Terminate with a wrong credential = %v, want ErrAuth", err)
	}
	if bad.Capabilities().Launch && env.Fake != nil {
		spec := s.spec(ctx, t, env.Provider, "job")
		if _, err := bad.Launch(ctx, spec); !errors.Is(err, providers.ErrAuth) {
			t.Errorf("Launch with a wrong credential = %v, want ErrAuth", err)
		}
		if n := env.Fake.Workloads(); n != 0 {
			t.Errorf("fake has %d workloads after an unauthenticated Launch", n)
		}
	}
}

func (s *suite) notFound(t *testing.T) {
	env := s.setup(t)
	ctx := s.ctx(t)
	if _, err := env.Provider.Status(ctx, s.h.UnknownID); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("Status(%q) = %v, want ErrNotFound", s.h.UnknownID, err)
	}
	if err := env.Provider.Terminate(ctx, s.h.UnknownID); err != nil && !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("Terminate(%q) = %v, want nil or ErrNotFound", s.h.UnknownID, err)
	}
}

func (s *suite) malformedID(t *testing.T) {
	env := s.setup(t)
	ctx := s.ctx(t)
	for _, id := range []string{"", "../..", "a/b", "%2e%2e%2f", "1?x=y", "1#frag", "\x00", " ", strings.Repeat("9", 4096)} {
		if _, err := env.Provider.Status(ctx, id); err == nil {
			t.Errorf("Status(%q) succeeded, want an error", id)
		}
		if err := env.Provider.Terminate(ctx, id); err == nil && id == "" {
			t.Errorf("Terminate(%q) succeeded, want an error", id)
		}
	}
	if env.Fake != nil && env.Fake.Workloads() != 0 {
		t.Errorf("fake has workloads after malformed-id calls")
	}
}

func (s *suite) contextCanceled(t *testing.T) {
	env := s.setup(t)
	p := env.Provider
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(method string, err error) {
		t.Helper()
		if errors.Is(err, providers.ErrNotSupported) {
			return
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", method, err)
		}
	}
	caps := p.Capabilities()
	// A well-formed spec (a real offer, fetched with a live context), so the
	// adapter cannot fail on validation before it looks at the context.
	spec := providers.LaunchSpec{JobID: "cancelled", IdempotencyKey: providers.IdempotencyKey("cancelled"),
		Offer: providers.Offer{Provider: p.Name(), ID: "1"}, Workload: *s.h.Workload}
	if caps.Launch && !caps.ManualOnly {
		spec = s.spec(s.ctx(t), t, p, "cancelled")
	}
	_, err := p.Offers(ctx, s.h.Query)
	check("Offers", err)
	_, err = p.Launch(ctx, spec)
	check("Launch", err)
	_, err = p.Status(ctx, s.h.UnknownID)
	check("Status", err)
	check("Terminate", p.Terminate(ctx, s.h.UnknownID))
	if env.Fake != nil && env.Fake.Workloads() != 0 {
		t.Errorf("fake has workloads after a cancelled Launch")
	}
}

func (s *suite) contextDeadline(t *testing.T) {
	env := s.setup(t)
	fake := s.needFake(t, env)
	st, ok := fake.(Staller)
	if !ok {
		t.Skip("fake cannot delay responses")
	}
	const latency = time.Minute
	st.SetLatency(latency)
	t.Cleanup(func() { st.SetLatency(0) })
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	var err error
	if env.Provider.Capabilities().Offers {
		_, err = env.Provider.Offers(ctx, s.h.Query)
	} else {
		_, err = env.Provider.Status(ctx, s.h.UnknownID)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("call past its deadline = %v, want context.DeadlineExceeded", err)
	}
	// Not a performance assertion: the call must not wait out the fake's
	// one-minute latency (or retry after the deadline).
	if d := time.Since(start); d > latency/2 {
		t.Errorf("call returned %v after its 200ms deadline", d)
	}
}

func (s *suite) noSecrets(t *testing.T) {
	env := s.setup(t)
	ctx := s.ctx(t)
	p := env.Provider
	caps := p.Capabilities()
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if caps.Offers && !caps.ManualOnly {
		_, err := p.Offers(ctx, s.h.Query)
		note(err)
	}
	if caps.Launch && !caps.ManualOnly && env.Fake != nil {
		spec := s.spec(ctx, t, p, "job")
		lease, err := p.Launch(ctx, spec)
		note(err)
		if err == nil {
			env.Fake.Advance()
			_, err = p.Status(ctx, lease.ID)
			note(err)
			note(p.Terminate(ctx, lease.ID))
		}
	}
	if env.Fake != nil {
		env.Fake.RateLimitNext(1 << 20)
		_, err := p.Status(ctx, s.h.UnknownID)
		note(err)
		env.Fake.RateLimitNext(0)
	}
	_, err := p.Status(ctx, s.h.UnknownID)
	note(err)
	if env.Connect != nil && !caps.ManualOnly {
		if bad, err := env.Connect(wrongSecret); err == nil {
			_, err := bad.Status(ctx, s.h.UnknownID)
			note(err)
		}
	}
	logs := env.Logs()
	if caps.Launch && !caps.ManualOnly && strings.TrimSpace(logs) == "" {
		t.Errorf("the adapter logged nothing during a launch; the secret check needs its logs")
	}
	if strings.Contains(logs, env.Secret) {
		t.Errorf("logs contain the secret:\n%s", logs)
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), env.Secret) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), env.Secret) {
			t.Errorf("error text contains the secret: %v", err)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		if out := fmt.Sprintf(verb, p); strings.Contains(out, env.Secret) {
			t.Errorf("fmt.Sprintf(%q, provider) contains the secret", verb)
		}
	}
}

func (s *suite) concurrent(t *testing.T) {
	env := s.setup(t)
	ctx := s.ctx(t)
	p := env.Provider
	caps := p.Capabilities()
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for range 8 {
		wg.Go(func() {
			if caps.Offers && !caps.ManualOnly {
				if _, err := p.Offers(ctx, s.h.Query); err != nil {
					errc <- fmt.Errorf("concurrent offers: %w", err)
				}
			}
			if _, err := p.Status(ctx, s.h.UnknownID); err != nil && !errors.Is(err, providers.ErrNotFound) && !errors.Is(err, providers.ErrNotSupported) {
				errc <- fmt.Errorf("concurrent status: %w", err)
			}
			_ = p.Name()
			_ = p.Capabilities()
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func (s *suite) offersNotSupported(t *testing.T) {
	p := s.setup(t).Provider
	if _, err := p.Offers(s.ctx(t), s.h.Query); !errors.Is(err, providers.ErrNotSupported) {
		t.Errorf("Offers on an adapter without offers = %v, want ErrNotSupported", err)
	}
}

func (s *suite) launchNotSupported(t *testing.T) {
	env := s.setup(t)
	p := env.Provider
	ctx := s.ctx(t)
	spec := providers.LaunchSpec{JobID: "x", IdempotencyKey: providers.IdempotencyKey("x"),
		Offer: providers.Offer{Provider: p.Name(), ID: "1"}, Workload: *s.h.Workload}
	if _, err := p.Launch(ctx, spec); !errors.Is(err, providers.ErrNotSupported) {
		t.Errorf("Launch on an adapter that cannot launch = %v, want ErrNotSupported", err)
	}
	if p.Capabilities().ManualOnly {
		if _, err := p.Status(ctx, s.h.UnknownID); !errors.Is(err, providers.ErrNotSupported) && !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("Status on a manual-only adapter = %v, want ErrNotSupported or ErrNotFound", err)
		}
		if err := p.Terminate(ctx, s.h.UnknownID); !errors.Is(err, providers.ErrNotSupported) && !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("Terminate on a manual-only adapter = %v, want ErrNotSupported or ErrNotFound", err)
		}
	}
}

// LogBuffer collects log output for the NoSecretsInLogs check. Safe for
// concurrent use.
type LogBuffer struct {
	mu  sync.Mutex // protects following
	buf bytes.Buffer
}

// NewLogger returns a debug-level JSON logger writing into a new LogBuffer.
func NewLogger() (*slog.Logger, *LogBuffer) {
	b := &LogBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// Write implements io.Writer.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
