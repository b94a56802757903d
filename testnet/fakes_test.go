package testnet

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// TestEveryFakeServesItsAdapter builds each network's adapter from the
// [[providers]] entry a fake produces (the path `aurora testnet` takes) and
// launches a workload through it until it runs.
func TestEveryFakeServesItsAdapter(t *testing.T) {
	for _, kind := range FakeKinds() {
		t.Run(kind, func(t *testing.T) {
			f, err := StartFake(kind, "127.0.0.1:0", 20*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			pc, err := f.ProviderConfig(t.TempDir(), kind, nil)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := node.BuildProviders([]node.ProviderConfig{pc}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			p := ps[0]
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			w := treaty.Workload{Image: "ghcr.io/aurora/infer:1", GPU: &treaty.GPU{Model: "RTX 4090", Count: 1}, Duration: 3600, Memory: 8192, CPU: 2000}
			switch kind {
			case "flux":
				w.GPU = nil // Flux rents CPU capacity
			case "ionet":
				w.Ports = []int64{8080} // CaaS serves one traffic port, which it requires
			}
			offers, err := p.Offers(ctx, providers.QueryFor(w, treaty.Constraints{MaxPricePerHour: 10_000_000}))
			if err != nil || len(offers) == 0 {
				t.Fatalf("offers: %v (%d)", err, len(offers))
			}
			l, err := p.Launch(ctx, providers.LaunchSpec{JobID: "job-" + kind, IdempotencyKey: providers.IdempotencyKey("job-" + kind), Offer: offers[0], Workload: w, MaxPricePerHour: 10_000_000})
			if err != nil {
				t.Fatalf("launch: %v", err)
			}
			for {
				st, err := p.Status(ctx, l.ID)
				if err == nil && st.State == providers.StateRunning {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("never running: %+v %v", st, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
