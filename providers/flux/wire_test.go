package flux

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aurora-federation/aurora/providers"

	"github.com/aurora-federation/aurora/treaty"
)

func TestJSStringify(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		// What JSON.stringify(JSON.parse(in)) prints in JavaScript.
		{"order kept, compact", `{ "b": 1, "a": [ 0.5, true, null, "x" ] }`, `{"b":1,"a":[0.5,true,null,"x"]}`, false},
		{"js escapes", `{"s":"\"\\\/\b\f\n\r\t\u0001\u001f"}`, `{"s":"\"\\/\b\f\n\r\t\u0001\u001f"}`, false},
		{"unicode kept", `{"s":"\u00e9\u2603 é <>&\u2028"}`, "{\"s\":\"é☃ é <>&\u2028\"}", false},
		{"numbers literal", `[1,-0.25,1e21,1.5E-7]`, `[1,-0.25,1e21,1.5E-7]`, false},
		{"empty containers", `{"a":{},"b":[]}`, `{"a":{},"b":[]}`, false},
		{"trailing", `{} 1`, ``, true},
		{"broken", `{"a":`, ``, true},
		{"too deep", strings.Repeat("[", 40) + strings.Repeat("]", 40), ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsStringify([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("jsStringify(%s)\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

// Go's encoder with HTML escaping off prints what JSON.stringify prints,
// except for U+2028/U+2029; jsStringify of its output must be the identity.
func FuzzJSStringifyMatchesEncoder(f *testing.F) {
	f.Add("nginx:1.27", "K=V", 0.5, int64(1000))
	f.Add("é\"\\\x01<>&", "", 15.0, int64(-1))
	f.Fuzz(func(t *testing.T, s1, s2 string, x float64, n int64) {
		// Go escapes U+2028/U+2029 and writes invalid UTF-8 as \ufffd;
		// JavaScript prints both as characters.
		if strings.ContainsAny(s1+s2, "\u2028\u2029") || !utf8.ValidString(s1) || !utf8.ValidString(s2) {
			return
		}
		v := map[string]any{"z": s1, "a": []any{s2, x, n, true, nil}, s2: map[string]any{}}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return // NaN, Inf
		}
		in := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		got, err := jsStringify(in)
		if err != nil {
			t.Fatalf("jsStringify(%s): %v", in, err)
		}
		if !bytes.Equal(got, in) {
			t.Fatalf("not the identity:\n in %s\nout %s", in, got)
		}
	})
}

func FuzzJSStringify(f *testing.F) {
	f.Add([]byte(`{"version":8,"name":"x","compose":[{"cpu":0.5}]}`))
	f.Add([]byte(`"\ud800"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := jsStringify(b)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output is not JSON: %q", out)
		}
		again, err := jsStringify(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q (%v)", out, again, err)
		}
	})
}

func TestUnwrapEnvelope(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    string
		wantErr error
		anyErr  bool
	}{
		{"success", `{"status":"success","data":{"a":1}}`, `{"a":1}`, nil, false},
		{"unauthorized", `{"status":"error","data":{"code":401,"name":"Unauthorized","message":"Unauthorized. Access denied."}}`, "", providers.ErrAuth, true},
		{"not found", `{"status":"error","data":{"code":null,"name":"Error","message":"Application not found"}}`, "", providers.ErrNotFound, true},
		{"named not found", `{"status":"error","data":{"name":"Error","message":"Application: aur-x not found"}}`, "", providers.ErrNotFound, true},
		{"plain error", `{"status":"error","data":{"name":"Error","message":"Unable to register application on the network. Try again later."}}`, "", nil, true},
		{"string data", `{"status":"error","data":"boom"}`, "", nil, true},
		{"warning", `{"status":"warning","data":{"message":"careful"}}`, "", nil, true},
		{"unknown status", `{"status":"ok","data":1}`, "", nil, true},
		{"no data", `{"status":"success"}`, "", nil, true},
		{"html", `<html><title>502</title></html>`, "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := unwrapEnvelope("op", []byte(tt.body))
			if (err != nil) != tt.anyErr {
				t.Fatalf("err = %v, want error %v", err, tt.anyErr)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && err != nil && (errors.Is(err, providers.ErrAuth) || errors.Is(err, providers.ErrNotFound)) {
				t.Errorf("err = %v classified as auth/not found", err)
			}
			if string(data) != tt.want {
				t.Errorf("data = %s, want %s", data, tt.want)
			}
		})
	}
	var fe *APIError
	_, err := unwrapEnvelope("get app", []byte(`{"status":"error","data":{"code":"E1","name":"Error","message":"bad"}}`))
	if !errors.As(err, &fe) || fe.Code != "E1" || fe.Message != "bad" || !strings.Contains(err.Error(), "flux: get app") {
		t.Errorf("APIError = %#v (%v)", fe, err)
	}
}

func FuzzUnwrapEnvelope(f *testing.F) {
	f.Add([]byte(`{"status":"success","data":"3f"}`))
	f.Add([]byte(`{"status":"error","data":{"code":401,"name":"Unauthorized","message":"x"}}`))
	f.Add([]byte(`{"status":"success","data":[{"type":"fluxappregister","hash":"` + strings.Repeat("a", 64) + `","appSpecifications":{"name":"a","owner":"1x"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		data, err := unwrapEnvelope("fuzz", b)
		if err != nil {
			if len(err.Error()) > 1000 {
				t.Fatalf("error text not bounded: %d bytes", len(err.Error()))
			}
			return
		}
		if len(data) == 0 {
			t.Fatal("success without data")
		}
		if ms, err := parseMessages(data); err == nil {
			for _, m := range ms {
				if !isHash(m.Hash) {
					t.Fatalf("accepted hash %q", m.Hash)
				}
			}
		}
		if s, err := parsePublished(data); err == nil && (s.Name == "" || s.Owner == "" || s.Expire <= 0) {
			t.Fatalf("accepted spec %+v", s)
		}
		if h, err := parseHashData(data); err == nil && !isHash(h) {
			t.Fatalf("accepted hash %q", h)
		}
		_, _ = parseDeploymentInfo(data)
		_, _ = parsePrice(data)
		_, _ = parseLocations(data)
		_, _ = parseHeight(data)
	})
}

func TestResourcesOf(t *testing.T) {
	tests := []struct {
		cpu, mem, disk int64
		want           resources
	}{
		{0, 0, 0, resources{0.1, 100, 1}},
		{500, 1000, 5120, resources{0.5, 1100, 6}},
		{2000, 4096, 10240, resources{2, 4300, 11}},
		{1, 1, 1, resources{0.1, 100, 1}},
		{1450, 95, 953, resources{1.5, 100, 1}},
	}
	for _, tt := range tests {
		if got := resourcesOf(tt.cpu, tt.mem, tt.disk); got != tt.want {
			t.Errorf("resourcesOf(%d, %d, %d) = %+v, want %+v", tt.cpu, tt.mem, tt.disk, got, tt.want)
		}
	}
}

func TestBlocksFor(t *testing.T) {
	info := deploymentInfo{MinBlocksAllowance: 5000, MaxBlocksAllowance: 1_056_000, BlocksAllowanceInterval: 1000}
	tests := []struct {
		d       time.Duration
		want    int64
		wantErr bool
	}{
		{0, 88_000, false},
		{time.Hour, 5000, false},
		{30 * 24 * time.Hour, 87_000, false},
		{30*24*time.Hour + time.Second, 87_000, false},
		{31 * 24 * time.Hour, 90_000, false},
		{400 * 24 * time.Hour, 0, true},
	}
	for _, tt := range tests {
		got, err := blocksFor(tt.d, info)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("blocksFor(%v) = %d, %v, want %d", tt.d, got, err, tt.want)
		}
	}
}

func TestWithTagAndNames(t *testing.T) {
	for in, want := range map[string]string{
		"nginx": "nginx:latest", "nginx:1.27": "nginx:1.27", "reg:5000/a/b": "reg:5000/a/b:latest", "a@sha256:00": "a@sha256:00",
	} {
		if got := withTag(in); got != want {
			t.Errorf("withTag(%q) = %q, want %q", in, got, want)
		}
	}
	for name, want := range map[string]bool{
		providers.IdempotencyKey("job"): true, "a": true, "fluxapp": false, "Zelcash": false, "-a": false, "a-": false,
		"a_b": false, "": false, strings.Repeat("a", 64): false, "watchtower": false, "../x": false,
	} {
		if got := validName(name); got != want {
			t.Errorf("validName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestPerHourOfTerm(t *testing.T) {
	// $1.00 for 5000 blocks (41 h 40 min) is 2400 µ$ per hour.
	if got := perHourOfTerm(1_000_000, 5000); got != 24000 {
		t.Errorf("perHourOfTerm = %d, want 24000", got)
	}
	if got := perHourOfTerm(1, 88000); got != 1 {
		t.Errorf("perHourOfTerm rounds down: %d", got)
	}
}

// TestRegionRule: regions become geolocation rules in the form FluxOS
// nodes report their place (ip-api continent and country codes).
func TestRegionRule(t *testing.T) {
	tests := map[string]string{"DE": "acEU_DE", "de": "acEU_DE", "US": "acNA_US", "BR": "acSA_BR", "TR": "acAS_TR",
		"NA": "acAF_NA", "EU": "acEU", "OC": "acOC", "acEU_DE": "acEU_DE", "acNA": "acNA", "acAS": "acAS",
		"acXX": "", "ZZ": "", "zz-nowhere-9": "", "eu-central": "", "": ""}
	for in, want := range tests {
		got, ok := regionRule(in)
		if got != want || ok != (want != "") {
			t.Errorf("regionRule(%q) = %q, %v, want %q", in, got, ok, want)
		}
	}
}

// TestParsePriceDiscount: fluxDiscount is a number, or the string "Not
// possible to define discount" when the chain price exceeds the quote
// (FluxOS utils/appSpecHelpers.js).
func TestParsePriceDiscount(t *testing.T) {
	tests := []struct {
		name, body, want string
		wantErr          bool
	}{
		{"number", `{"usd":1.5,"flux":3.2,"fluxDiscount":5}`, "5", false},
		{"no discount possible", `{"usd":1.5,"flux":3.2,"fluxDiscount":"Not possible to define discount"}`, "", false},
		{"absent", `{"usd":1.5,"flux":3.2}`, "", false},
		{"object", `{"usd":1.5,"flux":3.2,"fluxDiscount":{}}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePrice(json.RawMessage(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parsePrice(%s) error = %v, wantErr %v", tt.body, err, tt.wantErr)
			}
			if err == nil && p.FLUXDiscount.String() != tt.want {
				t.Errorf("discount = %q, want %q", p.FLUXDiscount, tt.want)
			}
		})
	}
}

// TestComponentNamesAlphanumeric: FluxOS refuses component names with
// anything but letters and digits.
func TestComponentNamesAlphanumeric(t *testing.T) {
	c := &Client{}
	sp := c.buildSpec("1owner", "aur-abcdefghijklmnop", treaty.Workload{Image: "nginx:1"}, 1, 88000, nil, nil)
	if got := sp.Compose[0].Name; got != "aurabcdefghijklmnop" {
		t.Errorf("component name %q, want aurabcdefghijklmnop", got)
	}
}
