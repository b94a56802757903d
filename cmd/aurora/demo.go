package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/testnet"
)

func newDemoCmd() *cobra.Command {
	var nodes, orders int
	var dir string
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the main job on a local testnet: treaties, orders, KPIs, an offline proof",
		Long: `Starts a local federation on loopback (real nodes, provider fakes speaking the
networks' wire formats), submits a few hundred orders (some forwarded to treaty
peers, some denied by policy, some hitting failing providers), prints the KPI
table, verifies one job's proof bundle offline and shuts down.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), nodes, orders, dir, keep)
		},
	}
	cmd.Flags().IntVar(&nodes, "nodes", 3, "number of nodes")
	cmd.Flags().IntVar(&orders, "orders", 300, "number of orders")
	cmd.Flags().StringVar(&dir, "dir", "", "testnet directory (default: a temp dir, removed afterwards)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the testnet directory")
	return cmd
}

// demoOrder is one kind of order the demo sends, with its share.
type demoOrder struct {
	name  string
	share float64
	spec  func(tn *testnet.Testnet, from int) client.OrderSpec
}

func demoMix() []demoOrder {
	local := func(tn *testnet.Testnet, from int) client.OrderSpec {
		return client.OrderSpec{Image: "ghcr.io/aurora/infer:1", GPU: "A100:1", Regions: tn.Nodes[from].Regions, MaxPrice: "2.50/h", Duration: time.Hour}
	}
	return []demoOrder{
		{"local", 0.60, local},
		{"peer region (forwarded)", 0.25, func(tn *testnet.Testnet, from int) client.OrderSpec {
			s := local(tn, from)
			s.Regions = tn.Nodes[(from+1)%len(tn.Nodes)].Regions
			return s
		}},
		{"region outside the law (denied)", 0.08, func(tn *testnet.Testnet, from int) client.OrderSpec {
			s := local(tn, from)
			s.Regions = []string{"ap-south"}
			return s
		}},
		{"no such GPU (denied)", 0.07, func(tn *testnet.Testnet, from int) client.OrderSpec {
			s := local(tn, from)
			s.GPU = "B300:8"
			return s
		}},
	}
}

func runDemo(ctx context.Context, out io.Writer, nodes, orders int, dir string, keep bool) error {
	start := time.Now()
	if dir == "" {
		d, err := os.MkdirTemp("", "aurora-demo-")
		if err != nil {
			return err
		}
		dir = d
		if !keep {
			defer os.RemoveAll(d)
		}
	}
	fmt.Fprintf(out, "Aurora demo: %d nodes on 127.0.0.1, provider fakes (%s), %d orders\n\n", nodes, "vastai, salad, akash + sim", orders)
	tn, err := testnet.Start(ctx, testnet.Config{Nodes: nodes, Dir: dir})
	if err != nil {
		return err
	}
	defer tn.Close()
	for i, n := range tn.Nodes {
		fmt.Fprintf(out, "  node%d  %s  api http://%s  regions %v\n", i, n.Identity().DID.Short(), n.APIAddr(), n.Regions)
	}
	fmt.Fprintln(out)
	if err := demoTreaties(ctx, out, tn); err != nil {
		return err
	}

	// Orders, from 8 concurrent clients, spread over the nodes.
	mix := demoMix()
	rng := rand.New(rand.NewPCG(1, 2))
	type planned struct {
		from int
		kind int
	}
	plan := make([]planned, orders)
	for i := range plan {
		x, k := rng.Float64(), 0
		for acc := mix[0].share; x > acc && k < len(mix)-1; {
			k++
			acc += mix[k].share
		}
		plan[i] = planned{from: i % len(tn.Nodes), kind: k}
	}
	bar := progressbar.NewOptions(orders, progressbar.OptionSetWriter(out), progressbar.OptionSetDescription("orders"),
		progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond))
	var (
		next                    atomic.Int64
		acks, denials, rejected atomic.Int64
		mu                      sync.Mutex
		jobs                    []struct {
			node int
			id   string
		}
	)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(plan) || ctx.Err() != nil {
					return
				}
				p := plan[i]
				o, err := client.BuildOrder(tn.Client, mix[p.kind].spec(tn, p.from), time.Now())
				if err == nil {
					var r *client.OrderResponse
					if r, err = tn.Nodes[p.from].API.Submit(ctx, o); err == nil {
						if r.Result == "ack" {
							acks.Add(1)
							mu.Lock()
							jobs = append(jobs, struct {
								node int
								id   string
							}{p.from, r.Job})
							mu.Unlock()
						} else {
							denials.Add(1)
						}
					}
				}
				if err != nil {
					rejected.Add(1)
				}
				bar.Add(1)
			}
		}()
	}
	wg.Wait()
	bar.Finish()
	fmt.Fprintf(out, "\n\n  %d acknowledged, %d denied (signed Denials), %d rejected\n", acks.Load(), denials.Load(), rejected.Load())

	// Wait for launches to settle and for two epochs to close over them.
	fmt.Fprintln(out, "  waiting for launches to settle and two epochs to close …")
	settleCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, j := range jobs {
		if _, err := tn.Nodes[j.node].API.WaitSettled(settleCtx, j.id); err != nil {
			return fmt.Errorf("job %s: %w", j.id, err)
		}
	}
	time.Sleep(2*time.Second + 200*time.Millisecond)

	bases := make([]string, len(tn.Nodes))
	for i, n := range tn.Nodes {
		bases[i] = n.API.Base
	}
	fams, err := testnet.Scrape(ctx, bases)
	if err != nil {
		return err
	}
	k := testnet.ComputeKPIs(fams)
	fmt.Fprintf(out, "\nKPIs (from the nodes' /metrics)\n%s\n", k.Table())
	missed := k.Missed()

	// One proof bundle, verified offline.
	if len(jobs) > 0 {
		j := jobs[0]
		n := tn.Nodes[j.node]
		raw, err := n.API.Raw(ctx, "GET", "/v1/jobs/"+j.id+"/proof", "", nil)
		if err != nil {
			return fmt.Errorf("proof bundle: %w", err)
		}
		path := filepath.Join(dir, "job.proof")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			return err
		}
		b, err := provenance.ParseBundle(raw)
		if err != nil {
			return err
		}
		origin := "aurora/" + "testnet" + "/" + n.Identity().PeerID.String()
		// Trust: the node's DID as the log key, the other nodes as
		// witnesses (at least one must cosign), the two dev TSAs' roots.
		var witnesses []*provenance.CosignatureVerifier
		for _, w := range tn.Nodes {
			if w != n {
				v, err := provenance.WitnessVerifier("aurora-witness/"+w.Identity().PeerID.String(), w.Identity().DID)
				if err != nil {
					return err
				}
				witnesses = append(witnesses, v)
			}
		}
		rootsPEM, err := os.ReadFile(tn.TSARootsPath())
		if err != nil {
			return err
		}
		roots, err := tsa.CertPoolFromPEM(rootsPEM)
		if err != nil {
			return err
		}
		rep, err := provenance.VerifyBundle(b, provenance.VerifyOptions{Origin: origin, LogDID: n.Identity().DID, Now: time.Now(),
			WitnessKeys: witnesses, MinWitnesses: 1, TSAVerifier: tsa.Verifier{Opts: tsa.VerifyOptions{Roots: roots}}})
		fmt.Fprintf(out, "Proof bundle of job %s (%d bytes, %s), verified offline:\n", short(j.id), len(raw), path)
		if rep != nil {
			rep.WriteTo(out)
		}
		if err != nil {
			return fmt.Errorf("proof does not verify: %w", err)
		}
	}
	fmt.Fprintf(out, "\nDone in %.1fs; shutting down.\n", time.Since(start).Seconds())
	if len(missed) > 0 {
		return fmt.Errorf("demo: KPIs missed their SLO (or had no data): %s", strings.Join(missed, ", "))
	}
	return nil
}

// demoTreaties: node i proposes a bilateral treaty to node i+1 through its
// API; the proposal travels by gossip and node i+1 countersigns it.
func demoTreaties(ctx context.Context, out io.Writer, tn *testnet.Testnet) error {
	fmt.Fprintln(out, "Treaties (proposed on one node, gossiped, countersigned on the other):")
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := tn.ExchangeTreaties(ctx, "bilateral", func(e testnet.TreatyEvent) {
		fmt.Fprintf(out, "  %6.0f ms  node%d → node%d  %-18s %s\n", float64(e.Elapsed.Microseconds())/1000, e.From, e.To, e.Step, short(e.CID))
	})
	fmt.Fprintln(out)
	return err
}

func short(s string) string {
	if len(s) <= 16 {
		return s
	}
	return s[:8] + "…" + s[len(s)-6:]
}
