package mesh_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// TestWitness carries add-checkpoint bodies to the peer's OnWitness and
// its answers back, C2SP status codes included.
func TestWitness(t *testing.T) {
	var mu sync.Mutex
	var got []byte
	var gotFrom treaty.DID
	nodes := meshtest.Start(t, 3, meshtest.Options{Federation: "wit", Configure: func(i int, c *mesh.Config) {
		if i != 1 {
			return
		}
		c.OnWitness = func(_ context.Context, from treaty.DID, body []byte) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			got, gotFrom = bytes.Clone(body), from
			switch {
			case bytes.HasPrefix(body, []byte("old 9")):
				return nil, &provenance.ConflictError{Origin: "o", Old: 9, StoredSize: 12}
			case bytes.HasPrefix(body, []byte("old 8")):
				return nil, provenance.ErrUnknownOrigin
			case bytes.HasPrefix(body, []byte("old 7")):
				return nil, errors.New("disk on fire")
			}
			return []byte("— witness cosignature\n"), nil
		}
	}})
	a, b, c := nodes[0], nodes[1], nodes[2]
	body := provenance.CosignRequest(0, nil, []byte("aurora/wit/x\n1\nAAAA\n\n— aurora/wit/x sig\n"))
	resp, err := a.RequestCosign(t.Context(), b.DID(), body)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if !bytes.Equal(got, body) || gotFrom != a.DID() || string(resp) != "— witness cosignature\n" {
		t.Fatalf("witness got %q from %s and answered %q", got, gotFrom.Short(), resp)
	}
	mu.Unlock()

	for _, tc := range []struct {
		old    int
		status int
		body   string
		msg    string
	}{
		{9, 409, "12\n", "latest cosigned checkpoint"},
		{8, 404, "", "unknown log origin"},
		{7, 500, "", "internal error"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			_, err := a.RequestCosign(t.Context(), b.DID(), provenance.CosignRequest(uint64(tc.old), nil, []byte("x")))
			var we *mesh.WitnessError
			if !errors.As(err, &we) || we.Status != tc.status || string(we.Body) != tc.body || !bytes.Contains([]byte(we.Message), []byte(tc.msg)) {
				t.Fatalf("RequestCosign = %v (%+v), want status %d body %q message ~%q", err, we, tc.status, tc.body, tc.msg)
			}
		})
	}
	// C witnesses nothing.
	var we *mesh.WitnessError
	if _, err := a.RequestCosign(t.Context(), c.DID(), body); !errors.As(err, &we) || we.Status != 404 {
		t.Fatalf("RequestCosign to a node without a witness = %v, want 404", err)
	}
}

func anchor(origin string, size int) *treaty.Anchor {
	return &treaty.Anchor{V: treaty.Version, Origin: origin, Checkpoint: fmt.Sprintf("%s\n%d\nAAAA\n\n— %s sig\n", origin, size, origin), TSA: [][]byte{}}
}

// TestAnchors: anchors reach every node and their OnAnchor; a rejected
// anchor is not relayed; a node that joins late gets the latest anchor of
// each log by sync.
func TestAnchors(t *testing.T) {
	const fed = "anchors"
	var mu sync.Mutex
	got := map[int][]string{}
	nodes := meshtest.Start(t, 3, meshtest.Options{Federation: fed, Configure: func(i int, c *mesh.Config) {
		c.OnAnchor = func(_ context.Context, from treaty.DID, a *treaty.Anchor) error {
			if bytes.Contains([]byte(a.Checkpoint), []byte("\n666\n")) {
				return errors.New("bad note signature")
			}
			mu.Lock()
			defer mu.Unlock()
			got[i] = append(got[i], a.Checkpoint)
			return nil
		}
	}})
	a := nodes[0]
	if err := a.PublishAnchor(t.Context(), anchor("aurora/anchors/a", 5)); err != nil {
		t.Fatal(err)
	}
	count := func(i int) int {
		mu.Lock()
		defer mu.Unlock()
		return len(got[i])
	}
	for i := 1; i < 3; i++ {
		meshtest.WaitFor(t, meshtest.Wait, "the anchor at every node", func() bool { return count(i) == 1 })
	}
	// A newer anchor of the same log replaces it everywhere.
	if err := a.PublishAnchor(t.Context(), anchor("aurora/anchors/a", 6)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		meshtest.WaitFor(t, meshtest.Wait, "the newer anchor", func() bool { return count(i) == 2 })
	}
	if err := a.PublishAnchor(t.Context(), anchor("aurora/anchors/a", 666)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		n := nodes[i]
		meshtest.WaitFor(t, meshtest.Wait, "the bad anchor to be rejected", func() bool { return validated(t, n, "anchor", "reject") >= 1 })
	}
	if count(1) != 2 || count(2) != 2 {
		t.Fatalf("the rejected anchor was handed over: %v", got)
	}

	// A latecomer syncs the latest anchor (size 666 was rejected by its
	// peers, who keep size 6).
	late := meshtest.StartNode(t, 3, meshtest.Options{Federation: fed, Configure: func(_ int, c *mesh.Config) {
		c.OnAnchor = func(_ context.Context, _ treaty.DID, a *treaty.Anchor) error {
			mu.Lock()
			defer mu.Unlock()
			got[3] = append(got[3], a.Checkpoint)
			return nil
		}
	}})
	meshtest.Connect(t, late.Mesh, nodes[1].Mesh)
	meshtest.WaitFor(t, meshtest.Wait, "the latecomer to sync the anchor", func() bool { return count(3) >= 1 })
	mu.Lock()
	defer mu.Unlock()
	if want := anchor("aurora/anchors/a", 6).Checkpoint; got[3][0] != want {
		t.Fatalf("latecomer synced %q, want %q", got[3][0], want)
	}
}
