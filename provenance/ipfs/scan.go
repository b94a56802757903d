package ipfs

import (
	"bytes"
	"encoding/binary"
	"math"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// scanCanonical is the fast path of canonicalLinks for the blocks an epoch
// writes by the thousand (PinEpochInfo). It accepts only a plain subset of
// canonical dag-cbor: shortest-form heads, definite lengths, integers that
// fit int64, UTF-8 text, maps with text keys in length-first order without
// duplicates, tag 42 links of acceptable CIDs, false, true and null. It
// appends the links to out. ok is false for anything else (floats, say),
// which canonicalLinks then decides with go-ipld-prime; whatever the scan
// accepts, go-ipld-prime decodes and re-encodes to the same bytes with the
// same links (FuzzScanCanonical).
func scanCanonical(data []byte, out []cid.Cid) ([]cid.Cid, bool) {
	s := scanner{data: data, links: out}
	if !s.item(0) || s.pos != len(data) {
		return out, false
	}
	return s.links, true
}

type scanner struct {
	data  []byte
	pos   int
	links []cid.Cid
}

const scanMaxDepth = 64

// head reads a major type and its argument in shortest form.
func (s *scanner) head() (major byte, arg uint64, ok bool) {
	if s.pos >= len(s.data) {
		return 0, 0, false
	}
	b := s.data[s.pos]
	s.pos++
	major, info := b>>5, b&0x1f
	switch {
	case info < 24:
		return major, uint64(info), true
	case info == 24:
		if s.pos+1 > len(s.data) {
			return 0, 0, false
		}
		arg = uint64(s.data[s.pos])
		s.pos++
		return major, arg, arg >= 24
	case info == 25:
		if s.pos+2 > len(s.data) {
			return 0, 0, false
		}
		arg = uint64(binary.BigEndian.Uint16(s.data[s.pos:]))
		s.pos += 2
		return major, arg, arg > math.MaxUint8
	case info == 26:
		if s.pos+4 > len(s.data) {
			return 0, 0, false
		}
		arg = uint64(binary.BigEndian.Uint32(s.data[s.pos:]))
		s.pos += 4
		return major, arg, arg > math.MaxUint16
	case info == 27:
		if s.pos+8 > len(s.data) {
			return 0, 0, false
		}
		arg = binary.BigEndian.Uint64(s.data[s.pos:])
		s.pos += 8
		return major, arg, arg > math.MaxUint32
	}
	return 0, 0, false // indefinite lengths and reserved values
}

// str reads n bytes of a string.
func (s *scanner) str(n uint64) ([]byte, bool) {
	if n > uint64(len(s.data)-s.pos) {
		return nil, false
	}
	b := s.data[s.pos : s.pos+int(n)]
	s.pos += int(n)
	return b, true
}

func (s *scanner) item(depth int) bool {
	if depth > scanMaxDepth {
		return false
	}
	start := s.pos
	major, arg, ok := s.head()
	if !ok {
		return false
	}
	switch major {
	case 0, 1: // integers: go-ipld-prime holds int64
		return arg <= math.MaxInt64
	case 2:
		_, ok := s.str(arg)
		return ok
	case 3:
		b, ok := s.str(arg)
		return ok && utf8.Valid(b)
	case 4:
		if arg > uint64(len(s.data)-s.pos) {
			return false
		}
		for range arg {
			if !s.item(depth + 1) {
				return false
			}
		}
		return true
	case 5:
		if arg > uint64(len(s.data)-s.pos)/2 {
			return false
		}
		var prev []byte
		for i := range arg {
			km, kn, ok := s.head()
			if !ok || km != 3 {
				return false
			}
			k, ok := s.str(kn)
			if !ok || !utf8.Valid(k) {
				return false
			}
			if i > 0 && (len(k) < len(prev) || (len(k) == len(prev) && bytes.Compare(k, prev) <= 0)) {
				return false
			}
			prev = k
			if !s.item(depth + 1) {
				return false
			}
		}
		return true
	case 6:
		if arg != 42 || s.pos-start != 2 {
			return false
		}
		bm, bn, ok := s.head()
		if !ok || bm != 2 || bn < 2 {
			return false
		}
		b, ok := s.str(bn)
		if !ok || b[0] != 0x00 {
			return false
		}
		n, c, err := cid.CidFromBytes(b[1:])
		if err != nil || n != len(b)-1 || checkCID(c) != nil {
			return false
		}
		s.links = append(s.links, c)
		return true
	case 7:
		return s.pos-start == 1 && (arg == 20 || arg == 21 || arg == 22) // false, true, null
	}
	return false
}
