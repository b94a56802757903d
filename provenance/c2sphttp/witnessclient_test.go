package c2sphttp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	tdclient "github.com/transparency-dev/witness/client/http"
	tdwitness "github.com/transparency-dev/witness/witness"

	"github.com/aurora-federation/aurora/provenance"
)

// TestWitnessClient drives the add-checkpoint client against this package's
// witness handler: a cosignature, the 409 with the stored size and the
// retry it calls for, and C2SP's error statuses.
func TestWitnessClient(t *testing.T) {
	ctx := t.Context()
	key := testKey(t, 1)
	l := testLog(t, key, 10)
	cp10, _ := l.LatestCheckpoint(ctx)
	appendLeaves(t, l, 20)
	cp20, _ := l.Checkpoint(ctx)
	proof, _ := l.ConsistencyProof(ctx, 10, 20)
	w := newWitness(t, l.Verifier())
	srv := httptest.NewServer(http.StripPrefix("/witness", NewWitnessHandler(w, nil)))
	t.Cleanup(srv.Close)
	c, err := NewWitnessClient(srv.URL+"/witness/", srv.Client())
	if err != nil {
		t.Fatal(err)
	}

	sig, err := c.AddCheckpoint(ctx, provenance.CosignRequest(0, nil, cp10.Note))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := provenance.MergeCosignatures(cp10.Note, sig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provenance.VerifyCosignature(signed, w.Verifier()); err != nil {
		t.Fatalf("cosignature: %v", err)
	}

	// A stale old size: 409 with the size the witness stored, then the
	// retry from it succeeds.
	_, err = c.AddCheckpoint(ctx, provenance.CosignRequest(0, nil, cp20.Note))
	var we *WitnessError
	if !errors.As(err, &we) || !we.Conflict || we.StoredSize != 10 || we.Status != 409 {
		t.Fatalf("stale old size: %v, want a 409 naming size 10", err)
	}
	if _, err := c.AddCheckpoint(ctx, provenance.CosignRequest(we.StoredSize, proof, cp20.Note)); err != nil {
		t.Fatalf("retry from the stored size: %v", err)
	}

	for _, tc := range []struct {
		name string
		body []byte
		want int
	}{
		{"bad proof", provenance.CosignRequest(20, proof, cp20.Note), 422},
		{"malformed", []byte("old x\n\n"), 400},
	} {
		_, err := c.AddCheckpoint(ctx, tc.body)
		if !errors.As(err, &we) || we.Status != tc.want || we.Conflict {
			t.Errorf("%s: %v, want HTTP %d", tc.name, err, tc.want)
		}
	}
	if _, err := c.AddCheckpoint(ctx, make([]byte, provenance.MaxAddCheckpointSize+1)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized request: %v", err)
	}
}

// TestWitnessClientHostile: answers that break the protocol or their bounds
// are errors, and nothing beyond a bound is read.
func TestWitnessClientHostile(t *testing.T) {
	big := strings.Repeat("a", MaxCosignatureResponse)
	for _, tc := range []struct {
		name    string
		status  int
		ctype   string
		body    string
		wantErr string // "" for success
	}{
		{"cosignatures at the limit", 200, ctText, big, ""},
		{"cosignatures beyond the limit", 200, ctText, big + "a", "larger than"},
		{"empty 200", 200, ctText, "", "no cosignature lines"},
		{"409 size", 409, ctSize, "7\n", "stored size 7"},
		{"409 largest size", 409, ctSize, "281474976710656\n", "stored size 281474976710656"},
		{"409 body at the limit", 409, ctSize, strings.Repeat("9", maxConflictBody-1) + "\n", "size"},
		{"409 body beyond the limit", 409, ctSize, strings.Repeat("9", maxConflictBody) + "\n", "larger than"},
		{"409 without the size type", 409, ctText, "7\n", "Content-Type"},
		{"409 not a size", 409, ctSize, "seven\n", "size"},
		{"redirect is an answer", 307, ctText, "elsewhere", "HTTP 307"},
		{"500", 500, ctText, strings.Repeat("x", 4096), "HTTP 500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/add-checkpoint" || r.Header.Get("Content-Type") != ctText {
					t.Errorf("request %s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
				}
				w.Header().Set("Content-Type", tc.ctype)
				if tc.status == 307 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			hc := srv.Client()
			hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			c, err := NewWitnessClient(srv.URL, hc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.AddCheckpoint(t.Context(), []byte("old 0\n\n"))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr == "" && string(got) != tc.body:
				t.Fatalf("got %d bytes, want %d", len(got), len(tc.body))
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr != "" && len(err.Error()) > 2*maxErrorBody:
				t.Fatalf("error of %d bytes: the body was not bounded", len(err.Error()))
			}
		})
	}
}

// TestWitnessClientTimeout: a witness that does not answer is abandoned at
// the context's deadline.
func TestWitnessClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := NewWitnessClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.AddCheckpoint(ctx, []byte("old 0\n\n")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}

func TestNewWitnessClient(t *testing.T) {
	for _, s := range []string{"", "ftp://w.example", "https://", "https://w.example/?q=1", "https://w.example/#f", "://"} {
		if _, err := NewWitnessClient(s, nil); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	c, err := NewWitnessClient("https://w.example/witness/", nil)
	if err != nil || c.Prefix.String() != "https://w.example/witness" {
		t.Fatalf("%v %v", c, err)
	}
}

// TestWitnessHandlerReferenceClient: transparency-dev/witness's own
// tlog-witness client (the reference implementation's) gets the answers
// C2SP specifies from this package's handler: a cosignature, the stored size
// of a 409, and an error for a bad proof.
func TestWitnessHandlerReferenceClient(t *testing.T) {
	ctx := t.Context()
	key := testKey(t, 1)
	l := testLog(t, key, 10)
	cp10, _ := l.LatestCheckpoint(ctx)
	appendLeaves(t, l, 20)
	cp20, _ := l.Checkpoint(ctx)
	proof, _ := l.ConsistencyProof(ctx, 10, 20)
	w := newWitness(t, l.Verifier())
	srv := httptest.NewServer(http.StripPrefix("/witness", NewWitnessHandler(w, nil)))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL + "/witness")
	ref := tdclient.NewWitness(u, srv.Client())

	sig, _, err := ref.Update(ctx, 0, cp10.Note, nil)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := provenance.MergeCosignatures(cp10.Note, sig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provenance.VerifyCosignature(signed, w.Verifier()); err != nil {
		t.Fatal(err)
	}
	if _, size, err := ref.Update(ctx, 0, cp20.Note, nil); !errors.Is(err, tdwitness.ErrCheckpointStale) || size != 10 {
		t.Fatalf("stale old size: %v, size %d; want ErrCheckpointStale and 10", err, size)
	}
	if _, _, err := ref.Update(ctx, 10, cp20.Note, proof[1:]); !errors.Is(err, tdwitness.ErrInvalidProof) {
		t.Fatalf("bad proof: %v, want ErrInvalidProof", err)
	}
	if _, _, err := ref.Update(ctx, 10, cp20.Note, proof); err != nil {
		t.Fatalf("good proof: %v", err)
	}
}
