package flux

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
)

func TestNodeAddr(t *testing.T) {
	tests := []struct {
		in    string
		local bool
		want  string // "" = refused
	}{
		{"203.0.113.7:16127", false, "203.0.113.7:16127"},
		{"203.0.113.7", false, "203.0.113.7:16127"}, // FluxOS's default API port
		{"203.0.113.7:16157", false, "203.0.113.7:16157"},
		{"127.0.0.1:16127", false, ""},
		{"127.0.0.1:16127", true, "127.0.0.1:16127"},
		{"10.1.2.3:16127", false, ""},
		{"169.254.169.254:80", false, ""}, // a cloud metadata service
		{"[2001:db8::1]:16127", false, ""},
		{"example.org:16127", false, ""},
		{"203.0.113.7:0", false, ""},
		{"203.0.113.7:99999", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		a, ok := nodeAddr(tt.in, tt.local)
		if got := map[bool]string{true: a.String(), false: ""}[ok]; got != tt.want {
			t.Errorf("nodeAddr(%q, %v) = %q, want %q", tt.in, tt.local, got, tt.want)
		}
	}
}

func TestNodeSide(t *testing.T) {
	ctx := context.Background()
	done, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"peer refusal", ctx, &APIError{Message: "Sorry, This Flux does not have enough outgoing peers for safe application registration"}, true},
		{"reconciling", ctx, &APIError{Message: "Node still reconciling"}, true},
		{"validation", ctx, &APIError{Message: "Flux App Repository is too long"}, false},
		{"gateway", ctx, &httpx.APIError{Status: 502}, true},
		{"client error", ctx, &httpx.APIError{Status: 400}, false},
		{"transport", ctx, errors.New("dial tcp: connection refused"), true},
		{"auth", ctx, &APIError{Message: "Unauthorized", Err: providers.ErrAuth}, false},
		{"caller gave up", done, errors.New("dial tcp: i/o timeout"), false},
	}
	for _, tt := range tests {
		if got := nodeSide(tt.ctx, tt.err); got != tt.want {
			t.Errorf("%s: nodeSide = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// The consensus minimum follows appPricePerMonth with the chain table:
// a 2-core, 4300 MB, 11 GB component on 3 instances for one month costs
// (6 + 4.3 + 0.11)/3 = 3.47 per instance, 3.47 + 2 × 3.47 = 10.41.
func TestConsensusMinimum(t *testing.T) {
	table := []chainInterval{{Height: 0, CPU: 0.3, RAM: 0.1, HDD: 0.01, MinPrice: 0.01, Scope: 6, StaticIP: 3}}
	spec := func(expire int64, extra string) json.RawMessage {
		return json.RawMessage(`{"compose":[{"cpu":2,"ram":4300,"hdd":11}],"instances":3,"expire":` + itoa(expire) + `,"nodes":[]` + extra + `}`)
	}
	for _, tt := range []struct {
		name string
		spec json.RawMessage
		want float64
	}{
		{"one month", spec(88000, ""), 10.41},
		{"half a month", spec(44000, ""), 5.21},
		{"static ip", spec(88000, `,"staticip":true`), 13.41},
		{"cancellation", spec(1, ""), 0.01},
	} {
		got, ok := consensusMinimum(tt.spec, table, 100)
		if !ok || got != tt.want {
			t.Errorf("%s: consensusMinimum = %v %v, want %v", tt.name, got, ok, tt.want)
		}
	}
	if _, ok := consensusMinimum(spec(88000, ""), []chainInterval{{Height: 500}}, 100); ok {
		t.Error("an interval from a later height applied")
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
