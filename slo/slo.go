// Package slo reports how a federation met its service-level objectives over
// a window, from the Prometheus HTTP API: per KPI the target, the value
// achieved over the whole window, the share of steps that met the target,
// the error budget left, and every breach with its start, end and worst
// value; as Markdown ([WriteMarkdown]) and as a PNG chart ([WritePNG]).
//
// The KPIs are the four SLOs of ops/prometheus/aurora-rules.yml, computed
// from the node's raw series (not the recording rules, which Prometheus does
// not evaluate over data it did not scrape itself, such as backfilled
// blocks). A step without data counts as a breach: an objective that cannot
// be measured is not met.
package slo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// KPI is one objective: a PromQL expression evaluated at every step (over
// the step's own window) and once over the whole window, and the target it
// must meet.
type KPI struct {
	Name string
	// Step is the PromQL of the KPI over a range; "$r" stands for the
	// range (the step, or the whole window).
	Expr string
	// Target is the threshold; AtLeast says whether the value must be at
	// least it (fill rate, coverage) or at most it (latencies).
	Target  float64
	AtLeast bool
	// Unit is "ratio" or "s", for printing.
	Unit string
}

// Met reports whether v meets the KPI's target; NaN never does.
func (k KPI) Met(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	if k.AtLeast {
		return v >= k.Target
	}
	return v <= k.Target
}

// DefaultKPIs returns Aurora's four SLOs (README, docs/OPERATIONS.md,
// ops/prometheus/aurora-rules.yml) for the scrape job job: fill rate ≥ 0.80,
// treaty RTT p95 ≤ 0.35 s, policy decision p99 ≤ 0.025 s, provenance
// coverage ≥ 0.95.
func DefaultKPIs(job string) []KPI {
	sel := fmt.Sprintf(`{job=%q}`, job)
	return []KPI{
		{Name: "fill rate", Unit: "ratio", Target: 0.80, AtLeast: true,
			Expr: "sum(increase(aurora_jobs_filled_total" + sel + "[$r])) / sum(increase(aurora_jobs_acked_total" + sel + "[$r]))"},
		{Name: "treaty RTT p95", Unit: "s", Target: 0.35,
			Expr: "histogram_quantile(0.95, sum by (le) (increase(aurora_treaty_rtt_seconds_bucket" + sel + "[$r])))"},
		{Name: "policy decision p99", Unit: "s", Target: 0.025,
			Expr: "histogram_quantile(0.99, sum by (le) (increase(aurora_policy_decision_duration_seconds_bucket" + sel + "[$r])))"},
		{Name: "provenance coverage", Unit: "ratio", Target: 0.95, AtLeast: true,
			Expr: "sum(increase(aurora_provenance_records_attested_total" + sel + "[$r])) / sum(increase(aurora_provenance_records_total" + sel + "[$r]))"},
	}
}

// Config configures Report. Prometheus and Window are required.
type Config struct {
	// Prometheus is the server's base URL, e.g. http://127.0.0.1:9090.
	Prometheus string
	// Window is how far back from End the report reaches, e.g. 7 days.
	Window time.Duration
	// End is the window's end. Default: now, truncated to Step.
	End time.Time
	// Step is the resolution: each step's KPI is computed over the step
	// before it. Default 5m. Window/Step may not exceed MaxSteps.
	Step time.Duration
	// Objective is the share of steps that must meet each target; the
	// error budget is the rest. Default 0.99.
	Objective float64
	// KPIs default to DefaultKPIs("aurora").
	KPIs []KPI
	// Client is the HTTP client. Default: one with a 30 s timeout.
	Client *http.Client
}

// MaxSteps bounds a report's resolution: Prometheus refuses range queries
// of more than 11,000 points per series.
const MaxSteps = 11_000

func (c *Config) validate(now time.Time) error {
	if c.Prometheus == "" {
		return errors.New("slo: no Prometheus URL")
	}
	if c.Step == 0 {
		c.Step = 5 * time.Minute
	}
	if c.Step < time.Second {
		return fmt.Errorf("slo: step %s is shorter than a second", c.Step)
	}
	if c.Window < c.Step {
		return fmt.Errorf("slo: window %s is shorter than the step %s", c.Window, c.Step)
	}
	if n := c.Window / c.Step; n > MaxSteps {
		return fmt.Errorf("slo: window %s at step %s is %d steps, more than %d: use a longer step", c.Window, c.Step, n, MaxSteps)
	}
	if c.Objective == 0 {
		c.Objective = 0.99
	}
	if c.Objective <= 0 || c.Objective > 1 {
		return fmt.Errorf("slo: objective %g is not in (0, 1]", c.Objective)
	}
	if c.End.IsZero() {
		c.End = now.Truncate(c.Step)
	}
	if c.KPIs == nil {
		c.KPIs = DefaultKPIs("aurora")
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return nil
}

// Point is a KPI's value at one step; NaN where Prometheus had no data.
type Point struct {
	At    time.Time
	Value float64
}

// Breach is a run of consecutive steps that missed the target, from the
// start of its first step's range to the end of its last.
type Breach struct {
	Start, End time.Time
	// Worst is the value furthest from the target (NaN if every step of
	// the run lacked data).
	Worst float64
	// NoData counts the run's steps without data.
	NoData int
}

// Result is one KPI over the window.
type Result struct {
	KPI KPI
	// Achieved is the KPI over the whole window (NaN without data).
	Achieved float64
	// Steps, Met and NoData count the steps, those that met the target,
	// and those without data (which count as missed).
	Steps, Met, NoData int
	// BudgetLeft is the share of the error budget not spent: 1 - missed
	// steps / ((1 - objective) · steps). Negative when overspent.
	BudgetLeft float64
	Series     []Point
	Breaches   []Breach
}

// Report is the whole report.
type Report struct {
	Start, End time.Time
	Step       time.Duration
	Objective  float64
	Prometheus string
	Results    []Result
}

// Exhausted reports whether any KPI overspent its error budget.
func (r *Report) Exhausted() bool {
	for _, x := range r.Results {
		if x.BudgetLeft < 0 {
			return true
		}
	}
	return false
}

// Run queries Prometheus and computes the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(time.Now()); err != nil {
		return nil, err
	}
	c, err := api.NewClient(api.Config{Address: cfg.Prometheus, Client: cfg.Client})
	if err != nil {
		return nil, fmt.Errorf("slo: %w", err)
	}
	p := v1.NewAPI(c)
	start := cfg.End.Add(-cfg.Window)
	rep := &Report{Start: start, End: cfg.End, Step: cfg.Step, Objective: cfg.Objective, Prometheus: cfg.Prometheus}
	for _, k := range cfg.KPIs {
		res, err := kpiResult(ctx, p, cfg, k, start)
		if err != nil {
			return nil, fmt.Errorf("slo: %s: %w", k.Name, err)
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

func promRange(d time.Duration) string { return model.Duration(d).String() }

func kpiResult(ctx context.Context, p v1.API, cfg Config, k KPI, start time.Time) (Result, error) {
	res := Result{KPI: k, Achieved: math.NaN()}
	overall, _, _, err := p.Query(ctx, expand(k.Expr, cfg.Window), cfg.End)
	if err != nil {
		return res, err
	}
	if v, ok := overall.(model.Vector); ok && len(v) > 0 {
		res.Achieved = float64(v[0].Value)
	}
	// The first step's value covers (start, start+step].
	m, _, _, err := p.QueryRange(ctx, expand(k.Expr, cfg.Step), v1.Range{Start: start.Add(cfg.Step), End: cfg.End, Step: cfg.Step})
	if err != nil {
		return res, err
	}
	got := map[int64]float64{}
	if mat, ok := m.(model.Matrix); ok && len(mat) > 0 {
		if len(mat) > 1 {
			return res, fmt.Errorf("the expression returned %d series, want one", len(mat))
		}
		for _, sp := range mat[0].Values {
			got[sp.Timestamp.Time().Unix()] = float64(sp.Value)
		}
	}
	var run *Breach
	for t := start.Add(cfg.Step); !t.After(cfg.End); t = t.Add(cfg.Step) {
		v, ok := got[t.Unix()]
		if !ok {
			v = math.NaN()
		}
		res.Series = append(res.Series, Point{At: t, Value: v})
		res.Steps++
		nodata := math.IsNaN(v)
		if nodata {
			res.NoData++
		}
		if k.Met(v) {
			res.Met++
			run = nil
			continue
		}
		if run == nil {
			res.Breaches = append(res.Breaches, Breach{Start: t.Add(-cfg.Step), Worst: math.NaN()})
			run = &res.Breaches[len(res.Breaches)-1]
		}
		run.End = t
		if nodata {
			run.NoData++
		} else if math.IsNaN(run.Worst) || (k.AtLeast && v < run.Worst) || (!k.AtLeast && v > run.Worst) {
			run.Worst = v
		}
	}
	missed := res.Steps - res.Met
	allowed := (1 - cfg.Objective) * float64(res.Steps)
	switch {
	case missed == 0:
		res.BudgetLeft = 1
	case allowed == 0:
		res.BudgetLeft = math.Inf(-1)
	default:
		res.BudgetLeft = 1 - float64(missed)/allowed
	}
	return res, nil
}

func expand(expr string, r time.Duration) string { return strings.ReplaceAll(expr, "$r", promRange(r)) }
