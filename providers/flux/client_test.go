package flux_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/flux"
	"github.com/aurora-federation/aurora/providers/flux/fluxtest"
	"github.com/aurora-federation/aurora/treaty"
)

// otherWIF is a second throwaway key (private key 2, compressed).
const otherWIF = "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU74NMTptX4"

// recorder is a payment hook that records quotes and can fail.
type recorder struct {
	srv  *fluxtest.Server
	mu   sync.Mutex
	seen []flux.Quote
	fail error
}

func (r *recorder) pay(ctx context.Context, q flux.Quote) (string, error) {
	r.mu.Lock()
	r.seen = append(r.seen, q)
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		return "", fail
	}
	return payer(r.srv)(ctx, q)
}

func (r *recorder) quotes() []flux.Quote {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]flux.Quote(nil), r.seen...)
}

func newClient(t *testing.T, srv *fluxtest.Server, wif string, pay flux.PayFunc) *flux.Client {
	t.Helper()
	c, err := connect(srv, wif, pay, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOffersTerms(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	c := newClient(t, srv, testWIF, nil)
	q := providers.Query{CPUMillis: 500, MemoryMiB: 1000, DiskMiB: 5120, Regions: []string{"DE"}}
	offers, err := c.Offers(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(offers) != 4 {
		t.Fatalf("%d offers, want a 1, 3, 6 and 12 month term: %+v", len(offers), offers)
	}
	byID := map[string]providers.Offer{}
	for _, o := range offers {
		byID[o.ID] = o
		if o.Region != "DE" || o.GPUCount != 0 || !strings.Contains(o.Raw.Unit, "3 instances") || !strings.Contains(o.Raw.Unit, o.ID[5:]+"-block") {
			t.Errorf("offer %+v", o)
		}
	}
	// Longer terms earn discounts, so the hourly price falls with the term.
	ids := []string{"term-88000", "term-264000", "term-528000", "term-1056000"}
	for i := 1; i < len(ids); i++ {
		if a, b := byID[ids[i-1]], byID[ids[i]]; !(b.PricePerHour < a.PricePerHour) {
			t.Errorf("%s at %v is not cheaper per hour than %s at %v", ids[i], b.PricePerHour, ids[i-1], a.PricePerHour)
		}
	}
	// A duration gets one offer: the shortest term that covers it.
	q.Duration = 2 * time.Hour
	offers, err = c.Offers(t.Context(), q)
	if err != nil || len(offers) != 1 || offers[0].ID != "term-5000" {
		t.Fatalf("Offers(2h) = %+v, %v, want one term-5000 offer", offers, err)
	}
	// No GPUs on Flux.
	if offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090"}); err != nil || len(offers) != 0 {
		t.Errorf("GPU query = %+v, %v, want no offers", offers, err)
	}
}

func TestLaunchRegistersSignedSpecAndPays(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	rec := &recorder{srv: srv}
	c := newClient(t, srv, testWIF, rec.pay)
	w := treaty.Workload{Image: "ghcr.io/acme/web", Cmd: []string{"serve", "--port", "80"},
		Env: []treaty.EnvVar{{Name: "MODE", Value: "prod"}}, CPU: 1000, Memory: 2048, Disk: 4096, Duration: 3600, Ports: []int64{80}}
	spec := providers.LaunchSpec{JobID: "job-7", Workload: w, Offer: providers.Offer{Provider: "flux", ID: "term-5000", Region: "US"}}
	l, err := c.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	name := providers.IdempotencyKey("job-7")
	if l.ID != name || l.State != providers.StatePending || l.PricePerHour <= 0 {
		t.Errorf("lease = %+v", l)
	}
	qs := rec.quotes()
	if len(qs) != 1 {
		t.Fatalf("%d payments, want 1", len(qs))
	}
	q := qs[0]
	if q.Kind != "register" || q.AppName != name || len(q.Hash) != 64 || q.Address != fluxtest.DeploymentAddress ||
		q.ExpireBlocks != 5000 || q.Instances != 3 || q.USD <= 0 || q.FLUX == "" || q.Resumed {
		t.Errorf("quote = %+v", q)
	}
	st, err := c.Status(t.Context(), name)
	if err != nil || st.State != providers.StatePending {
		t.Fatalf("Status before the block = %+v, %v", st, err)
	}
	srv.Advance()
	srv.Advance()
	st, err = c.Status(t.Context(), name)
	if err != nil || st.State != providers.StateRunning || !strings.Contains(st.Message, "3/3 instances") {
		t.Fatalf("Status = %+v, %v, want 3/3 running", st, err)
	}
	// The published spec is what the adapter built.
	body := getJSON(t, srv.URL()+"/apps/appspecifications/"+name)
	for _, want := range []string{
		`"repotag":"ghcr.io/acme/web:latest"`, `"commands":["serve","--port","80"]`, `"environmentParameters":["MODE=prod"]`,
		`"containerPorts":[80]`, `"domains":[""]`, `"geolocation":["acNA_US"]`, `"cpu":1,`, `"ram":2200`, `"hdd":5`, `"expire":5000`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("published spec lacks %s:\n%s", want, body)
		}
	}
}

func TestLaunchResumesUnpaidRegistration(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	rec := &recorder{srv: srv, fail: errors.New("wallet offline")}
	c := newClient(t, srv, testWIF, rec.pay)
	spec := providers.LaunchSpec{JobID: "job-r", Workload: treaty.Workload{Image: "nginx:1.27", Duration: 3600}}
	if _, err := c.Launch(t.Context(), spec); err == nil || !strings.Contains(err.Error(), "wallet offline") {
		t.Fatalf("Launch = %v, want the hook's error", err)
	}
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	// A restarted process pays the same message rather than registering again.
	c2 := newClient(t, srv, testWIF, rec.pay)
	l, err := c2.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	qs := rec.quotes()
	if len(qs) != 2 || qs[1].Hash != qs[0].Hash || !qs[1].Resumed {
		t.Fatalf("quotes = %+v, want the same hash resumed", qs)
	}
	if n := len(srv.Payments()); n != 1 {
		t.Errorf("%d payments on chain, want 1", n)
	}
	// Launching again while the payment is unconfirmed pays nothing new.
	if _, err := c2.Launch(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Payments()); n != 1 {
		t.Errorf("%d payments on chain after a third launch, want 1", n)
	}
	srv.Advance()
	st, err := c2.Status(t.Context(), l.ID)
	if err != nil || st.State != providers.StateLaunching {
		t.Errorf("Status = %+v, %v, want launching", st, err)
	}
	if n := srv.Workloads(); n != 1 {
		t.Errorf("%d workloads", n)
	}
}

func TestTerminateWithoutPaymentHook(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	c := newClient(t, srv, testWIF, payer(srv))
	l, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "j", Workload: treaty.Workload{Image: "nginx:1.27", Duration: 3600}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Advance()
	srv.Advance()
	viewer := newClient(t, srv, testWIF, nil)
	err = viewer.Terminate(t.Context(), l.ID)
	if !errors.Is(err, providers.ErrNotSupported) || !strings.Contains(err.Error(), "on-chain payment") || !strings.Contains(err.Error(), "term ends at block") {
		t.Errorf("Terminate without Pay = %v, want ErrNotSupported explaining the payment and the term", err)
	}
	if st, err := viewer.Status(t.Context(), l.ID); err != nil || st.State != providers.StateRunning {
		t.Errorf("Status = %+v, %v, want still running", st, err)
	}
	if _, err := viewer.Launch(t.Context(), providers.LaunchSpec{JobID: "k", Workload: treaty.Workload{Image: "nginx:1.27"}}); !errors.Is(err, providers.ErrNotSupported) || !strings.Contains(err.Error(), "Config.Pay") {
		t.Errorf("Launch without Pay = %v", err)
	}
}

func TestTerminateByExpireUpdate(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	rec := &recorder{srv: srv}
	c := newClient(t, srv, testWIF, rec.pay)
	l, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "j", Workload: treaty.Workload{Image: "nginx:1.27", Duration: 3600}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Advance()
	srv.Advance()
	if err := c.Terminate(t.Context(), l.ID); err != nil {
		t.Fatal(err)
	}
	// Terminating again before the update is mined resumes, it does not pay twice.
	if err := c.Terminate(t.Context(), l.ID); err != nil {
		t.Fatal(err)
	}
	qs := rec.quotes()
	if len(qs) != 3 || qs[1].Kind != "update" || qs[1].ExpireBlocks != 1 || !qs[2].Resumed || qs[2].Hash != qs[1].Hash {
		t.Fatalf("quotes = %+v", qs)
	}
	if n := len(srv.Payments()); n != 2 {
		t.Errorf("%d payments, want register + one update", n)
	}
	srv.Advance() // update published with a one-block term
	srv.Advance() // term over: pruned
	st, err := c.Status(t.Context(), l.ID)
	if err != nil || st.State != providers.StateTerminated {
		t.Fatalf("Status = %+v, %v, want terminated", st, err)
	}
	if err := c.Terminate(t.Context(), l.ID); err != nil {
		t.Errorf("Terminate of an ended app = %v", err)
	}
}

func TestOtherOwnersAppIsNotFound(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	a := newClient(t, srv, testWIF, payer(srv))
	l, err := a.Launch(t.Context(), providers.LaunchSpec{JobID: "j", Workload: treaty.Workload{Image: "nginx:1.27", Duration: 3600}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Advance()
	b := newClient(t, srv, otherWIF, payer(srv))
	if _, err := b.Status(t.Context(), l.ID); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("Status of another owner's app = %v, want ErrNotFound", err)
	}
	if _, err := b.Launch(t.Context(), providers.LaunchSpec{JobID: "j", Workload: treaty.Workload{Image: "nginx:1.27"}}); err == nil || !strings.Contains(err.Error(), "owned by") {
		t.Errorf("Launch onto another owner's name = %v", err)
	}
}

func TestLaunchRefusals(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	c := newClient(t, srv, testWIF, payer(srv))
	tests := []struct {
		name string
		spec providers.LaunchSpec
		want error
	}{
		{"gpu", providers.LaunchSpec{JobID: "g", Workload: treaty.Workload{Image: "x:1", GPU: &treaty.GPU{Model: "A100", Count: 1}}}, providers.ErrNotSupported},
		{"over cap", providers.LaunchSpec{JobID: "c", Workload: treaty.Workload{Image: "x:1"}, MaxPricePerHour: 10}, providers.ErrOverPrice},
		{"region naming no Flux place", providers.LaunchSpec{JobID: "r", Workload: treaty.Workload{Image: "x:1"}, Offer: providers.Offer{Provider: "flux", Region: "ZZ"}}, providers.ErrNoCapacity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Launch(t.Context(), tt.spec); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if n := srv.Workloads(); n != 0 || len(srv.Payments()) != 0 {
		t.Errorf("refused launches left %d workloads, %d payments", n, len(srv.Payments()))
	}
}

func TestBadKeyFailsEveryCallWithErrAuth(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	c := newClient(t, srv, "not-a-wif", payer(srv))
	if _, err := c.Owner(); !errors.Is(err, providers.ErrAuth) || strings.Contains(err.Error(), "not-a-wif") {
		t.Errorf("Owner = %v, want ErrAuth without the secret", err)
	}
	if _, err := c.Offers(t.Context(), providers.Query{}); !errors.Is(err, providers.ErrAuth) {
		t.Errorf("Offers = %v", err)
	}
	if _, err := flux.New(flux.Config{}); err == nil {
		t.Error("New without a key succeeded")
	}
}

func TestConfiguredRegionsBecomeGeolocation(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	c, err := flux.New(flux.Config{Credential: providers.NewCredential(testWIF), BaseURL: srv.URL(), Pay: payer(srv), Regions: []string{"FR", "CA"}})
	if err != nil {
		t.Fatal(err)
	}
	offers, err := c.Offers(t.Context(), providers.Query{Duration: time.Hour})
	if err != nil || len(offers) != 2 || offers[0].Region != "FR" || offers[1].Region != "CA" {
		t.Fatalf("Offers = %+v, %v, want FR and CA", offers, err)
	}
	if offers, err := c.Offers(t.Context(), providers.Query{Regions: []string{"DE"}}); err != nil || len(offers) != 0 {
		t.Errorf("Offers(DE) = %+v, %v, want none", offers, err)
	}
	l, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "geo", Workload: treaty.Workload{Image: "nginx:1.27", Duration: 3600}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Advance()
	if body := getJSON(t, srv.URL()+"/apps/appspecifications/"+l.ID); !strings.Contains(body, `"geolocation":["acEU_FR","acNA_CA"]`) {
		t.Errorf("published spec: %s", body)
	}
}

func TestPayViaHTTPAgainstFakeWallet(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	pay, err := flux.PayViaHTTP(flux.PayHTTPConfig{URL: srv.URL() + "/__fake/pay", Credential: providers.NewCredential("wallet-token")})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv, fluxtest.DefaultWIF, pay)
	spec := providers.LaunchSpec{JobID: "via-http", Workload: treaty.Workload{Image: "nginx:1.27", Duration: 3600}}
	if _, err := c.Launch(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	// A relaunch before the block resumes the same hash; the wallet pays once.
	if _, err := c.Launch(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Payments()); n != 1 {
		t.Errorf("%d payments, want 1", n)
	}
	for _, bad := range []string{"", "ftp://x/pay", "not a url"} {
		if _, err := flux.PayViaHTTP(flux.PayHTTPConfig{URL: bad}); err == nil {
			t.Errorf("PayViaHTTP(%q) succeeded", bad)
		}
	}
	// An unknown hash is the wallet's error, not a txid.
	if _, err := pay(t.Context(), flux.Quote{Hash: strings.Repeat("0", 64)}); err == nil || !strings.Contains(err.Error(), "no temporary message") {
		t.Errorf("pay(unknown) = %v", err)
	}
}

// TestCallsOnlyFluxOSRoutes: every request the adapter makes for offers,
// launch, status and terminate is a route FluxOS declares in routes.js
// (fluxtest.Routes). GET /apps/placementlocations, which the adapter called
// on every offer query with regions, is not one: FluxOS has no node
// geography table, so regions become geolocation rules locally.
func TestCallsOnlyFluxOSRoutes(t *testing.T) {
	srv := fluxtest.NewServer(fluxtest.Options{})
	var mu sync.Mutex
	var strays []string
	h := srv.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fluxtest.IsFluxOSRoute(r.Method, r.URL.Path) && r.URL.Path != "/__fake/pay" {
			mu.Lock()
			strays = append(strays, r.Method+" "+r.URL.Path)
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	c, err := flux.New(flux.Config{Credential: providers.NewCredential(testWIF), BaseURL: hs.URL, Pay: payer(srv)})
	if err != nil {
		t.Fatal(err)
	}
	q := providers.Query{CPUMillis: 500, MemoryMiB: 1000, DiskMiB: 5120, Duration: time.Hour, Regions: []string{"DE", "acNA"}}
	offers, err := c.Offers(t.Context(), q)
	if err != nil {
		t.Fatalf("Offers: %v", err)
	}
	if len(offers) != 2 || offers[0].Region != "DE" || offers[1].Region != "acNA" {
		t.Errorf("offers %+v, want one for DE and one for acNA", offers)
	}
	l, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "routes", Offer: offers[0],
		Workload: treaty.Workload{Image: "nginx:1.27", Duration: 3600, CPU: 500, Memory: 1000, Disk: 5120}})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	srv.Advance()
	if _, err := c.Status(t.Context(), l.ID); err != nil {
		t.Errorf("Status: %v", err)
	}
	if body := getJSON(t, hs.URL+"/apps/appspecifications/"+l.ID); !strings.Contains(body, `"geolocation":["acEU_DE"]`) {
		t.Errorf("published spec: %s", body)
	}
	if err := c.Terminate(t.Context(), l.ID); err != nil {
		t.Errorf("Terminate: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(strays) > 0 {
		t.Errorf("requests to paths FluxOS does not serve: %q", strays)
	}
}
