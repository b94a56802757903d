package vastai_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
		Query: providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"US", "CA"}},
	})
}

func TestSearchQueryEncoding(t *testing.T) {
	c, err := newClient(t, "http://127.0.0.1:1", "k", vastai.Config{Regions: []string{"us", "DE"}})
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
			want:   `{"external":{"eq":false},"geolocation":{"in":["US","DE"]},"limit":64,"order":[["dph_total","asc"]],"reliability2":{"gte":0.95},"rentable":{"eq":true},"rented":{"eq":false},"type":"on-demand","verified":{"eq":true}}`,
			wantOK: true,
		},
		{
			name: "full query",
			q: providers.Query{GPUModel: "NVIDIA A100", GPUCount: 2, MinVRAMMiB: 40960, CPUMillis: 8000, MemoryMiB: 65536,
				DiskMiB: 51200, Regions: []string{"de", "fr", "europe"}, MaxPricePerHour: 2_500_000},
			want:   `{"allocated_storage":50,"cpu_cores_effective":{"gte":8},"cpu_ram":{"gte":65536},"disk_space":{"gte":50},"dph_total":{"lte":2.5},"external":{"eq":false},"geolocation":{"in":["DE"]},"gpu_name":{"in":["A100 SXM4","A100 PCIE","A100X"]},"gpu_ram":{"gte":40960},"limit":64,"num_gpus":{"eq":2},"order":[["dph_total","asc"]],"reliability2":{"gte":0.95},"rentable":{"eq":true},"rented":{"eq":false},"type":"on-demand","verified":{"eq":true}}`,
			wantOK: true,
		},
		{
			name:   "unknown model searched as given",
			q:      providers.Query{GPUModel: "MI300X"},
			want:   `{"external":{"eq":false},"geolocation":{"in":["US","DE"]},"gpu_name":{"eq":"MI300X"},"limit":64,"order":[["dph_total","asc"]],"reliability2":{"gte":0.95},"rentable":{"eq":true},"rented":{"eq":false},"type":"on-demand","verified":{"eq":true}}`,
			wantOK: true,
		},
		{
			name: "region outside configured ones",
			q:    providers.Query{Regions: []string{"JP"}},
		},
		{
			name: "region that is not a country code",
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
		{"4090 in US, cheapest first", providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"US"}}, []string{"7001001", "7001002", "7001006"}},
		{"4090 under 0.40 anywhere", providers.Query{GPUModel: "rtx4090", GPUCount: 1, MaxPricePerHour: 400_000}, []string{"7001005", "7001003", "7001001"}},
		{"A100 family", providers.Query{GPUModel: "A100", GPUCount: 1}, []string{"7002002", "7002001"}},
		{"A100 with 80 GB", providers.Query{GPUModel: "A100", GPUCount: 1, MinVRAMMiB: 80000}, []string{"7002001"}},
		{"8x H100", providers.Query{GPUModel: "H100", GPUCount: 8}, []string{"7003002"}},
		{"none in JP", providers.Query{GPUModel: "RTX 4090", Regions: []string{"JP"}}, nil},
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
	offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090", Regions: []string{"NL"}})
	if err != nil || len(offers) != 1 {
		t.Fatalf("Offers NL = %v, %v", offers, err)
	}
	want := providers.Offer{Provider: "vastai", ID: "7001005", GPUModel: "RTX 4090", GPUCount: 1, VRAMMiB: 24564, Region: "NL",
		PricePerHour: 290_000, Raw: providers.RawPrice{Amount: "0.29", Unit: "usd/hour"}, Available: 1}
	if diff := cmp.Diff(want, offers[0]); diff != "" {
		t.Errorf("offer (-want +got):\n%s", diff)
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
		{"bad region", vastai.Config{Credential: providers.NewCredential("k"), Regions: []string{"us-east"}}},
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
