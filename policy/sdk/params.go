package sdk

import (
	"strconv"
	"unicode/utf8"
)

// Limits of a params blob. Params cross a trust boundary (they come from a
// treaty a peer proposed), so the decoder bounds everything.
const (
	MaxParamsLen    = 16 << 10 // bytes of CBOR
	MaxParamEntries = 64
	MaxListLen      = 256
	MaxKeyLen       = 64
	MaxTextLen      = 1024
	MaxBytesLen     = 4096
)

// Kind is the type of a params value.
type Kind uint8

// Value kinds. Params hold no floats, maps inside maps, tags or nulls: they
// would make determinism or canonical form harder for every implementation.
const (
	KindInt Kind = iota + 1
	KindText
	KindBytes
	KindBool
	KindList // a list of Int, Text, Bytes or Bool values
)

func (k Kind) String() string {
	switch k {
	case KindInt:
		return "int"
	case KindText:
		return "text"
	case KindBytes:
		return "bytes"
	case KindBool:
		return "bool"
	case KindList:
		return "list"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one params value.
type Value struct {
	Kind  Kind
	Int   int64
	Text  string
	Bytes []byte
	Bool  bool
	List  []Value
}

// ParamError names the params key (or byte offset) that broke a rule.
type ParamError struct {
	Key  string // "" when the error is not about one key
	Rule string
}

func (e *ParamError) Error() string {
	if e.Key == "" {
		return "sdk: params: " + e.Rule
	}
	return "sdk: params: " + e.Key + ": " + e.Rule
}

type entry struct {
	key string
	val Value
}

// Params is a policy's configuration: a deterministic CBOR map (dag-cbor
// subset) from text keys to Values. The same bytes decode to the same Params
// in every implementation, and every Params has exactly one encoding, so a
// params blob is named by its CID. The zero value is an empty map.
type Params struct {
	entries []entry // sorted in canonical key order
}

// keyLess is dag-cbor's map key order: shorter keys first, then bytewise.
func keyLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// Len returns the number of entries.
func (p *Params) Len() int { return len(p.entries) }

// Keys returns the keys in canonical order.
func (p *Params) Keys() []string {
	keys := make([]string, len(p.entries))
	for i, e := range p.entries {
		keys[i] = e.key
	}
	return keys
}

// Get returns the value under key.
func (p *Params) Get(key string) (Value, bool) {
	for _, e := range p.entries {
		if e.key == key {
			return e.val, true
		}
	}
	return Value{}, false
}

// Only returns an error naming the first key not in known: strict decoders
// reject fields they do not understand.
func (p *Params) Only(known ...string) error {
next:
	for _, e := range p.entries {
		for _, k := range known {
			if e.key == k {
				continue next
			}
		}
		return &ParamError{Key: e.key, Rule: "unknown key"}
	}
	return nil
}

func (p *Params) typed(key string, want Kind) (Value, bool, error) {
	v, ok := p.Get(key)
	if !ok {
		return Value{}, false, nil
	}
	if v.Kind != want {
		return Value{}, false, &ParamError{Key: key, Rule: "is " + v.Kind.String() + ", want " + want.String()}
	}
	return v, true, nil
}

// Int returns the integer under key, 0 if absent.
func (p *Params) Int(key string) (int64, error) {
	v, _, err := p.typed(key, KindInt)
	return v.Int, err
}

// Text returns the text under key, "" if absent.
func (p *Params) Text(key string) (string, error) {
	v, _, err := p.typed(key, KindText)
	return v.Text, err
}

// Bool returns the bool under key, false if absent.
func (p *Params) Bool(key string) (bool, error) {
	v, _, err := p.typed(key, KindBool)
	return v.Bool, err
}

// Strings returns the list of texts under key, nil if absent.
func (p *Params) Strings(key string) ([]string, error) {
	v, ok, err := p.typed(key, KindList)
	if !ok || err != nil {
		return nil, err
	}
	out := make([]string, len(v.List))
	for i, e := range v.List {
		if e.Kind != KindText {
			return nil, &ParamError{Key: key, Rule: "element " + strconv.Itoa(i) + " is " + e.Kind.String() + ", want text"}
		}
		out[i] = e.Text
	}
	return out, nil
}

// Set stores v under key, replacing any value there, and returns p. It does
// not check limits: DecodeParams(p.Encode()) reports any value out of them.
func (p *Params) Set(key string, v Value) *Params {
	i := 0
	for i < len(p.entries) && keyLess(p.entries[i].key, key) {
		i++
	}
	if i < len(p.entries) && p.entries[i].key == key {
		p.entries[i].val = v
		return p
	}
	p.entries = append(p.entries, entry{})
	copy(p.entries[i+1:], p.entries[i:])
	p.entries[i] = entry{key: key, val: v}
	return p
}

// SetInt stores an integer.
func (p *Params) SetInt(key string, v int64) *Params { return p.Set(key, Value{Kind: KindInt, Int: v}) }

// SetText stores a text.
func (p *Params) SetText(key, v string) *Params { return p.Set(key, Value{Kind: KindText, Text: v}) }

// SetBool stores a bool.
func (p *Params) SetBool(key string, v bool) *Params {
	return p.Set(key, Value{Kind: KindBool, Bool: v})
}

// SetStrings stores a list of texts (an empty list when v is empty).
func (p *Params) SetStrings(key string, v []string) *Params {
	list := make([]Value, len(v))
	for i, s := range v {
		list[i] = Value{Kind: KindText, Text: s}
	}
	return p.Set(key, Value{Kind: KindList, List: list})
}

// Encode returns the canonical CBOR encoding of p.
func (p *Params) Encode() []byte { return p.AppendTo(nil) }

// AppendTo appends the canonical CBOR encoding of p to b.
func (p *Params) AppendTo(b []byte) []byte {
	b = appendHead(b, 5, uint64(len(p.entries)))
	for _, e := range p.entries {
		b = appendHead(b, 3, uint64(len(e.key)))
		b = append(b, e.key...)
		b = appendValue(b, e.val)
	}
	return b
}

func appendValue(b []byte, v Value) []byte {
	switch v.Kind {
	case KindInt:
		if v.Int >= 0 {
			return appendHead(b, 0, uint64(v.Int))
		}
		return appendHead(b, 1, uint64(-1-v.Int))
	case KindText:
		b = appendHead(b, 3, uint64(len(v.Text)))
		return append(b, v.Text...)
	case KindBytes:
		b = appendHead(b, 2, uint64(len(v.Bytes)))
		return append(b, v.Bytes...)
	case KindBool:
		if v.Bool {
			return append(b, 0xf5)
		}
		return append(b, 0xf4)
	case KindList:
		b = appendHead(b, 4, uint64(len(v.List)))
		for _, e := range v.List {
			b = appendValue(b, e)
		}
		return b
	}
	// An invalid Kind encodes as CBOR null, which Decode rejects.
	return append(b, 0xf6)
}

func appendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= 0xffff_ffff:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// DecodeParams parses a params blob. It accepts only the canonical encoding
// (shortest heads, definite lengths, keys in dag-cbor order, no duplicates,
// no trailing bytes) within the limits above, and an empty blob as an empty
// map. Errors are *ParamError naming the key.
func DecodeParams(b []byte) (*Params, error) {
	if len(b) > MaxParamsLen {
		return nil, &ParamError{Rule: strconv.Itoa(len(b)) + " bytes, limit " + strconv.Itoa(MaxParamsLen)}
	}
	p := &Params{}
	if len(b) == 0 {
		return p, nil
	}
	d := decoder{b: b}
	major, n, err := d.head()
	if err != nil {
		return nil, err
	}
	if major != 5 {
		return nil, &ParamError{Rule: "not a CBOR map"}
	}
	if n > MaxParamEntries {
		return nil, &ParamError{Rule: strconv.FormatUint(n, 10) + " entries, limit " + strconv.Itoa(MaxParamEntries)}
	}
	p.entries = make([]entry, 0, n)
	for i := uint64(0); i < n; i++ {
		major, kl, err := d.head()
		if err != nil {
			return nil, err
		}
		if major != 3 {
			return nil, &ParamError{Rule: "entry " + strconv.FormatUint(i, 10) + ": key is not text"}
		}
		if kl == 0 || kl > MaxKeyLen {
			return nil, &ParamError{Rule: "entry " + strconv.FormatUint(i, 10) + ": key length " + strconv.FormatUint(kl, 10) + ", want 1 to " + strconv.Itoa(MaxKeyLen)}
		}
		kb, err := d.take(kl)
		if err != nil {
			return nil, err
		}
		key := string(kb)
		if !utf8.ValidString(key) {
			return nil, &ParamError{Rule: "entry " + strconv.FormatUint(i, 10) + ": key is not UTF-8"}
		}
		if len(p.entries) > 0 && !keyLess(p.entries[len(p.entries)-1].key, key) {
			return nil, &ParamError{Key: key, Rule: "keys not in canonical order, or duplicated"}
		}
		v, err := d.value(key, true)
		if err != nil {
			return nil, err
		}
		p.entries = append(p.entries, entry{key: key, val: v})
	}
	if d.off != len(d.b) {
		return nil, &ParamError{Rule: strconv.Itoa(len(d.b)-d.off) + " trailing bytes"}
	}
	return p, nil
}

type decoder struct {
	b   []byte
	off int
}

var errTruncated = &ParamError{Rule: "truncated"}

// head reads a CBOR head and checks it is in shortest form and definite.
func (d *decoder) head() (major byte, n uint64, err error) {
	if d.off >= len(d.b) {
		return 0, 0, errTruncated
	}
	ib := d.b[d.off]
	d.off++
	major, ai := ib>>5, ib&31
	switch {
	case ai < 24:
		return major, uint64(ai), nil
	case ai > 27:
		return major, 0, &ParamError{Rule: "indefinite length or reserved head at byte " + strconv.Itoa(d.off-1)}
	}
	size := 1 << (ai - 24)
	if len(d.b)-d.off < size {
		return 0, 0, errTruncated
	}
	for _, c := range d.b[d.off : d.off+size] {
		n = n<<8 | uint64(c)
	}
	d.off += size
	if major == 7 {
		return major, n, &ParamError{Rule: "floats and simple values other than true and false are not allowed"}
	}
	var min uint64
	switch ai {
	case 24:
		min = 24
	case 25:
		min = 1 << 8
	case 26:
		min = 1 << 16
	case 27:
		min = 1 << 32
	}
	if n < min {
		return major, n, &ParamError{Rule: "non-shortest integer or length at byte " + strconv.Itoa(d.off-size-1)}
	}
	return major, n, nil
}

func (d *decoder) take(n uint64) ([]byte, error) {
	if uint64(len(d.b)-d.off) < n {
		return nil, errTruncated
	}
	s := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return s, nil
}

func (d *decoder) value(key string, listOK bool) (Value, error) {
	if d.off < len(d.b) {
		switch d.b[d.off] {
		case 0xf4:
			d.off++
			return Value{Kind: KindBool}, nil
		case 0xf5:
			d.off++
			return Value{Kind: KindBool, Bool: true}, nil
		}
	}
	major, n, err := d.head()
	if err != nil {
		if pe, ok := err.(*ParamError); ok && pe != errTruncated {
			return Value{}, &ParamError{Key: key, Rule: pe.Rule}
		}
		return Value{}, &ParamError{Key: key, Rule: "truncated"}
	}
	switch major {
	case 0, 1:
		if n > 1<<63-1 {
			return Value{}, &ParamError{Key: key, Rule: "integer out of int64 range"}
		}
		if major == 1 {
			return Value{Kind: KindInt, Int: -1 - int64(n)}, nil
		}
		return Value{Kind: KindInt, Int: int64(n)}, nil
	case 2:
		if n > MaxBytesLen {
			return Value{}, &ParamError{Key: key, Rule: "bytes longer than " + strconv.Itoa(MaxBytesLen)}
		}
		b, err := d.take(n)
		if err != nil {
			return Value{}, &ParamError{Key: key, Rule: "truncated"}
		}
		return Value{Kind: KindBytes, Bytes: append([]byte{}, b...)}, nil
	case 3:
		if n > MaxTextLen {
			return Value{}, &ParamError{Key: key, Rule: "text longer than " + strconv.Itoa(MaxTextLen)}
		}
		b, err := d.take(n)
		if err != nil {
			return Value{}, &ParamError{Key: key, Rule: "truncated"}
		}
		if !utf8.Valid(b) {
			return Value{}, &ParamError{Key: key, Rule: "text is not UTF-8"}
		}
		return Value{Kind: KindText, Text: string(b)}, nil
	case 4:
		if !listOK {
			return Value{}, &ParamError{Key: key, Rule: "lists inside lists are not allowed"}
		}
		if n > MaxListLen {
			return Value{}, &ParamError{Key: key, Rule: "list longer than " + strconv.Itoa(MaxListLen)}
		}
		list := make([]Value, 0, n)
		for i := uint64(0); i < n; i++ {
			v, err := d.value(key, false)
			if err != nil {
				return Value{}, err
			}
			list = append(list, v)
		}
		return Value{Kind: KindList, List: list}, nil
	case 5:
		return Value{}, &ParamError{Key: key, Rule: "maps inside params are not allowed"}
	case 6:
		return Value{}, &ParamError{Key: key, Rule: "CBOR tags are not allowed"}
	}
	return Value{}, &ParamError{Key: key, Rule: "unsupported CBOR major type " + strconv.Itoa(int(major))}
}
