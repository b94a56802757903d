package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func table() []GPU {
	return []GPU{
		{Model: "H100", Count: 1, VRAMMiB: 80 << 10, PricePerHour: 2_000_000},
		{Model: "H100", Count: 8, VRAMMiB: 80 << 10, PricePerHour: 15_000_000, Regions: []string{"us-east"}},
		{Model: "RTX 4090", Count: 1, VRAMMiB: 24 << 10, PricePerHour: 400_000},
		{Model: "", Count: 0, PricePerHour: 50_000, Regions: []string{"eu-de"}},
	}
}

func newSim(t testing.TB, cfg Config) (*Provider, *providers.VirtualClock) {
	t.Helper()
	clock := providers.NewVirtualClock(t0)
	if cfg.Clock == nil {
		cfg.Clock = clock
	}
	if cfg.Regions == nil {
		cfg.Regions = []string{"eu-de", "us-east"}
	}
	if cfg.GPUs == nil {
		cfg.GPUs = table()
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, clock
}

func ids(offers []providers.Offer) []string {
	var out []string
	for _, o := range offers {
		out = append(out, o.ID)
	}
	return out
}

func TestOffers(t *testing.T) {
	p, _ := newSim(t, Config{Name: "net"})
	tests := []struct {
		name string
		q    providers.Query
		want []string
	}{
		{"model and count", providers.Query{GPUModel: "H100", GPUCount: 1}, []string{"net/0/eu-de", "net/1/us-east"}},
		{"spelling does not matter", providers.Query{GPUModel: "NVIDIA H100 SXM5 80GB", GPUCount: 8}, []string{"net/2/us-east"}},
		{"any count of a model", providers.Query{GPUModel: "h100"}, []string{"net/0/eu-de", "net/1/us-east", "net/2/us-east"}},
		{"any model of a count", providers.Query{GPUCount: 1}, []string{"net/0/eu-de", "net/1/us-east", "net/3/eu-de", "net/4/us-east"}},
		{"a CPU job sees CPU machines", providers.Query{}, []string{"net/5/eu-de"}},
		{"region", providers.Query{GPUModel: "H100", GPUCount: 1, Regions: []string{"us-east"}}, []string{"net/1/us-east"}},
		{"VRAM", providers.Query{GPUModel: "RTX 4090", GPUCount: 1, MinVRAMMiB: 32 << 10}, nil},
		{"price cap", providers.Query{GPUModel: "H100", MaxPricePerHour: 2_000_000}, []string{"net/0/eu-de", "net/1/us-east"}},
		{"price cap below all", providers.Query{GPUModel: "H100", MaxPricePerHour: 1}, nil},
		{"unknown model", providers.Query{GPUModel: "B300", GPUCount: 1}, nil},
		{"too many GPUs", providers.Query{GPUModel: "H100", GPUCount: 4096}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Offers(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("offers (-want +got):\n%s", diff)
			}
			for _, o := range got {
				if o.Provider != "net" || o.PricePerHour <= 0 || o.Raw.Unit == "" || o.Raw.Amount == "" {
					t.Errorf("offer %+v incomplete", o)
				}
			}
		})
	}
	got, _ := p.Offers(t.Context(), providers.Query{GPUModel: "H100", GPUCount: 1})
	got[0].PricePerHour = 1 // the caller owns the result
	again, _ := p.Offers(t.Context(), providers.Query{GPUModel: "H100", GPUCount: 1})
	if again[0].PricePerHour != 2_000_000 {
		t.Errorf("modifying a result changed the table")
	}
	if caps := p.Capabilities(); !caps.Offers || !caps.Launch || !caps.Idempotent || !slices.Equal(caps.Regions, []string{"eu-de", "us-east"}) {
		t.Errorf("Capabilities = %+v", caps)
	}
}

func offer(t *testing.T, p *Provider, q providers.Query) providers.Offer {
	t.Helper()
	got, err := p.Offers(t.Context(), q)
	if err != nil || len(got) == 0 {
		t.Fatalf("Offers(%+v) = %v, %v", q, got, err)
	}
	return got[0]
}

func TestLifecycle(t *testing.T) {
	p, clock := newSim(t, Config{Name: "net", Capacity: 1, LaunchLatency: Latency{Min: 30 * time.Second}})
	ctx := t.Context()
	o := offer(t, p, providers.Query{GPUModel: "H100", GPUCount: 1})
	spec := providers.LaunchSpec{JobID: "j1", IdempotencyKey: providers.IdempotencyKey("j1"), Offer: o, MaxPricePerHour: o.PricePerHour}
	lease, err := p.Launch(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if lease.State != providers.StateLaunching || lease.PricePerHour != o.PricePerHour || lease.Provider != "net" || lease.Offer.ID != o.ID {
		t.Errorf("lease = %+v", lease)
	}
	steps := []struct {
		advance time.Duration
		want    providers.State
	}{
		{0, providers.StateLaunching},
		{29 * time.Second, providers.StateLaunching},
		{time.Second, providers.StateRunning},
		{time.Hour, providers.StateRunning},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		got, err := p.Status(ctx, lease.ID)
		if err != nil || got.State != st.want || got.ID != lease.ID {
			t.Errorf("after +%s: Status = %+v, %v; want %s", st.advance, got, err, st.want)
		}
	}
	if info, ok := p.Inspect(lease.ID); !ok || !info.Ready.Equal(t0.Add(30*time.Second)) || info.Key != spec.IdempotencyKey {
		t.Errorf("Inspect = %+v, %v", info, ok)
	}
	// At capacity: no offers, no launches.
	if got, _ := p.Offers(ctx, providers.Query{GPUModel: "H100"}); len(got) != 0 {
		t.Errorf("offers at capacity: %v", ids(got))
	}
	spec2 := spec
	spec2.JobID, spec2.IdempotencyKey = "j2", providers.IdempotencyKey("j2")
	if _, err := p.Launch(ctx, spec2); !errors.Is(err, providers.ErrNoCapacity) {
		t.Errorf("Launch at capacity = %v, want ErrNoCapacity", err)
	}
	// Terminate frees capacity, is idempotent, and the lease reads terminated.
	if err := p.Terminate(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	if err := p.Terminate(ctx, lease.ID); err != nil {
		t.Errorf("second Terminate = %v", err)
	}
	if st, err := p.Status(ctx, lease.ID); err != nil || st.State != providers.StateTerminated {
		t.Errorf("Status after Terminate = %+v, %v", st, err)
	}
	lease2, err := p.Launch(ctx, spec2)
	if err != nil {
		t.Fatalf("Launch after Terminate = %v", err)
	}
	// The new lease reuses the slot; the old ID still reads terminated and
	// terminating it again leaves the new one alone.
	if lease2.ID == lease.ID {
		t.Fatalf("lease ID %s reused", lease.ID)
	}
	if err := p.Terminate(ctx, lease.ID); err != nil {
		t.Errorf("third Terminate = %v", err)
	}
	if st, err := p.Status(ctx, lease2.ID); err != nil || st.State != providers.StateLaunching {
		t.Errorf("Status of the new lease = %+v, %v", st, err)
	}
	st := p.Stats()
	if st.Launched != 2 || st.Terminated != 1 || st.Active != 1 || st.NoCapacity != 1 || st.Calls != 3 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestLaunchErrors(t *testing.T) {
	p, _ := newSim(t, Config{Name: "net"})
	ctx := t.Context()
	o := offer(t, p, providers.Query{GPUModel: "H100", GPUCount: 1})
	tests := []struct {
		name string
		spec providers.LaunchSpec
		want error
	}{
		{"unknown offer", providers.LaunchSpec{Offer: providers.Offer{ID: "net/99/eu-de"}}, providers.ErrNotFound},
		{"offer of another provider", providers.LaunchSpec{Offer: providers.Offer{ID: "other/0/eu-de"}}, providers.ErrNotFound},
		{"forged offer ID", providers.LaunchSpec{Offer: providers.Offer{ID: "net/0/us-east"}}, providers.ErrNotFound},
		{"over the cap", providers.LaunchSpec{Offer: o, MaxPricePerHour: o.PricePerHour - 1}, providers.ErrOverPrice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := p.Launch(ctx, tt.spec); !errors.Is(err, tt.want) {
				t.Errorf("Launch = %v, want %v", err, tt.want)
			}
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Launch(cctx, providers.LaunchSpec{Offer: o}); !errors.Is(err, context.Canceled) {
		t.Errorf("Launch on a done context = %v", err)
	}
	if _, err := p.Offers(cctx, providers.Query{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Offers on a done context = %v", err)
	}
	if p.Stats().Launched != 0 {
		t.Errorf("failed launches created leases")
	}
	for _, id := range []string{"", "net-", "net-0.0", "net-01.0", "net-1.0", "net-1", "net-1.", "net-1.01", "net-x.0", "other-1.0", "net-99999999999999999999999.0", "../net-1.0"} {
		if _, err := p.Status(ctx, id); !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("Status(%q) = %v, want ErrNotFound", id, err)
		}
		if err := p.Terminate(ctx, id); !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("Terminate(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestIdempotent(t *testing.T) {
	p, _ := newSim(t, Config{Name: "net", FailureRate: 0.5, Seed: 3})
	ctx := t.Context()
	o := offer(t, p, providers.Query{GPUModel: "RTX 4090", GPUCount: 1})
	var first providers.Lease
	for i := range 20 { // retry until the launch succeeds, then relaunch
		key := providers.IdempotencyKey("job")
		l, err := p.Launch(ctx, providers.LaunchSpec{JobID: "job", IdempotencyKey: key, Offer: o})
		if err != nil {
			if !errors.Is(err, ErrLaunchFailed) {
				t.Fatal(err)
			}
			continue
		}
		if first.ID == "" {
			first = l
		} else if l.ID != first.ID {
			t.Fatalf("attempt %d: lease %s, first was %s", i, l.ID, first.ID)
		}
	}
	if first.ID == "" || p.Stats().Launched != 1 {
		t.Errorf("lease %q, %d launched; want exactly one", first.ID, p.Stats().Launched)
	}
	// After Terminate the key is released.
	if err := p.Terminate(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	p.cfg.FailureRate = 0
	l, err := p.Launch(ctx, providers.LaunchSpec{IdempotencyKey: providers.IdempotencyKey("job"), Offer: o})
	if err != nil || l.ID == first.ID {
		t.Errorf("relaunch after Terminate = %+v, %v; want a new lease", l, err)
	}
}

func TestFaults(t *testing.T) {
	p, _ := newSim(t, Config{Name: "net", RateLimitEvery: 3})
	ctx := t.Context()
	o := offer(t, p, providers.Query{GPUModel: "RTX 4090", GPUCount: 1})
	var got []string
	for i := range 7 {
		_, err := p.Launch(ctx, providers.LaunchSpec{IdempotencyKey: fmt.Sprint(i), Offer: o})
		switch {
		case err == nil:
			got = append(got, "ok")
		case errors.Is(err, providers.ErrRateLimited):
			got = append(got, "429")
		default:
			got = append(got, err.Error())
		}
	}
	if want := []string{"ok", "ok", "429", "ok", "ok", "429", "ok"}; !slices.Equal(got, want) {
		t.Errorf("every third call: %v, want %v", got, want)
	}
	p.RateLimitNext(1)
	p.FailNextLaunch(2)
	got = got[:0]
	for i := range 4 {
		_, err := p.Launch(ctx, providers.LaunchSpec{IdempotencyKey: fmt.Sprint("f", i), Offer: o})
		switch {
		case err == nil:
			got = append(got, "ok")
		case errors.Is(err, providers.ErrRateLimited):
			got = append(got, "429")
		case errors.Is(err, ErrLaunchFailed):
			got = append(got, "fail")
		}
	}
	// Calls 8, 9, 10, 11: 429 (injected), 429 (9th call), fail, fail.
	if want := []string{"429", "429", "fail", "fail"}; !slices.Equal(got, want) {
		t.Errorf("injected faults: %v, want %v", got, want)
	}
	if st := p.Stats(); st.RateLimited != 4 || st.Failed != 2 || st.Launched != 5 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestFailureModes(t *testing.T) {
	const n = 4000
	for _, mode := range []FailMode{FailOnLaunch, FailAfterLatency} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			p, clock := newSim(t, Config{Name: "net", Seed: 42, FailureRate: 0.3, FailMode: mode, LaunchLatency: Latency{Min: time.Second}})
			ctx := t.Context()
			o := offer(t, p, providers.Query{GPUModel: "RTX 4090", GPUCount: 1})
			var errs, failedLater, running int
			var leases []string
			for i := range n {
				l, err := p.Launch(ctx, providers.LaunchSpec{IdempotencyKey: fmt.Sprint(i), Offer: o})
				if err != nil {
					if !errors.Is(err, ErrLaunchFailed) {
						t.Fatal(err)
					}
					errs++
					continue
				}
				leases = append(leases, l.ID)
			}
			clock.Advance(time.Second)
			for _, id := range leases {
				st, err := p.Status(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				switch st.State {
				case providers.StateFailed:
					failedLater++
				case providers.StateRunning:
					running++
				}
			}
			failed := errs + failedLater
			// 3 standard deviations of a binomial(4000, 0.3): ±87.
			if math.Abs(float64(failed)-0.3*n) > 87 {
				t.Errorf("%d of %d failed, want about %d", failed, n, int(0.3*n))
			}
			if mode == FailOnLaunch && failedLater != 0 || mode == FailAfterLatency && errs != 0 {
				t.Errorf("mode %d: %d launch errors, %d later failures", mode, errs, failedLater)
			}
			if running+failed != n {
				t.Errorf("running %d + failed %d != %d", running, failed, n)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	trace := func(seed uint64) string {
		p, _ := newSim(t, Config{Name: "net", Seed: seed, FailureRate: 0.2, LaunchLatency: Latency{Median: time.Minute, Sigma: 0.5}})
		o := offer(t, p, providers.Query{GPUModel: "H100", GPUCount: 1})
		var b strings.Builder
		for i := range 200 {
			l, err := p.Launch(t.Context(), providers.LaunchSpec{IdempotencyKey: fmt.Sprint(i), Offer: o})
			if err != nil {
				b.WriteString("x")
				continue
			}
			info, _ := p.Inspect(l.ID)
			fmt.Fprintf(&b, "%s@%d,", l.ID, info.Ready.Sub(info.Launched))
		}
		return b.String()
	}
	if a, b := trace(7), trace(7); a != b {
		t.Errorf("same seed, different traces")
	}
	if a, b := trace(7), trace(8); a == b {
		t.Errorf("different seeds, same trace")
	}
}

func TestLatency(t *testing.T) {
	tests := []struct {
		name     string
		l        Latency
		min, max time.Duration
		median   time.Duration // 0 = unchecked
	}{
		{"zero is instant", Latency{}, 0, 0, 0},
		{"fixed", Latency{Min: 5 * time.Second}, 5 * time.Second, 5 * time.Second, 0},
		{"uniform", Latency{Min: time.Second, Max: 3 * time.Second}, time.Second, 3 * time.Second, 2 * time.Second},
		{"lognormal", Latency{Median: time.Minute, Sigma: 0.5}, 0, 24 * time.Hour, time.Minute},
		{"lognormal clamped", Latency{Median: time.Minute, Sigma: 2, Min: 50 * time.Second, Max: 70 * time.Second}, 50 * time.Second, 70 * time.Second, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newSim(t, Config{LaunchLatency: tt.l, Seed: 9})
			var ds []time.Duration
			for range 2001 {
				ds = append(ds, tt.l.sample(p.rng))
			}
			slices.Sort(ds)
			if ds[0] < tt.min || ds[len(ds)-1] > tt.max {
				t.Errorf("range [%s, %s], want within [%s, %s]", ds[0], ds[len(ds)-1], tt.min, tt.max)
			}
			if tt.median > 0 {
				if m := ds[len(ds)/2]; math.Abs(float64(m-tt.median)) > 0.1*float64(tt.median) {
					t.Errorf("median %s, want about %s", m, tt.median)
				}
			}
		})
	}
}

func TestCallLatency(t *testing.T) {
	p, clock := newSim(t, Config{CallLatency: 2 * time.Second, FailureRate: 1})
	o := offer(t, p, providers.Query{GPUModel: "H100", GPUCount: 1})
	if _, err := p.Launch(t.Context(), providers.LaunchSpec{Offer: o}); !errors.Is(err, ErrLaunchFailed) {
		t.Fatal(err)
	}
	if got := clock.Now().Sub(t0); got != 2*time.Second {
		t.Errorf("a launch call took %s of virtual time, want 2s", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero value", Config{}, false},
		{"negative capacity", Config{Capacity: -1}, true},
		{"failure rate above 1", Config{FailureRate: 1.5}, true},
		{"NaN failure rate", Config{FailureRate: math.NaN()}, true},
		{"unknown fail mode", Config{FailMode: 7}, true},
		{"negative rate limit", Config{RateLimitEvery: -1}, true},
		{"negative latency", Config{LaunchLatency: Latency{Min: -1}}, true},
		{"infinite sigma", Config{LaunchLatency: Latency{Sigma: math.Inf(1)}}, true},
		{"negative call latency", Config{CallLatency: -time.Second}, true},
		{"empty region", Config{Regions: []string{""}}, true},
		{"free GPU", Config{GPUs: []GPU{{Model: "x", Count: 1}}}, true},
		{"empty GPU region", Config{GPUs: []GPU{{Model: "x", Count: 1, PricePerHour: 1, Regions: []string{""}}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Errorf("New = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "sim" {
		t.Errorf("default name %q", p.Name())
	}
	if got, _ := p.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090", GPUCount: 1}); len(got) != 1 {
		t.Errorf("default table: %v", got)
	}
}

func TestConcurrent(t *testing.T) {
	p, clock := newSim(t, Config{Capacity: 50, FailureRate: 0.1, RateLimitEvery: 7})
	o := offer(t, p, providers.Query{GPUModel: "H100", GPUCount: 1})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				l, err := p.Launch(t.Context(), providers.LaunchSpec{IdempotencyKey: fmt.Sprint(g, "-", i), Offer: o})
				if err == nil {
					_, _ = p.Status(t.Context(), l.ID)
					_ = p.Terminate(t.Context(), l.ID)
				}
				_, _ = p.Offers(t.Context(), providers.Query{GPUModel: "H100"})
				clock.Advance(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if st := p.Stats(); st.Active != 0 || st.Launched != st.Terminated {
		t.Errorf("Stats = %+v, want every lease terminated", st)
	}
}

func FuzzParseID(f *testing.F) {
	p, err := New(Config{Name: "net"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("net-1.0")
	f.Add("net-18446744073709551615.2147483647")
	f.Add("net-0.0")
	f.Add("net-1.01")
	f.Add("net--1.0")
	f.Add("net-1.0/../2")
	f.Fuzz(func(t *testing.T, id string) {
		seq, slot, ok := p.parseID(id)
		if !ok {
			return
		}
		if seq == 0 || slot < 0 {
			t.Fatalf("parseID(%q) = %d, %d", id, seq, slot)
		}
		if back := fmt.Sprintf("%s%d.%d", p.prefix, seq, slot); back != id {
			t.Fatalf("parseID(%q) = %d, %d, which prints as %q", id, seq, slot, back)
		}
		// Whatever the ID, lookups answer without panicking.
		_, _ = p.Status(context.Background(), id)
		_ = p.Terminate(context.Background(), id)
	})
}

func FuzzOfferIndex(f *testing.F) {
	p, err := New(Config{Name: "net", Regions: []string{"eu-de", "us-east"}, GPUs: table()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("net/0/eu-de")
	f.Add("net/5/eu-de")
	f.Add("net/99999999999/eu-de")
	f.Add("net//eu-de")
	f.Add("net/-1/x")
	f.Fuzz(func(t *testing.T, id string) {
		i, ok := p.offerIndex(id)
		if ok && p.offers[i].ID != id {
			t.Fatalf("offerIndex(%q) = %d, which is %q", id, i, p.offers[i].ID)
		}
		if !ok && slices.ContainsFunc(p.offers, func(o providers.Offer) bool { return o.ID == id }) {
			t.Fatalf("offerIndex(%q) missed a real offer", id)
		}
	})
}

func BenchmarkOffers(b *testing.B) {
	var gpus []GPU
	for _, m := range []string{"H100", "A100", "L40S", "RTX 4090", "RTX 3090"} {
		for _, n := range []int64{1, 2, 4, 8} {
			gpus = append(gpus, GPU{Model: m, Count: n, VRAMMiB: 24 << 10, PricePerHour: providers.Money(n * 500_000)})
		}
	}
	p, _ := newSim(b, Config{GPUs: gpus, Regions: []string{"eu-de", "eu-fr", "us-east", "us-west", "asia-jp"}, Capacity: 1000})
	q := providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"eu-de", "us-east"}}
	for b.Loop() {
		if got, _ := p.Offers(context.Background(), q); len(got) != 2 {
			b.Fatal(len(got))
		}
	}
}

func BenchmarkLaunchTerminate(b *testing.B) {
	p, _ := newSim(b, Config{Capacity: 1000, LaunchLatency: Latency{Median: time.Minute, Sigma: 0.5}})
	o := p.offers[0]
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = providers.IdempotencyKey(fmt.Sprint(i))
	}
	ctx := context.Background()
	i := 0
	for b.Loop() {
		l, err := p.Launch(ctx, providers.LaunchSpec{IdempotencyKey: keys[i%len(keys)], Offer: o})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Terminate(ctx, l.ID); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func ExampleProvider() {
	clock := providers.NewVirtualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p, err := New(Config{
		Name:          "sim",
		Regions:       []string{"eu-de"},
		GPUs:          []GPU{{Model: "RTX 4090", Count: 1, VRAMMiB: 24 << 10, PricePerHour: 400_000}},
		LaunchLatency: Latency{Min: 20 * time.Second},
		Clock:         clock,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	offers, _ := p.Offers(ctx, providers.Query{GPUModel: "RTX 4090", GPUCount: 1})
	lease, _ := p.Launch(ctx, providers.LaunchSpec{JobID: "job-1", IdempotencyKey: providers.IdempotencyKey("job-1"), Offer: offers[0]})
	st, _ := p.Status(ctx, lease.ID)
	fmt.Println(lease.ID, st.State)
	clock.Advance(20 * time.Second)
	st, _ = p.Status(ctx, lease.ID)
	fmt.Println(lease.ID, st.State)
	// Output:
	// sim-1.0 launching
	// sim-1.0 running
}
