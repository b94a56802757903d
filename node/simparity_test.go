package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/judge"
	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/simulate"
	"github.com/aurora-federation/aurora/treaty"
)

// TestSimulatorAndNodeDecideAlike: the simulator's seeded order stream,
// decided by one simulated operator (the order core on a virtual clock,
// the standard law native) and by a real node (badger, the std.wasm module
// on wazero, the same networks), gets the same policy decision word for
// every order, and the same answer (Ack or Denial) for every order that
// names no minimum reputation. Learned reputation is the one input that
// differs: it decays on each side's own clock (virtual seconds in the
// simulator, a wall-clock second in the node), so orders that ask for a
// minimum reputation, and laws that price by the best-ranked offer, may
// rank differently; that is time, not logic.
func TestSimulatorAndNodeDecideAlike(t *testing.T) {
	law := providers.Law{AllowedRegions: []string{"us-east", "eu-west", "eu-central", "us-west"}}
	scfg := simulate.Config{Operators: 1, Orders: 300, Seed: 9, Laws: []providers.Law{law}, Judge: &judge.Native{},
		Start: time.Now().Truncate(time.Second), Providers: []string{"vastai", "salad", "akash"}}
	type answer struct {
		acked bool
		word  uint32
	}
	var orders []*treaty.Order
	var want []answer
	scfg.OnDecision = func(d simulate.Decision) {
		orders = append(orders, d.Order)
		want = append(want, answer{acked: d.Outcome == simulate.Filled || d.Outcome == simulate.Unfilled, word: d.Word})
	}
	if _, err := simulate.Run(t.Context(), scfg); err != nil {
		t.Fatal(err)
	}
	provs, err := simulate.OperatorProviders(scfg, 0, providers.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := newConfig()
	cfg.Providers = nil
	cfg.Law = node.LawConfig{Regions: law.AllowedRegions, MaxPricePerGPUHour: int64(law.MaxPricePerGPUHour)}
	home := t.TempDir()
	if _, err := node.InitHome(home, cfg, false, nil); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(t.Context(), node.Options{Home: home, Config: cfg, PolicyCacheDir: policyCache, APIListener: mustListen(t), ExtraProviders: provs})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	var acked, denied, judged, differ int
	for i, o := range orders {
		r, err := n.Core().Submit(t.Context(), o)
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
		got := answer{acked: r.Ack != nil}
		if r.Denial != nil {
			got.word = uint32(r.Denial.ReasonBits)
			denied++
			if got.word != 0 {
				judged++
			}
		} else {
			acked++
		}
		switch {
		case got.word != want[i].word:
			differ++
			t.Errorf("order %d: node word %#x, simulator %#x", i, got.word, want[i].word)
		case o.Constraints.MinReputation == 0 && got.acked != want[i].acked:
			differ++
			t.Errorf("order %d: node acked=%v, simulator acked=%v", i, got.acked, want[i].acked)
		}
	}
	if acked == 0 || judged == 0 || denied == judged {
		t.Errorf("%d acked, %d denied (%d by the policy): the stream must exercise acks, policy denials and unroutable orders", acked, denied, judged)
	}
	t.Logf("%d orders: %d acked, %d denied (%d by the policy), %d differ", len(orders), acked, denied, judged, differ)
}
