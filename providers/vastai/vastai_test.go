package vastai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/providers/providertest"
	"github.com/aurora-federation/aurora/providers/providertest/apispec"
	"github.com/aurora-federation/aurora/providers/vastai"
	"github.com/aurora-federation/aurora/providers/vastai/vastaitest"
	"github.com/google/go-cmp/cmp"
)

const secret = vastaitest.DefaultAPIKey

func newClient(t *testing.T, url, key string, cfg vastai.Config) (*vastai.Client, error) {
	t.Helper()
	cfg.BaseURL = url
	if key != "" {
		cfg.Credential = providers.NewCredential(key)
	}
	cfg.HTTP.Sleep = httpx.NoSleep
	return vastai.New(cfg)
}

// spec is the contract every exchange with the fake is checked against.
func spec(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serve starts srv behind the OpenAPI checker: a request the adapter sends
// or a response the fake returns that Vast's published description does
// not allow fails t.
func serve(t *testing.T, srv *vastaitest.Server) string {
	t.Helper()
	url, _ := apispec.Serve(t, spec(t), srv.Handler())
	return url
}

func setup(t *testing.T) (*vastaitest.Server, *vastai.Client, *slog.Logger, *providertest.LogBuffer) {
	t.Helper()
	srv := vastaitest.NewServer(vastaitest.Options{})
	url := serve(t, srv)
	log, buf := providertest.NewLogger()
	c, err := newClient(t, url, secret, vastai.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, log, buf
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		Setup: func(t *testing.T) *providertest.Env {
			srv := vastaitest.NewServer(vastaitest.Options{})
			url := serve(t, srv)
			log, logs := providertest.NewLogger()
			// The suite advances the fake without moving time: ask for
			// each instance (TestStatusFromListing covers the listing).
			c, err := newClient(t, url, secret, vastai.Config{Logger: log, StatusTTL: -1})
			if err != nil {
				t.Fatal(err)
			}
			return &providertest.Env{
				Provider: c,
				Connect: func(key string) (providers.Provider, error) {
					return newClient(t, url, key, vastai.Config{Logger: log, StatusTTL: -1})
				},
				Fake:   srv,
				Secret: secret,
				Logs:   logs.String,
			}
		},
		Query: providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"us-west", "us-central"}},
	})
}

func TestSearchQueryEncoding(t *testing.T) {
	c, err := newClient(t, "http://127.0.0.1:1", "k", vastai.Config{Regions: []string{"us-west", "eu-central"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		q      providers.Query
		want   string // JSON
		wantOK bool
	}{
		{
			name:   "empty query keeps defaults and configured regions",
			q:      providers.Query{},
			want:   `{"external":{"eq":false},"geolocation":{"in":["AS","AT","CH","CZ","DE","GU","HU","LI","MP","PL","SI","SK","UM","US"]},"limit":64,"order":[["dph_total","asc"]],"reliability":{"gte":0.95},"rentable":{"eq":true},"rented":{"eq":false},"type":"on-demand","verified":{"eq":true}}`,
			wantOK: true,
		},
		{
			name: "full query",
			q: providers.Query{GPUModel: "NVIDIA A100", GPUCount: 2, MinVRAMMiB: 40960, CPUMillis: 8000, MemoryMiB: 65536,
				DiskMiB: 51200, Regions: []string{"eu-central", "eu-west", "europe", "DE"}, MaxPricePerHour: 2_500_000},
			want:   `{"allocated_storage":50,"cpu_cores_effective":{"gte":8},"cpu_ram":{"gte":65536},"disk_space":{"gte":50},"dph_total":{"lte":2.5},"external":{"eq":false},"geolocation":{"in":["AT","CH","CZ","DE","HU","LI","PL","SI","SK"]},"gpu_name":{"in":["A100 SXM4","A100 PCIE","A100X"]},"gpu_ram":{"gte":40960},"limit":64,"num_gpus":{"eq":2},"order":[["dph_total","asc"]],"reliability":{"gte":0.95},"rentable":{"eq":true},"rented":{"eq":false},"type":"on-demand","verified":{"eq":true}}`,
			wantOK: true,
		},
		{
			name:   "unknown model searched as given",
			q:      providers.Query{GPUModel: "MI300X"},
			want:   `{"external":{"eq":false},"geolocation":{"in":["AS","AT","CH","CZ","DE","GU","HU","LI","MP","PL","SI","SK","UM","US"]},"gpu_name":{"eq":"MI300X"},"limit":64,"order":[["dph_total","asc"]],"reliability":{"gte":0.95},"rentable":{"eq":true},"rented":{"eq":false},"type":"on-demand","verified":{"eq":true}}`,
			wantOK: true,
		},
		{
			name: "region outside configured ones",
			q:    providers.Query{Regions: []string{"ap-northeast"}},
		},
		{
			name: "country codes are not regions",
			q:    providers.Query{Regions: []string{"US", "DE"}},
		},
		{
			name: "region that is not an Aurora region",
			q:    providers.Query{Regions: []string{"us-east-1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, ok := c.SearchQuery(tt.q)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			got, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOffersAgainstFake(t *testing.T) {
	_, c, _, _ := setup(t)
	tests := []struct {
		name    string
		q       providers.Query
		wantIDs []string
	}{
		{"4090 in the US regions, cheapest first", providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"us-east", "us-central", "us-west"}}, []string{"7001001", "7001002", "7001006"}},
		{"4090 in us-west: California, not Texas or Virginia", providers.Query{GPUModel: "RTX 4090", Regions: []string{"us-west"}}, []string{"7001001"}},
		{"4090 in us-east", providers.Query{GPUModel: "RTX 4090", Regions: []string{"us-east"}}, []string{"7001006"}},
		{"4090 in Europe", providers.Query{GPUModel: "RTX 4090", Regions: []string{"eu-west", "eu-central"}}, []string{"7001005", "7001004"}},
		{"4090 under 0.40 anywhere", providers.Query{GPUModel: "rtx4090", GPUCount: 1, MaxPricePerHour: 400_000}, []string{"7001005", "7001003", "7001001", "7001007"}},
		{"A100 family", providers.Query{GPUModel: "A100", GPUCount: 1}, []string{"7002002", "7002005", "7002004", "7002001"}},
		{"A100 with 80 GB", providers.Query{GPUModel: "A100", GPUCount: 1, MinVRAMMiB: 80000}, []string{"7002005", "7002004", "7002001"}},
		{"A100 in us-east: New Jersey", providers.Query{GPUModel: "A100", GPUCount: 1, Regions: []string{"us-east"}}, []string{"7002004"}},
		{"H100 in eu-central", providers.Query{GPUModel: "H100", Regions: []string{"eu-central"}}, []string{"7003003"}},
		{"8x H100", providers.Query{GPUModel: "H100", GPUCount: 8}, []string{"7003002"}},
		{"none in af-south", providers.Query{GPUModel: "RTX 4090", Regions: []string{"af-south"}}, nil},
		{"a country code is no region", providers.Query{GPUModel: "RTX 4090", Regions: []string{"US"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offers, err := c.Offers(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, o := range offers {
				ids = append(ids, o.ID)
			}
			if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
				t.Errorf("offer ids (-want +got):\n%s", diff)
			}
		})
	}
	offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090", Regions: []string{"eu-west"}})
	if err != nil || len(offers) != 1 {
		t.Fatalf("Offers eu-west = %v, %v", offers, err)
	}
	want := providers.Offer{Provider: "vastai", ID: "7001005", GPUModel: "RTX 4090", GPUCount: 1, VRAMMiB: 24564, Region: "eu-west",
		PricePerHour: 290_000, Raw: providers.RawPrice{Amount: "0.29", Unit: "usd/hour"}, Available: 1, Country: "NL"}
	if diff := cmp.Diff(want, offers[0]); diff != "" {
		t.Errorf("offer (-want +got):\n%s", diff)
	}
}

func TestLocate(t *testing.T) {
	tests := []struct {
		geo, region, country string
	}{
		{"Texas, US", "us-central", "US"},
		{"Dallas, Texas, US", "us-central", "US"},
		{"Washington, US", "us-west", "US"},
		{"Washington, DC, US", "us-east", "US"},
		{"Newark, New Jersey, US", "us-east", "US"},
		{"California,US", "us-west", "US"},
		{"US", "us-east", "US"},
		{"Hesse, DE", "eu-central", "DE"},
		{"North Holland, NL", "eu-west", "NL"},
		{"Quebec, CA", "ca-central", "CA"},
		{"Tokyo, JP", "ap-northeast", "JP"},
		{"Stockholm, se", "eu-north", "se"},
		{"Texas, DE", "eu-central", "DE"},
		{"Atlantis, ZZ", "", ""},
		{"Germany", "", ""},
		{"", "", ""},
		{",", "", ""},
	}
	for _, tt := range tests {
		region, country := vastai.Locate(tt.geo)
		if region != tt.region || country != tt.country {
			t.Errorf("Locate(%q) = %q, %q; want %q, %q", tt.geo, region, country, tt.region, tt.country)
		}
	}
}

func TestCapabilitiesRegions(t *testing.T) {
	_, c, _, _ := setup(t)
	if got := c.Capabilities().Regions; len(got) != 0 {
		t.Errorf("unrestricted Regions before any search = %q, want none", got)
	}
	if _, err := c.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090", GPUCount: 1}); err != nil {
		t.Fatal(err)
	}
	// Vast listed the single-GPU 4090 asks: not the 2× one in Bavaria.
	want := []string{"ap-northeast", "ca-central", "eu-west", "us-central", "us-east", "us-west"}
	if diff := cmp.Diff(want, c.Capabilities().Regions); diff != "" {
		t.Errorf("Regions after a search (-want +got):\n%s", diff)
	}
	if _, err := c.Offers(t.Context(), providers.Query{GPUModel: "A100", MaxPricePerHour: 800_000}); err != nil {
		t.Fatal(err)
	}
	want = []string{"ap-northeast", "ca-central", "eu-central", "eu-west", "us-central", "us-east", "us-west"}
	if diff := cmp.Diff(want, c.Capabilities().Regions); diff != "" {
		t.Errorf("Regions after a second search, the union (-want +got):\n%s", diff)
	}

	r, err := newClient(t, "http://127.0.0.1:1", "k", vastai.Config{Regions: []string{"us-west", "eu-central", "us-west"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"eu-central", "us-west"}, r.Capabilities().Regions); diff != "" {
		t.Errorf("configured Regions (-want +got):\n%s", diff)
	}
}

func TestLaunchOutsideConfiguredRegions(t *testing.T) {
	srv := vastaitest.NewServer(vastaitest.Options{})
	url := serve(t, srv)
	c, err := newClient(t, url, secret, vastai.Config{Regions: []string{"eu-west"}})
	if err != nil {
		t.Fatal(err)
	}
	offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090"})
	if err != nil || len(offers) != 1 || offers[0].Region != "eu-west" {
		t.Fatalf("Offers restricted to eu-west = %+v, %v; want the NL ask", offers, err)
	}
	for _, o := range []providers.Offer{
		{ID: "7001004", Region: "eu-central", Country: "DE", PricePerHour: 740_000},
		{ID: "7001005", PricePerHour: 290_000}, // place unknown: cannot be shown inside eu-west
	} {
		spec := providers.LaunchSpec{JobID: "r" + o.ID, IdempotencyKey: providers.IdempotencyKey("r" + o.ID), Offer: o,
			Workload: providertest.DefaultWorkload(providers.Query{})}
		if _, err := c.Launch(t.Context(), spec); err == nil || srv.Workloads() != 0 {
			t.Errorf("Launch of %+v with regions [eu-west] = %v, %d instances; want an error and none", o, err, srv.Workloads())
		}
	}
	spec := providers.LaunchSpec{JobID: "ok", IdempotencyKey: providers.IdempotencyKey("ok"), Offer: offers[0],
		Workload: providertest.DefaultWorkload(providers.Query{})}
	if _, err := c.Launch(t.Context(), spec); err != nil {
		t.Errorf("Launch in eu-west: %v", err)
	}
}

func TestRentRequestBody(t *testing.T) {
	srv, c, _, _ := setup(t)
	spec := providers.LaunchSpec{
		JobID: "job-1", IdempotencyKey: providers.IdempotencyKey("job-1"),
		Offer:    providers.Offer{Provider: "vastai", ID: "7001001", PricePerHour: 350_000},
		Workload: providertest.DefaultWorkload(providers.Query{GPUModel: "RTX 4090", GPUCount: 1}),
	}
	lease, err := c.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	ins := srv.Instances()
	if len(ins) != 1 || lease.ID != "21000001" {
		t.Fatalf("instances %+v, lease %+v", ins, lease)
	}
	in := ins[0]
	if in.Label == nil || *in.Label != spec.IdempotencyKey {
		t.Errorf("label = %v, want the idempotency key", in.Label)
	}
	wantEnv := map[string]string{"AURORA_JOB": "conformance", "-p 8080:8080": "1"}
	if diff := cmp.Diff(wantEnv, in.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(spec.Workload.Cmd, in.ImageArgs); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if in.DiskSpace != 10 || in.ImageUUID != spec.Workload.Image {
		t.Errorf("disk %v image %q", in.DiskSpace, in.ImageUUID)
	}
	// The ask is taken now: a different job renting it gets no capacity.
	other := spec
	other.JobID, other.IdempotencyKey = "job-2", providers.IdempotencyKey("job-2")
	if _, err := c.Launch(t.Context(), other); !errors.Is(err, providers.ErrNoCapacity) {
		t.Errorf("renting a taken ask = %v, want ErrNoCapacity", err)
	}
	other.Offer.ID = "123"
	if _, err := c.Launch(t.Context(), other); !errors.Is(err, providers.ErrNoCapacity) {
		t.Errorf("renting an unknown ask = %v, want ErrNoCapacity", err)
	}
}

func TestStateMapping(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		actual   *string
		intended string
		want     providers.State
	}{
		{nil, "running", providers.StatePending},
		{s(""), "running", providers.StatePending},
		{s("loading"), "running", providers.StateLaunching},
		{s("running"), "running", providers.StateRunning},
		{s("running"), "stopped", providers.StateTerminated},
		{s("exited"), "running", providers.StateFailed},
		{s("exited"), "stopped", providers.StateTerminated},
		{s("offline"), "running", providers.StateFailed},
		{s("unknown"), "running", providers.StateFailed},
		{nil, "stopped", providers.StateTerminated},
		{s("something-new"), "running", providers.StateLaunching},
	}
	for _, tt := range tests {
		if got := vastai.State(tt.actual, tt.intended); got != tt.want {
			a := "<nil>"
			if tt.actual != nil {
				a = *tt.actual
			}
			t.Errorf("State(%q, %q) = %q, want %q", a, tt.intended, got, tt.want)
		}
	}
}

func TestStatusFailedInstance(t *testing.T) {
	srv, c, _, _ := setup(t)
	spec := providers.LaunchSpec{JobID: "j", IdempotencyKey: providers.IdempotencyKey("j"),
		Offer: providers.Offer{ID: "7004001", PricePerHour: 180_000}, Workload: providertest.DefaultWorkload(providers.Query{})}
	lease, err := c.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if !srv.SetStatus(21000001, "offline") {
		t.Fatal("no instance")
	}
	st, err := c.Status(t.Context(), lease.ID)
	if err != nil || st.State != providers.StateFailed {
		t.Errorf("Status = %+v, %v; want failed", st, err)
	}
}

func TestQuirkyErrorShapes(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		ctype   string
		body    string
		call    func(context.Context, *vastai.Client) error
		wantErr error
	}{
		{"invalid key on bundles is a 404", 404, "application/json", `{"error":"auth_error","msg":"Invalid user key"}`,
			func(ctx context.Context, c *vastai.Client) error {
				_, err := c.Offers(ctx, providers.Query{})
				return err
			}, providers.ErrAuth},
		{"plain-text 429", 429, "text/plain", "API requests too frequent",
			func(ctx context.Context, c *vastai.Client) error { _, err := c.Status(ctx, "5"); return err }, providers.ErrRateLimited},
		{"detail 429", 429, "application/json", `{"detail":"API requests too frequent endpoint threshold=4.5"}`,
			func(ctx context.Context, c *vastai.Client) error { return c.Terminate(ctx, "5") }, providers.ErrRateLimited},
		{"404 on status", 404, "application/json", `{"success":false,"error":"not_found","msg":"Instance not found"}`,
			func(ctx context.Context, c *vastai.Client) error { _, err := c.Status(ctx, "5"); return err }, providers.ErrNotFound},
		{"html 200 on search", 200, "text/html", `<html><title>Maintenance</title></html>`,
			func(ctx context.Context, c *vastai.Client) error {
				_, err := c.Offers(ctx, providers.Query{})
				return err
			}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			c, err := newClient(t, srv.URL, "k", vastai.Config{})
			if err != nil {
				t.Fatal(err)
			}
			err = tt.call(t.Context(), c)
			if err == nil {
				t.Fatal("call succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !strings.Contains(err.Error(), "HTML") {
				t.Errorf("err = %v, want it to say the body was HTML", err)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  vastai.Config
	}{
		{"no credential", vastai.Config{}},
		{"country code as region", vastai.Config{Credential: providers.NewCredential("k"), Regions: []string{"US"}}},
		{"cloud region", vastai.Config{Credential: providers.NewCredential("k"), Regions: []string{"us-east-1"}}},
		{"bad type", vastai.Config{Credential: providers.NewCredential("k"), OfferType: "spot"}},
		{"bad url", vastai.Config{Credential: providers.NewCredential("k"), BaseURL: "console.vast.ai"}},
	}
	for _, tt := range tests {
		if _, err := vastai.New(tt.cfg); err == nil {
			t.Errorf("%s: New accepted %+v", tt.name, tt.cfg)
		}
	}
}

func FuzzParseResponses(f *testing.F) {
	srv := vastaitest.NewServer(vastaitest.Options{})
	h := srv.Handler()
	for _, req := range []*http.Request{
		httptest.NewRequest("POST", "/api/v0/bundles/", strings.NewReader(`{"gpu_name":{"eq":"RTX 4090"}}`)),
		httptest.NewRequest("GET", "/api/v0/instances/", nil),
	} {
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		f.Add(rec.Body.Bytes())
	}
	f.Add([]byte(`{"instances":{"id":1,"actual_status":null,"intended_status":"running","label":"aur-x"}}`))
	f.Add([]byte(`{"instances":null}`))
	f.Add([]byte(`{"offers":[{"id":1,"dph_total":1e-05,"gpu_ram":"x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		vastai.ParseAll(b)
	})
}

// TestDefaultInventoryCoversRegions: the default fake rents each of A100,
// H100 and RTX 4090 in Europe (eu-west or eu-central) and in us-east, so
// orders for those regions can be routed here on a testnet.
func TestDefaultInventoryCoversRegions(t *testing.T) {
	_, c, _, _ := setup(t)
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

// fakeClock is a clock whose Sleep moves it; the fake and the adapter share
// it, so rate limits are tested without waiting.
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

func TestVanishedAskIsNoCapacity(t *testing.T) {
	srv, c, _, _ := setup(t)
	offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090", Regions: []string{"us-west"}})
	if err != nil || len(offers) == 0 {
		t.Fatalf("Offers = %v, %v", offers, err)
	}
	vanished := offers[0]
	vanished.ID = "7999999" // never in the inventory: Vast's 404 invalid_args "no_such_ask"
	_, err = c.Launch(t.Context(), providers.LaunchSpec{JobID: "j", IdempotencyKey: providers.IdempotencyKey("j"),
		Offer: vanished, Workload: providertest.DefaultWorkload(providers.Query{})})
	if !errors.Is(err, providers.ErrNoCapacity) || errors.Is(err, providers.ErrNotFound) {
		t.Errorf("Launch on a vanished ask = %v, want ErrNoCapacity (not ErrNotFound)", err)
	}
	var apiErr *httpx.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound || apiErr.Code != "invalid_args" {
		t.Errorf("error %v: want the documented 404 invalid_args", err)
	}
	if n := srv.Workloads(); n != 0 {
		t.Errorf("fake has %d instances", n)
	}
}

// TestContractRejects shows the OpenAPI checker is not vacuous: requests
// the published description does not allow are violations.
func TestContractRejects(t *testing.T) {
	tests := []struct {
		name, method, path, body string
	}{
		{"undocumented filter reliability2", "POST", "/api/v0/bundles/", `{"reliability2":{"gte":0.9}}`},
		{"unknown filter op", "POST", "/api/v0/bundles/", `{"num_gpus":{"about":1}}`},
		{"create without image", "PUT", "/api/v0/asks/7001001/", `{"label":"x","runtype":"args"}`},
		{"create with unknown runtype", "PUT", "/api/v0/asks/7001001/", `{"image":"x","runtype":"docker"}`},
		{"list on an undocumented path", "GET", "/api/v0/instances/?owner=me", ``},
		{"v1 page larger than 25", "GET", "/api/v1/instances/?limit=100", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chk, err := apispec.New(spec(t))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(chk.Wrap(vastaitest.NewServer(vastaitest.Options{}).Handler()))
			defer srv.Close()
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+secret)
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if len(chk.Violations()) == 0 {
				t.Errorf("%s %s %s: no violation recorded", tt.method, tt.path, tt.body)
			}
		})
	}
}

func TestFakeRejectsUndocumentedFilter(t *testing.T) {
	srv := vastaitest.NewServer(vastaitest.Options{})
	url := srv.Start()
	t.Cleanup(srv.Close)
	resp, err := http.Post(url+"/api/v0/bundles/", "application/json", strings.NewReader(`{"reliability2":{"gte":0.95}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("search on reliability2 = %d, want 400", resp.StatusCode)
	}
}

// TestFindByLabelPagedListing: the idempotency lookup asks the v1 listing
// for the label (select_filters), so it finds its instance among many
// others without reading every page.
func TestFindByLabelPagedListing(t *testing.T) {
	var asks []vastaitest.Ask
	for i := range 40 {
		a := vastaitest.DefaultInventory()[0]
		a.ID = int64(8000000 + i)
		asks = append(asks, a)
	}
	srv := vastaitest.NewServer(vastaitest.Options{Asks: asks})
	var mu sync.Mutex
	var lists []string
	h := srv.Handler()
	chk, err := apispec.New(spec(t))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(chk.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/instances/") && r.Method == http.MethodGet && !strings.Contains(r.URL.Path, "/v0/instances/8") {
			mu.Lock()
			lists = append(lists, r.URL.Path+"?"+r.URL.RawQuery)
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})))
	t.Cleanup(ts.Close)
	c, err := newClient(t, ts.URL, secret, vastai.Config{})
	if err != nil {
		t.Fatal(err)
	}
	w := providertest.DefaultWorkload(providers.Query{})
	var last providers.Lease
	for i := range 30 {
		job := "job-" + strconv.Itoa(i)
		o := providers.Offer{Provider: vastai.Name, ID: strconv.Itoa(8000000 + i), PricePerHour: 350_000}
		last, err = c.Launch(t.Context(), providers.LaunchSpec{JobID: job, IdempotencyKey: providers.IdempotencyKey(job), Offer: o, Workload: w})
		if err != nil {
			t.Fatalf("Launch %d: %v", i, err)
		}
	}
	mu.Lock()
	lists = nil
	mu.Unlock()
	again, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "job-29", IdempotencyKey: providers.IdempotencyKey("job-29"),
		Offer: providers.Offer{Provider: vastai.Name, ID: "8000039", PricePerHour: 350_000}, Workload: w})
	if err != nil || again.ID != last.ID {
		t.Fatalf("relaunch = %+v, %v; want lease %s", again, err, last.ID)
	}
	if n := srv.Workloads(); n != 30 {
		t.Errorf("fake has %d instances, want 30", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lists) != 1 || !strings.HasPrefix(lists[0], "/api/v1/instances/?") || !strings.Contains(lists[0], "select_filters=") || !strings.Contains(lists[0], providers.IdempotencyKey("job-29")) {
		t.Errorf("lookup requests = %q, want one /api/v1/instances/ page filtered on the label", lists)
	}
	for _, v := range chk.Violations() {
		t.Errorf("apispec: %s", v)
	}
}

func TestFakeV1Paging(t *testing.T) {
	var asks []vastaitest.Ask
	for i := range 30 {
		a := vastaitest.DefaultInventory()[0]
		a.ID = int64(8000000 + i)
		asks = append(asks, a)
	}
	srv := vastaitest.NewServer(vastaitest.Options{Asks: asks})
	url := serve(t, srv)
	c, err := newClient(t, url, secret, vastai.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		job := "same-label"
		if i > 0 {
			job = "job-" + strconv.Itoa(i)
		}
		o := providers.Offer{Provider: vastai.Name, ID: strconv.Itoa(8000000 + i), PricePerHour: 350_000}
		if _, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: job, IdempotencyKey: providers.IdempotencyKey(job), Offer: o, Workload: providertest.DefaultWorkload(providers.Query{})}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(q string) (ids []int64, next *string) {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", url+"/api/v1/instances/?"+q, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page struct {
			Instances []struct {
				ID int64 `json:"id"`
			} `json:"instances"`
			NextToken *string `json:"next_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			t.Fatal(err)
		}
		for _, in := range page.Instances {
			ids = append(ids, in.ID)
		}
		return ids, page.NextToken
	}
	first, next := get("limit=25")
	if len(first) != 25 || next == nil {
		t.Fatalf("first page: %d instances, next %v; want 25 and a token", len(first), next)
	}
	second, end := get("limit=25&after_token=" + *next)
	if len(second) != 5 || end != nil || second[0] <= first[24] {
		t.Errorf("second page %v (next %v) after %v", second, end, first[24])
	}
}

// TestMinIntervals: Vast documents a minimum interval per endpoint and no
// Retry-After. Calls in a row wait the interval instead of failing with
// 429s after ~1.4 s of backoff.
func TestMinIntervals(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	srv := vastaitest.NewServer(vastaitest.Options{MinIntervals: vastaitest.DocumentedMinIntervals(), Now: clk.Now})
	url := serve(t, srv)
	cfg := vastai.Config{BaseURL: url, Credential: providers.NewCredential(secret), StatusTTL: -1}
	cfg.HTTP.Now, cfg.HTTP.Sleep = clk.Now, clk.Sleep
	c, err := vastai.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	start := clk.Now()
	w := providertest.DefaultWorkload(providers.Query{})
	var ids []string
	for _, job := range []string{"a", "b"} {
		l, err := c.Launch(ctx, providers.LaunchSpec{JobID: job, IdempotencyKey: providers.IdempotencyKey(job),
			Offer: providers.Offer{Provider: vastai.Name, ID: map[string]string{"a": "7001001", "b": "7001002"}[job], PricePerHour: 420_000}, Workload: w})
		if err != nil {
			t.Fatalf("Launch %s: %v", job, err)
		}
		ids = append(ids, l.ID)
	}
	for range 3 {
		for _, id := range ids {
			if _, err := c.Status(ctx, id); err != nil {
				t.Fatalf("Status(%s): %v", id, err)
			}
		}
	}
	for _, id := range ids {
		if err := c.Terminate(ctx, id); err != nil {
			t.Fatalf("Terminate(%s): %v", id, err)
		}
	}
	// 6 status reads 2 s apart: at least 10 s of the fake clock.
	if d := clk.Now().Sub(start); d < 10*time.Second {
		t.Errorf("the calls took %v of fake time, want >= 10s (paced)", d)
	}
}

// TestStatusFromListing: many leases polled within StatusTTL cost one paged
// listing, not one showInstance (2 s apart) each, and the listing follows
// the instances' state once the TTL passes.
func TestStatusFromListing(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	srv := vastaitest.NewServer(vastaitest.Options{MinIntervals: vastaitest.DocumentedMinIntervals(), Now: clk.Now})
	url := serve(t, srv)
	cfg := vastai.Config{BaseURL: url, Credential: providers.NewCredential(secret)}
	cfg.HTTP.Now, cfg.HTTP.Sleep = clk.Now, clk.Sleep
	c, err := vastai.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	w := providertest.DefaultWorkload(providers.Query{})
	var ids []string
	for i, offer := range []string{"7001001", "7001002"} {
		job := string(rune('a' + i))
		l, err := c.Launch(ctx, providers.LaunchSpec{JobID: job, IdempotencyKey: providers.IdempotencyKey(job),
			Offer: providers.Offer{Provider: vastai.Name, ID: offer, PricePerHour: 420_000}, Workload: w})
		if err != nil {
			t.Fatalf("Launch %s: %v", job, err)
		}
		ids = append(ids, l.ID)
	}
	start := clk.Now()
	for range 5 {
		for _, id := range ids {
			if _, err := c.Status(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	// One listing (1 s interval) served ten polls: far less than 10 × 2 s.
	if d := clk.Now().Sub(start); d >= 4*time.Second {
		t.Errorf("10 polls of 2 leases took %v of fake time; want them served by the listing", d)
	}
	for range 10 {
		srv.Advance()
	}
	clk.Sleep(ctx, 6*time.Second)
	for _, id := range ids {
		st, err := c.Status(ctx, id)
		if err != nil || st.State != providers.StateRunning {
			t.Errorf("Status(%s) after boot and TTL: %v %v, want running", id, st.State, err)
		}
	}
}

func TestLaunchFeaturesWireFormat(t *testing.T) {
	srv, c, _, logs := setup(t)
	spec := providers.LaunchSpec{
		JobID: "job-f", IdempotencyKey: providers.IdempotencyKey("job-f"),
		Offer:    providers.Offer{Provider: "vastai", ID: "7001001", PricePerHour: 350_000},
		Workload: providertest.DefaultWorkload(providers.Query{GPUModel: "RTX 4090", GPUCount: 1}),
		SSHKeys:  []string{providertest.ConformanceSSHKey},
		Registry: &providers.RegistryAuth{Server: "registry.example.com", Username: "bob", Secret: providers.NewCredential("tok-123-secret")},
	}
	spec.Workload.Cmd = []string{"sh", "-c", "echo 'hi' && serve"}
	lease, err := c.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	in := srv.Instances()[0]
	want := vastaitest.ImageLogin{Username: "bob", Password: "tok-123-secret", Registry: "registry.example.com"}
	if in.Login != want {
		t.Errorf("image_login parsed as %+v, want %+v", in.Login, want)
	}
	// ssh_direct replaces the entrypoint: the command runs as onstart, quoted.
	if in.ImageRuntype != "ssh_direct" || in.Onstart != `'sh' '-c' 'echo '\''hi'\'' && serve'` || len(in.ImageArgs) != 0 {
		t.Errorf("runtype %q onstart %q args %q", in.ImageRuntype, in.Onstart, in.ImageArgs)
	}
	if diff := cmp.Diff([]string{providertest.ConformanceSSHKey}, in.SSHKeys); diff != "" {
		t.Errorf("attached keys (-want +got):\n%s", diff)
	}
	if strings.Contains(logs.String(), "tok-123-secret") {
		t.Errorf("logs carry the registry secret")
	}
	srv.Advance()
	srv.Advance()
	st, err := c.Status(t.Context(), lease.ID)
	if err != nil {
		t.Fatal(err)
	}
	host := in.PublicIPAddr
	wantEP := []providers.Endpoint{
		{Kind: providers.EndpointSSH, Host: "ssh5.vast.ai", Port: int(in.SSHPort), ContainerPort: 22, URL: fmt.Sprintf("ssh://root@ssh5.vast.ai:%d", in.SSHPort)},
		{Kind: providers.EndpointSSH, Host: host, Port: 40020, ContainerPort: 22, URL: "ssh://root@" + host + ":40020"},
		{Kind: providers.EndpointTCP, Host: host, Port: 40021, ContainerPort: 8080},
	}
	if diff := cmp.Diff(wantEP, st.Endpoints); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
}

func TestLaunchStorageNotSupported(t *testing.T) {
	srv, c, _, _ := setup(t)
	spec := providers.LaunchSpec{
		JobID: "job-s", IdempotencyKey: providers.IdempotencyKey("job-s"),
		Offer:    providers.Offer{Provider: "vastai", ID: "7001001", PricePerHour: 350_000},
		Workload: providertest.DefaultWorkload(providers.Query{GPUModel: "RTX 4090", GPUCount: 1}),
		Storage:  &providers.Storage{SizeMiB: 1024, MountPath: "/data"},
	}
	_, err := c.Launch(t.Context(), spec)
	var fe *providers.FeatureError
	if !errors.As(err, &fe) || fe.Feature != providers.FeatureStorage || !errors.Is(err, providers.ErrNotSupported) {
		t.Errorf("Launch with storage = %v, want a FeatureError for storage", err)
	}
	if srv.Workloads() != 0 {
		t.Errorf("a refused launch created an instance")
	}
}

// The documented showInstances example (api-reference/openapi.yaml): ports
// as Docker bindings, ssh through the proxy.
func TestEndpointsFromDocumentedInstance(t *testing.T) {
	body := []byte(`{"instances":{"id":1,"actual_status":"running","intended_status":"running","image_runtype":"ssh",
		"public_ipaddr":"192.0.2.45","ssh_host":"ssh123.vast.ai","ssh_port":10600,
		"ports":{"8888/tcp":[{"HostIp":"0.0.0.0","HostPort":"8888"}],"22/tcp":[{"HostIp":"0.0.0.0","HostPort":"20000"}],"53/udp":[{"HostIp":"0.0.0.0","HostPort":"1"}]}}}`)
	got := vastai.EndpointsOf(t, body)
	want := []providers.Endpoint{
		{Kind: providers.EndpointSSH, Host: "ssh123.vast.ai", Port: 10600, ContainerPort: 22, URL: "ssh://root@ssh123.vast.ai:10600"},
		{Kind: providers.EndpointSSH, Host: "192.0.2.45", Port: 20000, ContainerPort: 22, URL: "ssh://root@192.0.2.45:20000"},
		{Kind: providers.EndpointTCP, Host: "192.0.2.45", Port: 8888, ContainerPort: 8888},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	// Not running yet: ports is null, args runtype has no ssh.
	if got := vastai.EndpointsOf(t, []byte(`{"instances":{"id":1,"image_runtype":"args","ssh_host":"ssh1.vast.ai","ssh_port":1,"ports":null}}`)); len(got) != 0 {
		t.Errorf("endpoints of a loading args instance = %v, want none", got)
	}
}
