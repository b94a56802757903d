package ionet_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/providers/ionet"
	"github.com/aurora-federation/aurora/providers/ionet/ionettest"
	"github.com/aurora-federation/aurora/treaty"
)

func newClient(t *testing.T, srv *ionettest.Server) *ionet.Client {
	t.Helper()
	c, err := connect(srv, srv.APIKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  ionet.Config
	}{
		{"no key", ionet.Config{}},
		{"bad url", ionet.Config{Credential: providers.NewCredential("k"), BaseURL: "ftp://x"}},
		{"negative hours", ionet.Config{Credential: providers.NewCredential("k"), DefaultHours: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ionet.New(tt.cfg); err == nil {
				t.Error("New succeeded")
			}
		})
	}
}

func TestOffersRoundsDurationUpToWholeHours(t *testing.T) {
	srv := start(t, ionettest.Options{})
	c := newClient(t, srv)
	tests := []struct {
		name     string
		duration time.Duration
		hours    int64
		rounded  bool
	}{
		{"none uses the default hour", 0, 1, false},
		{"exact hours", 3 * time.Hour, 3, false},
		{"90 minutes buys 2 hours", 90 * time.Minute, 2, true},
		{"one second buys an hour", time.Second, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"US"}, Duration: tt.duration})
			if err != nil {
				t.Fatal(err)
			}
			if len(offers) != 1 {
				t.Fatalf("got %d offers, want 1: %+v", len(offers), offers)
			}
			o := offers[0]
			// RTX 4090 in the US: $0.35 per GPU-hour at 100 %.
			wantTotal := 350000 * tt.hours
			if o.PricePerHour != 350000 {
				t.Errorf("PricePerHour = %v, want $0.35", o.PricePerHour)
			}
			if got := mustMicro(t, o.Raw.Amount); got != wantTotal {
				t.Errorf("Raw.Amount = %s (%d µ$), want total %d µ$ for %d hours", o.Raw.Amount, got, wantTotal, tt.hours)
			}
			if !strings.Contains(o.Raw.Unit, "usdc") || !strings.Contains(o.Raw.Unit, itoa(tt.hours)+" prepaid hours") {
				t.Errorf("Raw.Unit = %q, want usdc for %d prepaid hours", o.Raw.Unit, tt.hours)
			}
			if got := strings.Contains(o.Raw.Unit, "rounded up"); got != tt.rounded {
				t.Errorf("Raw.Unit = %q, says rounded up: %v, want %v", o.Raw.Unit, got, tt.rounded)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func mustMicro(t *testing.T, s string) int64 {
	t.Helper()
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "000000")[:6]
	var n int64
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			t.Fatalf("amount %q", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

func TestOffersFiltersAndOrders(t *testing.T) {
	srv := start(t, ionettest.Options{})
	c := newClient(t, srv)
	tests := []struct {
		name string
		q    providers.Query
		want []string // offer ids, cheapest first
	}{
		{"h100 two gpus anywhere", providers.Query{GPUModel: "H100", GPUCount: 2}, []string{"7:11:2", "7:12:2", "7:13:2"}},
		{"region filter is case-insensitive", providers.Query{GPUModel: "h100", Regions: []string{"sg"}}, []string{"7:13:1"}},
		// RTX 4090's name states no memory, so it is kept (unknown VRAM).
		{"vram from the name", providers.Query{MinVRAMMiB: 60 * 1024, Regions: []string{"DE"}}, []string{"9:12:1", "7:12:1"}},
		{"vram too small", providers.Query{GPUModel: "H100", MinVRAMMiB: 96 * 1024}, nil},
		{"out of stock hardware", providers.Query{GPUModel: "A100"}, nil},
		{"over the per-container maximum", providers.Query{GPUModel: "RTX 4090", GPUCount: 5}, nil},
		{"cap keeps cheaper", providers.Query{GPUModel: "H100", MaxPricePerHour: 2_518_500}, []string{"7:11:1", "7:12:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offers, err := c.Offers(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range offers {
				got = append(got, o.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("offer ids (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOffersAllOverCap(t *testing.T) {
	srv := start(t, ionettest.Options{})
	c := newClient(t, srv)
	_, err := c.Offers(t.Context(), providers.Query{GPUModel: "H100", MaxPricePerHour: 1000})
	if !errors.Is(err, providers.ErrOverPrice) {
		t.Errorf("err = %v, want ErrOverPrice", err)
	}
}

func TestLaunchSendsWorkload(t *testing.T) {
	srv := start(t, ionettest.Options{})
	c := newClient(t, srv)
	w := treaty.Workload{
		Image:    "ghcr.io/acme/app:1",
		Cmd:      []string{"python", "serve.py"},
		Env:      []treaty.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "two"}},
		GPU:      &treaty.GPU{Model: "RTX 4090", Count: 2},
		Duration: 5400, // 90 minutes: two prepaid hours
		Ports:    []int64{8000, 9000},
	}
	lease, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "job-1", Workload: w})
	if err != nil {
		t.Fatal(err)
	}
	deps := srv.Deployments()
	if len(deps) != 1 {
		t.Fatalf("%d deployments", len(deps))
	}
	d := deps[0]
	want := ionettest.Deployment{
		ID: lease.ID, Name: providers.IdempotencyKey("job-1"), Status: "deployment requested",
		HardwareID: 9, GPUs: 2, Replicas: 1, Hours: 2, LocationIDs: []int64{11}, PaidUSDC: "1.400000",
		Image: w.Image, Entrypoint: w.Cmd, Env: map[string]string{"A": "1", "B": "two"}, TrafficPort: 8000,
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("deployment (-want +got):\n%s", diff)
	}
	if lease.PricePerHour != 700000 || lease.State != providers.StatePending || lease.Offer.ID != "9:11:2" {
		t.Errorf("lease = %+v", lease)
	}
}

func TestLaunchRequiresKeyAndImage(t *testing.T) {
	srv := start(t, ionettest.Options{})
	c := newClient(t, srv)
	for name, spec := range map[string]providers.LaunchSpec{
		"no job":   {Workload: treaty.Workload{Image: "x:1"}},
		"no image": {JobID: "j"},
	} {
		if _, err := c.Launch(t.Context(), spec); err == nil {
			t.Errorf("%s: Launch succeeded", name)
		}
	}
	if n := len(srv.Deployments()); n != 0 {
		t.Errorf("%d deployments", n)
	}
}

func TestStatusMapping(t *testing.T) {
	tests := []struct {
		status string
		want   providers.State
		bad    bool
	}{
		{"deployment requested", providers.StatePending, false},
		{"Running", providers.StateRunning, false},
		{"RUNNING", providers.StateRunning, false},
		{"completed", providers.StateSucceeded, false},
		{"failed", providers.StateFailed, false},
		{"termination requested", providers.StateTerminated, false},
		{"TERMINATION_REQUESTED", providers.StateTerminated, false},
		{"destroyed", providers.StateTerminated, false},
		{"rebooting", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			c := hostile(t, http.StatusOK, `{"data":{"id":"d-1","status":"`+tt.status+`","created_at":"2026-11-25T10:00:00Z","started_at":"2026-11-25T10:05:00Z"}}`)
			st, err := c.Status(t.Context(), "d-1")
			if tt.bad {
				if err == nil {
					t.Fatalf("Status = %+v, want an error for an unknown status", st)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.State != tt.want || st.Message != tt.status || !st.UpdatedAt.Equal(time.Date(2026, 11, 25, 10, 5, 0, 0, time.UTC)) {
				t.Errorf("Status = %+v, want state %q", st, tt.want)
			}
		})
	}
}

// hostile returns a client of a server that always answers status, body.
func hostile(t *testing.T, status int, body string) *ionet.Client {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	c, err := ionet.New(ionet.Config{
		Credential: providers.NewCredential("k"), BaseURL: ts.URL,
		HTTP: httpx.Config{Sleep: httpx.NoSleep, MaxResponseBytes: 1 << 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHostileResponses(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr error
		wantMsg string
	}{
		{"html error page", http.StatusBadGateway, "<html><title>502 Bad Gateway</title></html>", nil, "502 Bad Gateway"},
		{"oversized body", http.StatusOK, `{"data":{"hardware":[` + strings.Repeat(`{"hardware_id":1,"hardware_name":"x"},`, 100) + `{}]}}`, nil, "too large"},
		{"not json", http.StatusOK, "ok", nil, "want JSON"},
		{"wrong type", http.StatusOK, `{"data":{"hardware":"many"}}`, nil, "decode"},
		{"entry without id", http.StatusOK, `{"data":{"hardware":[{"hardware_name":"H100"}]}}`, nil, "without id"},
		{"validation error", http.StatusUnprocessableEntity, `{"detail":[{"loc":["query","hardware_id"],"msg":"Field required","type":"missing"}]}`, nil, "Field required"},
		{"auth", http.StatusUnauthorized, `{"detail":"Invalid API key"}`, providers.ErrAuth, "Invalid API key"},
		{"rate limited", http.StatusTooManyRequests, `{"detail":"Too many requests"}`, providers.ErrRateLimited, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := hostile(t, tt.status, tt.body)
			_, err := c.Offers(t.Context(), providers.Query{})
			if err == nil {
				t.Fatal("Offers succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want it to mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestLaunchNoCapacity(t *testing.T) {
	srv := start(t, ionettest.Options{Hardware: []ionettest.Hardware{
		{ID: 9, Name: "RTX 4090", Brand: "NVIDIA", MaxGPUsPerContainer: 4, USDPerGPUHour: "0.35", Replicas: map[int64]int64{11: 1}},
	}})
	c := newClient(t, srv)
	w := treaty.Workload{Image: "x:1", Ports: []int64{8000}, GPU: &treaty.GPU{Model: "RTX 4090", Count: 1}}
	if _, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "a", Workload: w}); err != nil {
		t.Fatal(err)
	}
	// The offer is stale: its only replica is taken.
	_, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "b", Workload: w, Offer: providers.Offer{Provider: "ionet", ID: "9:11:1"}})
	if !errors.Is(err, providers.ErrNoCapacity) {
		t.Errorf("err = %v, want ErrNoCapacity", err)
	}
	// Without an offer the adapter searches and finds none.
	_, err = c.Launch(t.Context(), providers.LaunchSpec{JobID: "c", Workload: w})
	if !errors.Is(err, providers.ErrNoCapacity) {
		t.Errorf("err = %v, want ErrNoCapacity", err)
	}
}

func TestTerminateEndedDeploymentMakesNoDelete(t *testing.T) {
	srv := start(t, ionettest.Options{})
	c := newClient(t, srv)
	w := treaty.Workload{Image: "x:1", Ports: []int64{8000}, GPU: &treaty.GPU{Model: "H100", Count: 1}}
	l, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "a", Workload: w})
	if err != nil {
		t.Fatal(err)
	}
	srv.Advance()
	if !srv.Complete(l.ID) {
		t.Fatal("Complete")
	}
	if err := c.Terminate(t.Context(), l.ID); err != nil {
		t.Fatalf("Terminate of a completed deployment: %v", err)
	}
	if got := srv.Deployments()[0].Status; got != "completed" {
		t.Errorf("status = %q, want completed (no DELETE sent)", got)
	}
	st, err := c.Status(t.Context(), l.ID)
	if err != nil || st.State != providers.StateSucceeded {
		t.Errorf("Status = %+v, %v, want succeeded", st, err)
	}
}

func TestConfiguredRegionsLimitPlacement(t *testing.T) {
	srv := start(t, ionettest.Options{})
	c, err := ionet.New(ionet.Config{Credential: providers.NewCredential(srv.APIKey()), BaseURL: srv.URL(), Regions: []string{"DE"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Capabilities().Regions; len(got) != 1 || got[0] != "DE" {
		t.Errorf("Capabilities().Regions = %q", got)
	}
	tests := []struct {
		name    string
		regions []string
		want    []string
	}{
		{"no query regions: the configured ones", nil, []string{"7:12:1"}},
		{"intersection", []string{"us", "de"}, []string{"7:12:1"}},
		{"outside the configured ones", []string{"US"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "H100", Regions: tt.regions})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range offers {
				got = append(got, o.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("offers (-want +got):\n%s", diff)
			}
		})
	}
	w := treaty.Workload{Image: "x:1", Ports: []int64{8000}, GPU: &treaty.GPU{Model: "H100", Count: 1}}
	if _, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "a", Workload: w, Offer: providers.Offer{Provider: "ionet", ID: "7:11:1", Region: "US"}}); err == nil {
		t.Error("Launch outside the configured regions succeeded")
	}
	if len(srv.Deployments()) != 0 {
		t.Error("a deployment was created")
	}
}

// TestDeployBodyIsFlatWithRequiredFields: the current API takes every
// configuration field at the top level, refuses a container_config wrapper
// with extra_forbidden (io.net docs reference/caas/update-deployment-
// configuration) and requires entrypoint and traffic_port
// (reference/caas/deploy-a-container). The adapter sent the nested form and
// omitted entrypoint without a command.
func TestDeployBodyIsFlatWithRequiredFields(t *testing.T) {
	srv := start(t, ionettest.Options{})
	c := newClient(t, srv)
	// No command: the image's entrypoint, sent as an empty list.
	w := treaty.Workload{Image: "x:1", Ports: []int64{8000, 9000}, Duration: 3600, GPU: &treaty.GPU{Model: "H100", Count: 1}}
	if _, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "flat", Workload: w}); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	d := srv.Deployments()[0]
	if d.TrafficPort != 8000 || d.Entrypoint == nil || len(d.Entrypoint) != 0 || d.Image != "x:1" {
		t.Errorf("deployment %+v; want traffic_port 8000, an empty entrypoint, image x:1", d)
	}
	// Without a port there is no traffic_port to send.
	w.Ports = nil
	if _, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "noport", Workload: w}); !errors.Is(err, providers.ErrNotSupported) {
		t.Errorf("Launch without a port = %v, want ErrNotSupported", err)
	}
	if n := len(srv.Deployments()); n != 1 {
		t.Errorf("%d deployments, want 1", n)
	}
}
