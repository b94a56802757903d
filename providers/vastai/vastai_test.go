package vastai_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/providers/providertest"
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

func setup(t *testing.T) (*vastaitest.Server, *vastai.Client, *slog.Logger, *providertest.LogBuffer) {
	t.Helper()
	srv := vastaitest.NewServer(vastaitest.Options{})
	url := srv.Start()
	t.Cleanup(srv.Close)
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
			srv, c, log, logs := setup(t)
			return &providertest.Env{
				Provider: c,
				Connect: func(key string) (providers.Provider, error) {
					return newClient(t, srv.URL(), key, vastai.Config{Logger: log})
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
			want:   `{"external":{"eq":false},"geolocation":{"in":["AS","AT","CH","CZ","DE","GU","HU","LI","MP","PL","SI","SK","UM","US"]},"limit":64,"order":[["dph_total","asc"]],"reliability2":{"gte":0.95},"rentable":{"eq":true},"rented":{"eq":false},"type":"on-demand","verified":{"eq":true}}`,
			wantOK: true,
		},
		{
			name: "full query",
			q: providers.Query{GPUModel: "NVIDIA A100", GPUCount: 2, MinVRAMMiB: 40960, CPUMillis: 8000, MemoryMiB: 65536,
				DiskMiB: 51200, Regions: []string{"eu-central", "eu-west", "europe", "DE"}, MaxPricePerHour: 2_500_000},
			want:   `{"allocated_storage":50,"cpu_cores_effective":{"gte":8},"cpu_ram":{"gte":65536},"disk_space":{"gte":50},"dph_total":{"lte":2.5},"external":{"eq":false},"geolocation":{"in":["AT","CH","CZ","DE","HU","LI","PL","SI","SK"]},"gpu_name":{"in":["A100 SXM4","A100 PCIE","A100X"]},"gpu_ram":{"gte":40960},"limit":64,"num_gpus":{"eq":2},"order":[["dph_total","asc"]],"reliability2":{"gte":0.95},"rentable":{"eq":true},"rented":{"eq":false},"type":"on-demand","verified":{"eq":true}}`,
			wantOK: true,
		},
		{
			name:   "unknown model searched as given",
			q:      providers.Query{GPUModel: "MI300X"},
			want:   `{"external":{"eq":false},"geolocation":{"in":["AS","AT","CH","CZ","DE","GU","HU","LI","MP","PL","SI","SK","UM","US"]},"gpu_name":{"eq":"MI300X"},"limit":64,"order":[["dph_total","asc"]],"reliability2":{"gte":0.95},"rentable":{"eq":true},"rented":{"eq":false},"type":"on-demand","verified":{"eq":true}}`,
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
	url := srv.Start()
	t.Cleanup(srv.Close)
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
