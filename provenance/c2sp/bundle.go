package c2sp

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// BundleHeader is the first line of a proof bundle: a bundle is a C2SP
// tlog-proof (https://c2sp.org/tlog-proof) whose "extra" data carries
// Aurora's additions.
const BundleHeader = "c2sp.org/tlog-proof@v1"

// Bundle is a self-contained proof that a job record is in a node's log:
// everything needed to verify it offline with the log's key, the witness
// keys and the TSA roots. Its text form (Marshal) is a valid C2SP
// tlog-proof:
//
//	c2sp.org/tlog-proof@v1
//	extra <base64 of dag-cbor {v: 1, leaf: bytes, tsa: [bytes], root: string}>
//	index <leaf index>
//	<base64 inclusion proof hash, one per line, leaf's sibling first>
//	<empty line>
//	<checkpoint note with the log's signature and witness cosignatures>
//
// where leaf is the exact leaf (LogEntry dag-cbor), tsa the RFC 3161 tokens
// (DER) over SHA-256 of the checkpoint body, and root the CID of the epoch
// root block ("" if none). See docs/PROVENANCE.md.
type Bundle struct {
	Index      uint64
	Proof      [][]byte // inclusion proof hashes
	Checkpoint []byte   // signed checkpoint note with cosignatures
	Leaf       []byte   // the leaf bytes: canonical dag-cbor of a LogEntry
	TSA        [][]byte // RFC 3161 tokens over SHA-256(checkpoint body)
	Root       string   // epoch root CID, "" if none
}

// bundleExtra is the dag-cbor carried in the tlog-proof extra line.
type bundleExtra struct {
	V    int64    `cbor:"v"`
	Leaf []byte   `cbor:"leaf"`
	TSA  [][]byte `cbor:"tsa"`
	Root string   `cbor:"root"`
}

const bundleVersion = 1

// maxInclusionHashes bounds an inclusion proof (a tree of MaxTreeSize
// leaves needs 48).
const maxInclusionHashes = 64

// Marshal returns the text form of b (see Bundle).
func (b *Bundle) Marshal() ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	extra, err := encMode.Marshal(bundleExtra{V: bundleVersion, Leaf: b.Leaf, TSA: b.TSA, Root: b.Root})
	if err != nil {
		return nil, fmt.Errorf("provenance: bundle: encode extra: %w", err)
	}
	var out bytes.Buffer
	out.WriteString(BundleHeader + "\n")
	out.WriteString("extra ")
	out.WriteString(base64.StdEncoding.EncodeToString(extra))
	out.WriteString("\nindex ")
	out.WriteString(strconv.FormatUint(b.Index, 10))
	out.WriteByte('\n')
	for _, h := range b.Proof {
		out.WriteString(base64.StdEncoding.EncodeToString(h))
		out.WriteByte('\n')
	}
	out.WriteByte('\n')
	out.Write(b.Checkpoint)
	if out.Len() > MaxBundleSize {
		return nil, &BundleError{Field: "bundle", Rule: fmt.Sprintf("%d bytes, limit %d", out.Len(), MaxBundleSize)}
	}
	return out.Bytes(), nil
}

// BundleError reports a bundle that does not parse, naming the field.
type BundleError struct {
	Field string // "header", "extra", "extra.leaf", "index", "proof[2]", "checkpoint", ...
	Rule  string
}

func (e *BundleError) Error() string { return "provenance: bundle: " + e.Field + ": " + e.Rule }

func bundleErr(field, format string, args ...any) error {
	return &BundleError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// check applies the field limits that ParseBundle enforces.
func (b *Bundle) check() error {
	if len(b.Leaf) == 0 || len(b.Leaf) > MaxLeafSize {
		return bundleErr("extra.leaf", "%d bytes, want 1 to %d", len(b.Leaf), MaxLeafSize)
	}
	if len(b.TSA) > MaxTSATokens {
		return bundleErr("extra.tsa", "%d tokens, limit %d", len(b.TSA), MaxTSATokens)
	}
	for i, t := range b.TSA {
		if len(t) == 0 || len(t) > MaxTSATokenSize {
			return bundleErr(fmt.Sprintf("extra.tsa[%d]", i), "%d bytes, want 1 to %d", len(t), MaxTSATokenSize)
		}
	}
	if b.Root != "" {
		if err := checkRootCID(b.Root); err != nil {
			return bundleErr("extra.root", "%v", err)
		}
	}
	if b.Index > MaxTreeSize {
		return bundleErr("index", "%d exceeds %d", b.Index, uint64(MaxTreeSize))
	}
	if len(b.Proof) > maxInclusionHashes {
		return bundleErr("proof", "%d hashes, limit %d", len(b.Proof), maxInclusionHashes)
	}
	for i, h := range b.Proof {
		if len(h) != 32 {
			return bundleErr(fmt.Sprintf("proof[%d]", i), "%d bytes, want 32", len(h))
		}
	}
	if _, err := ParseNote(b.Checkpoint); err != nil {
		return bundleErr("checkpoint", "%v", err)
	}
	return nil
}

// ParseBundle parses a bundle's text form strictly: at most MaxBundleSize
// bytes, the exact header, a required canonical-base64 extra line holding
// canonical dag-cbor with exactly the fields v (1), leaf, tsa and root, an
// index without leading zeros, at most 64 canonical base64 SHA-256 proof
// lines, an empty line and a well-formed signed note. Nothing is verified:
// see VerifyBundle.
func ParseBundle(data []byte) (*Bundle, error) {
	if len(data) > MaxBundleSize {
		return nil, bundleErr("bundle", "%d bytes, limit %d", len(data), MaxBundleSize)
	}
	rest := data
	next := func(field string) (string, error) {
		line, r, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return "", bundleErr(field, "missing (no newline)")
		}
		rest = r
		return string(line), nil
	}
	line, err := next("header")
	if err != nil {
		return nil, err
	}
	if line != BundleHeader {
		return nil, bundleErr("header", "want %q", BundleHeader)
	}
	if line, err = next("extra"); err != nil {
		return nil, err
	}
	b64, ok := strings.CutPrefix(line, "extra ")
	if !ok {
		return nil, bundleErr("extra", "missing: an Aurora bundle carries the leaf in the extra line")
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || base64.StdEncoding.EncodeToString(raw) != b64 {
		return nil, bundleErr("extra", "not canonical base64")
	}
	var ex bundleExtra
	if err := decMode.Unmarshal(raw, &ex); err != nil {
		return nil, bundleErr("extra", "not the extra dag-cbor: %v", err)
	}
	if canon, err := encMode.Marshal(ex); err != nil || !bytes.Equal(canon, raw) {
		return nil, bundleErr("extra", "not canonical dag-cbor (missing field, key order or integer form)")
	}
	if ex.V != bundleVersion {
		return nil, bundleErr("extra.v", "version %d, want %d", ex.V, bundleVersion)
	}
	b := &Bundle{Leaf: ex.Leaf, TSA: ex.TSA, Root: ex.Root}
	if line, err = next("index"); err != nil {
		return nil, err
	}
	idx, ok := strings.CutPrefix(line, "index ")
	if !ok {
		return nil, bundleErr("index", "want \"index <n>\"")
	}
	if b.Index, err = ParseDecimal(idx); err != nil {
		return nil, bundleErr("index", "%v", err)
	}
	for i := 0; ; i++ {
		if line, err = next("proof"); err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		if i >= maxInclusionHashes {
			return nil, bundleErr("proof", "more than %d hashes", maxInclusionHashes)
		}
		h, err := DecodeHash(line)
		if err != nil {
			return nil, bundleErr(fmt.Sprintf("proof[%d]", i), "%v", err)
		}
		b.Proof = append(b.Proof, h[:])
	}
	b.Checkpoint = bytes.Clone(rest)
	if b.TSA == nil {
		b.TSA = [][]byte{}
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	return b, nil
}

// checkRootCID accepts the text form of the CIDs epoch roots have: CIDv1
// (multibase "b", lowercase base32 without padding) with a varint codec and
// a multihash whose length matches its digest, at most MaxCIDLen bytes. The
// CID is not verifiable offline; this only keeps junk out of reports.
func checkRootCID(s string) error {
	if len(s) > MaxCIDLen {
		return fmt.Errorf("provenance: root CID is %d bytes, limit %d", len(s), MaxCIDLen)
	}
	rest, ok := strings.CutPrefix(s, "b")
	if !ok {
		return errors.New("provenance: root CID: want a CIDv1 in base32 (\"b…\")")
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(rest))
	if err != nil || strings.ToLower(rest) != rest {
		return errors.New("provenance: root CID: not lowercase base32")
	}
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(raw)
		if n <= 0 || n > 9 {
			return 0, false
		}
		raw = raw[n:]
		return v, true
	}
	version, ok1 := next()
	_, ok2 := next() // codec
	_, ok3 := next() // multihash function
	size, ok4 := next()
	if !ok1 || !ok2 || !ok3 || !ok4 || version != 1 || uint64(len(raw)) != size || size == 0 {
		return errors.New("provenance: root CID: not a CIDv1 with a multihash")
	}
	return nil
}
