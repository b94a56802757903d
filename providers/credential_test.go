package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const testSecret = "sk-live-3f9a7c1e5b"

func TestLoadCredential(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", testSecret+"\n", 0o600)
	groupRead := write("group", testSecret, 0o640)
	worldRead := write("world", testSecret, 0o644)
	groupWrite := write("gw", testSecret, 0o660)
	empty := write("empty", " \n", 0o600)
	big := write("big", strings.Repeat("k", MaxCredentialBytes+1), 0o600)
	t.Setenv("AURORA_TEST_KEY", "  "+testSecret+"  ")
	t.Setenv("AURORA_TEST_EMPTY", "")

	tests := []struct {
		name, env, file string
		wantErr         string // substring; "" = success
		wantSource      string
	}{
		{name: "env", env: "AURORA_TEST_KEY", wantSource: "env:AURORA_TEST_KEY"},
		{name: "file", file: good, wantSource: "file:" + good},
		{name: "group readable file", file: groupRead, wantSource: "file:" + groupRead},
		{name: "world readable file", file: worldRead, wantErr: "mode 0644"},
		{name: "group writable file", file: groupWrite, wantErr: "mode 0660"},
		{name: "empty file", file: empty, wantErr: "is empty"},
		{name: "big file", file: big, wantErr: "more than"},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "no such file"},
		{name: "directory", file: dir, wantErr: "not a regular file"},
		{name: "unset env", env: "AURORA_TEST_UNSET_XYZ", wantErr: "not set"},
		{name: "empty env", env: "AURORA_TEST_EMPTY", wantErr: "is empty"},
		{name: "both", env: "AURORA_TEST_KEY", file: good, wantErr: "not both"},
		{name: "neither", wantErr: "no environment variable or file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && strings.Contains(tt.wantErr, "mode") {
				t.Skip("no Unix modes")
			}
			c, err := LoadCredential(tt.env, tt.file)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadCredential error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), testSecret) {
					t.Errorf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadCredential: %v", err)
			}
			if c.Reveal() != testSecret {
				t.Errorf("Reveal = %q, want the trimmed secret", c.Reveal())
			}
			if c.Source() != tt.wantSource {
				t.Errorf("Source = %q, want %q", c.Source(), tt.wantSource)
			}
		})
	}
}

func TestCredentialRedacts(t *testing.T) {
	c := NewCredential(testSecret)
	type holder struct {
		Key    Credential
		Name   string
		hidden Credential // fmt walks unexported fields without calling Format
	}
	h := holder{Key: c, Name: "vastai", hidden: c}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		out = append(out, fmt.Sprintf(verb, c), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	out = append(out, c.String(), c.GoString(), fmt.Sprint(c), fmt.Sprintln(c))

	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "cred", c, "holder", h)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "cred", c, "holder", h)
	out = append(out, buf.String())

	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(j))
	for _, s := range out {
		if strings.Contains(s, testSecret) || strings.Contains(s, fmt.Sprintf("%x", testSecret)) {
			t.Errorf("leaked: %s", s)
		}
	}
	if !strings.Contains(string(j), `"Key":"[REDACTED]"`) {
		t.Errorf("JSON = %s, want the redacted marker", j)
	}
	if c.Reveal() != testSecret {
		t.Errorf("Reveal = %q", c.Reveal())
	}
	var zero Credential
	if !zero.IsZero() || zero.String() != "[EMPTY]" || c.IsZero() {
		t.Errorf("IsZero/String of zero credential wrong: %v %q", zero.IsZero(), zero.String())
	}
}

func TestCanonicalGPUModel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"RTX 4090", "rtx4090"},
		{"NVIDIA GeForce RTX 4090", "rtx4090"},
		{"RTX 4090 (24 GB)", "rtx4090"},
		{"rtx4090", "rtx4090"},
		{"RTX 4090D", "rtx4090d"},
		{"A100 SXM4 80GB", "a100"},
		{"A100 PCIE", "a100"},
		{"a100", "a100"},
		{"H100 SXM", "h100"},
		{"H100 NVL", "h100"},
		{"RTX A6000", "rtxa6000"},
		{"Tesla V100 32 GB", "v100"},
		{"A10G", "a10g"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := CanonicalGPUModel(tt.in); got != tt.want {
			t.Errorf("CanonicalGPUModel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if SameGPUModel("", "") || !SameGPUModel("RTX 4090 (24 GB)", "rtx4090") || SameGPUModel("RTX 4090", "RTX 4080") {
		t.Errorf("SameGPUModel wrong")
	}
}

func TestParseUSD(t *testing.T) {
	tests := []struct {
		in      string
		want    Money
		wantErr bool
	}{
		{"0.35", 350_000, false},
		{"1", 1_000_000, false},
		{"0.0000005", 1, false}, // half rounds away from zero
		{"0.0000004", 0, false},
		{"1.2e-05", 12, false},
		{"-0.5", -500_000, false},
		{"17.60", 17_600_000, false},
		{"", 0, true},
		{"abc", 0, true},
		{"1e31", 0, true},
		{"0x10", 0, true},
		{"1/3", 0, true},
		{"NaN", 0, true},
		{"1.2.3", 0, true},
		{"9999999999999999", 0, true}, // overflows int64 micro-USD
		{strings.Repeat("1", 65), 0, true},
	}
	for _, tt := range tests {
		got, err := ParseUSD(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseUSD(%q) = %d, %v; want %d, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0.35", "1.2e-05", "12.345000000000000000", "-1", "1e30", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseDecimal(s)
		if err != nil {
			return
		}
		if len(r.Num().String()) > 200 || len(r.Denom().String()) > 200 {
			t.Fatalf("ParseDecimal(%q) produced a huge rational", s)
		}
		ParseUSD(s)
	})
}
