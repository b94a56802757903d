// Package tiles computes a provenance log's C2SP tlog-tiles resources (hash
// tiles and entry bundles) and parses their paths and bundles. It is pure:
// the HTTP handler that serves them and the client that fetches them live in
// provenance/c2sphttp.
//
// Paths are relative to the log's prefix, without a leading slash:
// "tile/<L>/<N>[.p/<W>]" and "tile/entries/<N>[.p/<W>]", N written in
// 3-digit groups ("x001/x234/067").
package tiles

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aurora-federation/aurora/provenance"
)

// Tile geometry fixed by C2SP tlog-tiles.
const (
	// Height is the number of tree levels one tile spans.
	Height = 8
	// Width is the number of hashes (or entries) in a full tile.
	Width = 1 << Height
	// HashSize is the size of one hash in a hash tile.
	HashSize = 32
	// MaxEntrySize is the largest leaf an entry bundle can carry (its
	// length prefix is a big-endian uint16).
	MaxEntrySize = 1<<16 - 1
	// MaxPathLen bounds the paths ParsePath accepts.
	MaxPathLen = 128
	// MaxLevel is the highest level with a tile in a tree of at most
	// provenance.MaxTreeSize leaves.
	MaxLevel = 5
)

// ErrNotFound reports a tile the tree of the given size does not have (or a
// server's 404).
var ErrNotFound = errors.New("tiles: not found")

// Path names one tile: a hash tile at Level, or an entry bundle.
type Path struct {
	// Entries marks an entry bundle (Level is then 0).
	Entries bool
	// Level is the hash tile's level, 0..63 (tiles exist up to MaxLevel).
	Level uint8
	// Index is the tile's index within its level.
	Index uint64
	// Width is the number of hashes or entries: Width (256) for a full
	// tile, 1..255 for a partial one.
	Width int
}

// PathError reports a malformed tile path, naming the part at fault.
type PathError struct {
	Path string
	Part string // "prefix", "level", "index", "width"
	Rule string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("tiles: path %q: %s: %s", truncate(e.Path), e.Part, e.Rule)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// ParsePath parses a C2SP tile path strictly: "tile/" then a level (decimal,
// 0..63, no leading zeros) or "entries", the index in 3-digit groups (all
// but the last prefixed by "x"), and for a partial tile ".p/<W>" with W in
// 1..255 (no leading zeros).
func ParsePath(s string) (Path, error) {
	var p Path
	bad := func(part, format string, args ...any) (Path, error) {
		return Path{}, &PathError{Path: s, Part: part, Rule: fmt.Sprintf(format, args...)}
	}
	if len(s) > MaxPathLen {
		return bad("prefix", "longer than %d bytes", MaxPathLen)
	}
	rest, ok := strings.CutPrefix(s, "tile/")
	if !ok {
		return bad("prefix", `want "tile/"`)
	}
	lvl, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("index", "missing")
	}
	if lvl == "entries" {
		p.Entries = true
	} else {
		n, err := decimal(lvl, 63)
		if err != nil {
			return bad("level", "%v", err)
		}
		p.Level = uint8(n)
	}
	p.Width = Width
	if idx, w, ok := strings.Cut(rest, ".p/"); ok {
		n, err := decimal(w, Width-1)
		if err != nil || n == 0 {
			return bad("width", "want 1..%d without leading zeros", Width-1)
		}
		p.Width = int(n)
		rest = idx
	}
	groups := strings.Split(rest, "/")
	if len(groups) > 6 {
		return bad("index", "more than 6 groups")
	}
	for i, g := range groups {
		if i < len(groups)-1 {
			var ok bool
			if g, ok = strings.CutPrefix(g, "x"); !ok {
				return bad("index", "group %d must start with x", i)
			}
		}
		if len(g) != 3 || !allDigits(g) {
			return bad("index", "group %d: want 3 digits", i)
		}
		d, _ := strconv.ParseUint(g, 10, 64)
		p.Index = p.Index*1000 + d
	}
	if len(groups) > 1 && strings.TrimPrefix(groups[0], "x") == "000" {
		return bad("index", "leading zero group")
	}
	return p, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func decimal(s string, max uint64) (uint64, error) {
	if s == "" || len(s) > 20 || !allDigits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("want a decimal number without leading zeros")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > max {
		return 0, fmt.Errorf("want at most %d", max)
	}
	return n, nil
}

// String returns the C2SP path of p.
func (p Path) String() string {
	var b strings.Builder
	b.WriteString("tile/")
	if p.Entries {
		b.WriteString("entries")
	} else {
		b.WriteString(strconv.Itoa(int(p.Level)))
	}
	b.WriteByte('/')
	b.WriteString(indexPath(p.Index))
	if p.Width < Width {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(p.Width))
	}
	return b.String()
}

func indexPath(n uint64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// Full reports whether p is a full tile (immutable, 256 wide).
func (p Path) Full() bool { return p.Width == Width }

// level is the tree level of the hashes in p.
func (p Path) level() uint { return uint(p.Level) * Height }

// span returns the leaves [start, end) the first Width items of p cover, and
// false when p lies beyond every tree of at most provenance.MaxTreeSize.
func (p Path) span() (start, end uint64, ok bool) {
	if p.Width < 1 || p.Width > Width || p.level() > 48 {
		return 0, 0, false
	}
	if p.Index >= (provenance.MaxTreeSize>>p.level())/Width {
		return 0, 0, false
	}
	start = p.Index * Width << p.level()
	return start, start + uint64(p.Width)<<p.level(), true
}

// Exists reports whether a tree of size holds the tile p.
func (p Path) Exists(size uint64) bool {
	_, end, ok := p.span()
	return ok && end <= size
}

// For returns the tiles a client fetches for a tree of size: at each level
// the full tiles from the one holding index start (at that level), then the
// partial one, if any. With start 0 it lists every tile of the tree.
func For(level uint8, start, size uint64) []Path {
	var out []Path
	sh := uint(level) * Height
	n := size >> sh // hashes at this level
	for i := start >> sh / Width; i*Width < n; i++ {
		w := min(n-i*Width, Width)
		out = append(out, Path{Level: level, Index: i, Width: int(w)})
	}
	return out
}

// Log is what Read reads: *provenance.Log.
type Log interface {
	SubtreeHash(ctx context.Context, level uint8, index uint64) ([32]byte, error)
	ReadLeaves(ctx context.Context, start, end uint64, fn func(index uint64, leaf []byte) error) error
}

var _ Log = (*provenance.Log)(nil)

// EntryTooLargeError reports a leaf an entry bundle cannot carry.
type EntryTooLargeError struct {
	Index uint64
	Size  int
}

func (e *EntryTooLargeError) Error() string {
	return fmt.Sprintf("tiles: leaf %d is %d bytes, an entry bundle carries at most %d", e.Index, e.Size, MaxEntrySize)
}

// Read returns the bytes of tile p of the tree of the given size (the size
// of the log's latest checkpoint: a served tile must never change). It
// fails with ErrNotFound when that tree has no such tile.
func Read(ctx context.Context, log Log, p Path, size uint64) ([]byte, error) {
	start, end, ok := p.span()
	if !ok || end > size {
		return nil, fmt.Errorf("%w: %s in a tree of size %d", ErrNotFound, p, size)
	}
	if p.Entries {
		out := make([]byte, 0, p.Width*512)
		err := log.ReadLeaves(ctx, start, end, func(i uint64, leaf []byte) error {
			if len(leaf) > MaxEntrySize {
				return &EntryTooLargeError{Index: i, Size: len(leaf)}
			}
			out = binary.BigEndian.AppendUint16(out, uint16(len(leaf)))
			out = append(out, leaf...)
			return nil
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	out := make([]byte, 0, p.Width*HashSize)
	first := p.Index * Width
	for i := range uint64(p.Width) {
		h, err := log.SubtreeHash(ctx, uint8(p.level()), first+i)
		if err != nil {
			return nil, err
		}
		out = append(out, h[:]...)
	}
	return out, nil
}

// BundleError reports a malformed entry bundle.
type BundleError struct {
	Entry int
	Rule  string
}

func (e *BundleError) Error() string {
	return fmt.Sprintf("tiles: entry bundle: entry %d: %s", e.Entry, e.Rule)
}

// ParseEntryBundle splits an entry bundle into exactly want entries (the
// tile's width), each 1..MaxEntrySize bytes. The entries alias b.
func ParseEntryBundle(b []byte, want int) ([][]byte, error) {
	if want < 1 || want > Width {
		return nil, &BundleError{Entry: 0, Rule: fmt.Sprintf("width %d, want 1..%d", want, Width)}
	}
	out := make([][]byte, 0, want)
	for len(b) > 0 {
		if len(out) == want {
			return nil, &BundleError{Entry: len(out), Rule: fmt.Sprintf("more than %d entries", want)}
		}
		if len(b) < 2 {
			return nil, &BundleError{Entry: len(out), Rule: "truncated length"}
		}
		n := int(binary.BigEndian.Uint16(b))
		if n == 0 {
			return nil, &BundleError{Entry: len(out), Rule: "empty entry"}
		}
		if len(b) < 2+n {
			return nil, &BundleError{Entry: len(out), Rule: fmt.Sprintf("%d bytes announced, %d left", n, len(b)-2)}
		}
		out = append(out, b[2:2+n:2+n])
		b = b[2+n:]
	}
	if len(out) != want {
		return nil, &BundleError{Entry: len(out), Rule: fmt.Sprintf("%d entries, want %d", len(out), want)}
	}
	return out, nil
}

// ParseHashTile splits a hash tile into exactly want hashes.
func ParseHashTile(b []byte, want int) ([][32]byte, error) {
	if want < 1 || want > Width || len(b) != want*HashSize {
		return nil, fmt.Errorf("tiles: hash tile is %d bytes, want %d hashes of %d", len(b), want, HashSize)
	}
	out := make([][32]byte, want)
	for i := range out {
		copy(out[i][:], b[i*HashSize:])
	}
	return out, nil
}
