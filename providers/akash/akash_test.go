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
	"slices"
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

// TestConformanceUAKTGrant runs the suite against a Console whose grant
// denom is uakt (a local network's DEPLOYMENT_GRANT_DENOM,
// akash-network/console @ d84c9e9 apps/api/env/.env.local.sample).
func TestConformanceUAKTGrant(t *testing.T) {
	if testing.Short() {
		t.Skip("second full conformance run")
	}
	providertest.Run(t, providertest.Harness{
		Setup: func(t *testing.T) *providertest.Env {
			srv := akashtest.NewServer(akashtest.Options{GrantDenom: "uakt"})
			url := srv.Start()
			t.Cleanup(srv.Close)
			log, logs := providertest.NewLogger()
			c, err := newClient(url, secret, akash.Config{Logger: log, Denom: "uakt"})
			if err != nil {
				t.Fatal(err)
			}
			return &providertest.Env{
				Provider: c,
				Connect: func(key string) (providers.Provider, error) {
					return newClient(url, key, akash.Config{Logger: log, Denom: "uakt"})
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
		// A persistent volume and a registry login: the shape of
		// chain-sdk go/sdl/_testdata/storageClass1.yaml and
		// v2.1-credentials.yaml.
		{"features", treaty.Workload{Image: "ghcr.io/acme/db:16", CPU: 1000, Memory: 2048, Disk: 1024, Ports: []int64{5432}},
			akash.SDLParams{Service: "aur-features", Denom: "uact", MaxAmount: "500",
				Volume: &providers.Storage{SizeMiB: 10 << 10, MountPath: "/var/lib/postgresql/data"}, StorageClass: "beta3",
				Credentials: &akash.Credentials{Host: "ghcr.io", Username: "acme", Password: providers.NewCredential("ghp_token123")}}},
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

// TestSDLForGolden pins the SDL Launch sends: the offer's GPU, the cap as a
// per-block ceiling, and no placement attributes (placement is enforced on
// bids).
func TestSDLForGolden(t *testing.T) {
	c, err := newClient("http://127.0.0.1:1", secret, akash.Config{})
	if err != nil {
		t.Fatal(err)
	}
	spec := providers.LaunchSpec{
		JobID: "golden", IdempotencyKey: providers.IdempotencyKey("golden"), MaxPricePerHour: 1_500_000,
		Offer: providers.Offer{Provider: "akash", ID: "nvidia/a100/80Gi@eu-central/DE", GPUModel: "a100", GPUCount: 1,
			VRAMMiB: 80 << 10, Region: "eu-central", Country: "DE"},
		Workload: providertest.DefaultWorkload(providers.Query{GPUModel: "A100", GPUCount: 1}),
	}
	amount, ok, err := c.Pricer().PerBlock(spec.MaxPricePerHour, "uact")
	if err != nil || !ok || amount != "2500" { // $1.50/h ÷ 600 blocks = 2500 uact
		t.Fatalf("PerBlock($1.50/h) = %q, %v, %v; want 2500", amount, ok, err)
	}
	got, err := c.SDLFor(spec, amount)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "sdl-launch.yaml")
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

// TestGPUPriceEndToEnd pins Akash money on realistic A100 numbers, from the
// fake's per-block prices through the Console's gpu-prices (USD/hour per
// GPU) to Offer.PricePerHour, and through a bid to the lease's price. Real
// A100s rent for about $0.8–1.5/hour on Akash: 2000 uact/block is $1.20.
// (The fake once seeded 2–3.5 uact/block, a thousandth of that, and offered
// A100s at $0.0012/hour; the conversion itself was right.)
func TestGPUPriceEndToEnd(t *testing.T) {
	a100 := func(perBlock string, free int64) akashtest.GPU {
		return akashtest.GPU{Vendor: "nvidia", Model: "a100", RAM: "80Gi", Interface: "SXM4", PerBlock: perBlock, Available: free}
	}
	prov := func(name string, gpus ...akashtest.GPU) akashtest.Provider {
		return akashtest.Provider{Owner: "akash1provider" + name, HostURI: "https://" + name + ".example:8443", Online: true, CPUPerBlock: "15",
			Attributes: map[string]string{"location-region": "na-us-west", "country": "US"}, GPUs: gpus}
	}
	tests := []struct {
		name      string
		providers []akashtest.Provider
		gpus      int64
		wantRaw   string          // the Console's weightedAverage, USD/hour per GPU
		wantOffer providers.Money // Offer.PricePerHour, µUSD/hour for all GPUs
	}{
		{"one provider at 2000 uact/block", []akashtest.Provider{prov("a", a100("2000", 8))}, 1, "1.2", 1_200_000},
		{"two GPUs cost twice", []akashtest.Provider{prov("a", a100("2000", 8))}, 2, "1.2", 2_400_000},
		{"weighted by free GPUs", []akashtest.Provider{prov("a", a100("1800", 8)), prov("b", a100("2200", 4))}, 1, "1.16", 1_160_000},
		{"rounded to cents like the Console", []akashtest.Provider{prov("a", a100("1333", 1))}, 1, "0.8", 800_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, _, _ := setup(t, akashtest.Options{Providers: tt.providers})
			offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "A100", GPUCount: tt.gpus})
			if err != nil {
				t.Fatal(err)
			}
			if len(offers) != 1 {
				t.Fatalf("offers %+v, want one", offers)
			}
			o := offers[0]
			if o.Raw != (providers.RawPrice{Amount: tt.wantRaw, Unit: "usd/hour"}) || o.PricePerHour != tt.wantOffer {
				t.Errorf("offer raw %+v, %d µ$/h; want %s usd/hour, %d µ$/h", o.Raw, o.PricePerHour, tt.wantRaw, tt.wantOffer)
			}
			if each := o.PricePerHour / providers.Money(tt.gpus); each < 800_000 || each > 1_500_000 {
				t.Errorf("A100 at %v per GPU-hour, outside Akash's $0.8–1.5", each)
			}
		})
	}

	// The bid: 15 (base) + 2000 (A100) = 2015 uact/block, or 806 uakt at
	// $2.50/AKT; either is $1.209/hour.
	for _, denom := range []struct{ denom, amount string }{{"uakt", "806.000000000000000000"}, {"uact", "2015.000000000000000000"}} {
		t.Run("lease in "+denom.denom, func(t *testing.T) {
			srv := akashtest.NewServer(akashtest.Options{Providers: tests[0].providers, GrantDenom: denom.denom})
			url := srv.Start()
			t.Cleanup(srv.Close)
			c, err := newClient(url, secret, akash.Config{Denom: denom.denom})
			if err != nil {
				t.Fatal(err)
			}
			offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "A100", GPUCount: 1})
			if err != nil || len(offers) != 1 {
				t.Fatalf("offers %+v, %v", offers, err)
			}
			spec := providers.LaunchSpec{JobID: "p", IdempotencyKey: providers.IdempotencyKey("p"), Offer: offers[0],
				Workload: providertest.DefaultWorkload(providers.Query{GPUModel: "A100", GPUCount: 1}), MaxPricePerHour: 1_500_000}
			lease, err := c.Launch(t.Context(), spec)
			if err != nil {
				t.Fatal(err)
			}
			if want := (providers.RawPrice{Amount: denom.amount, Unit: denom.denom + "/block"}); lease.Offer.Raw != want {
				t.Errorf("lease raw %+v, want %+v", lease.Offer.Raw, want)
			}
			if lease.PricePerHour != 1_209_000 {
				t.Errorf("lease %d µ$/h, want 1209000", lease.PricePerHour)
			}
		})
	}
}

// TestDefaultInventoryPricesRealistic keeps the default fake's offers in
// the market's range per GPU-hour.
func TestDefaultInventoryPricesRealistic(t *testing.T) {
	_, c, _, _ := setup(t, akashtest.Options{})
	ranges := map[string][2]providers.Money{ // canonical model → [lo, hi] µUSD per GPU-hour
		"a100": {800_000, 1_500_000}, "h100": {1_500_000, 3_000_000},
		"rtx4090": {250_000, 600_000}, "rtx3090": {120_000, 350_000},
	}
	offers, err := c.Offers(t.Context(), providers.Query{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range offers {
		r, ok := ranges[providers.CanonicalGPUModel(o.GPUModel)]
		if !ok {
			t.Errorf("offer %s: no expected range", o.ID)
			continue
		}
		seen[providers.CanonicalGPUModel(o.GPUModel)] = true
		if o.PricePerHour < r[0] || o.PricePerHour > r[1] {
			t.Errorf("offer %s at %v/GPU-hour, outside %v–%v", o.ID, o.PricePerHour, r[0], r[1])
		}
	}
	if len(seen) != len(ranges) {
		t.Errorf("models offered %v, want all of %v", seen, ranges)
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
	// In us-west, west2 bids 12 + 560 = 572 uact/block and west1 615. (The
	// SG provider's 594 and the others are outside us-west.)
	if !strings.HasSuffix(lease.Offer.ID, "akash1provider000000000000000000000000000west2") {
		t.Errorf("lease on %s, want the cheaper west2", lease.Offer.ID)
	}
	if lease.Offer.Raw.Unit != "uact/block" || lease.Offer.Raw.Amount != "572.000000000000000000" {
		t.Errorf("raw price %+v", lease.Offer.Raw)
	}
	if lease.PricePerHour != 343_200 { // 572 uact × 600 = $0.3432/hour
		t.Errorf("PricePerHour = %d, want 343200", lease.PricePerHour)
	}
	if lease.Offer.Region != "us-west" {
		t.Errorf("lease region %q, want us-west", lease.Offer.Region)
	}
	sdl, _ := srv.SDL(lease.ID)
	// The default $20/hour ceiling: 20,000,000 µUSD ÷ 600 blocks in uact.
	for _, want := range []string{`- model: "rtx4090"`, "ram: 24Gi", `denom: "uact"`, "amount: 33333.333333\n", "  " + spec.IdempotencyKey + ":"} {
		if !strings.Contains(sdl, want) {
			t.Errorf("SDL lacks %q:\n%s", want, sdl)
		}
	}
	if strings.Contains(sdl, "region") {
		t.Errorf("SDL pins a placement attribute; placement is enforced on bids:\n%s", sdl)
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

// TestLaunchTakesBidsOnlyFromThePlace: every provider bids (the SDL pins no
// place), cheaper ones elsewhere too; the lease goes to the offer's place.
func TestLaunchTakesBidsOnlyFromThePlace(t *testing.T) {
	tests := []struct {
		name      string
		offer     providers.Offer
		wantOwner string // suffix
		wantErr   error
	}{
		{"eu-central: eucent at 638 although west2 bids 572", providers.Offer{GPUModel: "rtx4090", Region: "eu-central"}, "eucent", nil},
		{"eu-west NL", providers.Offer{GPUModel: "rtx4090", Region: "eu-west", Country: "NL"}, "euwest", nil},
		{"country in any case", providers.Offer{GPUModel: "rtx4090", Region: "eu-west", Country: "nl"}, "euwest", nil},
		{"country alone", providers.Offer{GPUModel: "rtx4090", Country: "DE"}, "eucent", nil},
		{"IP-located", providers.Offer{GPUModel: "rtx4090", Region: "ap-southeast"}, "iponly", nil},
		{"legacy region attribute", providers.Offer{GPUModel: "rtx3090", Region: "us-central"}, "legacy", nil},
		{"anywhere: the cheapest of all", providers.Offer{GPUModel: "rtx3090"}, "nowhere", nil},
		{"us-east but not in DE", providers.Offer{GPUModel: "h100", Region: "us-east", Country: "DE"}, "", providers.ErrNoCapacity},
		{"no 4090 provider in ca-central", providers.Offer{GPUModel: "rtx4090", Region: "ca-central"}, "", providers.ErrNoCapacity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _, _ := setup(t, akashtest.Options{})
			spec := providers.LaunchSpec{JobID: tt.name, IdempotencyKey: providers.IdempotencyKey(tt.name), Offer: tt.offer,
				Workload: providertest.DefaultWorkload(providers.Query{GPUModel: tt.offer.GPUModel, GPUCount: 1})}
			lease, err := c.Launch(t.Context(), spec)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || srv.Workloads() != 0 {
					t.Errorf("Launch = %+v, %v with %d deployments; want %v and none", lease, err, srv.Workloads(), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(lease.Offer.ID, tt.wantOwner) {
				t.Errorf("lease on %s, want the %s provider", lease.Offer.ID, tt.wantOwner)
			}
		})
	}
}

func TestLocate(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string]string
		ip    string
		want  akash.Location
	}{
		{"country and location-region", map[string]string{"country": "DE", "location-region": "eu-central"}, "", akash.Location{Region: "eu-central", Country: "DE"}},
		{"location-region refines the US", map[string]string{"country": "US", "location-region": "na-us-west"}, "", akash.Location{Region: "us-west", Country: "US"}},
		{"southeast US is us-east", map[string]string{"country": "US", "location-region": "na-us-southeast"}, "", akash.Location{Region: "us-east", Country: "US"}},
		{"legacy region refines the US", map[string]string{"country": "us", "region": "US-Central"}, "", akash.Location{Region: "us-central", Country: "us"}},
		{"US without detail", map[string]string{"country": "US", "region": "westcoast"}, "", akash.Location{Region: "us-east", Country: "US"}},
		{"country beats a contradicting location-region", map[string]string{"country": "DE", "location-region": "na-us-west"}, "", akash.Location{Region: "eu-central", Country: "DE"}},
		{"country decides across Akash's split", map[string]string{"country": "EE", "location-region": "eu-east"}, "", akash.Location{Region: "eu-north", Country: "EE"}},
		{"GB is eu-west", map[string]string{"country": "GB", "location-region": "eu-west"}, "", akash.Location{Region: "eu-west", Country: "GB"}},
		{"location-region alone", map[string]string{"location-region": "as-southeast"}, "", akash.Location{Region: "ap-southeast"}},
		{"location-region case", map[string]string{"location-region": " EU-West "}, "", akash.Location{Region: "eu-west"}},
		{"legacy Aurora-style region", map[string]string{"region": "eu-central"}, "", akash.Location{Region: "eu-central"}},
		{"free-form legacy region is ignored", map[string]string{"region": "westcoast"}, "", akash.Location{}},
		{"bad country falls through", map[string]string{"country": "Germany", "location-region": "eu-central"}, "", akash.Location{Region: "eu-central"}},
		{"IP geolocation last", map[string]string{"host": "akash"}, "SG", akash.Location{Region: "ap-southeast", Country: "SG"}},
		{"attributes beat IP", map[string]string{"location-region": "eu-west"}, "SG", akash.Location{Region: "eu-west"}},
		{"nowhere", map[string]string{"host": "akash"}, "", akash.Location{}},
		{"unknown location-region and IP", map[string]string{"location-region": "mars"}, "XX", akash.Location{}},
	}
	for _, tt := range tests {
		if got := akash.Locate(tt.attrs, "", tt.ip); got != tt.want {
			t.Errorf("%s: Locate(%v, %q) = %+v, want %+v", tt.name, tt.attrs, tt.ip, got, tt.want)
		}
	}
	// Every location-region value of Akash's provider-attributes schema
	// (console config/provider-attributes.json) maps to an Aurora region.
	schema := strings.Fields(`na-ca-west na-ca-central na-ca-prairie na-ca-atlantic na-ca-north na-us-west
		na-us-southwest na-us-midwest na-us-southeast na-us-northeast central-america caribbean sa-north sa-west
		sa-south sa-brazil eu-central eu-east eu-north eu-southeast eu-south eu-southwest eu-west af-east af-middle
		af-north af-south af-west as-central as-east as-southeast as-south as-west oc-aus oc-nz oc-mel oc-mic oc-pol`)
	if len(akash.LocationRegions) != len(schema) {
		t.Errorf("%d location-regions mapped, the schema has %d", len(akash.LocationRegions), len(schema))
	}
	for _, k := range schema {
		if r := akash.LocationRegions[k]; !providers.ValidRegion(r) {
			t.Errorf("location-region %s → %q, not an Aurora region", k, r)
		}
	}
	// Another attribute key for the older free-form region.
	if got := akash.Locate(map[string]string{"zone": "us-west", "region": "eu-west"}, "zone", ""); got.Region != "us-west" {
		t.Errorf("RegionAttribute zone: %+v", got)
	}
}

func FuzzLocate(f *testing.F) {
	f.Add("eu-central", "DE", "", "")
	f.Add("na-us-west", "US", "us-east", "")
	f.Add("", "", "westcoast", "SG")
	f.Add("mars", "ZZ", "US", "u")
	f.Fuzz(func(t *testing.T, locationRegion, country, region, ip string) {
		at := akash.Locate(map[string]string{"location-region": locationRegion, "country": country, "region": region}, "", ip)
		if at.Region != "" && !providers.ValidRegion(at.Region) {
			t.Fatalf("Region %q is not an Aurora region", at.Region)
		}
		if at.Country == "" {
			return
		}
		if at.Country != strings.TrimSpace(country) && at.Country != strings.TrimSpace(ip) {
			t.Fatalf("Country %q is neither given code %q nor %q", at.Country, country, ip)
		}
		if !slices.Contains(providers.CountriesIn(at.Region), strings.ToUpper(at.Country)) {
			t.Fatalf("Region %q does not hold country %q", at.Region, at.Country)
		}
	})
}

func TestOffersPlaces(t *testing.T) {
	_, c, _, _ := setup(t, akashtest.Options{})
	if got := c.Capabilities().Regions; len(got) != 0 {
		t.Errorf("Regions before any listing = %q, want none", got)
	}
	tests := []struct {
		name string
		q    providers.Query
		want []string // "<id> <region> <country> <price>"
	}{
		{"4090 everywhere", providers.Query{GPUModel: "RTX 4090"}, []string{
			"nvidia/rtx4090/24Gi@ap-southeast/SG ap-southeast SG 0.37",
			"nvidia/rtx4090/24Gi@eu-central/DE eu-central DE 0.37",
			"nvidia/rtx4090/24Gi@eu-west/NL eu-west NL 0.37",
			"nvidia/rtx4090/24Gi@us-east/US us-east US 0.37",
			"nvidia/rtx4090/24Gi@us-west/US us-west US 0.37",
		}},
		{"3090: located, legacy-only and nowhere", providers.Query{GPUModel: "RTX 3090"}, []string{
			"nvidia/rtx3090/24Gi@/   0.18",
			"nvidia/rtx3090/24Gi@us-central/ us-central  0.18",
			"nvidia/rtx3090/24Gi@us-east/US us-east US 0.18",
		}},
		{"3090 in a region: the unlocated provider is out", providers.Query{GPUModel: "RTX 3090", Regions: []string{"us-central", "us-east"}}, []string{
			"nvidia/rtx3090/24Gi@us-central/ us-central  0.18",
			"nvidia/rtx3090/24Gi@us-east/US us-east US 0.18",
		}},
		{"A100 in Europe: both sizes", providers.Query{GPUModel: "A100", Regions: []string{"eu-west", "eu-central"}}, []string{
			"nvidia/a100/40Gi@eu-central/DE eu-central DE 0.88",
			"nvidia/a100/80Gi@eu-west/NL eu-west NL 1.22",
		}},
		{"H100 in us-east and eu-central, two of them", providers.Query{GPUModel: "H100", GPUCount: 2, Regions: []string{"us-east", "eu-central"}}, []string{
			"nvidia/h100/80Gi@eu-central/DE eu-central DE 2.04",
			"nvidia/h100/80Gi@us-east/US us-east US 2.04",
		}},
		{"offline provider's region", providers.Query{GPUModel: "A100", Regions: []string{"ap-south"}}, nil},
		{"not an Aurora region", providers.Query{GPUModel: "A100", Regions: []string{"na-us-west"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offers, err := c.Offers(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range offers {
				got = append(got, o.ID+" "+o.Region+" "+o.Country+" "+o.Raw.Amount)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("offers (-want +got):\n%s", diff)
			}
		})
	}
	want := []string{"ap-southeast", "eu-central", "eu-west", "us-central", "us-east", "us-west"}
	if diff := cmp.Diff(want, c.Capabilities().Regions); diff != "" {
		t.Errorf("Capabilities().Regions from the listing (-want +got):\n%s", diff)
	}
	r, err := newClient("http://127.0.0.1:1", secret, akash.Config{Regions: []string{"us-west", "eu-west", "us-west"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"eu-west", "us-west"}, r.Capabilities().Regions); diff != "" {
		t.Errorf("configured Capabilities().Regions (-want +got):\n%s", diff)
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
		{"uakt without rate", akash.Config{Credential: k, Denom: "uakt"}},
		{"a denom the Console would rewrite", akash.Config{Credential: k, Denom: akash.USDCDenom}},
		{"uusdc", akash.Config{Credential: k, Denom: "uusdc"}},
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

// TestDefaultInventoryCoversRegions: the default fake rents each of A100,
// H100 and RTX 4090 in Europe (eu-west or eu-central) and in us-east, so
// orders for those regions can be routed here on a testnet.
func TestDefaultInventoryCoversRegions(t *testing.T) {
	_, c, _, _ := setup(t, akashtest.Options{})
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

// Launch writes the registry login as SDL credentials (Docker Hub under
// the host Akash documents), the volume as a persistent profile volume
// mounted through params.storage, and secret env into the service env;
// the fake parses all three back out of the SDL.
func TestSDLForFeatures(t *testing.T) {
	c, err := newClient("http://127.0.0.1:1", secret, akash.Config{StorageClass: "beta2"})
	if err != nil {
		t.Fatal(err)
	}
	spec := providers.LaunchSpec{
		JobID: "features", IdempotencyKey: providers.IdempotencyKey("features"),
		Workload:  treaty.Workload{Image: "acme/private:1", Env: []treaty.EnvVar{{Name: "MODE", Value: "prod"}}},
		Registry:  &providers.RegistryAuth{Username: "acme", Secret: providers.NewCredential("dckr_pat_123456")},
		Storage:   &providers.Storage{SizeMiB: 2048, MountPath: "/srv"},
		SecretEnv: []providers.SecretEnvVar{{Name: "API_KEY", Value: providers.SecretValue("k-98765")}},
	}
	sdl, err := c.SDLFor(spec, "100")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`host: "https://index.docker.io/v1/"`, `class: "beta2"`, `mount: "/srv"`, `- "API_KEY=k-98765"`, `- "MODE=prod"`} {
		if !strings.Contains(sdl, want) {
			t.Errorf("SDL lacks %s:\n%s", want, sdl)
		}
	}
	if strings.Index(sdl, "API_KEY") > strings.Index(sdl, "MODE") {
		t.Errorf("env not sorted:\n%s", sdl)
	}
	spec.Registry.Secret = providers.NewCredential("short")
	if _, err := c.SDLFor(spec, "100"); err == nil {
		t.Error("a 5-character registry password was written; the SDL schema wants 6")
	}
	if _, err := newClient("http://127.0.0.1:1", secret, akash.Config{StorageClass: "ram"}); err == nil {
		t.Error("storage class ram accepted for persistent volumes")
	}
}
