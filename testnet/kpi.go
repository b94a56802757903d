package testnet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// KPIs are the federation's four key figures, computed from the nodes'
// /metrics the way the Prometheus recording rules compute them.
type KPIs struct {
	Acked, Filled, Failed float64 // local jobs (forwarded ones count at the peer that ran them)
	Forwarded, Denied     float64 // orders
	FillRate              float64 // filled / acked
	RTTP95                float64 // seconds, treaty forward round trip (ack latency when nothing was forwarded)
	RTTSource             string  // which histogram RTTP95 comes from
	PolicyP99             float64 // seconds
	Records, Attested     float64
	Coverage              float64 // attested / records
}

// Scrape reads /metrics from every API base URL.
func Scrape(ctx context.Context, bases []string) ([]map[string]*dto.MetricFamily, error) {
	out := make([]map[string]*dto.MetricFamily, 0, len(bases))
	for _, b := range bases {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, b+"/metrics", nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("testnet: parse %s/metrics: %w", b, err)
		}
		out = append(out, fams)
	}
	return out, nil
}

// ComputeKPIs sums counters and merges histograms across nodes.
func ComputeKPIs(nodes []map[string]*dto.MetricFamily) KPIs {
	var k KPIs
	k.Acked = sum(nodes, "aurora_jobs_acked_total", nil)
	k.Filled = sum(nodes, "aurora_jobs_filled_total", nil)
	k.Failed = sum(nodes, "aurora_jobs_failed_total", nil)
	k.Forwarded = sum(nodes, "aurora_orders_total", map[string]string{"result": "forwarded"})
	k.Denied = sum(nodes, "aurora_orders_total", map[string]string{"result": "denied"})
	k.Records = sum(nodes, "aurora_provenance_records_total", nil)
	k.Attested = sum(nodes, "aurora_provenance_records_attested_total", nil)
	if k.Acked > 0 {
		k.FillRate = k.Filled / k.Acked
	}
	if k.Records > 0 {
		k.Coverage = k.Attested / k.Records
	}
	k.PolicyP99 = quantile(0.99, nodes, "aurora_policy_decision_duration_seconds")
	k.RTTSource = "aurora_treaty_rtt_seconds"
	if count(nodes, "aurora_treaty_rtt_seconds") == 0 {
		k.RTTSource = "aurora_order_ack_duration_seconds"
	}
	k.RTTP95 = quantile(0.95, nodes, k.RTTSource)
	return k
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for name, want := range labels {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == name && lp.GetValue() == want {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func sum(nodes []map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	var s float64
	for _, fams := range nodes {
		f := fams[name]
		if f == nil {
			continue
		}
		for _, m := range f.GetMetric() {
			if !matches(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				s += m.GetCounter().GetValue()
			case m.Gauge != nil:
				s += m.GetGauge().GetValue()
			}
		}
	}
	return s
}

func count(nodes []map[string]*dto.MetricFamily, name string) uint64 {
	var n uint64
	for _, fams := range nodes {
		if f := fams[name]; f != nil {
			for _, m := range f.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// quantile merges a histogram family across nodes and label sets and
// interpolates like PromQL's histogram_quantile.
func quantile(q float64, nodes []map[string]*dto.MetricFamily, name string) float64 {
	buckets := map[float64]float64{}
	var total float64
	for _, fams := range nodes {
		f := fams[name]
		if f == nil {
			continue
		}
		for _, m := range f.GetMetric() {
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			}
			total += float64(h.GetSampleCount())
			buckets[math.Inf(1)] += float64(h.GetSampleCount())
		}
	}
	if total == 0 {
		return math.NaN()
	}
	bounds := make([]float64, 0, len(buckets))
	for b := range buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, b := range bounds {
		c := buckets[b]
		if c >= rank {
			if math.IsInf(b, 1) {
				return prevBound
			}
			if c == prevCount {
				return b
			}
			return prevBound + (b-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = b, c
	}
	return prevBound
}

// Table renders KPIs as an aligned text table against the SLOs.
func (k KPIs) Table() string {
	var b strings.Builder
	row := func(name, value, slo string, ok bool) {
		mark := "ok"
		if !ok {
			mark = "MISS"
		}
		fmt.Fprintf(&b, "  %-22s %12s   %-12s %s\n", name, value, slo, mark)
	}
	fmt.Fprintf(&b, "  %-22s %12s   %-12s %s\n", "KPI", "value", "SLO", "")
	row("fill rate", fmt.Sprintf("%.3f", k.FillRate), "≥ 0.80", k.FillRate >= 0.80)
	row("RTT p95", ms(k.RTTP95), "≤ 350 ms", !(k.RTTP95 > 0.35))
	row("policy p99", ms(k.PolicyP99), "≤ 25 ms", !(k.PolicyP99 > 0.025))
	row("provenance coverage", fmt.Sprintf("%.3f", k.Coverage), "≥ 0.95", k.Coverage >= 0.95)
	fmt.Fprintf(&b, "  (jobs acked %.0f, filled %.0f, failed %.0f; orders forwarded %.0f, denied %.0f; records %.0f, attested %.0f; RTT from %s)\n",
		k.Acked, k.Filled, k.Failed, k.Forwarded, k.Denied, k.Records, k.Attested, k.RTTSource)
	return b.String()
}

// Check is one KPI against its SLO. Missing data (NaN, nothing observed)
// is a miss, never a pass.
type Check struct {
	Name, Value, SLO string
	OK               bool
}

// Checks compares the KPIs with their SLOs.
func (k KPIs) Checks() []Check {
	known := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	return []Check{
		{"fill rate", fmt.Sprintf("%.3f", k.FillRate), "≥ 0.80", known(k.FillRate) && k.Acked > 0 && k.FillRate >= 0.80},
		{"RTT p95", ms(k.RTTP95), "≤ 350 ms", known(k.RTTP95) && k.RTTP95 <= 0.35},
		{"policy p99", ms(k.PolicyP99), "≤ 25 ms", known(k.PolicyP99) && k.PolicyP99 <= 0.025},
		{"provenance coverage", fmt.Sprintf("%.3f", k.Coverage), "≥ 0.95", known(k.Coverage) && k.Records > 0 && k.Coverage >= 0.95},
	}
}

// Missed lists the KPIs that miss their SLO (or have no data).
func (k KPIs) Missed() []string {
	var out []string
	for _, c := range k.Checks() {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

func ms(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	if s < 0.001 {
		return fmt.Sprintf("%.1f µs", s*1e6)
	}
	return fmt.Sprintf("%.2f ms", s*1e3)
}

// Quantile is the q quantile of a histogram family merged across nodes
// (NaN when nothing was observed), as PromQL's histogram_quantile.
func Quantile(q float64, nodes []map[string]*dto.MetricFamily, name string) float64 {
	return quantile(q, nodes, name)
}
