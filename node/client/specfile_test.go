package client

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aurora-federation/aurora/treaty"
)

func TestLoadSpec(t *testing.T) {
	file := []byte(`template = "gpu-inference"
image = "ghcr.io/acme/llm:2"
regions = ["eu-west"]
[env]
MODEL = "llama"
`)
	tests := []struct {
		name     string
		template string
		data     []byte
		sets     []string
		want     OrderSpec
		wantKey  string
	}{
		{
			name: "template only", template: "cpu-batch",
			want: OrderSpec{Image: "ghcr.io/aurora/batch:1", CPU: 4000, Memory: 8192, Disk: 20480, Duration: 2 * time.Hour, Lifetime: 10 * time.Minute, MaxPrice: "0.30/h"},
		},
		{
			name: "file over its template, --set over the file", data: file,
			sets: []string{"max_price=3/h", "ports=8080,9090", "env.THREADS=8", "regions=[\"eu-west\", \"us-east\"]", "cpu=8000"},
			want: OrderSpec{Image: "ghcr.io/acme/llm:2", GPU: "A100:1", MinVRAM: 40960, CPU: 8000, Memory: 16384, Disk: 51200, Ports: []int64{8080, 9090},
				Duration: time.Hour, Lifetime: 10 * time.Minute, MaxPrice: "3/h", Regions: []string{"eu-west", "us-east"},
				Env: map[string]string{"MODEL": "llama", "THREADS": "8"}},
		},
		{name: "unknown key in the file", data: []byte("image = \"x\"\nmax_price = \"1\"\ngpus = \"A100\"\n"), wantKey: "gpus"},
		{name: "unknown key in a table", data: []byte("image = \"x\"\n[resources]\ncpu = 1\n"), wantKey: "resources"},
		{name: "unknown --set key", template: "cpu-batch", sets: []string{"colour=red"}, wantKey: "colour"},
		{name: "bad --set value", template: "cpu-batch", sets: []string{"cpu=lots"}, wantKey: "cpu"},
		{name: "no such template", template: "quantum", wantKey: "template"},
		{name: "missing image", data: []byte("max_price = \"1\"\n"), wantKey: "image"},
		{name: "bad duration", template: "cpu-batch", sets: []string{"duration=forever"}, wantKey: "duration"},
		{name: "file beyond its limit", data: []byte("image = \"" + strings.Repeat("x", MaxSpecFile) + "\"\n"), wantKey: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadSpec(tt.template, "spec.toml", tt.data, tt.sets)
			if tt.want.Image == "" {
				var se *SpecError
				if !errors.As(err, &se) || se.Key != tt.wantKey {
					t.Fatalf("LoadSpec = %+v, %v; want a SpecError on %q", got, err, tt.wantKey)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTemplatesBuildOrders: every built-in template gives a valid signed
// order.
func TestTemplatesBuildOrders(t *testing.T) {
	if len(Templates()) < 3 {
		t.Fatalf("templates %v", Templates())
	}
	k, err := treaty.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Templates() {
		s, err := LoadSpec(name, "", nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := BuildOrder(k, s, time.Now()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
