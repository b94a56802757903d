package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/policybuild"
	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/treaty"
)

// newPolicyCmd groups the WASM policy tools: build a Go policy into a
// fedpolicy/1 module, evaluate an order against a module, run conformance
// vectors, and write standard-law params.
func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Build, evaluate and test fedpolicy/1 WASM policies",
	}
	cmd.AddCommand(newPolicyBuildCmd(), newPolicyEvalCmd(), newPolicyTestCmd(), newPolicyParamsCmd(), newPolicyAddCmd(), newPolicyReplayCmd())
	return cmd
}

// newPolicyAddCmd checks a module and installs it in the node's policy dir
// under its CID, where the node finds it for the treaties that name it and
// publishes it to its treaty partners over bitswap.
func newPolicyAddCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add FILE.wasm [--home DIR]",
		Short: "Check a module and add it to the node's policy dir as <CID>.wasm; print its CID",
		Long: "Add loads the module with every load check a node runs (size, format, manifest, ABI, imports,\n" +
			"memory, exports, initialisation), then writes it to policy.dir (default <home>/policies) named by\n" +
			"its CID. A treaty names the module by that CID; the node serves it to its treaty partners over\n" +
			"bitswap and judges its lanes' orders with it. A running node picks it up when a lane needs it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := existingHome(cmd)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(cmd, home)
			if err != nil {
				return err
			}
			wasm, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if len(wasm) > cfg.Policy.MaxFetchBytes {
				return fmt.Errorf("policy add: %s is %d bytes: over policy.max_fetch_bytes (%d), so partners could not fetch it", args[0], len(wasm), cfg.Policy.MaxFetchBytes)
			}
			e, err := newPolicyEngine("")
			if err != nil {
				return err
			}
			defer e.Close(context.Background())
			id, err := e.Load(cmd.Context(), wasm)
			if err != nil {
				return err
			}
			mf, err := e.Manifest(id)
			if err != nil {
				return err
			}
			dir := cfg.Policy.Dir
			if dir == "" {
				dir = filepath.Join(home, node.PolicyDir)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			path := filepath.Join(dir, id.String()+".wasm")
			tmp, err := os.CreateTemp(dir, ".add-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			if _, err := tmp.Write(wasm); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Sync(); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			if err := os.Chmod(tmp.Name(), 0o644); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), path); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s %s, %d bytes, %d reasons\n", path, mf.Name, mf.Version, len(wasm), len(mf.Reasons))
			return nil
		},
	}
	addSetFlag(cmd)
	return cmd
}

func newPolicyBuildCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "build DIR -o FILE.wasm",
		Short: "Build the Go policy in DIR (a main package calling sdk.Register) and print its CID",
		Long: "Build runs the stock toolchain reproducibly:\n  " + policybuild.Command("DIR") +
			"\nthen embeds the manifest the policy registered as the fedpolicy.manifest section.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("policy build: -o FILE.wasm is required")
			}
			wasm, mf, err := policybuild.Build(cmd.Context(), args[0], "")
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, wasm, 0o644); err != nil {
				return err
			}
			id := policy.ModuleCID(wasm)
			fmt.Fprintln(cmd.OutOrStdout(), id)
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s %s, %d bytes, %d reasons, %s\n", out, mf.Name, mf.Version, len(wasm), len(mf.Reasons), mf.Toolchain)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file")
	return cmd
}

// loadModule loads FILE, or the embedded standard law for "std".
func loadModule(ctx context.Context, e *policy.Engine, module string) (cid.Cid, error) {
	if module == "std" {
		return e.LoadStd(ctx)
	}
	wasm, err := os.ReadFile(module)
	if err != nil {
		return cid.Undef, err
	}
	return e.Load(ctx, wasm)
}

func newPolicyEngine(cacheDir string) (*policy.Engine, error) {
	return policy.New(policy.Config{CacheDir: cacheDir})
}

type hostFacts struct {
	now              string
	nonceReplayed    bool
	lane             bool
	reputation       uint32
	offerPrice       int64
	provider         string
	providerRegion   string
	inflight         uint32
	ordersLastMinute uint32
	gpuHoursToday    uint32
}

func (h *hostFacts) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&h.now, "now", "", "decision time, RFC 3339 or unix ms (default: now)")
	f.BoolVar(&h.nonceReplayed, "replayed", false, "the replay guard has seen the nonce")
	f.BoolVar(&h.lane, "lane", false, "the order arrived on a treaty lane")
	f.Uint32Var(&h.reputation, "reputation", 1000, "best candidate's reputation, permille")
	f.Int64Var(&h.offerPrice, "offer-price", 0, "best candidate's price per hour, micro-USD (0 = unknown)")
	f.StringVar(&h.provider, "provider", "", "best candidate's provider name")
	f.StringVar(&h.providerRegion, "provider-region", "", "best candidate's region")
	f.Uint32Var(&h.inflight, "inflight", 0, "lane orders in flight")
	f.Uint32Var(&h.ordersLastMinute, "orders-last-minute", 0, "lane orders in the last minute")
	f.Uint32Var(&h.gpuHoursToday, "gpu-hours-today", 0, "lane GPU-hours used today")
}

func (h *hostFacts) facts(o *treaty.Order) (policy.Facts, error) {
	now := time.Now()
	if h.now != "" {
		if t, err := time.Parse(time.RFC3339, h.now); err == nil {
			now = t
		} else {
			var ms int64
			if _, err := fmt.Sscan(h.now, &ms); err != nil {
				return policy.Facts{}, fmt.Errorf("--now %q: want RFC 3339 or unix milliseconds", h.now)
			}
			now = time.UnixMilli(ms)
		}
	}
	f := policy.FactsFromOrder(o, now)
	f.NonceFresh = !h.nonceReplayed
	f.LaneApplies = h.lane
	f.ProviderReputation = h.reputation
	f.OfferPricePerHour = h.offerPrice
	f.Provider = sdk.MakeCode16(h.provider)
	f.ProviderRegion = sdk.MakeCode16(h.providerRegion)
	f.InflightUsed = h.inflight
	f.OrdersLastMinute = h.ordersLastMinute
	f.GPUHoursUsedToday = h.gpuHoursToday
	return f, nil
}

func newPolicyEvalCmd() *cobra.Command {
	var module, paramsFile, orderFile, cacheDir string
	var host hostFacts
	cmd := &cobra.Command{
		Use:   "eval --module FILE|std --params FILE --order ORDER.json",
		Short: "Evaluate an order (dag-json) against a policy module",
		Long: "Eval computes the order's facts (the order's own fields, plus the host facts given by flags) and\n" +
			"prints the decision, its reasons and the time the guest took. Without --params the module runs\n" +
			"with empty params (for std: no limits).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if orderFile == "" {
				return errors.New("policy eval: --order is required")
			}
			raw, err := os.ReadFile(orderFile)
			if err != nil {
				return err
			}
			var o treaty.Order
			if err := treaty.DecodeJSON(raw, &o); err != nil {
				return fmt.Errorf("policy eval: %s: %w", orderFile, err)
			}
			f, err := host.facts(&o)
			if err != nil {
				return err
			}
			var params []byte
			if paramsFile != "" {
				if params, err = os.ReadFile(paramsFile); err != nil {
					return err
				}
			} else if module == "std" {
				params = (&policy.StdParams{}).Encode()
			}
			e, err := newPolicyEngine(cacheDir)
			if err != nil {
				return err
			}
			defer e.Close(context.Background())
			id, err := loadModule(cmd.Context(), e, module)
			if err != nil {
				return err
			}
			p, err := e.Prepare(cmd.Context(), id, params, policy.Limits{})
			if err != nil {
				return err
			}
			out := make([]policy.Decision, 1)
			start := time.Now()
			evalErr := p.Eval(cmd.Context(), []policy.Facts{f}, out)
			took := time.Since(start)
			d := out[0]
			verdict := "allow"
			switch {
			case d.Indeterminate():
				verdict = "deny (indeterminate)"
			case !d.Allowed():
				verdict = "deny"
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "decision: %s\nword:     %#08x\n", verdict, d.Word)
			if len(d.Reasons) > 0 {
				fmt.Fprintf(w, "reasons:  %s\n", strings.Join(d.Reasons, ", "))
			}
			fmt.Fprintf(w, "module:   %s\nparams:   %s\ntime:     %s\n", id, p.ParamsCID(), took)
			if evalErr != nil {
				return &exitError{code: 1, err: evalErr}
			}
			if !d.Allowed() {
				return &exitError{code: 3, err: errors.New("order denied")}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&module, "module", "std", "module file, or std for the embedded standard law")
	cmd.Flags().StringVar(&paramsFile, "params", "", "params file (canonical CBOR, e.g. from `aurora policy params`)")
	cmd.Flags().StringVar(&orderFile, "order", "", "order file (dag-json of a treaty.Order)")
	cmd.Flags().StringVar(&cacheDir, "cache-dir", "", "compilation cache directory (default: in memory)")
	host.flags(cmd)
	return cmd
}

func newPolicyTestCmd() *cobra.Command {
	var module, vectorsFile, cacheDir string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test --module FILE|std --vectors FILE",
		Short: "Run conformance vectors (fedpolicy-vectors/1 JSON) against a module",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if vectorsFile == "" {
				return errors.New("policy test: --vectors is required")
			}
			raw, err := os.ReadFile(vectorsFile)
			if err != nil {
				return err
			}
			vs, err := policy.ParseVectors(raw)
			if err != nil {
				return err
			}
			e, err := newPolicyEngine(cacheDir)
			if err != nil {
				return err
			}
			defer e.Close(context.Background())
			id, err := loadModule(cmd.Context(), e, module)
			if err != nil {
				return err
			}
			results, err := e.RunVectors(cmd.Context(), id, vs)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			failed := 0
			for _, r := range results {
				if r.Pass() && !verbose {
					continue
				}
				status := "ok"
				if !r.Pass() {
					status = "FAIL"
					failed++
				}
				fmt.Fprintf(tw, "%s\t%s\twant %#x\tgot %#x\t%s\n", status, r.Name, r.Want, r.Got, strings.Join(r.Reasons, ","))
			}
			tw.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d of %d vectors pass\n", id, len(results)-failed, len(results))
			if failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d conformance vectors failed", failed)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&module, "module", "std", "module file, or std for the embedded standard law")
	cmd.Flags().StringVar(&vectorsFile, "vectors", "", "vectors file")
	cmd.Flags().StringVar(&cacheDir, "cache-dir", "", "compilation cache directory (default: in memory)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing vectors too")
	return cmd
}

func newPolicyParamsCmd() *cobra.Command {
	var p policy.StdParams
	var regions, out string
	cmd := &cobra.Command{
		Use:   "params -o FILE",
		Short: "Write the standard law's params (canonical CBOR) and print their CID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if regions != "" {
				p.AllowedRegions = strings.Split(regions, ",")
			}
			b := p.Encode()
			if _, err := policy.DecodeStdParams(b); err != nil {
				return err
			}
			if out == "" {
				return errors.New("policy params: -o FILE is required")
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), policy.ParamsCID(b))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&regions, "regions", "", "allowed regions, comma-separated and sorted (empty: any)")
	f.Int64Var(&p.MinProviderReputation, "min-reputation", 0, "minimum provider reputation, permille")
	f.Int64Var(&p.MaxPricePerGPUHour, "max-price-per-gpu-hour", 0, "price cap per GPU-hour, micro-USD (0: none)")
	f.Int64Var(&p.MaxInflight, "max-inflight", 0, "lane in-flight quota (0: none)")
	f.Int64Var(&p.OrdersPerMin, "orders-per-min", 0, "lane rate quota (0: none)")
	f.Int64Var(&p.GPUHoursPerDay, "gpu-hours-per-day", 0, "lane GPU-hour budget (0: none)")
	f.StringVarP(&out, "output", "o", "", "output file")
	return cmd
}
