package slo_test

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/slo"
	"github.com/aurora-federation/aurora/slo/slotest"
)

func near(got, want time.Time, tol time.Duration) bool {
	d := got.Sub(want)
	return d >= -tol && d <= tol
}

// TestReportFromRealPrometheus: a day recorded with a fill drop, an RTT
// spike and a gap in the provenance series, backfilled into a real
// Prometheus, yields exactly those breaches at their times, an honest
// overall value per KPI and error budget, and a Markdown table and PNG
// chart that say so.
func TestReportFromRealPrometheus(t *testing.T) {
	end := time.Now().Add(-2 * time.Hour).Truncate(time.Hour)
	t0 := end.Add(-24 * time.Hour)
	url := slotest.Prometheus(t, t0)
	rep, err := slo.Run(context.Background(), slo.Config{Prometheus: url, Window: 24 * time.Hour, End: end})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 4 {
		t.Fatalf("%d results", len(rep.Results))
	}
	byName := map[string]slo.Result{}
	for _, r := range rep.Results {
		byName[r.KPI.Name] = r
		if r.Steps != 288 {
			t.Errorf("%s: %d steps, want 288 (24 h at 5 m)", r.KPI.Name, r.Steps)
		}
	}
	const tol = 10 * time.Minute
	fill := byName["fill rate"]
	if want := (22*570 + 2*300) / (24 * 600.0); math.Abs(fill.Achieved-want) > 0.005 {
		t.Errorf("fill achieved %.4f, want about %.4f", fill.Achieved, want)
	}
	if len(fill.Breaches) != 1 || !near(fill.Breaches[0].Start, t0.Add(slotest.FillDropFrom), tol) || !near(fill.Breaches[0].End, t0.Add(slotest.FillDropTo), tol) ||
		math.Abs(fill.Breaches[0].Worst-0.5) > 0.01 {
		t.Errorf("fill breaches %+v, want one from %s to %s at 0.5", fill.Breaches, t0.Add(slotest.FillDropFrom), t0.Add(slotest.FillDropTo))
	}
	if fill.BudgetLeft >= 0 {
		t.Errorf("fill budget left %.2f: two hours in 24 miss a 99 %% objective", fill.BudgetLeft)
	}
	rtt := byName["treaty RTT p95"]
	if len(rtt.Breaches) != 1 || !near(rtt.Breaches[0].Start, t0.Add(slotest.RTTSpikeFrom), tol) || !near(rtt.Breaches[0].End, t0.Add(slotest.RTTSpikeTo), tol) {
		t.Errorf("RTT breaches %+v, want one from %s to %s", rtt.Breaches, t0.Add(slotest.RTTSpikeFrom), t0.Add(slotest.RTTSpikeTo))
	}
	if pol := byName["policy decision p99"]; len(pol.Breaches) != 0 || pol.BudgetLeft != 1 || pol.Met != pol.Steps || pol.Achieved > 0.005 {
		t.Errorf("policy: %+v, want every step met", pol)
	}
	cov := byName["provenance coverage"]
	if len(cov.Breaches) != 1 || cov.NoData == 0 || cov.Breaches[0].NoData == 0 || !near(cov.Breaches[0].Start, t0.Add(slotest.GapFrom), tol) {
		t.Errorf("coverage: %d steps without data, breaches %+v; want one breach of missing data at %s", cov.NoData, cov.Breaches, t0.Add(slotest.GapFrom))
	}
	if cov.Achieved < 0.99 {
		t.Errorf("coverage achieved %.4f over the day, want about 0.998", cov.Achieved)
	}
	if !rep.Exhausted() {
		t.Error("Exhausted is false with the fill budget overspent")
	}

	var md bytes.Buffer
	if err := slo.WriteMarkdown(&md, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| fill rate | ≥ 0.800 | 0.91", "(1d), step 5m,", "| 2h | 0.500 |", "| policy decision p99 | ≤ 25.0 ms |", "100.00 % | 0 |", "exhausted (", "## Breaches",
		"| provenance coverage | " + t0.Add(slotest.GapFrom).UTC().Format("2006-01-02T15"), "no data"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, md.String())
		}
	}
	var pic bytes.Buffer
	if err := slo.WritePNG(&pic, rep, 800, 200); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&pic)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 800 {
		t.Errorf("PNG %v, want 800×800", b)
	}
}

func TestConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  slo.Config
		want string
	}{
		{"no URL", slo.Config{Window: time.Hour}, "no Prometheus URL"},
		{"window below the step", slo.Config{Prometheus: "http://x", Window: time.Minute}, "shorter than the step"},
		{"too many steps", slo.Config{Prometheus: "http://x", Window: 30 * 24 * time.Hour, Step: time.Minute}, "more than 11000"},
		{"objective", slo.Config{Prometheus: "http://x", Window: time.Hour, Objective: 1.5}, "objective"},
		{"sub-second step", slo.Config{Prometheus: "http://x", Window: time.Hour, Step: time.Millisecond}, "shorter than a second"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := slo.Run(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}
