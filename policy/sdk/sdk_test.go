package sdk

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sampleFacts() OrderFacts {
	f := OrderFacts{
		Now: 1_795_564_800_000, OrderCreated: -5, OrderExpires: 1 << 62,
		NonceFresh: true, LaneApplies: true,
		GPUModel: MakeCode32("a100-80gb"), GPUCount: 8, GPUHours: 1 << 31,
		MaxPricePerHour: 123, OfferPricePerHour: -1, ProviderReputation: 999,
		InflightUsed: 1, OrdersLastMinute: 2, GPUHoursUsedToday: 3,
		CPUMillis: 4, MemoryMiB: 5, DurationSec: 6, RegionCount: 200,
		Provider: MakeCode16("vastai"), ProviderRegion: MakeCode16("eu-west"),
	}
	for i := range f.Client {
		f.Client[i] = byte(i * 7)
	}
	for i := range f.Regions {
		f.Regions[i] = MakeCode16(strings.Repeat(string(rune('a'+i)), 16))
	}
	return f
}

func TestFactsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    OrderFacts
	}{
		{"zero", OrderFacts{}},
		{"full", sampleFacts()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("xyz")
			b := tt.f.AppendTo(prefix)
			if len(b) != len(prefix)+RecordSize || !bytes.HasPrefix(b, prefix) {
				t.Fatalf("AppendTo gave %d bytes", len(b))
			}
			var got OrderFacts
			if !got.Decode(b[len(prefix):]) {
				t.Fatal("Decode refused its own record")
			}
			if diff := cmp.Diff(tt.f, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestFactsLayout pins the byte offsets of order-facts/1: a change here is a
// schema change and breaks every deployed policy.
func TestFactsLayout(t *testing.T) {
	f := sampleFacts()
	r := f.AppendTo(nil)
	checks := []struct {
		name string
		off  int
		want []byte
	}{
		{"schema", 0, []byte{1, 0}},
		{"flags", 2, []byte{3, 0}},
		{"region count", 4, []byte{200}},
		{"now", 8, []byte{0x00, 0x88, 0x00, 0x10, 0xa2, 0x01, 0, 0}},
		{"created", 16, []byte{0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"client", 32, []byte{0, 7, 14}},
		{"gpu model", 64, []byte("a100-80gb\x00")},
		{"gpu count", 96, []byte{8, 0, 0, 0}},
		{"gpu hours", 100, []byte{0, 0, 0, 0x80}},
		{"max price", 104, []byte{123, 0, 0, 0, 0, 0, 0, 0}},
		{"reputation", 120, []byte{0xe7, 0x03, 0, 0}},
		{"duration", 144, []byte{6, 0, 0, 0}},
		{"region 0", 152, []byte("aaaaaaaaaaaaaaaa")},
		{"region 3", 200, []byte("dddddddddddddddd")},
		{"provider", 216, []byte("vastai\x00")},
		{"provider region", 232, []byte("eu-west\x00")},
		{"reserved tail", 248, make([]byte, 8)},
	}
	for _, c := range checks {
		if got := r[c.off : c.off+len(c.want)]; !bytes.Equal(got, c.want) {
			t.Errorf("%s at %d: % x, want % x", c.name, c.off, got, c.want)
		}
	}
}

func TestFactsDecodeRejects(t *testing.T) {
	var f OrderFacts
	if f.Decode(make([]byte, RecordSize-1)) {
		t.Error("short record accepted")
	}
	s := sampleFacts()
	r := s.AppendTo(nil)
	r[0] = 2
	if f.Decode(r) {
		t.Error("schema 2 accepted")
	}
	// Bytes past the schema and unknown flags are ignored.
	r = s.AppendTo(nil)
	r[3], r[255] = 0x80, 0xff
	if !f.Decode(append(r, 1, 2, 3)) {
		t.Error("unknown flag or tail bytes rejected")
	}
}

func TestParams(t *testing.T) {
	var p Params
	p.SetInt("zeta", -1).SetInt("a", 1<<40).SetText("bb", "text").SetBool("cc", true).
		SetStrings("list", []string{"x", "y"}).Set("raw", Value{Kind: KindBytes, Bytes: []byte{1, 2}})
	b := p.Encode()
	q, err := DecodeParams(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p.Keys(), q.Keys()); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a", "bb", "cc", "raw", "list", "zeta"}, q.Keys()); diff != "" {
		t.Errorf("canonical key order (-want +got):\n%s", diff)
	}
	if v, _ := q.Int("zeta"); v != -1 {
		t.Errorf("zeta = %d", v)
	}
	if v, _ := q.Int("a"); v != 1<<40 {
		t.Errorf("a = %d", v)
	}
	if v, _ := q.Strings("list"); !cmp.Equal(v, []string{"x", "y"}) {
		t.Errorf("list = %v", v)
	}
	if _, err := q.Int("bb"); err == nil || !strings.Contains(err.Error(), "bb: is text, want int") {
		t.Errorf("type mismatch error %v", err)
	}
	if err := q.Only("a", "bb"); err == nil || !strings.Contains(err.Error(), "cc: unknown key") {
		t.Errorf("Only: %v", err)
	}
	if !bytes.Equal(q.Encode(), b) {
		t.Error("re-encoding differs")
	}
}

func TestDecodeParamsRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		rule string
	}{
		{"not a map", []byte{0x80}, "not a CBOR map"},
		{"unsorted keys", []byte{0xa2, 0x62, 'b', 'b', 0x01, 0x61, 'a', 0x01}, "canonical order"},
		{"duplicate keys", []byte{0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02}, "canonical order"},
		{"non-shortest int", []byte{0xa1, 0x61, 'a', 0x18, 0x01}, "non-shortest"},
		{"float", []byte{0xa1, 0x61, 'a', 0xfb, 0, 0, 0, 0, 0, 0, 0, 0}, "floats"},
		{"null", []byte{0xa1, 0x61, 'a', 0xf6}, "a: unsupported CBOR major type 7"},
		{"tag", []byte{0xa1, 0x61, 'a', 0xc1, 0x01}, "tags"},
		{"nested map", []byte{0xa1, 0x61, 'a', 0xa0}, "maps inside"},
		{"nested list", []byte{0xa1, 0x61, 'a', 0x81, 0x80}, "lists inside lists"},
		{"indefinite", []byte{0xbf, 0xff}, "indefinite"},
		{"trailing", []byte{0xa0, 0x00}, "trailing"},
		{"truncated", []byte{0xa1, 0x61}, "truncated"},
		{"int key", []byte{0xa1, 0x01, 0x01}, "key is not text"},
		{"bad utf8", []byte{0xa1, 0x61, 'a', 0x61, 0xff}, "UTF-8"},
		{"uint over int64", []byte{0xa1, 0x61, 'a', 0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0}, "int64"},
		{"too big", make([]byte, MaxParamsLen+1), "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeParams(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.rule) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.rule)
			}
		})
	}
}

func TestManifest(t *testing.T) {
	m := Manifest{Name: "std", Version: "1.0.0", Reasons: []string{"a", "b_c"}}
	m.fill()
	got, err := DecodeManifest(m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&m, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if names := m.ReasonNames(nil, 0b111); !cmp.Equal(names, []string{"a", "b_c", "reason_2"}) {
		t.Errorf("ReasonNames = %v", names)
	}
	bad := []func(*Manifest){
		func(m *Manifest) { m.ABI = "1" },
		func(m *Manifest) { m.ABI = "01.0" },
		func(m *Manifest) { m.Name = "Upper" },
		func(m *Manifest) { m.Reasons = []string{"a", "a"} },
		func(m *Manifest) { m.Reasons = make([]string, 25) },
		func(m *Manifest) { m.Version = "\n" },
		func(m *Manifest) { m.RecordSize = 0 },
	}
	for i, mod := range bad {
		mm := m
		mod(&mm)
		if _, err := DecodeManifest(mm.Encode()); err == nil {
			t.Errorf("bad manifest %d accepted", i)
		}
	}
	var extra Params
	extra.SetText("surprise", "x")
	if _, err := DecodeManifest(extra.Encode()); err == nil {
		t.Error("unknown key accepted")
	}
}

func TestEvalBatch(t *testing.T) {
	s := sampleFacts()
	in := s.AppendTo(nil)
	in = append(in, make([]byte, RecordSize)...) // schema 0: indeterminate
	out := make([]uint32, 2)
	EvalBatch(func(f *OrderFacts) uint32 { return f.GPUCount }, in, out)
	if out[0] != 8 || out[1] != Indeterminate {
		t.Errorf("EvalBatch = %v", out)
	}
}

func FuzzDecodeParams(f *testing.F) {
	var p Params
	p.SetInt("a", -7).SetStrings("regions", []string{"eu", "us"}).SetBool("b", false)
	f.Add(p.Encode())
	f.Add([]byte{0xa0})
	f.Add([]byte{0xa1, 0x61, 'a', 0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add((&Manifest{ABI: "1.0", InputSchema: InputSchema, RecordSize: 256, Name: "x"}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := DecodeParams(b)
		if err != nil {
			return
		}
		// Accepted input is canonical: it re-encodes to itself.
		if len(b) > 0 && !bytes.Equal(q.Encode(), b) {
			t.Fatalf("accepted non-canonical params % x (canonical % x)", b, q.Encode())
		}
		_, _ = DecodeManifest(b)
	})
}

func FuzzDecodeManifest(f *testing.F) {
	m := Manifest{ABI: "1.0", InputSchema: InputSchema, RecordSize: 256, Name: "std", Version: "1", Reasons: []string{"a"}, Toolchain: "go"}
	f.Add(m.Encode())
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeManifest(b)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
		if !bytes.Equal(got.Encode(), b) {
			t.Fatal("accepted a non-canonical manifest")
		}
	})
}

func FuzzFactsDecode(f *testing.F) {
	s := sampleFacts()
	f.Add(s.AppendTo(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		var g OrderFacts
		if !g.Decode(b) {
			return
		}
		var h OrderFacts
		if !h.Decode(g.AppendTo(nil)) || g != h {
			t.Fatal("decode/encode/decode is not stable")
		}
	})
}
