package ops

import (
	"bufio"
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// histogramFamilies are the families in metrics.txt that are histograms: PromQL may name them with the
// _bucket, _sum and _count suffixes. The node's contract fixes these.
var histogramFamilies = []string{
	"aurora_treaty_rtt_seconds",
	"aurora_policy_decision_duration_seconds",
	"aurora_provider_launch_duration_seconds",
	"aurora_epoch_duration_seconds",
	"aurora_order_ack_duration_seconds",
	"aurora_job_fill_duration_seconds",
}

// knownMetrics is the set of series names a query may select.
type knownMetrics struct {
	aurora   map[string]bool // families from metrics.txt
	standard map[string]bool // families of client_golang's Go and process collectors
	recorded map[string]bool // recording rules in aurora-rules.yml
}

func (k knownMetrics) has(name string) bool {
	if name == "up" || k.aurora[name] || k.standard[name] || k.recorded[name] {
		return true
	}
	for _, h := range histogramFamilies {
		if name == h+"_bucket" || name == h+"_sum" || name == h+"_count" {
			return true
		}
	}
	return false
}

// loadKnownMetrics reads metrics.txt, gathers the standard collectors' families from a real registry (the
// node registers the same collectors) and adds the recording rules.
func loadKnownMetrics(t *testing.T) knownMetrics {
	t.Helper()
	k := knownMetrics{
		aurora:   map[string]bool{},
		standard: map[string]bool{},
		recorded: map[string]bool{},
	}
	for _, name := range readMetricsList(t) {
		k.aurora[name] = true
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather standard collectors: %v", err)
	}
	for _, mf := range mfs {
		k.standard[mf.GetName()] = true
	}

	for _, r := range loadRules(t).rules() {
		if r.Record != "" {
			k.recorded[r.Record] = true
		}
	}
	return k
}

// readMetricsList returns the names in metrics.txt, failing on anything but one valid name per line.
func readMetricsList(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for line := 1; sc.Scan(); line++ {
		name := sc.Text()
		if !model.LegacyValidation.IsValidMetricName(name) {
			t.Errorf("metrics.txt:%d: %q is not a metric name", line, name)
			continue
		}
		names = append(names, name)
	}
	return names
}

var promqlParser = parser.NewParser(parser.Options{})

// grafanaVars maps the dashboard's template variables and Grafana's macros to values the PromQL parser
// accepts.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$__range", "1h",
	"$job", "aurora",
	"$instance", ".*",
)

// selectors parses expr and returns the metric name of every vector selector in it.
func selectors(expr string) ([]string, error) {
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		names = append(names, name) // "" for a selector without a metric name
		return nil
	})
	return names, nil
}

// checkExpr reports, under where, a parse error or a selected name that is not a known metric.
func checkExpr(t *testing.T, k knownMetrics, where, expr string) {
	t.Helper()
	names, err := selectors(expr)
	if err != nil {
		t.Errorf("%s: %v\n\texpr: %s", where, err, expr)
		return
	}
	if len(names) == 0 {
		t.Errorf("%s: expression selects no metric: %s", where, expr)
	}
	for _, n := range names {
		if !k.has(n) {
			t.Errorf("%s: %q is neither in metrics.txt, a standard collector, nor a recording rule\n\texpr: %s", where, n, expr)
		}
	}
}

func TestMetricsList(t *testing.T) {
	names := readMetricsList(t)
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("metrics.txt: %s listed twice", n)
		}
		seen[n] = true
		if !strings.HasPrefix(n, "aurora_") {
			t.Errorf("metrics.txt: %s lacks the aurora_ prefix", n)
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(n, suffix) {
				t.Errorf("metrics.txt: %s: list the family, not its %s series", n, suffix)
			}
		}
	}
	for _, h := range histogramFamilies {
		if !seen[h] {
			t.Errorf("histogram family %s missing from metrics.txt", h)
		}
	}
	if len(names) < 16 {
		t.Errorf("metrics.txt lists %d families, want the 16 of the node's contract", len(names))
	}
}

func TestSelectors(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		want    []string
		wantErr bool
	}{
		{name: "plain", expr: "up", want: []string{"up"}},
		{name: "ratio", expr: `sum(rate(a_total[5m])) / sum(rate(b_total{x="y"}[5m]))`, want: []string{"a_total", "b_total"}},
		{name: "name matcher", expr: `{__name__="c_total", job="aurora"}`, want: []string{"c_total"}},
		{name: "no name", expr: `{job="aurora"}`, want: []string{""}},
		{name: "quantile", expr: `histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m])))`, want: []string{"h_bucket"}},
		{name: "unbalanced", expr: `sum(rate(a_total[5m])`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := selectors(tt.expr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("selectors(%q) error = %v, wantErr %v", tt.expr, err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("selectors(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

func TestKnownMetrics(t *testing.T) {
	k := loadKnownMetrics(t)
	for _, name := range []string{
		"up", "aurora_jobs_acked_total", "aurora_treaty_rtt_seconds_bucket", "go_goroutines",
		"process_resident_memory_bytes", "job:aurora_jobs_fill:ratio_rate5m",
	} {
		if !k.has(name) {
			t.Errorf("has(%q) = false, want true", name)
		}
	}
	for _, name := range []string{
		"aurora_jobs_acked", "aurora_orders_total_bucket", "aurora_backup_last_success_timestamp_seconds_count",
		"go_goroutine", "node_cpu_seconds_total",
	} {
		if k.has(name) {
			t.Errorf("has(%q) = true, want false", name)
		}
	}
}
