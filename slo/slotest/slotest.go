// Package slotest records a day of an Aurora node's metrics with known
// breaches and serves it from a real Prometheus, for the tests of package
// slo and of aurora slo report.
package slotest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The recorded day (Day long, from t0): 1-minute samples of one node over 24 hours ending two
// hours ago, with a fill-rate drop, an RTT spike and a gap in the
// provenance series at known times.
// Day is the recorded span.
const Day = 24 * time.Hour

// When the breaches happen, from t0.
const (
	FillDropFrom, FillDropTo = 6 * time.Hour, 8 * time.Hour
	RTTSpikeFrom, RTTSpikeTo = 12 * time.Hour, 13 * time.Hour
	GapFrom, GapTo           = 18 * time.Hour, 18*time.Hour + 30*time.Minute
)

func within(d, from, to time.Duration) bool { return d >= from && d < to }

// openMetrics writes the day as OpenMetrics text for promtool: each family
// whole, each series' points in time order.
func openMetrics(t0 time.Time) []byte {
	var b bytes.Buffer
	const lbl = `job="aurora",instance="n1:9464"`
	minutes := int(24 * time.Hour / time.Minute)
	counter := func(name string, perMin func(d time.Duration) float64, skip func(d time.Duration) bool) {
		fmt.Fprintf(&b, "# TYPE %s counter\n", name)
		v := 0.0
		for i := 0; i <= minutes; i++ {
			d := time.Duration(i) * time.Minute
			v += perMin(d)
			if skip != nil && skip(d) {
				continue
			}
			fmt.Fprintf(&b, "%s_total{%s} %g %d\n", name, lbl, v, t0.Add(d).Unix())
		}
	}
	noGap := func(time.Duration) bool { return false }
	gap := func(d time.Duration) bool { return within(d, GapFrom, GapTo) }
	counter("aurora_jobs_acked", func(time.Duration) float64 { return 600 }, noGap)
	counter("aurora_jobs_filled", func(d time.Duration) float64 {
		if within(d, FillDropFrom, FillDropTo) {
			return 300
		}
		return 570
	}, noGap)
	counter("aurora_provenance_records", func(time.Duration) float64 { return 600 }, gap)
	counter("aurora_provenance_records_attested", func(time.Duration) float64 { return 599 }, gap)
	hist := func(name string, les []string, perMin func(d time.Duration) []float64) {
		fmt.Fprintf(&b, "# TYPE %s histogram\n", name)
		cum := make([]float64, len(les))
		sum := 0.0
		for i := 0; i <= minutes; i++ {
			d := time.Duration(i) * time.Minute
			obs := perMin(d) // per bucket, not cumulative
			run := 0.0
			for j := range les {
				run += obs[j]
				cum[j] += run
			}
			sum += run * 0.01
			ts := t0.Add(d).Unix()
			for j, le := range les {
				fmt.Fprintf(&b, "%s_bucket{%s,le=%q} %g %d\n", name, lbl, le, cum[j], ts)
			}
			fmt.Fprintf(&b, "%s_count{%s} %g %d\n%s_sum{%s} %g %d\n", name, lbl, cum[len(les)-1], ts, name, lbl, sum, ts)
		}
	}
	hist("aurora_treaty_rtt_seconds", []string{"0.05", "0.1", "0.35", "1", "+Inf"}, func(d time.Duration) []float64 {
		if within(d, RTTSpikeFrom, RTTSpikeTo) {
			return []float64{40, 30, 0, 30, 0}
		}
		return []float64{80, 19, 0, 1, 0}
	})
	hist("aurora_policy_decision_duration_seconds", []string{"0.001", "0.005", "0.025", "0.1", "+Inf"}, func(time.Duration) []float64 {
		return []float64{500, 100, 0, 0, 0}
	})
	b.WriteString("# EOF\n")
	return b.Bytes()
}

// Prometheus backfills the recorded day starting at t0 with promtool and
// serves it from a real Prometheus until the test ends; it returns the
// base URL. It skips the test when prometheus or promtool is missing
// (Debian package prometheus; .ci/run installs it).
func Prometheus(t *testing.T, t0 time.Time) string {
	t.Helper()
	for _, bin := range []string{"prometheus", "promtool"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (Debian package prometheus; .ci/run installs it): %v", bin, err)
		}
	}
	dir := t.TempDir()
	om := filepath.Join(dir, "day.om")
	if err := os.WriteFile(om, openMetrics(t0), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("promtool", "tsdb", "create-blocks-from", "openmetrics", om, data).CombinedOutput(); err != nil {
		t.Fatalf("promtool: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command("prometheus", "--config.file="+cfg, "--storage.tsdb.path="+data, "--storage.tsdb.retention.time=30d",
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 60 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
