package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/judge"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/simulate"
)

// simJudge judges simulated orders with the standard treaty law's native
// build (the same Go source as the embedded std.wasm, proven to agree with
// it by policy/std's differential test) on the facts the order core
// computes, under one law for every operator: every canonical region but
// af-south, a 4 USD/GPU-hour cap, no quotas.
func simJudge() order.Judge {
	regions := []string{}
	for _, r := range providers.Regions() {
		if r != "af-south" {
			regions = append(regions, r)
		}
	}
	return &judge.Native{Law: &order.JudgeInput{Law: providers.Law{AllowedRegions: regions, MaxPricePerGPUHour: 4_000_000}}}
}

func newSimCmd() *cobra.Command {
	var (
		cfg       simulate.Config
		providers string
		strategy  string
		compare   bool
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Simulate routing on a virtual clock: fill rate, RTT, cost, provider share",
		Long: `sim runs the real router and reputation of a federation of operators over
seeded in-process providers modelled on each network, on a virtual clock. The
same flags always print the same table and decision digest.`,
		Example: `  aurora sim --operators 7 --orders 100000 --seed 1 --fail 0.2 --strategy cheapest
  aurora sim --compare`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Providers = splitList(providers)
			cfg.Judge = simJudge()
			strategies := []string{strategy}
			if compare {
				strategies = []string{"cheapest", "fastest", "reputation"}
			}
			start := time.Now()
			results, err := simulate.Compare(cmd.Context(), cfg, strategies)
			if err != nil {
				return err
			}
			if err := printSim(cmd.OutOrStdout(), cfg, results); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "simulated %d orders x %d strategies in %s\n",
				results[0].Orders, len(results), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Operators, "operators", 7, "federation size")
	f.StringVar(&providers, "providers", strings.Join(simulate.Profiles(), ","), "provider profiles each operator attaches")
	f.IntVar(&cfg.Orders, "orders", 100_000, "orders to simulate")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of providers, orders and arrivals")
	f.Float64Var(&cfg.Fail, "fail", 0.2, "extra launch failure rate (0..1)")
	f.StringVar(&strategy, "strategy", "reputation", "routing strategy: cheapest, fastest or reputation")
	f.BoolVar(&compare, "compare", false, "run every strategy on the same orders")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// printSim writes the results as two aligned tables (outcomes, provider
// shares) and the decision digests.
func printSim(w io.Writer, cfg simulate.Config, results []simulate.Result) error {
	provs := cfg.Providers
	if len(provs) == 0 {
		provs = simulate.Profiles()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\torders\tdenied\tunrouted\tacked\tfilled\tfill rate\tforwarded\tRTT p50\tRTT p95\tRTT p99\tcost\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.4f\t%d\t%s\t%s\t%s\t%s\t\n",
			r.Strategy, r.Orders, r.Denied, r.Unrouted, r.Acked, r.Filled, r.FillRate, r.Forwarded,
			simDur(r.RTTP50), simDur(r.RTTP95), simDur(r.RTTP99), r.TotalCost)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "share\t%s\t\n", strings.Join(provs, "\t"))
	for _, r := range results {
		cells := make([]string, len(provs))
		for i, p := range provs {
			cells[i] = fmt.Sprintf("%.1f%%", 100*r.PerProvider[p])
		}
		fmt.Fprintf(tw, "%s\t%s\t\n", r.Strategy, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "digest %-10s %s\n", r.Strategy, r.Digest)
	}
	return nil
}

func simDur(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
