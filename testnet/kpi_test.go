package testnet

import (
	"math"
	"slices"
	"testing"
)

// TestKPIMissingDataIsAMiss: a KPI without data (NaN, nothing acked or
// recorded) is a miss, never a pass; good values pass; a bad one misses.
func TestKPIMissingDataIsAMiss(t *testing.T) {
	good := KPIs{Acked: 10, Filled: 10, FillRate: 1, RTTP95: 0.05, PolicyP99: 0.001, Records: 10, Attested: 10, Coverage: 1}
	if m := good.Missed(); len(m) != 0 {
		t.Fatalf("good KPIs missed %v", m)
	}
	for _, tt := range []struct {
		name string
		edit func(*KPIs)
		want string
	}{
		{"NaN RTT", func(k *KPIs) { k.RTTP95 = math.NaN() }, "RTT p95"},
		{"NaN policy", func(k *KPIs) { k.PolicyP99 = math.NaN() }, "policy p99"},
		{"nothing acked", func(k *KPIs) { k.Acked, k.Filled, k.FillRate = 0, 0, math.NaN() }, "fill rate"},
		{"no records", func(k *KPIs) { k.Records, k.Attested, k.Coverage = 0, 0, math.NaN() }, "provenance coverage"},
		{"slow", func(k *KPIs) { k.RTTP95 = 0.351 }, "RTT p95"},
		{"low fill", func(k *KPIs) { k.FillRate = 0.79 }, "fill rate"},
	} {
		k := good
		tt.edit(&k)
		if m := k.Missed(); !slices.Contains(m, tt.want) {
			t.Errorf("%s: missed %v, want %s among them", tt.name, m, tt.want)
		}
	}
}
