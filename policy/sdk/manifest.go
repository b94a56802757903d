package sdk

import "strconv"

// Manifest describes a policy module. It is stored, as canonical CBOR (the
// Params encoding), in the module's fedpolicy.manifest custom section, so
// the module CID commits to it.
type Manifest struct {
	// ABI is "major.minor" of fedpolicy; Register fills it.
	ABI string
	// InputSchema is the record format; Register fills InputSchema.
	InputSchema string
	// RecordSize is the record size in bytes; Register fills RecordSize.
	RecordSize int64
	// Name and Version identify the policy for people: lowercase name,
	// free-form version.
	Name    string
	Version string
	// Reasons names the reason bits: Reasons[i] is bit i of a deny word.
	Reasons []string
	// Toolchain is the compiler that built the module (runtime.Version() of
	// the guest); Register fills it.
	Toolchain string
}

// Manifest keys.
const (
	manifestABI         = "abi"
	manifestInputSchema = "input_schema"
	manifestRecordSize  = "record_size"
	manifestName        = "name"
	manifestVersion     = "version"
	manifestReasons     = "reasons"
	manifestToolchain   = "toolchain"
)

// Limits of a manifest.
const (
	MaxManifestLen   = 4 << 10
	maxManifestName  = 64
	maxManifestVer   = 64
	maxReasonNameLen = 48
)

func (m *Manifest) fill() {
	if m.ABI == "" {
		m.ABI = strconv.Itoa(ABIMajor) + "." + strconv.Itoa(ABIMinor)
	}
	if m.InputSchema == "" {
		m.InputSchema = InputSchema
	}
	if m.RecordSize == 0 {
		m.RecordSize = RecordSize
	}
	if m.Toolchain == "" {
		m.Toolchain = toolchain()
	}
}

// ParseABI splits "major.minor".
func ParseABI(s string) (major, minor int, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			a, err1 := strconv.Atoi(s[:i])
			b, err2 := strconv.Atoi(s[i+1:])
			if err1 != nil || err2 != nil || a < 0 || b < 0 || a > 0xffff || b > 0xffff ||
				strconv.Itoa(a) != s[:i] || strconv.Itoa(b) != s[i+1:] {
				return 0, 0, false
			}
			return a, b, true
		}
	}
	return 0, 0, false
}

// Validate checks the manifest's fields (not whether the host supports its
// ABI major, which is the host's call). Errors are *ParamError naming the key.
func (m *Manifest) Validate() error {
	if _, _, ok := ParseABI(m.ABI); !ok {
		return &ParamError{Key: manifestABI, Rule: strconv.Quote(m.ABI) + " is not major.minor"}
	}
	if m.InputSchema == "" || len(m.InputSchema) > maxManifestName {
		return &ParamError{Key: manifestInputSchema, Rule: "want 1 to " + strconv.Itoa(maxManifestName) + " bytes"}
	}
	if m.RecordSize < 1 || m.RecordSize > InputCap {
		return &ParamError{Key: manifestRecordSize, Rule: strconv.FormatInt(m.RecordSize, 10) + " out of range [1, " + strconv.Itoa(InputCap) + "]"}
	}
	if !isName(m.Name, maxManifestName, true) {
		return &ParamError{Key: manifestName, Rule: strconv.Quote(m.Name) + " is not a lowercase name ([a-z0-9][a-z0-9._-]*, at most " + strconv.Itoa(maxManifestName) + " bytes)"}
	}
	if len(m.Version) > maxManifestVer || !printable(m.Version) {
		return &ParamError{Key: manifestVersion, Rule: "want at most " + strconv.Itoa(maxManifestVer) + " printable ASCII bytes"}
	}
	if len(m.Toolchain) > maxManifestVer || !printable(m.Toolchain) {
		return &ParamError{Key: manifestToolchain, Rule: "want at most " + strconv.Itoa(maxManifestVer) + " printable ASCII bytes"}
	}
	if len(m.Reasons) > ReasonBits {
		return &ParamError{Key: manifestReasons, Rule: strconv.Itoa(len(m.Reasons)) + " reasons, limit " + strconv.Itoa(ReasonBits)}
	}
	for i, r := range m.Reasons {
		if !isName(r, maxReasonNameLen, false) {
			return &ParamError{Key: manifestReasons, Rule: "reason " + strconv.Itoa(i) + " " + strconv.Quote(r) + " is not a name ([a-z0-9][a-z0-9_]*, at most " + strconv.Itoa(maxReasonNameLen) + " bytes)"}
		}
		for _, q := range m.Reasons[:i] {
			if q == r {
				return &ParamError{Key: manifestReasons, Rule: "reason " + strconv.Quote(r) + " appears twice"}
			}
		}
	}
	return nil
}

func isName(s string, max int, punct bool) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		ok := b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || i > 0 && b == '_' ||
			punct && i > 0 && (b == '-' || b == '.')
		if !ok {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Encode returns the manifest's canonical CBOR.
func (m *Manifest) Encode() []byte {
	var p Params
	p.SetText(manifestABI, m.ABI)
	p.SetText(manifestInputSchema, m.InputSchema)
	p.SetInt(manifestRecordSize, m.RecordSize)
	p.SetText(manifestName, m.Name)
	p.SetText(manifestVersion, m.Version)
	p.SetStrings(manifestReasons, m.Reasons)
	p.SetText(manifestToolchain, m.Toolchain)
	return p.Encode()
}

// DecodeManifest parses and validates a manifest strictly: canonical CBOR,
// every key present, no unknown keys.
func DecodeManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestLen {
		return nil, &ParamError{Rule: "manifest is " + strconv.Itoa(len(b)) + " bytes, limit " + strconv.Itoa(MaxManifestLen)}
	}
	if len(b) == 0 {
		return nil, &ParamError{Rule: "manifest is empty"}
	}
	p, err := DecodeParams(b)
	if err != nil {
		return nil, err
	}
	keys := []string{manifestABI, manifestInputSchema, manifestRecordSize, manifestName, manifestVersion, manifestReasons, manifestToolchain}
	if err := p.Only(keys...); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if _, ok := p.Get(k); !ok {
			return nil, &ParamError{Key: k, Rule: "missing"}
		}
	}
	var m Manifest
	if m.ABI, err = p.Text(manifestABI); err != nil {
		return nil, err
	}
	if m.InputSchema, err = p.Text(manifestInputSchema); err != nil {
		return nil, err
	}
	if m.RecordSize, err = p.Int(manifestRecordSize); err != nil {
		return nil, err
	}
	if m.Name, err = p.Text(manifestName); err != nil {
		return nil, err
	}
	if m.Version, err = p.Text(manifestVersion); err != nil {
		return nil, err
	}
	if m.Reasons, err = p.Strings(manifestReasons); err != nil {
		return nil, err
	}
	if m.Toolchain, err = p.Text(manifestToolchain); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// ReasonNames appends to dst the names of the reason bits set in a deny word,
// lowest bit first; a set bit the manifest does not name appears as
// "reason_<bit>". It appends nothing for Allow.
func (m *Manifest) ReasonNames(dst []string, word uint32) []string {
	for i := 0; i < 32 && word != 0; i++ {
		if word&1 != 0 {
			if i < len(m.Reasons) {
				dst = append(dst, m.Reasons[i])
			} else {
				dst = append(dst, "reason_"+strconv.Itoa(i))
			}
		}
		word >>= 1
	}
	return dst
}
