package c2sphttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"go.uber.org/goleak"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/tiles"
	"github.com/aurora-federation/aurora/treaty"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testKey(t testing.TB, label byte) *treaty.PrivateKey {
	t.Helper()
	k, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{label}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func memStore() datastore.Batching { return dssync.MutexWrap(datastore.NewMapDatastore()) }

const testOrigin = "aurora/testfed/12D3KooWTestNodeA"

func leafOf(i uint64) []byte { return []byte(fmt.Sprintf("leaf %d of the test log", i)) }

// testLog opens a log with n leaves (leafOf) and a checkpoint at n.
func testLog(t testing.TB, key *treaty.PrivateKey, n uint64) *provenance.Log {
	t.Helper()
	ctx := context.Background()
	l, err := provenance.OpenLog(ctx, memStore(), provenance.LogConfig{Origin: testOrigin, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	appendLeaves(t, l, n)
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

func appendLeaves(t testing.TB, l *provenance.Log, n uint64) {
	t.Helper()
	for l.Size() < n {
		batch := make([][]byte, 0, provenance.MaxAppendLeaves)
		for i := l.Size(); i < n && len(batch) < provenance.MaxAppendLeaves; i++ {
			batch = append(batch, leafOf(i))
		}
		if _, err := l.Append(context.Background(), batch...); err != nil {
			t.Fatal(err)
		}
	}
}

func serveTiles(t testing.TB, l *provenance.Log) *httptest.Server {
	t.Helper()
	h, err := NewTilesHandler(TilesConfig{Log: l, Latest: l.LatestCheckpoint})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/tlog/", http.StripPrefix("/tlog", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// xmodTiles reads tiles for x/mod/sumdb/tlog over our client: the library
// authenticates every tile it reads against the tree hash it is given.
type xmodTiles struct {
	ctx context.Context
	c   *Client
	n   int // fetches
}

func (r *xmodTiles) Height() int { return tiles.Height }

func (r *xmodTiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, tt := range ts {
		p := "tile/" + strings.TrimPrefix(tt.Path(), "tile/8/")
		b, err := r.c.Fetch(r.ctx, p)
		if err != nil {
			return nil, err
		}
		r.n++
		out[i] = b
	}
	return out, nil
}

func (r *xmodTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// TestCloneThroughTiles clones a log through its tiles and checks it with
// golang.org/x/mod/sumdb/tlog: the library's tree hash over the served hash
// tiles is the checkpoint's root; the leaves of the entry bundles, hashed
// into a tree by the library, give that root; every served tile is byte for
// byte the tile the library computes from those leaves; and inclusion
// proofs the library builds from the served tiles verify.
func TestCloneThroughTiles(t *testing.T) {
	size := uint64(70000) // the C2SP example: tiles at levels 0, 1 and 2
	if testing.Short() {
		size = 256*256 + 300
	}
	ctx := t.Context()
	l := testLog(t, testKey(t, 1), size)
	// Leaves after the checkpoint are not served.
	appendLeaves(t, l, size+700)
	srv := serveTiles(t, l)
	c, err := NewClient(srv.URL+"/tlog", srv.Client())
	if err != nil {
		t.Fatal(err)
	}

	raw, err := c.Fetch(ctx, "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	cp, err := provenance.OpenCheckpoint(raw, testOrigin, l.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != size {
		t.Fatalf("checkpoint size %d, want %d", cp.Size, size)
	}
	root := tlog.Hash(cp.Root)

	// 1. The library's tree hash from the served hash tiles.
	tr := &xmodTiles{ctx: ctx, c: c}
	hr := tlog.TileHashReader(tlog.Tree{N: int64(size), Hash: root}, tr)
	th, err := tlog.TreeHash(int64(size), hr)
	if err != nil {
		t.Fatalf("tlog.TreeHash over the tiles: %v", err)
	}
	if th != root {
		t.Fatalf("tree hash from tiles %v, checkpoint root %v", th, root)
	}

	// 2. Every leaf from the entry bundles; the library stores the tree.
	stored := make(memHashes, 0, 2*size)
	for _, p := range tiles.For(0, 0, size) {
		p.Entries = true
		b, err := c.Fetch(ctx, p.String())
		if err != nil {
			t.Fatal(err)
		}
		es, err := tiles.ParseEntryBundle(b, p.Width)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for k, e := range es {
			i := p.Index*tiles.Width + uint64(k)
			if !bytes.Equal(e, leafOf(i)) {
				t.Fatalf("leaf %d = %q, want %q", i, e, leafOf(i))
			}
			hs, err := tlog.StoredHashes(int64(i), e, stored)
			if err != nil {
				t.Fatal(err)
			}
			stored = append(stored, hs...)
		}
	}
	lib, err := tlog.TreeHash(int64(size), stored)
	if err != nil {
		t.Fatal(err)
	}
	if lib != root {
		t.Fatalf("tree hash of the cloned leaves %v, checkpoint root %v", lib, root)
	}

	// 3. Every served hash tile equals the library's.
	for level := uint8(0); level <= 2; level++ {
		for _, p := range tiles.For(level, 0, size) {
			want, err := tlog.ReadTileData(tlog.Tile{H: 8, L: int(level), N: int64(p.Index), W: p.Width}, stored)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Fetch(ctx, p.String())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from x/mod's tile", p)
			}
		}
	}

	// 4. Inclusion proofs built by the library from the served tiles.
	for _, i := range []uint64{0, 1, 255, 256, 65535, 65536, size - 1} {
		pr, err := tlog.ProveRecord(int64(size), int64(i), hr)
		if err != nil {
			t.Fatalf("ProveRecord(%d): %v", i, err)
		}
		if err := tlog.CheckRecord(pr, int64(size), root, int64(i), tlog.RecordHash(leafOf(i))); err != nil {
			t.Fatalf("CheckRecord(%d): %v", i, err)
		}
	}
}

type memHashes []tlog.Hash

func (h memHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(h)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = h[x]
	}
	return out, nil
}

func TestTilesHTTP(t *testing.T) {
	l := testLog(t, testKey(t, 1), 600)
	appendLeaves(t, l, 1000) // beyond the checkpoint
	srv := serveTiles(t, l)
	tests := []struct {
		name, method, path string
		status             int
		cache              string
		size               int
	}{
		{"checkpoint", "GET", "/tlog/checkpoint", 200, CacheCheckpoint, -1},
		{"full tile", "GET", "/tlog/tile/0/001", 200, CacheImmutable, 256 * 32},
		{"partial tile", "GET", "/tlog/tile/0/002.p/88", 200, CacheImmutable, 88 * 32},
		{"narrower partial", "GET", "/tlog/tile/0/002.p/10", 200, CacheImmutable, 10 * 32},
		{"level 1 partial", "GET", "/tlog/tile/1/000.p/2", 200, CacheImmutable, 2 * 32},
		{"full bundle", "GET", "/tlog/tile/entries/000", 200, CacheImmutable, -1},
		{"partial bundle", "GET", "/tlog/tile/entries/002.p/88", 200, CacheImmutable, -1},
		{"head", "HEAD", "/tlog/tile/0/000", 200, CacheImmutable, -1},
		{"beyond the checkpoint", "GET", "/tlog/tile/0/002.p/89", 404, "", -1},
		{"full beyond", "GET", "/tlog/tile/0/002", 404, "", -1},
		{"bundle beyond", "GET", "/tlog/tile/entries/003.p/1", 404, "", -1},
		{"level 1 full beyond", "GET", "/tlog/tile/1/000", 404, "", -1},
		{"level 63", "GET", "/tlog/tile/63/000.p/1", 404, "", -1},
		{"huge index", "GET", "/tlog/tile/0/x999/x999/x999/x999/x999/999", 404, "", -1},
		{"bad path", "GET", "/tlog/tile/0/2", 404, "", -1},
		{"unknown", "GET", "/tlog/roots", 404, "", -1},
		{"post", "POST", "/tlog/tile/0/000", 405, "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if got := resp.Header.Get("Cache-Control"); tt.cache != "" && got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
			if tt.size >= 0 && len(b) != tt.size {
				t.Errorf("%d bytes, want %d", len(b), tt.size)
			}
		})
	}
}

func TestTilesBeforeCheckpoint(t *testing.T) {
	l, err := provenance.OpenLog(t.Context(), memStore(), provenance.LogConfig{Origin: testOrigin, Key: testKey(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveTiles(t, l)
	c, _ := NewClient(srv.URL+"/tlog/", srv.Client())
	if _, err := c.Fetch(t.Context(), "checkpoint"); !errors.Is(err, tiles.ErrNotFound) {
		t.Fatalf("checkpoint before the first: %v, want ErrNotFound", err)
	}
}

// FuzzTilesRequest: any request path gets 200 (a tile of the tree, the
// checkpoint) or 404, never a 5xx, and a 200 tile has its path's size.
func FuzzTilesRequest(f *testing.F) {
	for _, s := range []string{"checkpoint", "tile/0/000", "tile/0/001.p/44", "tile/entries/000", "tile/1/000.p/1", "tile/0/x001/000", "tile/x/../0"} {
		f.Add(s)
	}
	l := testLog(f, testKey(f, 1), 300)
	h, err := NewTilesHandler(TilesConfig{Log: l, Latest: l.LatestCheckpoint})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = "/" + path
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200:
			if path == "checkpoint" {
				return
			}
			p, err := tiles.ParsePath(path)
			if err != nil {
				t.Fatalf("200 for unparsable %q", path)
			}
			if !p.Entries && w.Body.Len() != p.Width*tiles.HashSize {
				t.Fatalf("%q: %d bytes", path, w.Body.Len())
			}
		case 404:
		default:
			t.Fatalf("%q: status %d", path, w.Code)
		}
	})
}
