package c2sp

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a C2SP tlog-checkpoint: a log's origin, tree size and root
// hash, optionally with extension lines, and the signed note it came from.
type Checkpoint struct {
	Origin     string
	Size       uint64
	Root       [32]byte
	Extensions []string
	// Note is the signed note (body, blank line, signature lines) this
	// checkpoint was opened from or signed as; nil for a bare body.
	Note []byte
}

// Body returns the checkpoint text that signatures cover:
// "<origin>\n<size>\n<base64 root>\n" followed by the extension lines.
func (c Checkpoint) Body() []byte {
	b := make([]byte, 0, len(c.Origin)+70)
	b = append(b, c.Origin...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, c.Size, 10)
	b = append(b, '\n')
	b = base64.StdEncoding.AppendEncode(b, c.Root[:])
	b = append(b, '\n')
	for _, e := range c.Extensions {
		b = append(b, e...)
		b = append(b, '\n')
	}
	return b
}

// Digest returns SHA-256 of the checkpoint body: what the RFC 3161 tokens of
// an epoch timestamp. Cosignatures added later do not change it.
func (c Checkpoint) Digest() [32]byte { return sha256.Sum256(c.Body()) }

// CheckpointError reports a checkpoint body that does not parse, naming the
// line.
type CheckpointError struct {
	Field string // "origin", "size", "root", "extension[1]", "body"
	Rule  string
}

func (e *CheckpointError) Error() string {
	return "provenance: checkpoint: " + e.Field + ": " + e.Rule
}

func cpErr(field, format string, args ...any) error {
	return &CheckpointError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// CheckOrigin accepts printable ASCII without spaces or '+' (so the origin
// is also a valid signed-note key name), at most MaxOriginLen bytes.
func CheckOrigin(origin string) error {
	if origin == "" {
		return cpErr("origin", "empty")
	}
	if len(origin) > MaxOriginLen {
		return cpErr("origin", "%d bytes, limit %d", len(origin), MaxOriginLen)
	}
	for i := 0; i < len(origin); i++ {
		if c := origin[i]; c <= 0x20 || c >= 0x7f || c == '+' {
			return cpErr("origin", "byte %d (0x%02x) is not printable ASCII other than space and '+'", i, c)
		}
	}
	return nil
}

// ParseCheckpointBody parses checkpoint text strictly: an origin line
// (checkOrigin), a decimal size without leading zeros at most MaxTreeSize,
// a canonical base64 32-byte root, and at most MaxExtensionLines non-empty
// printable extension lines, each line ending in a newline.
func ParseCheckpointBody(body []byte) (Checkpoint, error) {
	var c Checkpoint
	if len(body) > MaxNoteSize {
		return c, cpErr("body", "%d bytes, limit %d", len(body), MaxNoteSize)
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return c, cpErr("body", "does not end in a newline")
	}
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	if len(lines) < 3 {
		return c, cpErr("body", "%d lines, want origin, size and root", len(lines))
	}
	if err := CheckOrigin(string(lines[0])); err != nil {
		return c, err
	}
	c.Origin = string(lines[0])
	size, err := ParseDecimal(string(lines[1]))
	if err != nil {
		return c, cpErr("size", "%v", err)
	}
	c.Size = size
	root, err := DecodeHash(string(lines[2]))
	if err != nil {
		return c, cpErr("root", "%v", err)
	}
	c.Root = root
	ext := lines[3:]
	if len(ext) > MaxExtensionLines {
		return c, cpErr("extensions", "%d lines, limit %d", len(ext), MaxExtensionLines)
	}
	for i, e := range ext {
		f := fmt.Sprintf("extension[%d]", i)
		if len(e) == 0 {
			return c, cpErr(f, "empty line")
		}
		if len(e) > MaxExtensionLineLen {
			return c, cpErr(f, "%d bytes, limit %d", len(e), MaxExtensionLineLen)
		}
		for _, b := range e {
			if b < 0x20 || b >= 0x7f {
				return c, cpErr(f, "not printable ASCII")
			}
		}
		c.Extensions = append(c.Extensions, string(e))
	}
	return c, nil
}

// ParseDecimal parses an ASCII decimal without sign or leading zeros, at
// most MaxTreeSize.
func ParseDecimal(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%q has a leading zero", Truncate(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", Truncate(s))
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > MaxTreeSize {
		return 0, fmt.Errorf("%q exceeds %d", Truncate(s), uint64(MaxTreeSize))
	}
	return n, nil
}

// DecodeHash decodes one canonical standard-base64 SHA-256 hash.
func DecodeHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 44 {
		return h, fmt.Errorf("%d base64 characters, want 44 (32 bytes)", len(s))
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(raw) != 32 || base64.StdEncoding.EncodeToString(raw) != s {
		return h, errors.New("not canonical base64 of 32 bytes")
	}
	copy(h[:], raw)
	return h, nil
}

// OpenCheckpoint parses a signed checkpoint note strictly and verifies it:
// the body must parse, its origin must be origin, and it must carry a
// valid signature by log (the log's verifier, key name = origin). Other
// signatures are kept in Note but not checked: use VerifyCosignatures.
func OpenCheckpoint(signed []byte, origin string, log note.Verifier) (Checkpoint, error) {
	n, err := ParseNote(signed)
	if err != nil {
		return Checkpoint{}, err
	}
	c, err := ParseCheckpointBody(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != origin {
		return Checkpoint{}, &OriginError{Want: origin, Got: c.Origin}
	}
	if log == nil {
		return Checkpoint{}, errors.New("provenance: open checkpoint: nil log verifier")
	}
	ok, err := VerifyNoteSigs(n, log)
	if err != nil {
		return Checkpoint{}, err
	}
	if len(ok) == 0 {
		return Checkpoint{}, fmt.Errorf("%w: no signature by %s+%08x", ErrNoLogSignature, log.Name(), log.KeyHash())
	}
	c.Note = bytes.Clone(signed)
	return c, nil
}

// ErrNoLogSignature reports a checkpoint without a signature by the log's
// key.
var ErrNoLogSignature = errors.New("provenance: checkpoint not signed by the log")

// OriginError reports a checkpoint from another log than expected.
type OriginError struct{ Want, Got string }

func (e *OriginError) Error() string {
	return fmt.Sprintf("provenance: checkpoint origin %q, want %q", Truncate(e.Got), Truncate(e.Want))
}

// Cosignature is a verified witness cosignature.
type Cosignature struct {
	Witness string // key name
	KeyHash uint32
	Time    time.Time
}

// VerifyCosignatures checks the cosignatures on c.Note against the given
// witness verifiers: a signature by a listed witness that does not verify
// is an error (the note is bad as a whole); signatures by unknown keys are
// ignored. It returns the valid cosignatures, one per witness.
func VerifyCosignatures(c Checkpoint, witnesses []*CosignatureVerifier) ([]Cosignature, error) {
	n, err := ParseNote(c.Note)
	if err != nil {
		return nil, err
	}
	vs := make([]note.Verifier, 0, len(witnesses))
	for _, w := range witnesses {
		if w != nil {
			vs = append(vs, w)
		}
	}
	ok, err := VerifyNoteSigs(n, vs...)
	if err != nil {
		return nil, err
	}
	out := make([]Cosignature, 0, len(ok))
	for _, s := range ok {
		t, err := CosignatureTime(s)
		if err != nil {
			return nil, err
		}
		out = append(out, Cosignature{Witness: s.Name, KeyHash: s.KeyHash, Time: t})
	}
	return out, nil
}
