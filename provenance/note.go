package provenance

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

	"github.com/aurora-federation/aurora/treaty"
)

// Signature algorithm bytes of C2SP signed-note key IDs.
const (
	algEd25519     = 0x01 // plain Ed25519 signature (log checkpoints)
	algCosignature = 0x04 // timestamped Ed25519 cosignature/v1 (witnesses)
)

// sigPrefix starts every signature line: an em dash (U+2014) and a space.
const sigPrefix = "\u2014 "

// maxCosignatureTime bounds cosignature timestamps (unix seconds) so that
// they convert to time.Time without overflow.
const maxCosignatureTime = 1 << 40

// cosignatureSize is timestamp (8 bytes) || Ed25519 signature (64 bytes).
const cosignatureSize = 8 + ed25519.SignatureSize

// NoteSignature is one signature line of a signed note.
type NoteSignature struct {
	// Name is the key name (for a log, its origin).
	Name string
	// KeyHash is the 4-byte key ID: SHA-256(name || 0x0A || alg || key)[:4].
	KeyHash uint32
	// Sig is the signature after the key ID.
	Sig []byte
}

// line renders s as a signature line, newline included.
func (s NoteSignature) line() string {
	raw := make([]byte, 4, 4+len(s.Sig))
	binary.BigEndian.PutUint32(raw, s.KeyHash)
	raw = append(raw, s.Sig...)
	return sigPrefix + s.Name + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
}

// signedNote is a parsed C2SP signed note.
type signedNote struct {
	text []byte // the signed text, ending in a newline
	sigs []NoteSignature
}

func (n *signedNote) marshal() []byte {
	var b bytes.Buffer
	b.Grow(len(n.text) + 1 + len(n.sigs)*100)
	b.Write(n.text)
	b.WriteByte('\n')
	for _, s := range n.sigs {
		b.WriteString(s.line())
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

// validKeyName reports whether name is a valid signed-note key name: non-empty
// UTF-8 without whitespace or '+', bounded by MaxKeyNameLen.
func validKeyName(name string) bool {
	return name != "" && len(name) <= MaxKeyNameLen && utf8.ValidString(name) &&
		strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// parseNote parses a signed note strictly: at most MaxNoteSize bytes, valid
// UTF-8 without control characters other than newline, text ending in a
// newline, a blank line, then 1 to MaxNoteSignatures signature lines with
// valid key names, canonical base64 and no two lines for one key.
func parseNote(msg []byte) (*signedNote, error) {
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
	n := &signedNote{text: text}
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
		n.sigs = append(n.sigs, s)
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
	if !validKeyName(name) {
		return NoteSignature{}, fmt.Errorf("invalid key name %q", truncate(name))
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

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// keyHash computes a C2SP key ID: the first 4 bytes of
// SHA-256(name || 0x0A || alg || key), big-endian.
func keyHash(name string, alg byte, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', alg})
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// ed25519Signer signs notes with a plain Ed25519 key (type 0x01).
type ed25519Signer struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

func (s *ed25519Signer) Name() string                    { return s.name }
func (s *ed25519Signer) KeyHash() uint32                 { return s.hash }
func (s *ed25519Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

var _ note.Signer = (*ed25519Signer)(nil)

// NewLogSigner returns the signed-note signer of a log: key name = origin,
// type 0x01 (Ed25519), the key being the node's key. The result is safe for
// concurrent use.
func NewLogSigner(origin string, k *treaty.PrivateKey) (note.Signer, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	if k == nil {
		return nil, errors.New("provenance: log signer: nil key")
	}
	pub := k.Public()
	return &ed25519Signer{name: origin, hash: keyHash(origin, algEd25519, pub), key: k.Ed25519()}, nil
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

// LogVerifier returns the verifier of the log named origin whose key is the
// Ed25519 key of did. It interoperates with golang.org/x/mod/sumdb/note.
func LogVerifier(origin string, did treaty.DID) (note.Verifier, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	pub, err := did.PublicKey()
	if err != nil {
		return nil, err
	}
	return &ed25519Verifier{name: origin, hash: keyHash(origin, algEd25519, pub), key: pub}, nil
}

// LogVerifierKey returns the C2SP verifier key text of a log
// ("<origin>+<key ID hex>+<base64(0x01 || key)>"), which
// note.NewVerifier and other implementations accept.
func LogVerifierKey(origin string, did treaty.DID) (string, error) {
	if err := checkOrigin(origin); err != nil {
		return "", err
	}
	pub, err := did.PublicKey()
	if err != nil {
		return "", err
	}
	return vkeyText(origin, algEd25519, pub), nil
}

func vkeyText(name string, alg byte, pub ed25519.PublicKey) string {
	raw := append([]byte{alg}, pub...)
	return fmt.Sprintf("%s+%08x+%s", name, keyHash(name, alg, pub), base64.StdEncoding.EncodeToString(raw))
}

// cosigner produces timestamped cosignature/v1 signatures (type 0x04).
type cosigner struct {
	name  string
	hash  uint32
	key   ed25519.PrivateKey
	clock Clock
}

func (s *cosigner) Name() string    { return s.name }
func (s *cosigner) KeyHash() uint32 { return s.hash }

// Sign signs "cosignature/v1\ntime <t>\n" || msg and returns t || signature.
func (s *cosigner) Sign(msg []byte) ([]byte, error) {
	t := s.clock.Now().Unix()
	if t < 0 {
		return nil, errors.New("provenance: cosign: clock before 1970")
	}
	out := binary.BigEndian.AppendUint64(make([]byte, 0, cosignatureSize), uint64(t))
	return append(out, ed25519.Sign(s.key, cosignedMessage(uint64(t), msg))...), nil
}

var _ note.Signer = (*cosigner)(nil)

// cosignedMessage is the message a cosignature/v1 signature covers.
func cosignedMessage(t uint64, body []byte) []byte {
	m := make([]byte, 0, 32+len(body))
	m = append(m, "cosignature/v1\ntime "...)
	m = strconv.AppendUint(m, t, 10)
	m = append(m, '\n')
	return append(m, body...)
}

// NewCosigner returns a cosignature/v1 signer named name with key k; the
// signature's timestamp comes from clock (nil: the system clock).
func NewCosigner(name string, k *treaty.PrivateKey, clock Clock) (note.Signer, error) {
	if !validKeyName(name) {
		return nil, fmt.Errorf("provenance: cosigner: invalid key name %q", truncate(name))
	}
	if k == nil {
		return nil, errors.New("provenance: cosigner: nil key")
	}
	if clock == nil {
		clock = systemClock{}
	}
	return &cosigner{name: name, hash: keyHash(name, algCosignature, k.Public()), key: k.Ed25519(), clock: clock}, nil
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
	if len(sig) != cosignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > maxCosignatureTime {
		return false
	}
	return ed25519.Verify(v.key, cosignedMessage(t, msg), sig[8:])
}

// VerifierKey returns the C2SP verifier key text (type 0x04).
func (v *CosignatureVerifier) VerifierKey() string { return vkeyText(v.name, algCosignature, v.key) }

// WitnessVerifier returns the cosignature verifier of the witness named name
// whose key is the Ed25519 key of did.
func WitnessVerifier(name string, did treaty.DID) (*CosignatureVerifier, error) {
	if !validKeyName(name) {
		return nil, fmt.Errorf("provenance: witness key: invalid name %q", truncate(name))
	}
	pub, err := did.PublicKey()
	if err != nil {
		return nil, err
	}
	return &CosignatureVerifier{name: name, hash: keyHash(name, algCosignature, pub), key: pub}, nil
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
		return WitnessVerifier(name, treaty.DID(rest))
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
	if raw[0] != algCosignature && raw[0] != algEd25519 {
		return nil, fmt.Errorf("provenance: witness key: type 0x%02x, want 0x04 (or 0x01)", raw[0])
	}
	if !validKeyName(name) {
		return nil, fmt.Errorf("provenance: witness key: invalid name %q", truncate(name))
	}
	pub := ed25519.PublicKey(raw[1:])
	if uint32(hash) != keyHash(name, raw[0], pub) {
		return nil, errors.New("provenance: witness key: key ID does not match the name and key")
	}
	return &CosignatureVerifier{name: name, hash: keyHash(name, algCosignature, pub), key: pub}, nil
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
	if len(s.Sig) != cosignatureSize {
		return time.Time{}, fmt.Errorf("provenance: cosignature by %s is %d bytes, want %d", s.Name, len(s.Sig), cosignatureSize)
	}
	t := binary.BigEndian.Uint64(s.Sig)
	if t > maxCosignatureTime {
		return time.Time{}, fmt.Errorf("provenance: cosignature by %s: timestamp %d out of range", s.Name, t)
	}
	return time.Unix(int64(t), 0).UTC(), nil
}

// VerifyCosignature checks that signedNote carries a valid cosignature by w
// and returns its timestamp. A note without w's signature is an error
// wrapping ErrNoCosignature.
func VerifyCosignature(signedNote []byte, w *CosignatureVerifier) (time.Time, error) {
	n, err := parseNote(signedNote)
	if err != nil {
		return time.Time{}, err
	}
	for _, s := range n.sigs {
		if s.Name != w.name || s.KeyHash != w.hash {
			continue
		}
		if !w.Verify(n.text, s.Sig) {
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
	n, err := parseNote(signedNote)
	if err != nil {
		return nil, err
	}
	add, err := parseSigLines(sigLines)
	if err != nil {
		return nil, err
	}
	out := *n
	out.sigs = append([]NoteSignature(nil), n.sigs...)
outer:
	for _, s := range add {
		for i, have := range out.sigs {
			if have.Name == s.Name && have.KeyHash == s.KeyHash {
				if newerCosignature(s, have) {
					out.sigs[i] = s
				}
				continue outer
			}
		}
		if len(out.sigs) >= MaxNoteSignatures {
			return nil, fmt.Errorf("%w: limit %d", ErrTooManySignatures, MaxNoteSignatures)
		}
		out.sigs = append(out.sigs, s)
	}
	b := out.marshal()
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

// parseSigLines parses a block of signature lines (an add-checkpoint
// response), each ending in a newline.
func parseSigLines(b []byte) ([]NoteSignature, error) {
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

// verifyNoteSigs applies C2SP signed-note rules with the given verifiers:
// every signature whose (name, key ID) matches a verifier must verify (else
// *SignatureError), unknown signatures are ignored. It returns the
// signatures that verified, in note order.
func verifyNoteSigs(n *signedNote, known ...note.Verifier) ([]NoteSignature, error) {
	var ok []NoteSignature
	for _, s := range n.sigs {
		for _, v := range known {
			if v == nil || v.Name() != s.Name || v.KeyHash() != s.KeyHash {
				continue
			}
			if !v.Verify(n.text, s.Sig) {
				return nil, &SignatureError{Signer: s.Name, KeyHash: s.KeyHash, Reason: "does not verify"}
			}
			ok = append(ok, s)
			break
		}
	}
	return ok, nil
}
