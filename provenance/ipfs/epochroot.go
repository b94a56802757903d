package ipfs

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/treaty"
)

// EpochRootVersion is the only EpochRoot.V this package writes and accepts.
// Version 1 listed every record in the root (at most 16,384); version 2
// links them through a fan-out tree (tree.go).
const EpochRootVersion = 2

// Limits on an EpochRoot. Roots come from peers: every field is bounded,
// and the whole block fits MaxBlockSize.
const (
	MaxOriginLen       = 256
	MaxCheckpointLen   = 64 << 10
	MaxCosignatures    = 100 // golang.org/x/mod/sumdb/note rejects more
	MaxCosignatureLen  = 8 << 10
	MaxEpochTokens     = 4
	MaxEpochTokenLen   = 64 << 10
	MaxBlockSize       = 1 << 20 // bytes; bitswap's usual limit is 2 MiB
	epochRootMapFields = 16      // the decoder's minimum bound; an EpochRoot has 10 fields
)

// EpochRoot is the block a node writes when an epoch closes and pins
// (PinEpochInfo). It is canonical dag-cbor, like treaty records; in IPLD
// schema language:
//
//	type EpochRoot struct {
//	  v Int                 # EpochRootVersion (2)
//	  origin String         # the log origin, "aurora/<federation>/<peer ID>"
//	  epoch Int             # the epoch number
//	  checkpoint String     # the log-signed tlog-checkpoint note
//	  cosignatures [String] # witness cosignature lines of that checkpoint
//	  tsa [Bytes]           # RFC 3161 TimeStampResp DER (see below)
//	  count Int             # records in the epoch
//	  height Int            # height of the records tree (0: records are the records)
//	  records [Link]        # top of the records tree, at most Fanout links
//	  prev optional Link    # the previous EpochRoot; absent for the first
//	}
//
// Keys are sorted length-first (v, tsa, prev, count, epoch, height, origin,
// records, checkpoint, cosignatures). The checkpoint plus the cosignature
// lines is the cosigned note. Records are the epoch's log leaves stored as
// blocks (treaty.LogEntry dag-cbor, whose bytes are the Merkle leaves), in
// log order under a fan-out tree of chunks (tree.go; docs/PROVENANCE.md
// gives the layout byte for byte), so a recursive pin keeps them and a peer
// holding the root can audit the range. tsa holds the tokens over the
// previous epoch's checkpoint that had arrived when this epoch closed:
// tokens arrive asynchronously, and the provenance loop also commits their
// digests in a tsa leaf.
type EpochRoot struct {
	V            int64         `cbor:"v"`
	Origin       string        `cbor:"origin"`
	Epoch        uint64        `cbor:"epoch"`
	Checkpoint   string        `cbor:"checkpoint"`
	Cosignatures []string      `cbor:"cosignatures"`
	TSA          [][]byte      `cbor:"tsa"`
	Count        uint64        `cbor:"count"`
	Height       uint64        `cbor:"height"`
	Records      []treaty.Link `cbor:"records"`
	Prev         *treaty.Link  `cbor:"prev,omitempty"`
}

// EpochRootError names the field of an EpochRoot that is invalid.
type EpochRootError struct {
	Field string // e.g. "records[3]"; "" for the block as a whole
	Rule  string
}

func (e *EpochRootError) Error() string {
	if e.Field == "" {
		return "ipfs: epoch root: " + e.Rule
	}
	return "ipfs: epoch root " + e.Field + ": " + e.Rule
}

// codec holds the CBOR modes of dag-cbor's strict subset (package treaty's
// canonical encoder and a strict decoder bounded for epoch roots), built once.
type codec struct {
	enc cbor.EncMode
	dec cbor.DecMode
}

var sharedCodec = sync.OnceValues(func() (codec, error) {
	dec, err := treaty.NewStrictDecMode(treaty.DecodeLimits{MaxNestedLevels: 8, MaxArrayElements: Fanout, MaxMapPairs: epochRootMapFields})
	if err != nil {
		return codec{}, err
	}
	return codec{enc: treaty.DagCBOREncMode(), dec: dec}, nil
})

func newCodec() (codec, error) { return sharedCodec() }

// EncodeEpochRoot validates r and returns its canonical dag-cbor and CID.
func EncodeEpochRoot(r *EpochRoot) (cid.Cid, []byte, error) {
	if err := r.Validate(); err != nil {
		return cid.Undef, nil, err
	}
	c, err := newCodec()
	if err != nil {
		return cid.Undef, nil, err
	}
	b, err := c.enc.Marshal(r)
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("ipfs: encode epoch root: %w", err)
	}
	if len(b) > MaxBlockSize {
		return cid.Undef, nil, &EpochRootError{Rule: fmt.Sprintf("%d bytes, limit %d", len(b), MaxBlockSize)}
	}
	return treaty.CIDOf(b), b, nil
}

// DecodeEpochRoot parses and validates a canonical EpochRoot block. It
// rejects unknown, missing or duplicate fields, trailing bytes and any
// encoding other than the canonical one, so one root has one CID.
func DecodeEpochRoot(data []byte) (*EpochRoot, error) {
	if len(data) > MaxBlockSize {
		return nil, &EpochRootError{Rule: fmt.Sprintf("%d bytes, limit %d", len(data), MaxBlockSize)}
	}
	c, err := newCodec()
	if err != nil {
		return nil, err
	}
	var r EpochRoot
	if err := c.dec.Unmarshal(data, &r); err != nil {
		var typ *cbor.UnmarshalTypeError
		if errors.As(err, &typ) {
			field := typ.StructFieldName // "ipfs.EpochRoot.epoch"
			if i := strings.LastIndexByte(field, '.'); i >= 0 {
				field = field[i+1:]
			}
			return nil, &EpochRootError{Field: field, Rule: "cannot decode CBOR " + typ.CBORType + " into " + typ.GoType}
		}
		return nil, &EpochRootError{Rule: "not dag-cbor: " + err.Error()}
	}
	canon, err := c.enc.Marshal(&r)
	if err != nil {
		return nil, fmt.Errorf("ipfs: epoch root: %w", err)
	}
	if !bytes.Equal(canon, data) {
		return nil, &EpochRootError{Rule: "not canonical (a field is missing, or keys or integers are not in canonical form)"}
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate checks every field against the schema and the limits.
func (r *EpochRoot) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &EpochRootError{Field: field, Rule: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.V != EpochRootVersion:
		return bad("v", "%d, want %d", r.V, EpochRootVersion)
	case r.Origin == "" || len(r.Origin) > MaxOriginLen || strings.ContainsAny(r.Origin, "\n\r"):
		return bad("origin", "want 1..%d bytes on one line", MaxOriginLen)
	case r.Checkpoint == "" || len(r.Checkpoint) > MaxCheckpointLen:
		return bad("checkpoint", "want 1..%d bytes", MaxCheckpointLen)
	case !utf8.ValidString(r.Checkpoint):
		return bad("checkpoint", "not UTF-8")
	case len(r.Cosignatures) > MaxCosignatures:
		return bad("cosignatures", "%d lines, limit %d", len(r.Cosignatures), MaxCosignatures)
	case len(r.TSA) > MaxEpochTokens:
		return bad("tsa", "%d tokens, limit %d", len(r.TSA), MaxEpochTokens)
	case r.Count > MaxEpochRecords:
		return bad("count", "%d, limit %d", r.Count, uint64(MaxEpochRecords))
	case r.Height > MaxTreeHeight || int(r.Height) != treeHeight(Fanout, r.Count):
		return bad("height", "%d, want %d for %d records", r.Height, treeHeight(Fanout, r.Count), r.Count)
	case len(r.Records) > Fanout:
		return bad("records", "%d links, limit %d", len(r.Records), Fanout)
	case uint64(len(r.Records)) != ceilDiv(r.Count, span(Fanout, int(r.Height))):
		return bad("records", "%d links for %d records at height %d, want %d", len(r.Records), r.Count, r.Height, ceilDiv(r.Count, span(Fanout, int(r.Height))))
	}
	for i, s := range r.Cosignatures {
		if s == "" || len(s) > MaxCosignatureLen || strings.ContainsAny(s, "\n\r") {
			return bad(fmt.Sprintf("cosignatures[%d]", i), "want 1..%d bytes on one line", MaxCosignatureLen)
		}
	}
	for i, t := range r.TSA {
		if len(t) == 0 || len(t) > MaxEpochTokenLen {
			return bad(fmt.Sprintf("tsa[%d]", i), "want 1..%d bytes", MaxEpochTokenLen)
		}
	}
	for i, l := range r.Records {
		if err := checkCID(l.Cid); err != nil {
			return bad(fmt.Sprintf("records[%d]", i), "%v", err)
		}
		if r.Height > 0 && l.Prefix().Codec != cid.DagCBOR {
			return bad(fmt.Sprintf("records[%d]", i), "a chunk is dag-cbor, link has codec %#x", l.Prefix().Codec)
		}
	}
	if r.Prev != nil {
		if err := checkCID(r.Prev.Cid); err != nil {
			return bad("prev", "%v", err)
		}
		if r.Prev.Prefix().Codec != cid.DagCBOR {
			return bad("prev", "an EpochRoot is dag-cbor, link has codec %#x", r.Prev.Prefix().Codec)
		}
	}
	return nil
}

// PrevCID returns the previous root's CID, or cid.Undef for the first.
func (r *EpochRoot) PrevCID() cid.Cid {
	if r.Prev == nil {
		return cid.Undef
	}
	return r.Prev.Cid
}
