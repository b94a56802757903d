package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/provenance"
)

// latestCheckpoint waits for a signed checkpoint bigger than after and
// returns it, verified.
func latestCheckpoint(t *testing.T, tn *testNode, after uint64) provenance.Checkpoint {
	t.Helper()
	origin := "aurora/testnet/" + tn.n.Identity().PeerID.String()
	logV, err := provenance.LogVerifier(origin, tn.n.Identity().DID)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		if note, err := tn.api.Raw(ctx, http.MethodGet, "/v1/checkpoints/latest", "", nil); err == nil {
			cp, err := provenance.OpenCheckpoint(note, origin, logV)
			if err != nil {
				t.Fatal(err)
			}
			if cp.Size > after {
				return cp
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no checkpoint bigger than %d", after)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsistencyProofEndpoint: GET /v1/log/consistency proves that one
// signed checkpoint of a real node extends another (checked with
// transparency-dev/merkle), only between signed sizes; every bad parameter
// is a 400 naming it.
func TestConsistencyProofEndpoint(t *testing.T) {
	tn := startNode(t, newConfig())
	k := clientKey(t)
	if _, err := tn.api.Submit(t.Context(), mustOrder(t, k, spec())); err != nil {
		t.Fatal(err)
	}
	cp1 := latestCheckpoint(t, tn, 0)
	if _, err := tn.api.Submit(t.Context(), mustOrder(t, k, spec())); err != nil {
		t.Fatal(err)
	}
	cp2 := latestCheckpoint(t, tn, cp1.Size)
	base := "http://" + tn.n.APIAddr() + "/v1/log/consistency"
	get := func(q string) (int, []byte) {
		status, _, body := do(t, http.MethodGet, base+q, "", nil)
		return status, body
	}
	status, body := get(fmt.Sprintf("?first=%d&second=%d", cp1.Size, cp2.Size))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	var cv node.ConsistencyView
	if err := json.Unmarshal(body, &cv); err != nil {
		t.Fatal(err)
	}
	if cv.First != cp1.Size || cv.Second != cp2.Size || len(cv.Proof) == 0 {
		t.Fatalf("answer %s", body)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, cp1.Size, cp2.Size, cv.Proof, cp1.Root[:], cp2.Root[:]); err != nil {
		t.Fatalf("the proof does not verify: %v", err)
	}
	tampered := append([][]byte(nil), cv.Proof...)
	tampered[0] = append([]byte(nil), tampered[0]...)
	tampered[0][0] ^= 1
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, cp1.Size, cp2.Size, tampered, cp1.Root[:], cp2.Root[:]); err == nil {
		t.Fatal("a tampered proof verifies: the check proves nothing")
	}
	for _, sizes := range [][2]uint64{{0, cp2.Size}, {cp2.Size, cp2.Size}, {0, 0}} {
		q := fmt.Sprintf("?first=%d&second=%d", sizes[0], sizes[1])
		want := fmt.Sprintf("{\"first\":%d,\"second\":%d,\"proof\":[]}\n", sizes[0], sizes[1])
		if status, body := get(q); status != http.StatusOK || string(body) != want {
			t.Errorf("%s: %d %s, want %s", q, status, body, want)
		}
	}

	// At the latest checkpoint's size and one beyond it.
	latest := latestCheckpoint(t, tn, 0)
	if status, body := get(fmt.Sprintf("?first=1&second=%d", latest.Size)); status != http.StatusOK {
		t.Errorf("second at the latest size %d: %d %s", latest.Size, status, body)
	}
	for _, tc := range []struct{ q, field string }{
		{fmt.Sprintf("?first=1&second=%d", provenance.MaxTreeSize), "second"},
		{fmt.Sprintf("?first=1&second=%d", uint64(provenance.MaxTreeSize)+1), "second"},
		{fmt.Sprintf("?first=%d&second=%d", cp2.Size, cp1.Size), "first"},
		{"?second=3", "first"},
		{"?first=1", "second"},
		{"", "first"},
		{"?first=&second=2", "first"},
		{"?first=-1&second=2", "first"},
		{"?first=01&second=2", "first"},
		{"?first=1&second=0x2", "second"},
		{"?first=1&second=2.0", "second"},
		{"?first=1&second=18446744073709551616", "second"},
		{"?first=1&second=%2B2", "second"},
		{"?first=1&first=1&second=2", "first"},
		{"?first=1&second=2&third=3", "third"},
		{"?first=1&second=2&=3", "query"},
	} {
		status, body := get(tc.q)
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", tc.q, status, body)
			continue
		}
		if e := apiError(t, status, "application/json", body); e.Field != tc.field {
			t.Errorf("%s: error %+v, want the field %q", tc.q, e, tc.field)
		}
	}
	if status, _ := get("?first=1&second=2&x"); status != http.StatusBadRequest {
		t.Errorf("a parameter without a value: status %d", status)
	}
	if status, _, _ := do(t, http.MethodPost, base+"?first=1&second=2", "", nil); status == http.StatusOK {
		t.Error("POST answered 200")
	}
}
