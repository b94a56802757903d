package salad_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/providers/providertest"
	"github.com/aurora-federation/aurora/providers/providertest/apispec"
	"github.com/aurora-federation/aurora/providers/salad"
	"github.com/aurora-federation/aurora/providers/salad/saladtest"
	"github.com/aurora-federation/aurora/treaty"
	"github.com/google/go-cmp/cmp"
)

const secret = saladtest.DefaultAPIKey

func newClient(url, key string, cfg salad.Config) (*salad.Client, error) {
	cfg.BaseURL = url
	if key != "" {
		cfg.Credential = providers.NewCredential(key)
	}
	if cfg.Organization == "" {
		cfg.Organization, cfg.Project = saladtest.DefaultOrganization, saladtest.DefaultProject
	}
	cfg.HTTP.Sleep = httpx.NoSleep
	return salad.New(cfg)
}

// serve starts srv behind the OpenAPI checker: a request the adapter sends
// or a response the fake returns that SaladCloud's published description
// does not allow fails t. It returns the API base URL (…/api/public).
func serve(t *testing.T, srv *saladtest.Server) string {
	t.Helper()
	spec, err := os.ReadFile("testdata/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	url, _ := apispec.Serve(t, spec, srv.Handler())
	return url + "/api/public"
}

func setup(t *testing.T, opts saladtest.Options) (*saladtest.Server, *salad.Client, *slog.Logger, *providertest.LogBuffer) {
	t.Helper()
	srv, url, c, log, buf := setupURL(t, opts)
	_ = url
	return srv, c, log, buf
}

func setupURL(t *testing.T, opts saladtest.Options) (*saladtest.Server, string, *salad.Client, *slog.Logger, *providertest.LogBuffer) {
	t.Helper()
	srv := saladtest.NewServer(opts)
	url := serve(t, srv)
	log, buf := providertest.NewLogger()
	c, err := newClient(url, secret, salad.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return srv, url, c, log, buf
}

func harness(opts saladtest.Options) providertest.Harness {
	return providertest.Harness{
		Setup: func(t *testing.T) *providertest.Env {
			srv, url, c, log, logs := setupURL(t, opts)
			return &providertest.Env{
				Provider: c,
				Connect: func(key string) (providers.Provider, error) {
					return newClient(url, key, salad.Config{Logger: log})
				},
				Fake: srv, Secret: secret, Logs: logs.String,
			}
		},
		UnknownID: "aur-doesnotexist",
		Query:     providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"us-east", "eu-central"}},
	}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, harness(saladtest.Options{}))
}

// TestConformanceHTMLErrors runs the suite with every error as an HTML page:
// classification must rest on the status, not the body.
func TestConformanceHTMLErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("second full conformance run")
	}
	providertest.Run(t, harness(saladtest.Options{HTMLErrors: true}))
}

func TestHTMLErrorPages(t *testing.T) {
	srv, c, _, _ := setup(t, saladtest.Options{HTMLErrors: true})
	_, err := c.Status(t.Context(), "aur-missing")
	if !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("Status of a missing group behind HTML errors = %v, want ErrNotFound", err)
	}
	if err == nil || !strings.Contains(err.Error(), "html: 404 Not Found") {
		t.Errorf("error %v should carry the page title as evidence", err)
	}
	// An edge 502 page on a read is retried; persistent ones surface with
	// the title and the status.
	srv.HTMLNext(2)
	if _, err := c.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090"}); err != nil {
		t.Errorf("Offers after two HTML 502s: %v", err)
	}
	srv.HTMLNext(100)
	_, err = c.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090"})
	var ae *httpx.APIError
	if !errors.As(err, &ae) || ae.Status != 502 || !strings.Contains(ae.Message, "502 Bad Gateway") {
		t.Errorf("Offers under persistent HTML 502 = %v, want an APIError 502 with the title", err)
	}
	srv.HTMLNext(0)

	// A 200 that is an HTML page is a clear decode error, not a panic.
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><title>Sign in</title></html>"))
	}))
	t.Cleanup(h.Close)
	c2, err := newClient(h.URL, "k", salad.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Status(t.Context(), "aur-x"); err == nil || !strings.Contains(err.Error(), "HTML") {
		t.Errorf("Status on an HTML 200 = %v, want an error saying the body is HTML", err)
	}
}

func TestOffers(t *testing.T) {
	_, c, _, _ := setup(t, saladtest.Options{})
	offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "rtx4090", Regions: []string{"eu-west"}})
	if err != nil {
		t.Fatal(err)
	}
	// eu-west among the default countries: gb, fr, nl; only gb has 4090s,
	// 2 free: high gets 2/2 = 1, medium 1, low 2, batch 2.
	var got []string
	for _, o := range offers {
		got = append(got, o.ID+" "+o.Region+" "+o.Country+" "+o.Raw.Amount)
	}
	id := "00000001-5a1a-4d00-8000-000000000001"
	want := []string{id + ":batch@gb eu-west gb 0.16", id + ":low@gb eu-west gb 0.20", id + ":medium@gb eu-west gb 0.25", id + ":high@gb eu-west gb 0.30"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("offers (-want +got):\n%s", diff)
	}
	if offers[0].PricePerHour != 160_000 || offers[0].VRAMMiB != 24*1024 || offers[0].Raw.Unit != "usd/hour" || offers[0].Available != 2 {
		t.Errorf("offer %+v", offers[0])
	}

	tests := []struct {
		name string
		q    providers.Query
		want []string // "<region> <country> <priority>" per offer, cheapest first
	}{
		{"A100 in us-east and eu-central", providers.Query{GPUModel: "A100", GPUCount: 1, Regions: []string{"us-east", "eu-central"}},
			[]string{"us-east us batch", "eu-central de batch", "us-east us low", "eu-central de low", "us-east us medium", "eu-central de medium", "us-east us high", "eu-central de high"}},
		{"H100 high priority, capped", providers.Query{GPUModel: "H100", MaxPricePerHour: 1_800_000},
			[]string{"us-east us batch", "eu-west gb batch", "eu-central de batch"}},
		{"two GPUs need two free", providers.Query{GPUModel: "A100", GPUCount: 2, Regions: []string{"eu-west"}},
			nil}, // a class has one GPU per replica: no two-GPU offer
		{"none in ap-south", providers.Query{GPUModel: "RTX 4090", Regions: []string{"ap-south"}}, nil},
		{"3060s in ph are not asked about by default", providers.Query{GPUModel: "RTX 3060", Regions: []string{"ap-southeast"}}, nil},
		{"a country code is no region", providers.Query{GPUModel: "RTX 4090", Regions: []string{"us", "gb"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offers, err := c.Offers(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range offers {
				_, prio, _ := strings.Cut(strings.Split(o.ID, "@")[0], ":")
				got = append(got, o.Region+" "+o.Country+" "+prio)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("offers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOffersPerCountry pins the cost of an Offers call (one availability
// request per matching class and country) and Config.Countries.
func TestOffersPerCountry(t *testing.T) {
	srv := saladtest.NewServer(saladtest.Options{})
	var (
		mu    sync.Mutex // protects asked
		asked []string
	)
	take := func() []string { // the countries asked about since the last take
		mu.Lock()
		defer mu.Unlock()
		a := asked
		asked = nil
		return a
	}
	h := srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/sce-gpu-availability") {
			var body struct {
				CountryCodes []string `json:"country_codes"`
			}
			b, _ := io.ReadAll(r.Body)
			json.Unmarshal(b, &body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			mu.Lock()
			asked = append(asked, strings.Join(body.CountryCodes, ","))
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c, err := newClient(ts.URL+"/api/public", secret, salad.Config{Countries: []string{"ph", "us", "de", "gb", "us"}})
	if err != nil {
		t.Fatal(err)
	}
	offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "RTX 3060"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ph", "us", "de", "gb"}, take()); diff != "" {
		t.Errorf("availability requests (-want +got):\n%s", diff)
	}
	var where []string
	for _, o := range offers {
		if !slices.Contains(where, o.Country+" "+o.Region) {
			where = append(where, o.Country+" "+o.Region)
		}
	}
	if diff := cmp.Diff([]string{"ph ap-southeast", "us us-east"}, where); diff != "" {
		t.Errorf("3060 offers in (-want +got):\n%s", diff)
	}
	if _, err := c.Offers(t.Context(), providers.Query{GPUModel: "H100", Regions: []string{"eu-west", "eu-central"}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"de", "gb"}, take()); diff != "" {
		t.Errorf("availability requests for Europe (-want +got):\n%s", diff)
	}
	want := []string{"ap-southeast", "eu-central", "eu-west", "us-east"}
	if diff := cmp.Diff(want, c.Capabilities().Regions); diff != "" {
		t.Errorf("Capabilities().Regions (-want +got):\n%s", diff)
	}

	def, err := newClient(ts.URL+"/api/public", secret, salad.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"ap-northeast", "ca-central", "eu-central", "eu-north", "eu-south", "eu-west", "oc-southeast", "sa-east", "us-east"}
	if diff := cmp.Diff(want, def.Capabilities().Regions); diff != "" {
		t.Errorf("default Capabilities().Regions (-want +got):\n%s", diff)
	}
	eu, err := newClient(ts.URL+"/api/public", secret, salad.Config{Regions: []string{"eu-west"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"eu-west"}, eu.Capabilities().Regions); diff != "" {
		t.Errorf("eu-west Capabilities().Regions (-want +got):\n%s", diff)
	}
	take()
	if _, err := eu.Offers(t.Context(), providers.Query{GPUModel: "A100"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"gb", "fr", "nl"}, take()); diff != "" {
		t.Errorf("availability requests restricted to eu-west (-want +got):\n%s", diff)
	}
}

func TestLaunchRequest(t *testing.T) {
	srv, c, _, _ := setup(t, saladtest.Options{})
	q := providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"eu-central"}}
	offers, err := c.Offers(t.Context(), q)
	if err != nil || len(offers) == 0 {
		t.Fatalf("offers: %v %v", offers, err)
	}
	spec := providers.LaunchSpec{JobID: "j1", IdempotencyKey: providers.IdempotencyKey("j1"), Offer: offers[len(offers)-1],
		Workload: providertest.DefaultWorkload(q)}
	lease, err := c.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := srv.Group(lease.ID)
	if !ok {
		t.Fatalf("no group %s", lease.ID)
	}
	want := saladtest.GroupView{
		Name: spec.IdempotencyKey, Image: spec.Workload.Image, Priority: "high", Status: "pending", RestartPolicy: "on_failure",
		Command: spec.Workload.Cmd, GPUClasses: []string{"00000001-5a1a-4d00-8000-000000000001"}, CountryCodes: []string{"de"},
		Env: map[string]string{"AURORA_JOB": "conformance"}, CPU: 2, Memory: 4096, Port: 8080, Replicas: 1,
	}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("group (-want +got):\n%s", diff)
	}
}

func TestStateMapping(t *testing.T) {
	tests := []struct {
		status  string
		running int64
		want    providers.State
	}{
		{"pending", 0, providers.StatePending},
		{"deploying", 0, providers.StateLaunching},
		{"running", 0, providers.StateLaunching},
		{"running", 1, providers.StateRunning},
		{"stopped", 0, providers.StateTerminated},
		{"succeeded", 0, providers.StateSucceeded},
		{"failed", 0, providers.StateFailed},
		{"new-state", 0, providers.StatePending},
	}
	for _, tt := range tests {
		if got := salad.State(tt.status, tt.running); got != tt.want {
			t.Errorf("State(%q, %d) = %q, want %q", tt.status, tt.running, got, tt.want)
		}
	}
}

func TestWrongOrganizationIsAuth(t *testing.T) {
	srv := saladtest.NewServer(saladtest.Options{})
	url := srv.Start()
	t.Cleanup(srv.Close)
	c, err := newClient(url, secret, salad.Config{Organization: "someone-else", Project: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Offers(t.Context(), providers.Query{}); !errors.Is(err, providers.ErrAuth) {
		t.Errorf("Offers in a foreign organization = %v, want ErrAuth", err)
	}
}

func TestNewRejects(t *testing.T) {
	k := providers.NewCredential("k")
	tests := []struct {
		name string
		cfg  salad.Config
	}{
		{"no credential", salad.Config{Organization: "a1", Project: "p1"}},
		{"no organization", salad.Config{Credential: k, Project: "p1"}},
		{"bad project", salad.Config{Credential: k, Organization: "a1", Project: "P 1"}},
		{"bad region", salad.Config{Credential: k, Organization: "a1", Project: "p1", Regions: []string{"usa"}}},
		{"country code as region", salad.Config{Credential: k, Organization: "a1", Project: "p1", Regions: []string{"us"}}},
		{"bad country", salad.Config{Credential: k, Organization: "a1", Project: "p1", Countries: []string{"usa"}}},
		{"upper-case country", salad.Config{Credential: k, Organization: "a1", Project: "p1", Countries: []string{"US"}}},
		{"unassigned country", salad.Config{Credential: k, Organization: "a1", Project: "p1", Countries: []string{"zz"}}},
		{"no country in the regions", salad.Config{Credential: k, Organization: "a1", Project: "p1", Regions: []string{"ap-south"}}},
		{"bad priority", salad.Config{Credential: k, Organization: "a1", Project: "p1", Priorities: []string{"urgent"}}},
		{"bad restart policy", salad.Config{Credential: k, Organization: "a1", Project: "p1", RestartPolicy: "sometimes"}},
	}
	for _, tt := range tests {
		if _, err := salad.New(tt.cfg); err == nil {
			t.Errorf("%s: New accepted the config", tt.name)
		}
	}
}

func FuzzParseResponses(f *testing.F) {
	srv := saladtest.NewServer(saladtest.Options{})
	h := srv.Handler()
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/api/public/organizations/aurora/gpu-classes", nil),
		httptest.NewRequest("POST", "/api/public/organizations/aurora/availability/sce-gpu-availability", strings.NewReader(`{"gpu_classes":["00000001-5a1a-4d00-8000-000000000001"]}`)),
		httptest.NewRequest("POST", "/api/public/organizations/aurora/projects/default/containers", strings.NewReader(`{"name":"aur-abc","container":{"image":"x","resources":{"cpu":1,"memory":1024}},"autostart_policy":true,"restart_policy":"never","replicas":1}`)),
		httptest.NewRequest("GET", "/api/public/organizations/aurora/projects/default/containers/aur-abc", nil),
		httptest.NewRequest("GET", "/api/public/organizations/aurora/projects/default/containers/nope", nil),
	} {
		req.Header.Set("Salad-Api-Key", secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		f.Add(rec.Body.Bytes())
	}
	f.Add([]byte(`<html><title>502</title></html>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		salad.ParseAll(b)
	})
}

func TestLaunchOutsideConfiguredRegions(t *testing.T) {
	srv := saladtest.NewServer(saladtest.Options{})
	url := srv.Start()
	t.Cleanup(srv.Close)
	c, err := newClient(url, secret, salad.Config{Regions: []string{"us-east"}})
	if err != nil {
		t.Fatal(err)
	}
	const class = "00000001-5a1a-4d00-8000-000000000001"
	for _, o := range []providers.Offer{
		{ID: class + ":high@de", Region: "eu-central", Country: "de"},
		{ID: class + ":high@de", Region: "us-east", Country: "us"}, // the id decides, not the fields
		{ID: class + ":high", Region: "us-east"},                   // no country: could land anywhere
		{ID: class + ":high@usa", Region: "us-east"},
		{ID: class + ":high@US", Region: "us-east"},
	} {
		spec := providers.LaunchSpec{JobID: "r", IdempotencyKey: providers.IdempotencyKey("r"), Offer: o,
			Workload: providertest.DefaultWorkload(providers.Query{})}
		if _, err := c.Launch(t.Context(), spec); err == nil || srv.Workloads() != 0 {
			t.Errorf("Launch of %s with regions [us-east] = %v, %d groups; want an error and none", o.ID, err, srv.Workloads())
		}
	}
	spec := providers.LaunchSpec{JobID: "r", IdempotencyKey: providers.IdempotencyKey("r"), Offer: providers.Offer{ID: class + ":low@us"},
		Workload: providertest.DefaultWorkload(providers.Query{})}
	lease, err := c.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := srv.Group(lease.ID); !slices.Equal(g.CountryCodes, []string{"us"}) || g.Priority != "low" {
		t.Errorf("group %+v, want country_codes [us], priority low", g)
	}
}

// TestDefaultInventoryCoversRegions: the default fake rents each of A100,
// H100 and RTX 4090 in Europe (eu-west or eu-central) and in us-east, so
// orders for those regions can be routed here on a testnet.
func TestDefaultInventoryCoversRegions(t *testing.T) {
	_, c, _, _ := setup(t, saladtest.Options{})
	for _, gpu := range []string{"A100", "H100", "RTX 4090"} {
		for _, regions := range [][]string{{"eu-west", "eu-central"}, {"us-east"}} {
			offers, err := c.Offers(t.Context(), providers.Query{GPUModel: gpu, GPUCount: 1, Regions: regions})
			if err != nil {
				t.Fatal(err)
			}
			if len(offers) == 0 {
				t.Errorf("no %s offer in %v", gpu, regions)
			}
			for _, o := range offers {
				if !slices.Contains(regions, o.Region) || o.Country == "" {
					t.Errorf("%s offer %s in %q (country %q), want one of %v with a country", gpu, o.ID, o.Region, o.Country, regions)
				}
			}
		}
	}
}

// fakeClock is a clock whose Sleep moves it, shared by fake and adapter.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(max(d, 0))
	c.mu.Unlock()
	return ctx.Err()
}

func launchSpec(t *testing.T, c *salad.Client, q providers.Query, w treaty.Workload, job string) providers.LaunchSpec {
	t.Helper()
	offers, err := c.Offers(t.Context(), q)
	if err != nil || len(offers) == 0 {
		t.Fatalf("Offers(%+v) = %v, %v", q, offers, err)
	}
	return providers.LaunchSpec{JobID: job, IdempotencyKey: providers.IdempotencyKey(job), Offer: offers[0], Workload: w}
}

// TestLaunchStartsNewGroup: start_time is always present (required), so a
// new group must be started because it is new, not because start_time is
// empty.
func TestLaunchStartsNewGroup(t *testing.T) {
	srv, c, _, _ := setup(t, saladtest.Options{})
	q := providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"us-east"}}
	lease, err := c.Launch(t.Context(), launchSpec(t, c, q, providertest.DefaultWorkload(q), "new-group"))
	if err != nil {
		t.Fatal(err)
	}
	if lease.State.Terminal() {
		t.Errorf("lease state %q for a new group, want pending", lease.State)
	}
	if g, _ := srv.Group(lease.ID); g.Status != "pending" {
		t.Errorf("fake group status %q, want pending (started)", g.Status)
	}
}

// TestNameConflict: SaladCloud answers a taken name with a 400
// ProblemDetails of type name_conflict; the adapter then finds the group.
func TestNameConflict(t *testing.T) {
	srv := saladtest.NewServer(saladtest.Options{})
	h := srv.Handler()
	var once sync.Once
	var conflict struct {
		status int
		typ    string
	}
	var url string
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Another creator takes the name between the adapter's lookup and
		// its create: the first lookup is answered before the group exists,
		// then the group is created.
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/containers/"+providers.IdempotencyKey("raced")) {
			first := false
			once.Do(func() { first = true })
			if first {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
				body := `{"name":"` + providers.IdempotencyKey("raced") + `","container":{"image":"x","resources":{"cpu":1,"memory":1024,"gpu_classes":[]}},"autostart_policy":false,"restart_policy":"never","replicas":1}`
				req, _ := http.NewRequest(http.MethodPost, url+"/organizations/aurora/projects/default/containers", strings.NewReader(body))
				req.Header.Set("Salad-Api-Key", secret)
				req.Header.Set("Content-Type", "application/json")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
				return
			}
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/containers") && r.Header.Get("X-Test") == "" {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code >= 400 {
				var p struct {
					Type string `json:"type"`
				}
				json.Unmarshal(rec.Body.Bytes(), &p)
				conflict.status, conflict.typ = rec.Code, p.Type
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		h.ServeHTTP(w, r)
	})
	spec, err := os.ReadFile("testdata/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := apispec.Serve(t, spec, wrapped)
	url = base + "/api/public"
	c, err := newClient(url, secret, salad.Config{})
	if err != nil {
		t.Fatal(err)
	}
	q := providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"us-east"}}
	lease, err := c.Launch(t.Context(), launchSpec(t, c, q, providertest.DefaultWorkload(q), "raced"))
	if err != nil {
		t.Fatalf("Launch after a name conflict: %v", err)
	}
	if conflict.status != http.StatusBadRequest || conflict.typ != "name_conflict" {
		t.Errorf("duplicate create answered %d %q, want 400 name_conflict", conflict.status, conflict.typ)
	}
	if n := srv.Workloads(); n != 1 || lease.ID != providers.IdempotencyKey("raced") {
		t.Errorf("fake has %d groups, lease %q", n, lease.ID)
	}
}

// TestCPUOnlyOffers: a workload without a GPU gets CPU-only capacity,
// priced per vCPU and GB, and launches a group without GPU classes.
func TestCPUOnlyOffers(t *testing.T) {
	srv, c, _, _ := setup(t, saladtest.Options{})
	q := providers.Query{CPUMillis: 2000, MemoryMiB: 4096, Regions: []string{"us-east"}}
	offers, err := c.Offers(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	want := []providers.Offer{{Provider: salad.Name, ID: "cpu:batch@us", Region: "us-east", Country: "us",
		PricePerHour: 12_000, Raw: providers.RawPrice{Amount: "0.012", Unit: "usd/hour"}, Available: 200}}
	if diff := cmp.Diff(want, offers); diff != "" {
		t.Fatalf("CPU offers (-want +got):\n%s", diff)
	}
	w := providertest.DefaultWorkload(providers.Query{})
	lease, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "cpu", IdempotencyKey: providers.IdempotencyKey("cpu"), Offer: offers[0], Workload: w})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := srv.Group(lease.ID)
	if len(g.GPUClasses) != 0 || g.Priority != "batch" {
		t.Errorf("CPU group: gpu classes %q priority %q, want none and batch", g.GPUClasses, g.Priority)
	}
}

// TestSmallDiskIsOneGiB: storage_amount below 1 GiB is invalid.
func TestSmallDiskIsOneGiB(t *testing.T) {
	_, c, _, _ := setup(t, saladtest.Options{})
	q := providers.Query{GPUModel: "RTX 4090", GPUCount: 1, DiskMiB: 100, Regions: []string{"us-east"}}
	w := providertest.DefaultWorkload(q)
	w.Disk = 100 // MiB
	spec := launchSpec(t, c, q, w, "small-disk")
	if _, err := c.Launch(t.Context(), spec); err != nil {
		t.Fatalf("Launch with a 100 MiB disk: %v", err)
	}
	body := c.CreateRequest(spec, "00000001-5a1a-4d00-8000-000000000001", "high", "us")
	res := body["container"].(map[string]any)["resources"].(map[string]any)
	if got := res["storage_amount"]; got != int64(1<<30) {
		t.Errorf("storage_amount = %v, want 1 GiB", got)
	}
}

// TestRequestsPerMinute: SaladCloud allows 240 requests a minute per key;
// the adapter keeps under it instead of running into 429s.
func TestRequestsPerMinute(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	srv := saladtest.NewServer(saladtest.Options{RequestsPerMinute: 240, Now: clk.Now})
	url := serve(t, srv)
	cfg := salad.Config{BaseURL: url, Credential: providers.NewCredential(secret),
		Organization: saladtest.DefaultOrganization, Project: saladtest.DefaultProject}
	cfg.HTTP.Now, cfg.HTTP.Sleep = clk.Now, clk.Sleep
	c, err := salad.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	for i := range 25 { // 13 requests each: 325 in all
		if _, err := c.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090"}); err != nil {
			t.Fatalf("Offers #%d: %v", i, err)
		}
	}
	if d := clk.Now().Sub(start); d < time.Minute {
		t.Errorf("325 requests took %v of fake time, want >= 1m", d)
	}
}
