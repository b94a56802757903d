package salad_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/providers/providertest"
	"github.com/aurora-federation/aurora/providers/salad"
	"github.com/aurora-federation/aurora/providers/salad/saladtest"
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

func setup(t *testing.T, opts saladtest.Options) (*saladtest.Server, *salad.Client, *slog.Logger, *providertest.LogBuffer) {
	t.Helper()
	srv := saladtest.NewServer(opts)
	url := srv.Start()
	t.Cleanup(srv.Close)
	log, buf := providertest.NewLogger()
	c, err := newClient(url, secret, salad.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, log, buf
}

func harness(opts saladtest.Options) providertest.Harness {
	return providertest.Harness{
		Setup: func(t *testing.T) *providertest.Env {
			srv, c, log, logs := setup(t, opts)
			return &providertest.Env{
				Provider: c,
				Connect: func(key string) (providers.Provider, error) {
					return newClient(srv.URL(), key, salad.Config{Logger: log})
				},
				Fake: srv, Secret: secret, Logs: logs.String,
			}
		},
		UnknownID: "aur-doesnotexist",
		Query:     providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"us", "de"}},
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
	offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "rtx4090", Regions: []string{"GB"}})
	if err != nil {
		t.Fatal(err)
	}
	// gb has 2 free 4090s: high gets 1 (below the 1 needed? no: 2/2 = 1),
	// medium 1, low 2, batch 2.
	var got []string
	for _, o := range offers {
		got = append(got, o.ID+" "+o.Region+" "+o.Raw.Amount)
	}
	id := "00000001-5a1a-4d00-8000-000000000001"
	want := []string{id + ":batch gb 0.16", id + ":low gb 0.20", id + ":medium gb 0.25", id + ":high gb 0.30"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("offers (-want +got):\n%s", diff)
	}
	if offers[0].PricePerHour != 160_000 || offers[0].VRAMMiB != 24*1024 || offers[0].Raw.Unit != "usd/hour" {
		t.Errorf("offer %+v", offers[0])
	}
	none, err := c.Offers(t.Context(), providers.Query{GPUModel: "A100", Regions: []string{"de"}})
	if err != nil || len(none) != 0 {
		t.Errorf("A100 in de = %v, %v; want none (no availability)", none, err)
	}
}

func TestLaunchRequest(t *testing.T) {
	srv, c, _, _ := setup(t, saladtest.Options{})
	q := providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"de"}}
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
	c, err := newClient(url, secret, salad.Config{Regions: []string{"us"}})
	if err != nil {
		t.Fatal(err)
	}
	spec := providers.LaunchSpec{JobID: "r", IdempotencyKey: providers.IdempotencyKey("r"),
		Offer:    providers.Offer{ID: "00000001-5a1a-4d00-8000-000000000001:high", Region: "de"},
		Workload: providertest.DefaultWorkload(providers.Query{})}
	if _, err := c.Launch(t.Context(), spec); err == nil || srv.Workloads() != 0 {
		t.Errorf("Launch in de with regions [us] = %v, %d groups; want an error and none", err, srv.Workloads())
	}
}
