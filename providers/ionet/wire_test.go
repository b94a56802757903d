package ionet

import (
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/providers"
)

func TestMicroUSD(t *testing.T) {
	tests := []struct {
		in      string
		want    providers.Money
		wantErr bool
	}{
		{"0", 0, false},
		{"0.35", 350000, false},
		{"1.4", 1400000, false},
		{"2.1900001", 2190000, false}, // nearest micro-dollar
		{"2.1900005", 2190001, false}, // halves away from zero
		{"1e-05", 10, false},
		{"12.5E+1", 125000000, false},
		{"-1", 0, true},
		{"1e99", 0, true},
		{"1e999", 0, true},
		{"1/3", 0, true},
		{"", 0, true},
		{"NaN", 0, true},
		{"0x10", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := microUSD(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("microUSD(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestPerHourRoundsUp(t *testing.T) {
	for _, tt := range []struct {
		total providers.Money
		hours int64
		want  providers.Money
	}{{700000, 2, 350000}, {1000000, 3, 333334}, {5, 0, 5}} {
		if got := perHour(tt.total, tt.hours); got != tt.want {
			t.Errorf("perHour(%d, %d) = %d, want %d", tt.total, tt.hours, got, tt.want)
		}
	}
}

func TestParseOfferID(t *testing.T) {
	tests := []struct {
		id           string
		hw, loc, gpu int64
		wantErr      bool
	}{
		{"7:11:2", 7, 11, 2, false},
		{"7:11", 0, 0, 0, true},
		{"7:11:0", 0, 0, 0, true},
		{"7:-1:1", 0, 0, 0, true},
		{"a:b:c", 0, 0, 0, true},
		{"", 0, 0, 0, true},
	}
	for _, tt := range tests {
		hw, loc, gpu, err := parseOfferID(tt.id)
		if (err != nil) != tt.wantErr || hw != tt.hw || loc != tt.loc || gpu != tt.gpu {
			t.Errorf("parseOfferID(%q) = %d,%d,%d,%v", tt.id, hw, loc, gpu, err)
		}
	}
}

func TestVRAMFromName(t *testing.T) {
	for name, want := range map[string]int64{
		"H100 80GB": 80 << 10, "A100 40 GB": 40 << 10, "A100-40GB-SXM": 40 << 10,
		"RTX 4090": 0, "gb": 0, "H100 0GB": 0, "Big 99999GB": 0,
	} {
		if got := vramMiB(name); got != want {
			t.Errorf("vramMiB(%q) = %d, want %d", name, got, want)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"3f2b8c1e-0000-4000-8000-000000000000": true, "999999999": true,
		"": false, "../x": false, "a/b": false, "1?x": false, "a b": false, "%2e": false,
	} {
		if got := validID(id); got != want {
			t.Errorf("validID(%q) = %v", id, got)
		}
	}
}

// Fuzz the response parsers: they must never panic, and whatever they
// accept must satisfy the invariants the adapter relies on.

func FuzzParseHardware(f *testing.F) {
	f.Add([]byte(`{"data":{"hardware":[{"hardware_id":7,"hardware_name":"H100","brand_name":"NVIDIA","max_gpus_per_container":8,"available":3}],"total":1}}`))
	f.Add([]byte(`{"data":{"hardware":[{"hardware_id":-1}]}}`))
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		hw, err := parseHardware(b)
		if err != nil {
			return
		}
		for _, h := range hw {
			if h.HardwareID <= 0 || h.HardwareName == "" || h.Available < 0 {
				t.Fatalf("accepted %+v", h)
			}
		}
	})
}

func FuzzParseReplicas(f *testing.F) {
	f.Add([]byte(`{"data":[{"id":11,"iso2":"US","name":"United States","available_replicas":5}]}`))
	f.Add([]byte(`{"data":[{"id":0}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		locs, err := parseReplicas(b)
		if err != nil {
			return
		}
		for _, l := range locs {
			if l.ID <= 0 || l.AvailableReplicas < 0 {
				t.Fatalf("accepted %+v", l)
			}
		}
	})
}

func FuzzParsePrice(f *testing.F) {
	f.Add([]byte(`{"data":{"replica_count":1,"gpus_per_container":1,"total_cost_usdc":2.19}}`))
	f.Add([]byte(`{"data":{"total_cost_usdc":"1e-05"}}`))
	f.Add([]byte(`{"data":{"total_cost_usdc":1e999999}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parsePrice(b)
		if err != nil {
			return
		}
		if m, err := microUSD(n.String()); err == nil && m < 0 {
			t.Fatalf("negative price %d from %q", m, n)
		}
	})
}

func FuzzParseDeployment(f *testing.F) {
	f.Add([]byte(`{"data":{"id":"d-1","status":"running","created_at":"2026-11-25T10:00:00Z"}}`))
	f.Add([]byte(`{"data":{"id":"../x","status":"running"}}`))
	f.Add([]byte(`{"status":"deployment requested","deployment_id":"3f2b8c1e"}`))
	f.Add([]byte(`{"data":{"deployments":[{"id":"a","status":"running","name":"aur-x"}],"total":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseDeployment(b); err == nil && (!validID(d.ID) || d.Status == "") {
			t.Fatalf("parseDeployment accepted %+v", d)
		}
		if d, err := parseDeploy(b); err == nil && !validID(d.DeploymentID) {
			t.Fatalf("parseDeploy accepted %+v", d)
		}
		if l, err := parseDeployments(b); err == nil {
			for _, d := range l.Data.Deployments {
				if !validID(d.ID) {
					t.Fatalf("parseDeployments accepted %+v", d)
				}
			}
		}
	})
}

func TestParseContainersHostile(t *testing.T) {
	tests := []struct {
		name, body string
		want       int
		wantErr    bool
	}{
		{"none", `{"data":{"total":0,"workers":[]}}`, 0, false},
		{"no url yet", `{"data":{"workers":[{"container_id":"c","public_url":""}]}}`, 0, false},
		{"explicit port", `{"data":{"workers":[{"public_url":"https://x.io.solutions:8443/"}]}}`, 1, false},
		{"not http", `{"data":{"workers":[{"public_url":"file:///etc/passwd"}]}}`, 0, true},
		{"userinfo", `{"data":{"workers":[{"public_url":"https://u:p@x.io/"}]}}`, 0, true},
		{"bad port", `{"data":{"workers":[{"public_url":"https://x.io:99999/"}]}}`, 0, true},
		{"not json", `<html>`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps, err := parseContainers([]byte(tt.body), 8000)
			if (err != nil) != tt.wantErr || len(eps) != tt.want {
				t.Fatalf("parseContainers = %v, %v; want %d endpoints, error %v", eps, err, tt.want, tt.wantErr)
			}
		})
	}
	// Many workers are bounded.
	var b strings.Builder
	b.WriteString(`{"data":{"workers":[`)
	for i := range 1000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"public_url":"https://w.io.solutions/"}`)
	}
	b.WriteString(`]}}`)
	if eps, err := parseContainers([]byte(b.String()), 1); err != nil || len(eps) != maxWorkers {
		t.Fatalf("1000 workers: %d endpoints, %v; want %d", len(eps), err, maxWorkers)
	}
}
