package akash_test

import (
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/akash"
	"github.com/aurora-federation/aurora/providers/akash/akashtest"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/providers/providertest"
	"github.com/aurora-federation/aurora/treaty"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

const secret = akashtest.DefaultAPIKey

func newClient(url, key string, cfg akash.Config) (*akash.Client, error) {
	cfg.BaseURL = url
	if key != "" {
		cfg.Credential = providers.NewCredential(key)
	}
	if cfg.AKTUSD == "" {
		cfg.AKTUSD = akashtest.DefaultAKTUSD
	}
	cfg.HTTP.Sleep = httpx.NoSleep
	return akash.New(cfg)
}

func setup(t *testing.T, opts akashtest.Options) (*akashtest.Server, *akash.Client, *slog.Logger, *providertest.LogBuffer) {
	t.Helper()
	srv := akashtest.NewServer(opts)
	url := srv.Start()
	t.Cleanup(srv.Close)
	log, buf := providertest.NewLogger()
	c, err := newClient(url, secret, akash.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, log, buf
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		Setup: func(t *testing.T) *providertest.Env {
			srv, c, log, logs := setup(t, akashtest.Options{})
			return &providertest.Env{
				Provider: c,
				Connect: func(key string) (providers.Provider, error) {
					return newClient(srv.URL(), key, akash.Config{Logger: log})
				},
				Fake: srv, Secret: secret, Logs: logs.String,
			}
		},
		Query: providers.Query{GPUModel: "A100", GPUCount: 1, Regions: []string{"us-west", "eu-central"}},
	})
}

func TestConformanceUSDDenom(t *testing.T) {
	if testing.Short() {
		t.Skip("second full conformance run")
	}
	providertest.Run(t, providertest.Harness{
		Setup: func(t *testing.T) *providertest.Env {
			srv := akashtest.NewServer(akashtest.Options{})
			url := srv.Start()
			t.Cleanup(srv.Close)
			log, logs := providertest.NewLogger()
			c, err := newClient(url, secret, akash.Config{Logger: log, Denom: akash.USDCDenom})
			if err != nil {
				t.Fatal(err)
			}
			return &providertest.Env{
				Provider: c,
				Connect: func(key string) (providers.Provider, error) {
					return newClient(url, key, akash.Config{Logger: log, Denom: akash.USDCDenom})
				},
				Fake: srv, Secret: secret, Logs: logs.String,
			}
		},
		Query: providers.Query{GPUModel: "A100", GPUCount: 1}, // no regions: placement anywhere
	})
}

func TestSDLGolden(t *testing.T) {
	w := treaty.Workload{
		Image: "ghcr.io/aurora-federation/trainer:1.4",
		Cmd:   []string{"python", "-m", "train", "--msg=say \"hi\"\n"},
		Env:   []treaty.EnvVar{{Name: "A", Value: "1"}, {Name: "HF_HOME", Value: "/data/hf # not a comment"}},
		GPU:   &treaty.GPU{Model: "NVIDIA A100", Count: 2, MinVRAM: 40960},
		CPU:   3500, Memory: 16384, Disk: 102400, Duration: 7200, Ports: []int64{8080, 9090},
	}
	tests := []struct {
		name   string
		w      treaty.Workload
		params akash.SDLParams
	}{
		{"gpu", w, akash.SDLParams{Service: "aur-abcdefghijklmnop", Region: "us-west", RegionAttribute: "region", Denom: "uakt", MaxAmount: "1333.333333"}},
		{"cpu", treaty.Workload{Image: "nginx:1.27", CPU: 250, Memory: 64, Disk: 100},
			akash.SDLParams{Service: "aur-cpuonly", Denom: "uact", MaxAmount: "100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := akash.SDL(tt.w, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := akash.SDL(tt.w, tt.params)
			if again != got {
				t.Fatal("SDL is not deterministic")
			}
			golden := filepath.Join("testdata", "sdl-"+tt.name+".yaml")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("SDL (-want +got):\n%s", diff)
			}
			// The SDL must parse, and strings must survive quoting.
			doc, err := akashtest.ParseYAML(got)
			if err != nil {
				t.Fatalf("generated SDL does not parse: %v", err)
			}
			svc := doc.(map[string]any)["services"].(map[string]any)[tt.params.Service].(map[string]any)
			if svc["image"] != tt.w.Image {
				t.Errorf("image round trip: %v", svc["image"])
			}
			if len(tt.w.Cmd) > 0 {
				cmd := svc["command"].([]any)
				if cmd[len(cmd)-1] != tt.w.Cmd[len(tt.w.Cmd)-1] {
					t.Errorf("command round trip: %q", cmd[len(cmd)-1])
				}
			}
		})
	}
}

func TestSDLRejects(t *testing.T) {
	ok := akash.SDLParams{Service: "aur-x", Denom: "uakt", MaxAmount: "1"}
	tests := []struct {
		name string
		w    treaty.Workload
		p    akash.SDLParams
	}{
		{"no image", treaty.Workload{}, ok},
		{"bad service", treaty.Workload{Image: "x"}, akash.SDLParams{Service: "Bad_Name", Denom: "uakt", MaxAmount: "1"}},
		{"no pricing", treaty.Workload{Image: "x"}, akash.SDLParams{Service: "aur-x"}},
		{"bad amount", treaty.Workload{Image: "x"}, akash.SDLParams{Service: "aur-x", Denom: "uakt", MaxAmount: "1e999"}},
		{"bad port", treaty.Workload{Image: "x", Ports: []int64{70000}}, ok},
		{"bad env", treaty.Workload{Image: "x", Env: []treaty.EnvVar{{Name: "A=B"}}}, ok},
	}
	for _, tt := range tests {
		if _, err := akash.SDL(tt.w, tt.p); err == nil {
			t.Errorf("%s: SDL accepted it", tt.name)
		}
	}
}

func TestPriceConversion(t *testing.T) {
	p, err := akash.NewPricer(6*time.Second, "2.5", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		amount, denom string
		want          providers.Money
		wantErr       bool
	}{
		{"1", "uact", 600, false},           // 1 µUSD/block × 600 blocks/h
		{"3.0", "uact", 1800, false},        // 0.0018 $/h
		{"3000", "uact", 1_800_000, false},  // $1.80/h
		{"3000", "uusdc", 1_800_000, false}, //
		{"3000", akash.USDCDenom, 1_800_000, false},
		{"1200", "uakt", 1_800_000, false},               // 1200 uakt × $2.5/AKT × 600
		{"12.345000000000000000", "uakt", 18_518, false}, // 18517.5 rounds half up
		{"0", "uakt", 0, false},
		{"1", "uatom", 0, true},
		{"-1", "uact", 0, true},
		{"abc", "uact", 0, true},
		{"1e400", "uact", 0, true},
	}
	for _, tt := range tests {
		got, err := p.PerHour(tt.amount, tt.denom)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("PerHour(%q, %q) = %d, %v; want %d, err=%v", tt.amount, tt.denom, got, err, tt.want, tt.wantErr)
		}
	}
	// Other block times scale blocks per hour.
	p5, _ := akash.NewPricer(5*time.Second, "", nil)
	if got, _ := p5.PerHour("1", "uact"); got != 720 {
		t.Errorf("5 s blocks: %d µ$/h, want 720", got)
	}
	if _, err := p5.PerHour("1", "uakt"); err == nil {
		t.Errorf("uakt without a rate converted")
	}

	blocks := []struct {
		perHour providers.Money
		denom   string
		want    string
		ok      bool
	}{
		{1_800_000, "uact", "3000", true},
		{1_800_000, "uakt", "1200", true},
		{1_000_000, "uakt", "666.666666", true}, // floored, never above the cap
		{1000, "uact", "1.666666", true},
		{1, "uakt", "0.000666", true},
		{0, "uakt", "", false},
	}
	for _, tt := range blocks {
		got, ok, err := p.PerBlock(tt.perHour, tt.denom)
		if err != nil || ok != tt.ok || got != tt.want {
			t.Errorf("PerBlock(%d, %s) = %q, %v, %v; want %q, %v", tt.perHour, tt.denom, got, ok, err, tt.want, tt.ok)
		}
		if ok {
			back, _ := p.PerHour(got, tt.denom)
			if back > tt.perHour {
				t.Errorf("PerBlock(%d) = %s converts back to %d, above the cap", tt.perHour, got, back)
			}
		}
	}
}

func TestLaunchPicksCheapestBid(t *testing.T) {
	srv, c, _, _ := setup(t, akashtest.Options{})
	spec := providers.LaunchSpec{
		JobID: "j", IdempotencyKey: providers.IdempotencyKey("j"),
		Offer:    providers.Offer{Provider: "akash", GPUModel: "rtx4090", VRAMMiB: 24 * 1024, Region: "us-west"},
		Workload: providertest.DefaultWorkload(providers.Query{GPUModel: "RTX 4090", GPUCount: 1}),
	}
	lease, err := c.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	// west2 bids 0.04 + 0.7 = 0.74 uact/block; west1 0.85: 0.74 / 2.5 uakt.
	if !strings.HasSuffix(lease.Offer.ID, "akash1provider000000000000000000000000000west2") {
		t.Errorf("lease on %s, want the cheaper west2", lease.Offer.ID)
	}
	if lease.Offer.Raw.Unit != "uakt/block" || lease.Offer.Raw.Amount != "0.296000000000000000" {
		t.Errorf("raw price %+v", lease.Offer.Raw)
	}
	if lease.PricePerHour != 444 { // 0.296 uakt × $2.5 × 600
		t.Errorf("PricePerHour = %d, want 444", lease.PricePerHour)
	}
	sdl, _ := srv.SDL(lease.ID)
	for _, want := range []string{`- model: "rtx4090"`, "ram: 24Gi", `region: "us-west"`, `denom: "uakt"`, "amount: 13333.333333\n", "  " + spec.IdempotencyKey + ":"} {
		if !strings.Contains(sdl, want) {
			t.Errorf("SDL lacks %q:\n%s", want, sdl)
		}
	}
	// A cap under west2 but over nothing: no bid fits, deployment closed.
	spec2 := spec
	spec2.JobID, spec2.IdempotencyKey, spec2.MaxPricePerHour = "j2", providers.IdempotencyKey("j2"), 400
	if _, err := c.Launch(t.Context(), spec2); !errors.Is(err, providers.ErrNoCapacity) {
		t.Errorf("Launch under every bid = %v, want ErrNoCapacity", err)
	}
	if n := srv.Workloads(); n != 1 {
		t.Errorf("%d active deployments, want 1 (the unleased one closed)", n)
	}
}

func TestRelaunchClosesOrphanDeployment(t *testing.T) {
	srv, c, _, _ := setup(t, akashtest.Options{})
	spec := providers.LaunchSpec{
		JobID: "orphan", IdempotencyKey: providers.IdempotencyKey("orphan"),
		Offer:    providers.Offer{Provider: "akash", GPUModel: "h100", Region: "us-east"},
		Workload: providertest.DefaultWorkload(providers.Query{GPUModel: "H100", GPUCount: 1}),
	}
	srv.LoseNextDeployment(1)
	if _, err := c.Launch(t.Context(), spec); err == nil {
		t.Fatal("Launch succeeded although the create answer was lost")
	}
	if n := srv.Workloads(); n != 1 {
		t.Fatalf("%d deployments after the lost create, want the 1 orphan", n)
	}
	lease, err := c.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Workloads(); n != 1 {
		t.Errorf("%d active deployments after relaunch, want 1 (orphan closed)", n)
	}
	if lease.ID != "18000002" {
		t.Errorf("lease on %s, want the new deployment 18000002", lease.ID)
	}
	st, err := c.Status(t.Context(), "18000001")
	if err != nil || st.State != providers.StateTerminated {
		t.Errorf("orphan status = %+v, %v; want terminated", st, err)
	}
}

func TestStatusMapping(t *testing.T) {
	srv, c, _, _ := setup(t, akashtest.Options{})
	spec := providers.LaunchSpec{
		JobID: "s", IdempotencyKey: providers.IdempotencyKey("s"),
		Offer:    providers.Offer{Provider: "akash", GPUModel: "rtx3090", Region: "us-east"},
		Workload: providertest.DefaultWorkload(providers.Query{GPUModel: "RTX 3090", GPUCount: 1}),
	}
	lease, err := c.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	check := func(want providers.State) {
		t.Helper()
		st, err := c.Status(t.Context(), lease.ID)
		if err != nil || st.State != want {
			t.Errorf("Status = %+v, %v; want %s", st, err, want)
		}
	}
	check(providers.StateLaunching)
	srv.Advance()
	check(providers.StateRunning)
	srv.SetLeaseState(lease.ID, "insufficient_funds")
	check(providers.StateFailed)
	srv.SetLeaseState(lease.ID, "closed")
	check(providers.StateFailed)
	if err := c.Terminate(t.Context(), lease.ID); err != nil {
		t.Fatal(err)
	}
	check(providers.StateTerminated)
	if err := c.Terminate(t.Context(), lease.ID); err != nil {
		t.Errorf("Terminate of a closed deployment = %v, want nil", err)
	}
}

func TestBothAuthHeadersRejectedByFake(t *testing.T) {
	srv := akashtest.NewServer(akashtest.Options{})
	req := httptest.NewRequest("GET", "/v1/deployments/1", nil)
	req.Header.Set("x-api-key", secret)
	req.Header.Set("Authorization", "Bearer "+secret)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "mutually exclusive") {
		t.Errorf("both headers: %d %s", rec.Code, rec.Body)
	}
}

func TestNewRejects(t *testing.T) {
	k := providers.NewCredential("k")
	tests := []struct {
		name string
		cfg  akash.Config
	}{
		{"no credential", akash.Config{AKTUSD: "2"}},
		{"uakt without rate", akash.Config{Credential: k}},
		{"bad rate", akash.Config{Credential: k, AKTUSD: "-3"}},
		{"unknown denom", akash.Config{Credential: k, Denom: "uatom"}},
		{"empty region", akash.Config{Credential: k, AKTUSD: "2", Regions: []string{""}}},
	}
	for _, tt := range tests {
		if _, err := akash.New(tt.cfg); err == nil {
			t.Errorf("%s: New accepted the config", tt.name)
		}
	}
}

func FuzzParseResponses(f *testing.F) {
	srv := akashtest.NewServer(akashtest.Options{BidDelayPolls: -1})
	h := srv.Handler()
	sdl, _ := akash.SDL(providertest.DefaultWorkload(providers.Query{GPUModel: "A100", GPUCount: 1}),
		akash.SDLParams{Service: "aur-fuzz", Denom: "uakt", MaxAmount: "100000"})
	body := `{"data":{"sdl":` + quote(sdl) + `,"deposit":5}}`
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/v1/gpu-prices", nil),
		httptest.NewRequest("GET", "/v1/providers", nil),
		httptest.NewRequest("POST", "/v1/deployments", strings.NewReader(body)),
		httptest.NewRequest("GET", "/v1/bids?dseq=18000001", nil),
		httptest.NewRequest("GET", "/v1/deployments/18000001", nil),
		httptest.NewRequest("GET", "/v1/deployments?skip=0&limit=10", nil),
	} {
		req.Header.Set("x-api-key", secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		f.Add(rec.Body.Bytes())
	}
	f.Add([]byte(`{"data":{"deployment":{"id":{"dseq":"1"},"state":"active"},"leases":[{"state":"active","price":{"denom":"uakt","amount":"1e5"},"status":{"services":{"x":{"available":1,"total":0}}}}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		akash.ParseAll(b)
	})
}

func FuzzParseYAML(f *testing.F) {
	sdl, _ := akash.SDL(providertest.DefaultWorkload(providers.Query{GPUModel: "A100", GPUCount: 1}),
		akash.SDLParams{Service: "aur-fuzz", Region: "us-west", Denom: "uakt", MaxAmount: "100000"})
	f.Add(sdl)
	f.Add("a:\n- b: 1\n  c: [x, y]\n- - z\n'q': \"\\u00e9\" # c\n")
	f.Fuzz(func(t *testing.T, s string) {
		akashtest.ParseYAML(s)
	})
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestLaunchOutsideConfiguredRegions(t *testing.T) {
	srv := akashtest.NewServer(akashtest.Options{})
	url := srv.Start()
	t.Cleanup(srv.Close)
	c, err := newClient(url, secret, akash.Config{Regions: []string{"us-west", "us-east"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, region := range []string{"eu-central", ""} {
		spec := providers.LaunchSpec{JobID: "r" + region, IdempotencyKey: providers.IdempotencyKey("r" + region),
			Offer:    providers.Offer{GPUModel: "h100", Region: region},
			Workload: providertest.DefaultWorkload(providers.Query{GPUModel: "H100", GPUCount: 1})}
		if _, err := c.Launch(t.Context(), spec); err == nil || srv.Workloads() != 0 {
			t.Errorf("Launch in %q with two configured regions = %v, %d deployments; want an error and none", region, err, srv.Workloads())
		}
	}
}
