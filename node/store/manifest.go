package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// ManifestFormat is the version of the manifest and backup layout this
// package writes and reads.
const ManifestFormat = 1

// MaxManifestSize is the largest manifest file accepted, in bytes.
const MaxManifestSize = 4 << 10

// ManifestSuffix is appended to a backup file's path to name its manifest.
const ManifestSuffix = ".manifest.json"

// ErrBadManifest is wrapped by every manifest decoding or validation error.
var ErrBadManifest = errors.New("store: bad backup manifest")

// Manifest describes one backup file. It is stored as strict JSON next to
// the file, at the file's path plus [ManifestSuffix].
type Manifest struct {
	// Format is [ManifestFormat].
	Format int `json:"format"`
	// Since is the version the backup is incremental from; 0 for a full
	// backup. The backup holds the versions greater than Since.
	Since uint64 `json:"since"`
	// Version is the highest version in the backup (Since if it holds
	// none); the next incremental backup passes it as since, unchanged.
	Version uint64 `json:"version"`
	// SHA256 is the lowercase hex SHA-256 of the backup file.
	SHA256 string `json:"sha256"`
	// Size is the backup file's length in bytes.
	Size int64 `json:"size"`
	// Created is when the backup was taken (UTC).
	Created time.Time `json:"created"`
	// Badger names the badger module version that wrote the backup, when
	// known.
	Badger string `json:"badger,omitempty"`
}

// Full reports whether m describes a full backup.
func (m Manifest) Full() bool { return m.Since == 0 }

// Validate checks m's fields; errors name the field and wrap
// [ErrBadManifest].
func (m Manifest) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: field %q: %s", ErrBadManifest, field, fmt.Sprintf(format, args...))
	}
	switch {
	case m.Format != ManifestFormat:
		return bad("format", "unsupported format %d (want %d)", m.Format, ManifestFormat)
	case m.Version < m.Since:
		return bad("version", "%d is below since %d", m.Version, m.Since)
	case len(m.SHA256) != 64:
		return bad("sha256", "want 64 hex digits, got %d characters", len(m.SHA256))
	case m.Size < 0:
		return bad("size", "negative size %d", m.Size)
	case m.Created.IsZero():
		return bad("created", "missing")
	case len(m.Badger) > 64:
		return bad("badger", "longer than 64 bytes")
	}
	for _, c := range []byte(m.SHA256) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return bad("sha256", "not lowercase hex")
		}
	}
	if _, err := hex.DecodeString(m.SHA256); err != nil {
		return bad("sha256", "%v", err)
	}
	return nil
}

// DecodeManifest reads one manifest from r: at most [MaxManifestSize] bytes
// holding a single JSON object whose member names match [Manifest]'s exactly
// (no unknown, differently cased, duplicate or null members) and nothing
// after it; then it applies [Manifest.Validate]. Errors wrap
// [ErrBadManifest] and name the offending field.
func DecodeManifest(r io.Reader) (Manifest, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxManifestSize+1))
	if err != nil {
		return Manifest{}, fmt.Errorf("store: read manifest: %w", err)
	}
	if len(data) > MaxManifestSize {
		return Manifest{}, fmt.Errorf("%w: larger than %d bytes", ErrBadManifest, MaxManifestSize)
	}
	var m Manifest
	fields := map[string]any{
		"format": &m.Format, "since": &m.Since, "version": &m.Version, "sha256": &m.SHA256,
		"size": &m.Size, "created": &m.Created, "badger": &m.Badger,
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Manifest{}, fmt.Errorf("%w: not a JSON object", ErrBadManifest)
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: %v", ErrBadManifest, err)
		}
		name, _ := tok.(string)
		dst, ok := fields[name]
		switch {
		case !ok:
			return Manifest{}, fmt.Errorf("%w: unknown field %q", ErrBadManifest, name)
		case seen[name]:
			return Manifest{}, fmt.Errorf("%w: duplicate field %q", ErrBadManifest, name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Manifest{}, fmt.Errorf("%w: field %q: %v", ErrBadManifest, name, err)
		}
		if string(raw) == "null" {
			return Manifest{}, fmt.Errorf("%w: field %q: null", ErrBadManifest, name)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return Manifest{}, fmt.Errorf("%w: field %q: %v", ErrBadManifest, name, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return Manifest{}, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Manifest{}, fmt.Errorf("%w: data after the manifest object", ErrBadManifest)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// encode returns m as indented JSON with a trailing newline.
func (m Manifest) encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("store: encode manifest: %w", err)
	}
	return append(b, '\n'), nil
}

// ChecksumError reports a backup file that does not match its manifest.
type ChecksumError struct {
	Path       string
	WantSHA256 string
	GotSHA256  string
	WantSize   int64
	GotSize    int64
}

func (e *ChecksumError) Error() string {
	if e.WantSize != e.GotSize {
		return fmt.Sprintf("store: backup %s: size %d, manifest says %d", e.Path, e.GotSize, e.WantSize)
	}
	return fmt.Sprintf("store: backup %s: sha256 %s, manifest says %s", e.Path, e.GotSHA256, e.WantSHA256)
}
