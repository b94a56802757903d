package treaty

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
)

// Link is a CID inside a record. It encodes as a dag-cbor link: CBOR tag 42
// over a byte string holding 0x00 followed by the binary CID.
type Link struct{ cid.Cid }

// LinkTo wraps c.
func LinkTo(c cid.Cid) Link { return Link{c} }

// cborTag42 is the CBOR head of tag 42 (0xd8 = major type 6, one-byte tag).
var cborTag42 = []byte{0xd8, 0x2a}

// MarshalCBOR implements cbor.Marshaler.
func (l Link) MarshalCBOR() ([]byte, error) {
	if !l.Defined() {
		return nil, errors.New("treaty: cannot encode an undefined CID")
	}
	raw := l.Bytes()
	n := len(raw) + 1
	out := make([]byte, 0, 2+3+n)
	out = append(out, cborTag42...)
	switch {
	case n < 24:
		out = append(out, 0x40|byte(n))
	case n < 256:
		out = append(out, 0x58, byte(n))
	default:
		out = append(out, 0x59, byte(n>>8), byte(n))
	}
	out = append(out, 0x00)
	return append(out, raw...), nil
}

// UnmarshalCBOR implements cbor.Unmarshaler. It accepts only the canonical
// form MarshalCBOR writes.
func (l *Link) UnmarshalCBOR(data []byte) error {
	if !bytes.HasPrefix(data, cborTag42) || len(data) < 4 {
		return errors.New("treaty: link is not CBOR tag 42")
	}
	rest := data[2:]
	var n, hdr int
	switch {
	case rest[0] >= 0x40 && rest[0] < 0x58:
		n, hdr = int(rest[0]-0x40), 1
	case rest[0] == 0x58 && len(rest) >= 2:
		n, hdr = int(rest[1]), 2
	case rest[0] == 0x59 && len(rest) >= 3:
		n, hdr = int(rest[1])<<8|int(rest[2]), 3
	default:
		return errors.New("treaty: link is not a byte string")
	}
	body := rest[hdr:]
	if len(body) != n || n < 2 || body[0] != 0x00 {
		return errors.New("treaty: link bytes lack the 0x00 multibase prefix")
	}
	c, err := cid.Cast(body[1:])
	if err != nil {
		return fmt.Errorf("treaty: link: %w", err)
	}
	l.Cid = c
	return nil
}
