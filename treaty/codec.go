package treaty

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"
)

//go:embed schema.ipldsch
var schemaText []byte

// SchemaText returns the IPLD schema of every record: the contract the
// encoding follows, for documentation and for other implementations.
func SchemaText() string { return string(schemaText) }

// Record is implemented by every record type of the schema.
type Record interface {
	// Kind is the record's name in signature domains ("order", "ack", ...).
	Kind() string
}

func (*Order) Kind() string            { return "order" }
func (*Ack) Kind() string              { return "ack" }
func (*Denial) Kind() string           { return "denial" }
func (*JobRecord) Kind() string        { return "job" }
func (*Treaty) Kind() string           { return "treaty" }
func (*Revocation) Kind() string       { return "revocation" }
func (*ReputationReport) Kind() string { return "reputation" }
func (*Anchor) Kind() string           { return "anchor" }
func (*LogEntry) Kind() string         { return "entry" }
func (*Cancel) Kind() string           { return "cancel" }

// The CBOR modes implement dag-cbor's strict subset: map keys sorted
// length-first then bytewise (RFC 7049 canonical), shortest integer and length
// forms, no indefinite lengths, nil lists written as empty lists, no floats in
// our records, only tag 42 (links).
var (
	encMode = mustEncMode()
	decMode = mustDecMode()
)

func mustEncMode() cbor.EncMode {
	em, err := cbor.EncOptions{
		Sort:          cbor.SortLengthFirst,
		IndefLength:   cbor.IndefLengthForbidden,
		NilContainers: cbor.NilContainerAsEmpty,
		TagsMd:        cbor.TagsAllowed,
	}.EncMode()
	if err != nil {
		panic("treaty: cbor enc mode: " + err.Error())
	}
	return em
}

func mustDecMode() cbor.DecMode {
	dm, err := NewStrictDecMode(DecodeLimits{MaxNestedLevels: 16, MaxArrayElements: MaxReportEntries, MaxMapPairs: 32})
	if err != nil {
		panic("treaty: cbor dec mode: " + err.Error())
	}
	return dm
}

// DagCBOREncMode is the canonical dag-cbor encoding (length-first key order,
// shortest forms, no indefinite lengths, nil lists as empty lists) that every
// Aurora record, frame and block uses. It is safe for concurrent use.
func DagCBOREncMode() cbor.EncMode { return encMode }

// DecodeLimits bound a strict dag-cbor decoder for one kind of input.
type DecodeLimits struct {
	MaxNestedLevels  int
	MaxArrayElements int
	MaxMapPairs      int
	// ForbidTags rejects every CBOR tag (inputs that hold no links).
	ForbidTags bool
}

// NewStrictDecMode returns a decoder for hostile dag-cbor input: duplicate
// keys, indefinite lengths, unknown struct fields and invalid UTF-8 are
// errors, field names match case-sensitively, and sizes are bounded by l.
// Callers still re-encode with DagCBOREncMode to reject non-canonical input.
func NewStrictDecMode(l DecodeLimits) (cbor.DecMode, error) {
	opts := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxNestedLevels:   l.MaxNestedLevels,
		MaxArrayElements:  l.MaxArrayElements,
		MaxMapPairs:       l.MaxMapPairs,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	}
	if l.ForbidTags {
		opts.TagsMd = cbor.TagsForbidden
	}
	return opts.DecMode()
}

// Encode returns the canonical dag-cbor encoding of r.
func Encode(r Record) ([]byte, error) {
	b, err := encMode.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("treaty: encode %s: %w", r.Kind(), err)
	}
	return b, nil
}

// ErrNotCanonical reports dag-cbor input that decodes but is not the
// canonical encoding of what it decodes to. Accepting it would let two byte
// strings, and so two CIDs, stand for one record.
var ErrNotCanonical = errors.New("treaty: record is not canonical dag-cbor")

// Decode parses canonical dag-cbor into r, a pointer to a zero record. It
// rejects input over MaxRecordSize, unknown or missing fields, duplicate
// keys, trailing bytes and non-canonical encodings, naming the field where it
// can. It does not validate field contents: call the record's Validate.
func Decode(data []byte, r Record) error {
	if len(data) > MaxRecordSize {
		return &ValidationError{Kind: r.Kind(), Rule: fmt.Sprintf("record is %d bytes, limit %d", len(data), MaxRecordSize)}
	}
	if err := decMode.Unmarshal(data, r); err != nil {
		var unknown *cbor.UnknownFieldError
		if errors.As(err, &unknown) {
			if e := unknownField(r.Kind(), data, r); e != nil {
				return e
			}
		}
		return decodeError(r.Kind(), err)
	}
	canon, err := Encode(r)
	if err != nil {
		return err
	}
	if !bytes.Equal(canon, data) {
		return nonCanonical(r.Kind(), data, canon)
	}
	return nil
}

func decodeError(kind string, err error) error {
	var unknown *cbor.UnknownFieldError
	if errors.As(err, &unknown) {
		return &ValidationError{Kind: kind, Rule: "unknown field: " + err.Error()}
	}
	var typ *cbor.UnmarshalTypeError
	if errors.As(err, &typ) {
		return &ValidationError{Kind: kind, Field: typ.StructFieldName, Rule: fmt.Sprintf("cannot decode CBOR %s into %s", typ.CBORType, typ.GoType)}
	}
	return fmt.Errorf("treaty: decode %s: %w", kind, err)
}

// unknownField finds the first map key in data that r's type does not
// declare and names it: Field is the key's path ("workload.cpx"), Rule names
// the map and the key. The CBOR decoder's own error gives only a position.
func unknownField(kind string, data []byte, r Record) *ValidationError {
	var v any
	if decMode.Unmarshal(data, &v) != nil {
		return nil
	}
	mapPath, key, ok := findUnknown("", reflect.TypeOf(r), v)
	if !ok {
		return nil
	}
	field := key
	where := kind
	if mapPath != "" {
		field = mapPath + "." + key
		where = kind + "." + mapPath
	}
	return &ValidationError{Kind: kind, Field: field, Rule: fmt.Sprintf("unknown field %q in %s", key, where)}
}

// findUnknown walks v (generic CBOR) along Go type t and returns the path of
// the map holding the first key t does not declare, and that key.
func findUnknown(path string, t reflect.Type, v any) (string, string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[any]any)
		if !ok {
			return "", "", false
		}
		fields := map[string]reflect.StructField{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("cbor"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			fields[name] = f
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			s, ok := k.(string)
			if !ok {
				return path, fmt.Sprint(k), true
			}
			keys = append(keys, s)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, ok := fields[k]; !ok {
				return path, k, true
			}
		}
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if mp, key, ok := findUnknown(p, fields[k].Type, m[k]); ok {
				return mp, key, true
			}
		}
	case reflect.Slice, reflect.Array:
		l, ok := v.([]any)
		if !ok {
			return "", "", false
		}
		for i, e := range l {
			if mp, key, ok := findUnknown(fmt.Sprintf("%s[%d]", path, i), t.Elem(), e); ok {
				return mp, key, true
			}
		}
	case reflect.Map:
		m, ok := v.(map[any]any)
		if !ok {
			return "", "", false
		}
		for k, e := range m {
			p := fmt.Sprint(k)
			if path != "" {
				p = path + "." + p
			}
			if mp, key, ok := findUnknown(p, t.Elem(), e); ok {
				return mp, key, true
			}
		}
	}
	return "", "", false
}

// nonCanonical explains why input differs from its canonical re-encoding:
// usually a missing field (re-encoded as its zero value) or unsorted keys.
func nonCanonical(kind string, data, canon []byte) error {
	var in, out any
	if decMode.Unmarshal(data, &in) == nil && decMode.Unmarshal(canon, &out) == nil {
		if path, ok := firstDiff("", in, out); ok {
			return &ValidationError{Kind: kind, Field: path, Rule: "missing, or not in canonical form"}
		}
	}
	return fmt.Errorf("%w (%s): key order or integer form", ErrNotCanonical, kind)
}

func firstDiff(path string, a, b any) (string, bool) {
	am, aok := a.(map[any]any)
	bm, bok := b.(map[any]any)
	if aok && bok {
		keys := make([]string, 0, len(bm))
		for k := range bm {
			if s, ok := k.(string); ok {
				keys = append(keys, s)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			av, present := am[k]
			if !present {
				return p, true
			}
			if d, ok := firstDiff(p, av, bm[k]); ok {
				return d, true
			}
		}
		return "", false
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			if d, ok := firstDiff(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i]); ok {
				return d, true
			}
		}
		return "", false
	}
	if !reflect.DeepEqual(a, b) {
		return path, true
	}
	return "", false
}

// EncodeJSON returns the dag-json form of r, the human and HTTP form. It goes
// through go-ipld-prime's codecs so that it is standard dag-json.
func EncodeJSON(r Record) ([]byte, error) {
	b, err := Encode(r)
	if err != nil {
		return nil, err
	}
	return DAGJSONFromCBOR(b)
}

// DAGJSONFromCBOR converts any dag-cbor block to dag-json.
func DAGJSONFromCBOR(b []byte) ([]byte, error) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("treaty: dag-cbor: %w", err)
	}
	var out bytes.Buffer
	if err := dagjson.Encode(nb.Build(), &out); err != nil {
		return nil, fmt.Errorf("treaty: dag-json: %w", err)
	}
	return out.Bytes(), nil
}

// DecodeJSON parses the dag-json form of a record into r, a pointer to a zero
// record, with the same strictness as Decode.
func DecodeJSON(data []byte, r Record) error {
	if len(data) > 4*MaxRecordSize {
		return &ValidationError{Kind: r.Kind(), Rule: fmt.Sprintf("dag-json is %d bytes, limit %d", len(data), 4*MaxRecordSize)}
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := (dagjson.DecodeOptions{ParseLinks: true, ParseBytes: true}).Decode(nb, bytes.NewReader(data)); err != nil {
		return &ValidationError{Kind: r.Kind(), Rule: "not dag-json: " + err.Error()}
	}
	var buf bytes.Buffer
	if err := dagcbor.Encode(nb.Build(), &buf); err != nil {
		return &ValidationError{Kind: r.Kind(), Rule: "not representable as dag-cbor: " + err.Error()}
	}
	return Decode(buf.Bytes(), r)
}

// CIDOf returns the CIDv1 (dag-cbor, sha2-256) of an encoded record.
func CIDOf(data []byte) cid.Cid {
	sum := sha256.Sum256(data)
	mh, _ := multihash.Encode(sum[:], multihash.SHA2_256) // cannot fail for sha2-256 and 32 bytes
	return cid.NewCidV1(cid.DagCBOR, mh)
}

// ID encodes r and returns its CID and encoding.
func ID(r Record) (cid.Cid, []byte, error) {
	b, err := Encode(r)
	if err != nil {
		return cid.Undef, nil, err
	}
	return CIDOf(b), b, nil
}
