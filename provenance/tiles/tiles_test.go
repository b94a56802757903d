package tiles

import (
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		want    Path
		wantErr string // the PathError part
	}{
		{"full level 0", "tile/0/000", Path{Level: 0, Index: 0, Width: 256}, ""},
		{"grouped index", "tile/1/x001/x234/067", Path{Level: 1, Index: 1234067, Width: 256}, ""},
		{"partial", "tile/2/001.p/17", Path{Level: 2, Index: 1, Width: 17}, ""},
		{"entries", "tile/entries/x002/345.p/255", Path{Entries: true, Index: 2345, Width: 255}, ""},
		{"level 63", "tile/63/000", Path{Level: 63, Width: 256}, ""},
		{"no prefix", "tiles/0/000", Path{}, "prefix"},
		{"leading slash", "/tile/0/000", Path{}, "prefix"},
		{"level leading zero", "tile/01/000", Path{}, "level"},
		{"level too high", "tile/64/000", Path{}, "level"},
		{"level not a number", "tile/a/000", Path{}, "level"},
		{"index two digits", "tile/0/00", Path{}, "index"},
		{"index missing x", "tile/0/001/234", Path{}, "index"},
		{"index last with x", "tile/0/x001/x234", Path{}, "index"},
		{"index zero group", "tile/0/x000/234", Path{}, "index"},
		{"index missing", "tile/0", Path{}, "index"},
		{"width 0", "tile/0/000.p/0", Path{}, "width"},
		{"width 256", "tile/0/000.p/256", Path{}, "width"},
		{"width leading zero", "tile/0/000.p/05", Path{}, "width"},
		{"too many groups", "tile/0/x001/x001/x001/x001/x001/x001/001", Path{}, "index"},
		{"sign", "tile/0/+01", Path{}, "index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePath(tt.path)
			if tt.wantErr != "" {
				var pe *PathError
				if !errors.As(err, &pe) || pe.Part != tt.wantErr {
					t.Fatalf("ParsePath(%q) = %v, want a PathError in %s", tt.path, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tt.path, err)
			}
			if got != tt.want {
				t.Fatalf("ParsePath(%q) = %+v, want %+v", tt.path, got, tt.want)
			}
			if s := got.String(); s != tt.path {
				t.Fatalf("String() = %q, want %q", s, tt.path)
			}
		})
	}
}

// TestPathMatchesXMod: our paths are x/mod/sumdb/tlog's (height 8) without
// its "8/" height element.
func TestPathMatchesXMod(t *testing.T) {
	for _, tt := range []tlog.Tile{{H: 8, L: 0, N: 0, W: 256}, {H: 8, L: 1, N: 1234067, W: 256}, {H: 8, L: 2, N: 999, W: 3}, {H: 8, L: 0, N: 1000, W: 1}} {
		want := "tile/" + tt.Path()[len("tile/8/"):]
		p := Path{Level: uint8(tt.L), Index: uint64(tt.N), Width: tt.W}
		if p.String() != want {
			t.Errorf("Path %+v = %q, want %q", p, p.String(), want)
		}
	}
}

func TestExistsAndFor(t *testing.T) {
	// C2SP's example: 70,000 leaves are 273 full level-0 tiles and one of
	// width 112, one full level-1 tile and one of width 17, one level-2
	// tile of width 1.
	const size = 70000
	l0 := For(0, 0, size)
	if len(l0) != 274 || l0[273].Width != 112 || !l0[272].Full() {
		t.Fatalf("level 0: %d tiles, last %+v", len(l0), l0[len(l0)-1])
	}
	l1 := For(1, 0, size)
	if len(l1) != 2 || !l1[0].Full() || l1[1].Width != 17 {
		t.Fatalf("level 1: %+v", l1)
	}
	l2 := For(2, 0, size)
	if len(l2) != 1 || l2[0].Width != 1 {
		t.Fatalf("level 2: %+v", l2)
	}
	if len(For(3, 0, size)) != 0 {
		t.Fatal("level 3 has a tile")
	}
	for _, p := range append(append(l0, l1...), l2...) {
		if !p.Exists(size) {
			t.Errorf("%s does not exist in size %d", p, size)
		}
	}
	for _, p := range []Path{{Level: 0, Index: 273, Width: 113}, {Level: 0, Index: 274, Width: 1}, {Level: 1, Index: 1, Width: 256}, {Level: 2, Index: 0, Width: 2}, {Level: 63, Width: 1}} {
		if p.Exists(size) {
			t.Errorf("%s exists in size %d", p, size)
		}
	}
	if got := For(0, 70000-1, size); len(got) != 1 || got[0].Index != 273 {
		t.Errorf("For(0, 69999) = %+v", got)
	}
}

func TestParseEntryBundle(t *testing.T) {
	good := []byte{0, 1, 'a', 0, 2, 'b', 'c'}
	es, err := ParseEntryBundle(good, 2)
	if err != nil || len(es) != 2 || string(es[1]) != "bc" {
		t.Fatalf("ParseEntryBundle = %q, %v", es, err)
	}
	for name, tc := range map[string]struct {
		b    []byte
		want int
	}{
		"too few":   {good, 3},
		"too many":  {good, 1},
		"truncated": {good[:6], 2},
		"half len":  {[]byte{0}, 1},
		"empty":     {[]byte{0, 0}, 1},
		"width 0":   {good, 0},
	} {
		if _, err := ParseEntryBundle(tc.b, tc.want); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/entries/x001/234.p/5", "tile/5/x999/x999/999", "tile/0/000.p/255", "tile/x/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		if p.String() != s {
			t.Fatalf("ParsePath(%q).String() = %q: two paths for one tile", s, p.String())
		}
		if p.Width < 1 || p.Width > Width {
			t.Fatalf("width %d", p.Width)
		}
	})
}

func FuzzParseEntryBundle(f *testing.F) {
	f.Add([]byte{0, 1, 'a', 0, 2, 'b', 'c'}, 2)
	f.Fuzz(func(t *testing.T, b []byte, want int) {
		es, err := ParseEntryBundle(b, want)
		if err != nil {
			return
		}
		if len(es) != want {
			t.Fatalf("%d entries, want %d", len(es), want)
		}
		n := 0
		for _, e := range es {
			n += 2 + len(e)
		}
		if n != len(b) {
			t.Fatalf("entries cover %d of %d bytes", n, len(b))
		}
	})
}
