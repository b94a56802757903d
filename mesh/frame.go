package mesh

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"github.com/aurora-federation/aurora/treaty"
)

// frameVersion is the v field of every frame.
const frameVersion = 1

// Frames are unsigned-varint length-prefixed dag-cbor maps. The codec
// tables are immutable after construction (like the treaty package's).
var (
	frameEnc = treaty.DagCBOREncMode()
	frameDec = mustFrameDec()
	// probeDec reads a few fields of a record, ignoring the others.
	probeDec = mustProbeDec()
)

func mustProbeDec() cbor.DecMode {
	dm, err := cbor.DecOptions{MaxNestedLevels: 16, MaxArrayElements: treaty.MaxReportEntries, MaxMapPairs: 32}.DecMode()
	if err != nil {
		panic("mesh: cbor probe mode: " + err.Error())
	}
	return dm
}

func mustFrameDec() cbor.DecMode {
	dm, err := treaty.NewStrictDecMode(treaty.DecodeLimits{MaxNestedLevels: 8, MaxArrayElements: MaxSyncIDs, MaxMapPairs: 16})
	if err != nil {
		panic("mesh: cbor dec mode: " + err.Error())
	}
	return dm
}

// orderRequest is the one frame a client sends on /aurora/order/1.0.0.
type orderRequest struct {
	V           int64       `cbor:"v"`
	Order       []byte      `cbor:"order"`
	Treaty      treaty.Link `cbor:"treaty"`
	Traceparent string      `cbor:"traceparent"`
}

// orderResponse is the one frame the server answers with: Reply (the
// signed Ack or Denial) or Code and Message.
type orderResponse struct {
	V       int64  `cbor:"v"`
	Reply   []byte `cbor:"reply"`
	Code    string `cbor:"code"`
	Message string `cbor:"message"`
}

// orderQuery is the one frame a client sends on /aurora/order-query/1.0.0:
// the CID of an order it forwarded under Treaty. The answer is an
// orderResponse.
type orderQuery struct {
	V      int64       `cbor:"v"`
	Order  treaty.Link `cbor:"order"`
	Treaty treaty.Link `cbor:"treaty"`
}

// MaxOrderQueryFrame bounds an order query frame (two CIDs).
const MaxOrderQueryFrame = 512

func decodeOrderQuery(payload []byte) (*orderQuery, error) {
	const name = "order query"
	var q orderQuery
	if err := decodeFrame(name, payload, &q); err != nil {
		return nil, err
	}
	if err := checkVersion(name, q.V); err != nil {
		return nil, err
	}
	if !q.Order.Defined() {
		return nil, &FrameError{Frame: name, Field: "order", Rule: "missing CID"}
	}
	if !q.Treaty.Defined() {
		return nil, &FrameError{Frame: name, Field: "treaty", Rule: "missing CID"}
	}
	return &q, nil
}

// witnessRequest carries a C2SP add-checkpoint body.
type witnessRequest struct {
	V    int64  `cbor:"v"`
	Body []byte `cbor:"body"`
}

// witnessResponse is a C2SP response: Status 200 with the cosignature
// lines in Body, or an error status (409: Body is the stored size line).
type witnessResponse struct {
	V       int64  `cbor:"v"`
	Status  int64  `cbor:"status"`
	Body    []byte `cbor:"body"`
	Message string `cbor:"message"`
}

// Sync operations and collections.
const (
	syncOpList  = "list"
	syncOpFetch = "fetch"

	collTreaty   = "treaty"
	collAnchor   = "anchor"
	collEvidence = "evidence"
)

// syncRequest asks for the ids of a collection (list) or for records by id
// (fetch).
type syncRequest struct {
	V          int64         `cbor:"v"`
	Op         string        `cbor:"op"`
	Collection string        `cbor:"collection"`
	IDs        []treaty.Link `cbor:"ids"`
}

// syncResponse answers a list (IDs) or a fetch (Records: envelopes), or
// refuses (Code, Message).
type syncResponse struct {
	V       int64         `cbor:"v"`
	IDs     []treaty.Link `cbor:"ids"`
	Records [][]byte      `cbor:"records"`
	Code    string        `cbor:"code"`
	Message string        `cbor:"message"`
}

// envelope is a keyed union of one record's dag-cbor bytes: the treaty
// topic's message (treaty or revocation) and a sync record (any of the
// four).
type envelope struct {
	Treaty     []byte `cbor:"treaty,omitempty"`
	Revocation []byte `cbor:"revocation,omitempty"`
	Anchor     []byte `cbor:"anchor,omitempty"`
	Evidence   []byte `cbor:"evidence,omitempty"`
}

func encodeFrame(v any) ([]byte, error) {
	b, err := frameEnc.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("mesh: encode frame: %w", err)
	}
	return b, nil
}

// decodeFrame decodes payload into v strictly: unknown or duplicate keys,
// indefinite lengths, wrong types and trailing bytes are errors naming the
// frame and, where known, the field.
func decodeFrame(name string, payload []byte, v any) error {
	if err := frameDec.Unmarshal(payload, v); err != nil {
		var unknown *cbor.UnknownFieldError
		if errors.As(err, &unknown) {
			return &FrameError{Frame: name, Rule: err.Error()}
		}
		var typ *cbor.UnmarshalTypeError
		if errors.As(err, &typ) {
			// StructFieldName is "<package>.<type>.<field>".
			field := typ.StructFieldName
			if parts := strings.SplitN(field, ".", 3); len(parts) == 3 {
				field = parts[2]
			}
			return &FrameError{Frame: name, Field: field, Rule: fmt.Sprintf("cannot decode CBOR %s into %s", typ.CBORType, typ.GoType)}
		}
		return &FrameError{Frame: name, Rule: "not a dag-cbor map: " + err.Error()}
	}
	return nil
}

func checkVersion(name string, v int64) error {
	if v != frameVersion {
		return &FrameError{Frame: name, Field: "v", Rule: fmt.Sprintf("unsupported version %d, want %d", v, frameVersion)}
	}
	return nil
}

// checkText bounds a text field and rejects control characters.
func checkText(name, field, s string, maxLen int) error {
	if len(s) > maxLen {
		return &FrameError{Frame: name, Field: field, Rule: fmt.Sprintf("%d bytes, limit %d", len(s), maxLen)}
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return &FrameError{Frame: name, Field: field, Rule: "contains a control character"}
		}
	}
	return nil
}

func decodeOrderRequest(payload []byte) (*orderRequest, error) {
	const name = "order request"
	var r orderRequest
	if err := decodeFrame(name, payload, &r); err != nil {
		return nil, err
	}
	if err := checkVersion(name, r.V); err != nil {
		return nil, err
	}
	if len(r.Order) == 0 || len(r.Order) > treaty.MaxRecordSize {
		return nil, &FrameError{Frame: name, Field: "order", Rule: fmt.Sprintf("%d bytes, want 1 to %d", len(r.Order), treaty.MaxRecordSize)}
	}
	if !r.Treaty.Defined() {
		return nil, &FrameError{Frame: name, Field: "treaty", Rule: "missing CID"}
	}
	if err := checkText(name, "traceparent", r.Traceparent, MaxTraceparentLen); err != nil {
		return nil, err
	}
	return &r, nil
}

func decodeOrderResponse(payload []byte) (*orderResponse, error) {
	const name = "order response"
	var r orderResponse
	if err := decodeFrame(name, payload, &r); err != nil {
		return nil, err
	}
	if err := checkVersion(name, r.V); err != nil {
		return nil, err
	}
	switch {
	case len(r.Reply) > treaty.MaxRecordSize:
		return nil, &FrameError{Frame: name, Field: "reply", Rule: fmt.Sprintf("%d bytes, limit %d", len(r.Reply), treaty.MaxRecordSize)}
	case (len(r.Reply) == 0) == (r.Code == ""):
		return nil, &FrameError{Frame: name, Field: "reply", Rule: "want exactly one of reply and code"}
	}
	if err := checkText(name, "code", r.Code, MaxErrorCodeLen); err != nil {
		return nil, err
	}
	if err := checkText(name, "message", r.Message, MaxErrorMessageLen); err != nil {
		return nil, err
	}
	return &r, nil
}

func decodeWitnessRequest(payload []byte) (*witnessRequest, error) {
	const name = "witness request"
	var r witnessRequest
	if err := decodeFrame(name, payload, &r); err != nil {
		return nil, err
	}
	if err := checkVersion(name, r.V); err != nil {
		return nil, err
	}
	if len(r.Body) == 0 || len(r.Body) > MaxWitnessRequestFrame-64 {
		return nil, &FrameError{Frame: name, Field: "body", Rule: fmt.Sprintf("%d bytes, want 1 to %d", len(r.Body), MaxWitnessRequestFrame-64)}
	}
	return &r, nil
}

func decodeWitnessResponse(payload []byte) (*witnessResponse, error) {
	const name = "witness response"
	var r witnessResponse
	if err := decodeFrame(name, payload, &r); err != nil {
		return nil, err
	}
	if err := checkVersion(name, r.V); err != nil {
		return nil, err
	}
	if r.Status < 100 || r.Status > 599 {
		return nil, &FrameError{Frame: name, Field: "status", Rule: fmt.Sprintf("%d is not an HTTP status", r.Status)}
	}
	if len(r.Body) > MaxWitnessResponseFrame-1024 {
		return nil, &FrameError{Frame: name, Field: "body", Rule: fmt.Sprintf("%d bytes, limit %d", len(r.Body), MaxWitnessResponseFrame-1024)}
	}
	if err := checkText(name, "message", r.Message, MaxErrorMessageLen); err != nil {
		return nil, err
	}
	return &r, nil
}

func decodeSyncRequest(payload []byte) (*syncRequest, error) {
	const name = "sync request"
	var r syncRequest
	if err := decodeFrame(name, payload, &r); err != nil {
		return nil, err
	}
	if err := checkVersion(name, r.V); err != nil {
		return nil, err
	}
	if r.Collection != collTreaty && r.Collection != collAnchor && r.Collection != collEvidence {
		return nil, &FrameError{Frame: name, Field: "collection", Rule: fmt.Sprintf("%.64q is not %q, %q or %q", r.Collection, collTreaty, collAnchor, collEvidence)}
	}
	switch r.Op {
	case syncOpList:
		if len(r.IDs) != 0 {
			return nil, &FrameError{Frame: name, Field: "ids", Rule: "a list request carries no ids"}
		}
	case syncOpFetch:
		if len(r.IDs) == 0 || len(r.IDs) > MaxSyncFetch {
			return nil, &FrameError{Frame: name, Field: "ids", Rule: fmt.Sprintf("%d ids, want 1 to %d", len(r.IDs), MaxSyncFetch)}
		}
	default:
		return nil, &FrameError{Frame: name, Field: "op", Rule: fmt.Sprintf("%.64q is not %q or %q", r.Op, syncOpList, syncOpFetch)}
	}
	for i, id := range r.IDs {
		if !id.Defined() {
			return nil, &FrameError{Frame: name, Field: fmt.Sprintf("ids[%d]", i), Rule: "missing CID"}
		}
	}
	return &r, nil
}

func decodeSyncResponse(payload []byte, op string) (*syncResponse, error) {
	const name = "sync response"
	var r syncResponse
	if err := decodeFrame(name, payload, &r); err != nil {
		return nil, err
	}
	if err := checkVersion(name, r.V); err != nil {
		return nil, err
	}
	if err := checkText(name, "code", r.Code, MaxErrorCodeLen); err != nil {
		return nil, err
	}
	if err := checkText(name, "message", r.Message, MaxErrorMessageLen); err != nil {
		return nil, err
	}
	if r.Code != "" {
		return &r, nil
	}
	if op == syncOpList && len(r.Records) != 0 || op == syncOpFetch && len(r.IDs) != 0 {
		return nil, &FrameError{Frame: name, Rule: "answer does not match the " + op + " request"}
	}
	if len(r.Records) > MaxSyncFetch {
		return nil, &FrameError{Frame: name, Field: "records", Rule: fmt.Sprintf("%d records, limit %d", len(r.Records), MaxSyncFetch)}
	}
	for i, id := range r.IDs {
		if !id.Defined() {
			return nil, &FrameError{Frame: name, Field: fmt.Sprintf("ids[%d]", i), Rule: "missing CID"}
		}
	}
	for i, rec := range r.Records {
		if len(rec) == 0 || len(rec) > treaty.MaxRecordSize+16 {
			return nil, &FrameError{Frame: name, Field: fmt.Sprintf("records[%d]", i), Rule: fmt.Sprintf("%d bytes, want 1 to %d", len(rec), treaty.MaxRecordSize+16)}
		}
	}
	return &r, nil
}

// decodeEnvelope decodes a keyed union with exactly one member, which must
// be one of allowed ("treaty", "revocation", "anchor", "evidence").
func decodeEnvelope(payload []byte, allowed ...string) (*envelope, string, error) {
	const name = "envelope"
	if len(payload) > MaxGossipMessage {
		return nil, "", &FrameError{Frame: name, Rule: fmt.Sprintf("%d bytes, limit %d", len(payload), MaxGossipMessage)}
	}
	var e envelope
	if err := decodeFrame(name, payload, &e); err != nil {
		return nil, "", err
	}
	var kinds []string
	if e.Treaty != nil {
		kinds = append(kinds, collTreaty)
	}
	if e.Revocation != nil {
		kinds = append(kinds, "revocation")
	}
	if e.Anchor != nil {
		kinds = append(kinds, collAnchor)
	}
	if e.Evidence != nil {
		kinds = append(kinds, collEvidence)
	}
	if len(kinds) != 1 {
		return nil, "", &FrameError{Frame: name, Rule: fmt.Sprintf("%d members set, want exactly one", len(kinds))}
	}
	// A member set to empty bytes is not a record, and it would vanish on
	// re-encoding (omitempty): what we relay must be what we judged.
	if len(e.Treaty)+len(e.Revocation)+len(e.Anchor)+len(e.Evidence) == 0 {
		return nil, "", &FrameError{Frame: name, Field: kinds[0], Rule: "empty"}
	}
	for _, a := range allowed {
		if a == kinds[0] {
			return &e, kinds[0], nil
		}
	}
	return nil, "", &FrameError{Frame: name, Field: kinds[0], Rule: "not allowed here"}
}

// FrameTooLargeError reports a length prefix over the frame's limit; the
// stream is reset without reading the payload.
type FrameTooLargeError struct {
	Size, Max uint64
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("mesh: frame of %d bytes, limit %d", e.Size, e.Max)
}

// errVarint reports a malformed length prefix.
var errVarint = errors.New("mesh: frame length is not a minimal unsigned varint of at most 9 bytes")

// readFrame reads one frame: an unsigned varint length (minimal, at most 9
// bytes, multiformats unsigned-varint) and that many payload bytes. It
// returns io.EOF when the stream ends cleanly before a frame, and a
// *FrameTooLargeError, without reading the payload, when the length is
// over max.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var (
		n     uint64
		shift uint
		one   [1]byte
	)
	for i := 0; ; i++ {
		if i == 9 {
			return nil, errVarint
		}
		if _, err := io.ReadFull(r, one[:]); err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		b := one[0]
		n |= uint64(b&0x7f) << shift
		if b < 0x80 {
			if b == 0 && i > 0 {
				return nil, errVarint // non-minimal: a trailing zero group
			}
			break
		}
		shift += 7
	}
	if n == 0 {
		return nil, &FrameError{Frame: "frame", Rule: "empty"}
	}
	if n > uint64(max) {
		return nil, &FrameTooLargeError{Size: n, Max: uint64(max)}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// appendFrame appends payload with its varint length prefix.
func appendFrame(dst, payload []byte) []byte {
	n := uint64(len(payload))
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	dst = append(dst, byte(n))
	return append(dst, payload...)
}

// writeFrame encodes v and writes it as one frame in one Write.
func writeFrame(w io.Writer, v any) error {
	payload, err := encodeFrame(v)
	if err != nil {
		return err
	}
	_, err = w.Write(appendFrame(make([]byte, 0, len(payload)+10), payload))
	return err
}
