package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/slo"
)

// sloExitExhausted is aurora slo report --check's exit code when a KPI
// overspent its error budget.
const sloExitExhausted = 3

func newSLOCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "slo", Short: "Service-level objectives"}
	var (
		promURL, window, step, end, job, out, pngOut string
		objective                                    float64
		check                                        bool
		width, height                                int
	)
	report := &cobra.Command{
		Use:   "report",
		Short: "Report the SLOs over a window from Prometheus, as Markdown and a PNG chart",
		Long: `Query a Prometheus server that scrapes Aurora nodes and report, per KPI (fill
rate ≥ 0.80, treaty RTT p95 ≤ 350 ms, policy decision p99 ≤ 25 ms, provenance
coverage ≥ 0.95), the target, the value achieved over the whole window, the
share of steps that met it, the error budget left (the objective is the share
of steps that must meet each target) and every breach with its times. A step
without data is a breach. With --check it exits 3 when a KPI overspent its
error budget.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if promURL == "" {
				return errors.New("slo report: --prometheus URL is required")
			}
			w, err := model.ParseDuration(window)
			if err != nil {
				return fmt.Errorf("slo report: --window: %w", err)
			}
			st, err := model.ParseDuration(step)
			if err != nil {
				return fmt.Errorf("slo report: --step: %w", err)
			}
			cfg := slo.Config{Prometheus: promURL, Window: time.Duration(w), Step: time.Duration(st), Objective: objective, KPIs: slo.DefaultKPIs(job)}
			if end != "" {
				if cfg.End, err = time.Parse(time.RFC3339, end); err != nil {
					return fmt.Errorf("slo report: --end: %w", err)
				}
			}
			rep, err := slo.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			mdOut := cmd.OutOrStdout()
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				mdOut = f
			}
			if err := slo.WriteMarkdown(mdOut, rep); err != nil {
				return err
			}
			if pngOut != "" {
				f, err := os.Create(pngOut)
				if err != nil {
					return err
				}
				if err := slo.WritePNG(f, rep, width, height); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			if check && rep.Exhausted() {
				return &exitError{code: sloExitExhausted, err: errors.New("slo report: an error budget is overspent")}
			}
			return nil
		},
	}
	f := report.Flags()
	f.StringVar(&promURL, "prometheus", "", "Prometheus base URL, e.g. http://127.0.0.1:9090 (required)")
	f.StringVar(&window, "window", "7d", "how far back the report reaches (Prometheus duration: 7d, 24h)")
	f.StringVar(&step, "step", "5m", "resolution: each step's KPI covers the step before it")
	f.StringVar(&end, "end", "", "the window's end, RFC 3339 (default: now)")
	f.Float64Var(&objective, "objective", 0.99, "share of steps that must meet each target")
	f.StringVar(&job, "job", "aurora", "the Prometheus scrape job of the nodes")
	f.StringVarP(&out, "output", "o", "-", "Markdown output file (- for stdout)")
	f.StringVar(&pngOut, "png", "", "also write the chart to this PNG file")
	f.IntVar(&width, "png-width", 1200, "chart width in pixels")
	f.IntVar(&height, "png-height", 300, "chart height per KPI in pixels")
	f.BoolVar(&check, "check", false, "exit 3 when a KPI overspent its error budget")
	cmd.AddCommand(report)
	return cmd
}
