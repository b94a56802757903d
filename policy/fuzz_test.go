package policy

import (
	"bytes"
	"testing"

	"github.com/aurora-federation/aurora/policy/sdk"
	"github.com/aurora-federation/aurora/policy/std"
	"github.com/aurora-federation/aurora/policy/std/stdtest"
)

func FuzzParseManifest(f *testing.F) {
	f.Add(testManifest(nil))
	f.Add(testManifest(func(m *sdk.Manifest) { m.ABI = "2.0" }))
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		if m.RecordSize != sdk.RecordSize || m.InputSchema != sdk.InputSchema {
			t.Fatalf("accepted %+v", m)
		}
	})
}

// FuzzInspect feeds arbitrary bytes to the pre-compile checks (section
// scanner, manifest, import and memory parsers), which see untrusted module
// bytes before wazero does.
func FuzzInspect(f *testing.F) {
	f.Add(guest(allowAll).bytes())
	m := guest(allowAll)
	m.imports = []wimport{{module: "wasi_snapshot_preview1", name: "proc_exit", params: []byte{tI32}}, {module: "env", name: "memory", memory: true}}
	f.Add(m.bytes())
	f.Add(std.Wasm()[:4096])
	f.Fuzz(func(t *testing.T, b []byte) {
		mod, err := inspect(ModuleCID(b), b)
		if err != nil {
			if _, ok := err.(*LoadError); !ok {
				t.Fatalf("error %T is not a *LoadError: %v", err, err)
			}
			return
		}
		if mod.manifest == nil {
			t.Fatal("accepted without a manifest")
		}
	})
}

func FuzzDecodeStdParams(f *testing.F) {
	p := stdtest.BaseParams()
	f.Add(p.Encode())
	f.Add((&StdParams{}).Encode())
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeStdParams(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Encode(), b) {
			t.Fatalf("accepted non-canonical params % x", b)
		}
		if _, err := std.New(p); err != nil {
			t.Fatalf("accepted invalid params: %v", err)
		}
	})
}

func FuzzParseVectors(f *testing.F) {
	f.Add(std.Vectors()[:2000])
	f.Add([]byte(`{"schema":"fedpolicy-vectors/1","cases":[{"name":"a","facts":{"now":1,"regions":["eu"],"region_count":1},"want":0}]}`))
	f.Add([]byte(`{"schema":"fedpolicy-vectors/1","cases":[{"facts":{"client":"zz"},"want":1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		vs, err := ParseVectors(b)
		if err != nil {
			return
		}
		out, err := EncodeVectors(vs, nil)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseVectors(out)
		if err != nil {
			t.Fatalf("re-encoded vectors do not parse: %v", err)
		}
		if len(again) != len(vs) {
			t.Fatal("round trip changed the case count")
		}
	})
}

func FuzzDecodeLogEntry(f *testing.F) {
	fa := stdtest.AllowFacts()
	l := NewLogEntry(ModuleCID([]byte("m")), nil, &fa, Decision{Word: 3, Reasons: []string{"a", "b"}})
	b, err := l.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodeLogEntry(b)
		if err != nil {
			return
		}
		again, err := l.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted non-canonical entry: %v", err)
		}
	})
}
