package node_test

import (
	"errors"
	"testing"

	"github.com/aurora-federation/aurora/node/client"
)

// TestEquivocationsStandalone: a node without a mesh serves an empty
// GET /v1/equivocations, and refuses parameters other than one limit in
// range. (The evidence itself is tested on real hosts in package testnet.)
func TestEquivocationsStandalone(t *testing.T) {
	tn := startNode(t, newConfig())
	var v struct {
		Equivocations []any `json:"equivocations"`
		Total         *int  `json:"total"`
	}
	if err := tn.api.Do(t.Context(), "GET", "/v1/equivocations", "", nil, &v); err != nil || v.Equivocations == nil || len(v.Equivocations) != 0 || v.Total == nil || *v.Total != 0 {
		t.Fatalf("GET /v1/equivocations = %+v, %v; want an empty list and total 0", v, err)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "limit=1&limit=1", "offset=1"} {
		var ae *client.APIError
		if err := tn.api.Do(t.Context(), "GET", "/v1/equivocations?"+q, "", nil, nil); !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "bad_query" {
			t.Errorf("?%s: %v, want 400 bad_query", q, err)
		}
	}
	if err := tn.api.Do(t.Context(), "GET", "/v1/equivocations?limit=100", "", nil, nil); err != nil {
		t.Errorf("?limit=100: %v", err)
	}
}
