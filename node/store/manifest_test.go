package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const validManifest = `{
  "format": 1,
  "since": 7,
  "version": 42,
  "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
  "size": 1234,
  "created": "2026-11-25T12:00:00Z",
  "badger": "v4.9.6"
}
`

func TestDecodeManifest(t *testing.T) {
	want := Manifest{
		Format: 1, Since: 7, Version: 42,
		SHA256:  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Size:    1234,
		Created: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		Badger:  "v4.9.6",
	}
	replace := func(old, new string) string {
		if !strings.Contains(validManifest, old) {
			t.Fatalf("test setup: %q not in the valid manifest", old)
		}
		return strings.Replace(validManifest, old, new, 1)
	}
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "valid", in: validManifest},
		{name: "badger optional", in: replace(`,
  "badger": "v4.9.6"`, "")},
		{name: "unknown field", in: replace(`"size"`, `"sizes"`), wantErr: `unknown field "sizes"`},
		{name: "field in other case", in: replace(`"since"`, `"Since"`), wantErr: `unknown field "Since"`},
		{name: "duplicate field", in: replace(`"size": 1234,`, `"size": 1234, "size": 1,`), wantErr: `duplicate field "size"`},
		{name: "null member", in: replace(`"since": 7`, `"since": null`), wantErr: `field "since": null`},
		{name: "trailing data", in: validManifest + "{}", wantErr: "data after"},
		{name: "not an object", in: `[1]`, wantErr: "not a JSON object"},
		{name: "empty", in: ``, wantErr: "not a JSON object"},
		{name: "too large", in: replace(`"v4.9.6"`, `"`+strings.Repeat("x", MaxManifestSize)+`"`), wantErr: "larger than"},
		{name: "wrong format", in: replace(`"format": 1`, `"format": 2`), wantErr: `field "format"`},
		{name: "negative since", in: replace(`"since": 7`, `"since": -7`), wantErr: "since"},
		{name: "fractional version", in: replace(`"version": 42`, `"version": 4.2`), wantErr: "version"},
		{name: "version below since", in: replace(`"version": 42`, `"version": 6`), wantErr: `field "version"`},
		{name: "short sha256", in: replace(`"9f86`, `"`), wantErr: `field "sha256"`},
		{name: "uppercase sha256", in: replace(`"9f86`, `"9F86`), wantErr: `field "sha256"`},
		{name: "negative size", in: replace(`"size": 1234`, `"size": -1`), wantErr: `field "size"`},
		{name: "missing created", in: replace(`"created": "2026-11-25T12:00:00Z",`, ``), wantErr: `field "created"`},
		{name: "bad created", in: replace(`2026-11-25T12:00:00Z`, `yesterday`), wantErr: "created"},
		{name: "long badger", in: replace(`"v4.9.6"`, `"`+strings.Repeat("v", 65)+`"`), wantErr: `field "badger"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeManifest(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DecodeManifest error = %v, want one containing %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrBadManifest) {
					t.Errorf("error %v does not wrap ErrBadManifest", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeManifest: %v", err)
			}
			w := want
			if !strings.Contains(tt.in, "badger") {
				w.Badger = ""
			}
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("manifest (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add([]byte(validManifest))
	f.Add([]byte(`{"format":1,"since":0,"version":0,"sha256":"` + strings.Repeat("0", 64) + `","size":0,"created":"0001-01-01T00:00:01Z"}`))
	f.Add([]byte(`{"format":1,"format":1}`))
	f.Add([]byte(`{"FORMAT":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadManifest) {
				t.Fatalf("error %v does not wrap ErrBadManifest", err)
			}
			return
		}
		if len(data) > MaxManifestSize {
			t.Fatalf("accepted %d bytes, limit %d", len(data), MaxManifestSize)
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded manifest fails Validate: %v", err)
		}
		enc, err := m.encode()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeManifest(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
		if diff := cmp.Diff(m, m2); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
