package c2sp

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Signature algorithm bytes of C2SP signed-note key IDs.
const (
	AlgEd25519     = 0x01 // plain Ed25519 signature (log checkpoints)
	AlgCosignature = 0x04 // timestamped Ed25519 cosignature/v1 (witnesses)
)

// sigPrefix starts every signature line: an em dash (U+2014) and a space.
const sigPrefix = "\u2014 "

// MaxCosignatureTime bounds cosignature timestamps (unix seconds) so that
// they convert to time.Time without overflow.
const MaxCosignatureTime = 1 << 40

// CosignatureSize is timestamp (8 bytes) || Ed25519 signature (64 bytes).
const CosignatureSize = 8 + ed25519.SignatureSize

// NoteSignature is one signature line of a signed note.
type NoteSignature struct {
	// Name is the key name (for a log, its origin).
	Name string
	// KeyHash is the 4-byte key ID: SHA-256(name || 0x0A || alg || key)[:4].
	KeyHash uint32
	// Sig is the signature after the key ID.
	Sig []byte
}

// Line renders s as a signature line, newline included.
func (s NoteSignature) Line() string {
	raw := make([]byte, 4, 4+len(s.Sig))
	binary.BigEndian.PutUint32(raw, s.KeyHash)
	raw = append(raw, s.Sig...)
	return sigPrefix + s.Name + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
}

// Note is a parsed C2SP signed note.
type Note struct {
	Text []byte // the signed text, ending in a newline
	Sigs []NoteSignature
}

// Marshal returns the note's text form: the text, a blank line and one
// line per signature.
func (n *Note) Marshal() []byte {
	var b bytes.Buffer
	b.Grow(len(n.Text) + 1 + len(n.Sigs)*100)
	b.Write(n.Text)
	b.WriteByte('\n')
	for _, s := range n.Sigs {
		b.WriteString(s.Line())
	}
	return b.Bytes()
}

// NoteError reports a signed note that does not parse, naming the part.
type NoteError struct {
	Field string // "note", "text", "signature[2]", ...
	Rule  string
}

func (e *NoteError) Error() string { return "provenance: signed note: " + e.Field + ": " + e.Rule }

func noteErr(field, format string, args ...any) error {
	return &NoteError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// ValidKeyName reports whether name is a valid signed-note key name: non-empty
// UTF-8 without whitespace or '+', bounded by MaxKeyNameLen.
func ValidKeyName(name string) bool {
	return name != "" && len(name) <= MaxKeyNameLen && utf8.ValidString(name) &&
		strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// ParseNote parses a signed note strictly: at most MaxNoteSize bytes, valid
// UTF-8 without control characters other than newline, text ending in a
// newline, a blank line, then 1 to MaxNoteSignatures signature lines with
// valid key names, canonical base64 and no two lines for one key.
func ParseNote(msg []byte) (*Note, error) {
	if len(msg) > MaxNoteSize {
		return nil, noteErr("note", "%d bytes, limit %d", len(msg), MaxNoteSize)
	}
	for i := 0; i < len(msg); {
		r, size := utf8.DecodeRune(msg[i:])
		if r == utf8.RuneError && size == 1 {
			return nil, noteErr("note", "invalid UTF-8 at byte %d", i)
		}
		if r < 0x20 && r != '\n' || r == 0x7f {
			return nil, noteErr("note", "control character at byte %d", i)
		}
		i += size
	}
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 {
		return nil, noteErr("note", "no blank line before the signatures")
	}
	text, sigs := msg[:split+1], msg[split+2:]
	if len(sigs) == 0 {
		return nil, noteErr("signatures", "none")
	}
	if sigs[len(sigs)-1] != '\n' {
		return nil, noteErr("signatures", "last line does not end in a newline")
	}
	n := &Note{Text: text}
	seen := make(map[nameHash]bool)
	for i := 0; len(sigs) > 0; i++ {
		field := fmt.Sprintf("signature[%d]", i)
		if i >= MaxNoteSignatures {
			return nil, noteErr("signatures", "more than %d", MaxNoteSignatures)
		}
		j := bytes.IndexByte(sigs, '\n')
		line := string(sigs[:j])
		sigs = sigs[j+1:]
		s, err := parseSigLine(line)
		if err != nil {
			return nil, noteErr(field, "%s", err.Error())
		}
		k := nameHash{s.Name, s.KeyHash}
		if seen[k] {
			return nil, noteErr(field, "second signature by key %s+%08x", s.Name, s.KeyHash)
		}
		seen[k] = true
		n.Sigs = append(n.Sigs, s)
	}
	return n, nil
}

type nameHash struct {
	name string
	hash uint32
}

// parseSigLine parses "— <name> <base64(keyID || sig)>" (no newline).
func parseSigLine(line string) (NoteSignature, error) {
	rest, ok := strings.CutPrefix(line, sigPrefix)
	if !ok {
		return NoteSignature{}, errors.New("does not start with an em dash and a space")
	}
	name, b64, ok := strings.Cut(rest, " ")
	if !ok {
		return NoteSignature{}, errors.New("no space between key name and signature")
	}
	if !ValidKeyName(name) {
		return NoteSignature{}, fmt.Errorf("invalid key name %q", Truncate(name))
	}
	if len(b64) > maxSigB64 {
		return NoteSignature{}, fmt.Errorf("signature is %d base64 bytes, limit %d", len(b64), maxSigB64)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || base64.StdEncoding.EncodeToString(raw) != b64 {
		return NoteSignature{}, errors.New("signature is not canonical base64")
	}
	if len(raw) < 5 {
		return NoteSignature{}, fmt.Errorf("signature is %d bytes, want a 4-byte key ID and a signature", len(raw))
	}
	return NoteSignature{Name: name, KeyHash: binary.BigEndian.Uint32(raw), Sig: raw[4:]}, nil
}

// maxSigB64 bounds one signature's base64: a key ID and a timestamped
// Ed25519 cosignature fit in 100 characters; 256 leaves room for other
// algorithms' short signatures without admitting kilobyte lines.
const maxSigB64 = 256

// Truncate shortens s to 40 bytes for error messages.
func Truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// KeyHash computes a C2SP key ID: the first 4 bytes of
// SHA-256(name || 0x0A || alg || key), big-endian.
func KeyHash(name string, alg byte, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', alg})
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// ed25519Verifier verifies plain Ed25519 note signatures (type 0x01).
type ed25519Verifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *ed25519Verifier) Name() string    { return v.name }
func (v *ed25519Verifier) KeyHash() uint32 { return v.hash }
func (v *ed25519Verifier) Verify(msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(v.key, msg, sig)
}

var _ note.Verifier = (*ed25519Verifier)(nil)

// LogVerifier returns the verifier of the log named origin whose key is
// pub (the node's Ed25519 key). It interoperates with
// golang.org/x/mod/sumdb/note.
func LogVerifier(origin string, pub ed25519.PublicKey) (note.Verifier, error) {
	if err := CheckOrigin(origin); err != nil {
		return nil, err
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("provenance: log key: %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	return &ed25519Verifier{name: origin, hash: KeyHash(origin, AlgEd25519, pub), key: pub}, nil
}

// LogVerifierKey returns the C2SP verifier key text of a log
// ("<origin>+<key ID hex>+<base64(0x01 || key)>"), which
// note.NewVerifier and other implementations accept.
func LogVerifierKey(origin string, pub ed25519.PublicKey) (string, error) {
	if err := CheckOrigin(origin); err != nil {
		return "", err
	}
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("provenance: log key: %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	return vkeyText(origin, AlgEd25519, pub), nil
}

func vkeyText(name string, alg byte, pub ed25519.PublicKey) string {
	raw := append([]byte{alg}, pub...)
	return fmt.Sprintf("%s+%08x+%s", name, KeyHash(name, alg, pub), base64.StdEncoding.EncodeToString(raw))
}

// CosignedMessage is the message a cosignature/v1 signature with
// timestamp t covers.
func CosignedMessage(t uint64, body []byte) []byte {
	m := make([]byte, 0, 32+len(body))
	m = append(m, "cosignature/v1\ntime "...)
	m = strconv.AppendUint(m, t, 10)
	m = append(m, '\n')
	return append(m, body...)
}

// CosignatureVerifier verifies cosignature/v1 signatures of one witness and
// reads their timestamps. It implements note.Verifier.
type CosignatureVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

var _ note.Verifier = (*CosignatureVerifier)(nil)

// Name returns the witness's key name.
func (v *CosignatureVerifier) Name() string { return v.name }

// KeyHash returns the witness's key ID.
func (v *CosignatureVerifier) KeyHash() uint32 { return v.hash }

// Verify reports whether sig (timestamp || Ed25519) is a valid cosignature
// of msg, the checkpoint body.
func (v *CosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != CosignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > MaxCosignatureTime {
		return false
	}
	return ed25519.Verify(v.key, CosignedMessage(t, msg), sig[8:])
}

// VerifierKey returns the C2SP verifier key text (type 0x04).
func (v *CosignatureVerifier) VerifierKey() string { return vkeyText(v.name, AlgCosignature, v.key) }

// WitnessVerifier returns the cosignature verifier of the witness named name
// whose key is pub.
func WitnessVerifier(name string, pub ed25519.PublicKey) (*CosignatureVerifier, error) {
	if !ValidKeyName(name) {
		return nil, fmt.Errorf("provenance: witness key: invalid name %q", Truncate(name))
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("provenance: witness key: %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	return &CosignatureVerifier{name: name, hash: KeyHash(name, AlgCosignature, pub), key: pub}, nil
}

// ParseWitnessKey parses a witness key given as "NAME+did:key:z6Mk…" or as a
// C2SP verifier key "NAME+HASH+BASE64" of type 0x04 (or 0x01, converted to
// 0x04 like transparency-dev/formats does).
func ParseWitnessKey(s string) (*CosignatureVerifier, error) {
	if len(s) > MaxKeyNameLen+128 {
		return nil, fmt.Errorf("provenance: witness key: %d bytes, too long", len(s))
	}
	name, rest, ok := strings.Cut(s, "+")
	if !ok {
		return nil, errors.New("provenance: witness key: want NAME+did:key:… or NAME+HASH+BASE64")
	}
	if strings.HasPrefix(rest, "did:key:") {
		pub, err := DIDPublicKey(rest)
		if err != nil {
			return nil, err
		}
		return WitnessVerifier(name, pub)
	}
	hash16, key64, ok := strings.Cut(rest, "+")
	if !ok || len(hash16) != 8 {
		return nil, errors.New("provenance: witness key: want NAME+HASH+BASE64 with an 8-digit hex HASH")
	}
	hash, err := strconv.ParseUint(hash16, 16, 32)
	if err != nil {
		return nil, fmt.Errorf("provenance: witness key: hash: %w", err)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(key64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize {
		return nil, errors.New("provenance: witness key: want base64 of a type byte and a 32-byte Ed25519 key")
	}
	if raw[0] != AlgCosignature && raw[0] != AlgEd25519 {
		return nil, fmt.Errorf("provenance: witness key: type 0x%02x, want 0x04 (or 0x01)", raw[0])
	}
	if !ValidKeyName(name) {
		return nil, fmt.Errorf("provenance: witness key: invalid name %q", Truncate(name))
	}
	pub := ed25519.PublicKey(raw[1:])
	if uint32(hash) != KeyHash(name, raw[0], pub) {
		return nil, errors.New("provenance: witness key: key ID does not match the name and key")
	}
	return &CosignatureVerifier{name: name, hash: KeyHash(name, AlgCosignature, pub), key: pub}, nil
}

// ParseLogKey parses a log verifier key given as a C2SP verifier key
// "ORIGIN+HASH+BASE64" of type 0x01.
func ParseLogKey(vkey string) (note.Verifier, error) {
	if len(vkey) > MaxOriginLen+128 {
		return nil, fmt.Errorf("provenance: log key: %d bytes, too long", len(vkey))
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("provenance: log key: %w", err)
	}
	return v, nil
}

// CosignatureTime returns the timestamp of a cosignature/v1 signature.
func CosignatureTime(s NoteSignature) (time.Time, error) {
	if len(s.Sig) != CosignatureSize {
		return time.Time{}, fmt.Errorf("provenance: cosignature by %s is %d bytes, want %d", s.Name, len(s.Sig), CosignatureSize)
	}
	t := binary.BigEndian.Uint64(s.Sig)
	if t > MaxCosignatureTime {
		return time.Time{}, fmt.Errorf("provenance: cosignature by %s: timestamp %d out of range", s.Name, t)
	}
	return time.Unix(int64(t), 0).UTC(), nil
}

// VerifyCosignature checks that signedNote carries a valid cosignature by w
// and returns its timestamp. A note without w's signature is an error
// wrapping ErrNoCosignature.
func VerifyCosignature(signedNote []byte, w *CosignatureVerifier) (time.Time, error) {
	n, err := ParseNote(signedNote)
	if err != nil {
		return time.Time{}, err
	}
	for _, s := range n.Sigs {
		if s.Name != w.name || s.KeyHash != w.hash {
			continue
		}
		if !w.Verify(n.Text, s.Sig) {
			return time.Time{}, &SignatureError{Signer: w.name, KeyHash: w.hash, Reason: "cosignature does not verify"}
		}
		return CosignatureTime(s)
	}
	return time.Time{}, fmt.Errorf("%w by %s", ErrNoCosignature, w.name)
}

// ErrNoCosignature reports a note that lacks an expected cosignature.
var ErrNoCosignature = errors.New("provenance: no cosignature")

// SignatureError reports a signature by a known key that does not verify.
// C2SP signed-note verifiers must reject such a note as a whole.
type SignatureError struct {
	Signer  string
	KeyHash uint32
	Reason  string
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("provenance: signature by %s+%08x: %s", e.Signer, e.KeyHash, e.Reason)
}

// MergeCosignatures returns signedNote with the signature lines in sigLines
// added (sigLines is a witness's add-checkpoint response: one or more
// "— name base64" lines). A line for a key that already signed replaces the
// older cosignature when its timestamp is later. The result carries at most
// MaxNoteSignatures signatures; a merge that would exceed it fails with
// ErrTooManySignatures and changes nothing. The lines are not verified here:
// verify them first (VerifyCosignature on the merged note), since a C2SP
// verifier rejects a whole note whose known-key signature fails.
func MergeCosignatures(signedNote, sigLines []byte) ([]byte, error) {
	n, err := ParseNote(signedNote)
	if err != nil {
		return nil, err
	}
	add, err := ParseSigLines(sigLines)
	if err != nil {
		return nil, err
	}
	out := *n
	out.Sigs = append([]NoteSignature(nil), n.Sigs...)
outer:
	for _, s := range add {
		for i, have := range out.Sigs {
			if have.Name == s.Name && have.KeyHash == s.KeyHash {
				if newerCosignature(s, have) {
					out.Sigs[i] = s
				}
				continue outer
			}
		}
		if len(out.Sigs) >= MaxNoteSignatures {
			return nil, fmt.Errorf("%w: limit %d", ErrTooManySignatures, MaxNoteSignatures)
		}
		out.Sigs = append(out.Sigs, s)
	}
	b := out.Marshal()
	if len(b) > MaxNoteSize {
		return nil, fmt.Errorf("%w: merged note is %d bytes, limit %d", ErrTooManySignatures, len(b), MaxNoteSize)
	}
	return b, nil
}

// ErrTooManySignatures reports a note that would exceed MaxNoteSignatures.
var ErrTooManySignatures = errors.New("provenance: too many signatures on a note")

func newerCosignature(a, b NoteSignature) bool {
	ta, errA := CosignatureTime(a)
	tb, errB := CosignatureTime(b)
	return errA == nil && errB == nil && ta.After(tb)
}

// ParseSigLines parses a block of signature lines (an add-checkpoint
// response), each ending in a newline.
func ParseSigLines(b []byte) ([]NoteSignature, error) {
	if len(b) == 0 {
		return nil, noteErr("cosignatures", "empty")
	}
	if len(b) > MaxNoteSignatures*(len(sigPrefix)+MaxKeyNameLen+1+maxSigB64+1) {
		return nil, noteErr("cosignatures", "%d bytes, too long", len(b))
	}
	if b[len(b)-1] != '\n' {
		return nil, noteErr("cosignatures", "last line does not end in a newline")
	}
	if !utf8.Valid(b) {
		return nil, noteErr("cosignatures", "invalid UTF-8")
	}
	// The same characters a note may hold (parseNote): a merged note must
	// parse again.
	for i, r := range string(b) {
		if r < 0x20 && r != '\n' || r == 0x7f {
			return nil, noteErr("cosignatures", "control character at byte %d", i)
		}
	}
	lines := strings.Split(string(b[:len(b)-1]), "\n")
	if len(lines) > MaxNoteSignatures {
		return nil, noteErr("cosignatures", "%d lines, limit %d", len(lines), MaxNoteSignatures)
	}
	out := make([]NoteSignature, 0, len(lines))
	for i, l := range lines {
		s, err := parseSigLine(l)
		if err != nil {
			return nil, noteErr(fmt.Sprintf("cosignatures[%d]", i), "%s", err.Error())
		}
		out = append(out, s)
	}
	return out, nil
}

// VerifyNoteSigs applies C2SP signed-note rules with the given verifiers:
// every signature whose (name, key ID) matches a verifier must verify (else
// *SignatureError), unknown signatures are ignored. It returns the
// signatures that verified, in note order.
func VerifyNoteSigs(n *Note, known ...note.Verifier) ([]NoteSignature, error) {
	var ok []NoteSignature
	for _, s := range n.Sigs {
		for _, v := range known {
			if v == nil || v.Name() != s.Name || v.KeyHash() != s.KeyHash {
				continue
			}
			if !v.Verify(n.Text, s.Sig) {
				return nil, &SignatureError{Signer: s.Name, KeyHash: s.KeyHash, Reason: "does not verify"}
			}
			ok = append(ok, s)
			break
		}
	}
	return ok, nil
}
