package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/slo/slotest"
)

// TestSLOReport runs aurora slo report against a real Prometheus holding
// a recorded day with known breaches: the Markdown names them, the PNG is
// written, --check exits 3 because the fill rate overspent its budget, and
// bad flags are refused naming the flag.
func TestSLOReport(t *testing.T) {
	end := time.Now().Add(-2 * time.Hour).Truncate(time.Hour)
	url := slotest.Prometheus(t, end.Add(-slotest.Day))
	dir := t.TempDir()
	md, pic := filepath.Join(dir, "slo.md"), filepath.Join(dir, "slo.png")
	args := []string{"slo", "report", "--prometheus", url, "--window", "1d", "--end", end.UTC().Format(time.RFC3339), "-o", md, "--png", pic}
	code, _, stderr := runCLI(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	text, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Aurora SLO report", "| fill rate | ≥ 0.800 |", "| treaty RTT p95 |", "## Breaches", "exhausted ("} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the report lacks %q:\n%s", want, text)
		}
	}
	f, err := os.Open(pic)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() != 1200 || img.Bounds().Dy() != 1200 {
		t.Fatalf("the PNG: %v, %v", img.Bounds(), err)
	}
	if code, _, stderr := runCLI(append(args, "--check")...); code != sloExitExhausted || !strings.Contains(stderr, "error budget is overspent") {
		t.Fatalf("--check: exit %d, %s", code, stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"slo", "report"}, "--prometheus URL is required"},
		{[]string{"slo", "report", "--prometheus", url, "--window", "7x"}, "--window"},
		{[]string{"slo", "report", "--prometheus", url, "--end", "yesterday"}, "--end"},
		{[]string{"slo", "report", "--prometheus", url, "--window", "60d", "--step", "1m"}, "use a longer step"},
	} {
		if code, _, stderr := runCLI(tc.args...); code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
}
