package c2sphttp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

type fixedClock struct{}

func (fixedClock) Now() time.Time { return time.Unix(1_780_000_000, 0) }

// answer is what a witness transport returns: the status, the body (the
// cosignature lines on 200, the stored size on 409).
type answer struct {
	status int
	body   string
}

// newWitness returns a witness of testOrigin with the given key and a
// fresh store; two built alike cosign byte for byte alike.
func newWitness(t *testing.T, logV note.Verifier) *provenance.Witness {
	t.Helper()
	w, err := provenance.NewWitness(provenance.WitnessConfig{
		Key: testKey(t, 9), Name: "aurora-witness/test", Store: memStore(), Clock: fixedClock{},
		Logs: func(origin string) (note.Verifier, bool) { return logV, origin == testOrigin },
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestWitnessHTTPMatchesLibp2p sends one sequence of add-checkpoint
// requests to two identical witnesses, one over HTTP (this package), one
// over the libp2p witness stream (mesh), and requires the same answers:
// the C2SP status, the stored size of a 409, and byte-identical, valid
// cosignatures.
func TestWitnessHTTPMatchesLibp2p(t *testing.T) {
	ctx := t.Context()
	key := testKey(t, 1)
	l := testLog(t, key, 10)
	cp10, _ := l.LatestCheckpoint(ctx)
	appendLeaves(t, l, 20)
	cp20, _ := l.Checkpoint(ctx)
	proof, _ := l.ConsistencyProof(ctx, 10, 20)
	badProof := append([][]byte{}, proof...)
	badProof[0] = bytes.Repeat([]byte{0xaa}, 32)

	// A fork: the same key signs another history of 20 leaves.
	fork, err := provenance.OpenLog(ctx, memStore(), provenance.LogConfig{Origin: testOrigin, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fork.Append(ctx, []byte("another history")); err != nil {
		t.Fatal(err)
	}
	appendLeaves(t, fork, 30)
	fork30, _ := fork.Checkpoint(ctx)
	forkProof, _ := fork.ConsistencyProof(ctx, 20, 30)
	other := testLog(t, testKey(t, 2), 20) // same origin, wrong key
	byOther, _ := other.LatestCheckpoint(ctx)

	overHTTP := newWitness(t, l.Verifier())
	overP2P := newWitness(t, l.Verifier())

	srv := httptest.NewServer(http.StripPrefix("/witness", NewWitnessHandler(overHTTP, nil)))
	t.Cleanup(srv.Close)
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: "wit", Configure: func(i int, c *mesh.Config) {
		if i == 1 {
			c.OnWitness = func(ctx context.Context, _ treaty.DID, body []byte) ([]byte, error) {
				return overP2P.AddCheckpoint(ctx, body)
			}
		}
	}})
	// Witnesses cosign for treaty partners: a stranger's one witness stream
	// at a time can be refused while the last one is still being released.
	meshtest.Activate(t, "wit", nodes[0], nodes[1])

	viaHTTP := func(body []byte) answer {
		resp, err := srv.Client().Post(srv.URL+"/witness/add-checkpoint", "text/plain", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 409 && resp.Header.Get("Content-Type") != "text/x.tlog.size" {
			t.Errorf("409 Content-Type %q", resp.Header.Get("Content-Type"))
		}
		if resp.StatusCode != 200 && resp.StatusCode != 409 {
			b = nil // error text differs by transport
		}
		return answer{resp.StatusCode, string(b)}
	}
	viaP2P := func(body []byte) answer {
		sig, err := nodes[0].Mesh.RequestCosign(ctx, nodes[1].Mesh.DID(), body)
		var we *mesh.WitnessError
		switch {
		case err == nil:
			return answer{200, string(sig)}
		case errors.As(err, &we):
			if we.Status == 409 {
				return answer{409, string(we.Body)}
			}
			return answer{we.Status, ""}
		}
		t.Fatal(err)
		return answer{}
	}

	steps := []struct {
		name string
		body []byte
		want int
		size string // the 409 body
	}{
		{"first checkpoint (TOFU)", provenance.CosignRequest(0, nil, cp10.Note), 200, ""},
		{"stale old size", provenance.CosignRequest(5, proof, cp20.Note), 409, "10\n"},
		{"bad consistency proof", provenance.CosignRequest(10, badProof, cp20.Note), 422, ""},
		{"empty consistency proof", provenance.CosignRequest(10, nil, cp20.Note), 422, ""},
		{"old beyond size", provenance.CosignRequest(21, nil, cp20.Note), 400, ""},
		{"not signed by the log's key", provenance.CosignRequest(10, proof, byOther.Note), 403, ""},
		{"malformed", []byte("old x\n\n"), 400, ""},
		{"good proof", provenance.CosignRequest(10, proof, cp20.Note), 200, ""},
		{"again from 10", provenance.CosignRequest(10, proof, cp20.Note), 409, "20\n"},
		{"same checkpoint again", provenance.CosignRequest(20, nil, cp20.Note), 200, ""},
		{"fork proven inconsistent", provenance.CosignRequest(20, forkProof, fork30.Note), 422, ""},
	}
	for _, s := range steps {
		h, p := viaHTTP(s.body), viaP2P(s.body)
		if h != p {
			t.Fatalf("%s: HTTP answered %+v, libp2p %+v", s.name, h, p)
		}
		if h.status != s.want {
			t.Fatalf("%s: status %d, want %d", s.name, h.status, s.want)
		}
		if s.want == 409 && h.body != s.size {
			t.Fatalf("%s: 409 body %q, want %q", s.name, h.body, s.size)
		}
		if s.want == 200 {
			cp, _ := provenance.ParseAddCheckpoint(s.body)
			signed, err := provenance.MergeCosignatures(cp.Checkpoint, []byte(h.body))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := provenance.VerifyCosignature(signed, overHTTP.Verifier()); err != nil {
				t.Fatalf("%s: cosignature: %v", s.name, err)
			}
		}
	}
	// Both witnesses kept the fork as evidence.
	for name, w := range map[string]*provenance.Witness{"http": overHTTP, "libp2p": overP2P} {
		ev, err := w.ListEvidence(ctx, 0)
		if err != nil || len(ev) != 1 {
			t.Fatalf("%s witness holds %d evidence records (%v), want 1", name, len(ev), err)
		}
		if _, err := provenance.VerifyEvidence(ev[0], l.Verifier()); err != nil {
			t.Fatalf("%s evidence: %v", name, err)
		}
	}
}

func TestWitnessHTTPLimits(t *testing.T) {
	w := newWitness(t, testLog(t, testKey(t, 1), 1).Verifier())
	srv := httptest.NewServer(NewWitnessHandler(w, nil))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name, method, path string
		want               int
	}{
		{"GET", "GET", "/add-checkpoint", 405},
		{"unknown path", "POST", "/checkpoint", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("old 0\n\n"))
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	t.Run("declared too large", func(t *testing.T) {
		// 10^12 bytes announced, 1 KiB sent: 413 at once, nothing read.
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n%s", strings.Repeat("a", 1024))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
	})
}
