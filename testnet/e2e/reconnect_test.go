package e2e

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/testnet"
)

var (
	partitions      = flag.String("partitions", "10s,40s", "comma-separated partition lengths TestPartitionReconnect cuts node0 for (the budget holds for 10s to 5m)")
	reconnectBudget = flag.Duration("reconnect-budget", 10*time.Second, "every treaty pair must be directly connected again this long after a heal")
	cutModes        = flag.String("cut", "reject,unplug,cut", "how TestPartitionReconnect partitions node0, in turn: reject (unreachable routes both ways: every dial fails at once), unplug (its interface down: its own dials fail at once) or cut (its bridge port down: a black hole)")
)

// TestPartitionReconnect cuts node0 of a 3-node federation on network
// namespaces (every pair a treaty pair) off the bridge for each of
// -partitions while every node forwards orders across the cut, heals it,
// and wants every treaty pair connected again, on both sides, within
// -reconnect-budget (issue 18: pairs that never reconnected after long
// partitions, both sides refusing each other with "rate limit exceeded").
func TestPartitionReconnect(t *testing.T) {
	var lens []time.Duration
	for _, s := range strings.Split(*partitions, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			t.Fatalf("-partitions: %v", err)
		}
		lens = append(lens, d)
	}
	var total time.Duration
	for _, d := range lens {
		total += d
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute+2*total)
	defer cancel()
	n := upNetns(t, ctx, testnet.UpOptions{Nodes: 3, Epoch: time.Second, SimFailure: 0.0001,
		Configure: func(i int, cfg *node.Config) { cfg.Log.Level = "debug" }})

	lctx, stopLoad := context.WithCancel(ctx)
	var st loadStats
	wg := n.load(lctx, []int{0, 1, 2}, 2, 0, &st)
	defer func() { stopLoad(); wg.Wait() }()

	modes := strings.Split(*cutModes, ",")
	pairs := [][2]int{{0, 1}, {0, 2}}
	for k, d := range lens {
		before := st.acks.Load()
		mode := strings.TrimSpace(modes[k%len(modes)])
		cut := map[string]func(context.Context) error{"cut": n.lab[0].Cut, "unplug": n.lab[0].Unplug, "reject": n.lab[0].Reject}[mode]
		if cut == nil {
			t.Fatalf("-cut %q: want cut, unplug or reject", mode)
		}
		if err := cut(ctx); err != nil {
			t.Fatal(err)
		}
		// The partition is the scenario: it lasts d, under load.
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(d):
		}
		if err := n.lab[0].Heal(ctx); err != nil {
			t.Fatal(err)
		}
		healed := time.Now()
		got, err := n.waitPairs(ctx, pairs, healed, *reconnectBudget)
		for _, p := range pairs {
			if r, ok := got[p]; ok {
				t.Logf("partition %v (%s): node%d–node%d connected again %v after the heal", d, mode, p[0], p[1], r.Round(10*time.Millisecond))
			}
		}
		t.Logf("partition %v: %d acks during it and the reconnect; \"rate limit exceeded\" in the logs so far: %v",
			d, st.acks.Load()-before, n.grepLogs("rate limit exceeded"))
		if err != nil {
			// How long it really takes, for the report.
			more, err2 := n.waitPairs(ctx, pairs, healed, 2*time.Minute)
			t.Errorf("partition %v: %v (after 2 min: %v %v)", d, err, more, err2)
			return
		}
	}
	t.Logf("load: %d acks, %d denials, %d errors", st.acks.Load(), st.denials.Load(), st.errs.Load())
}
