package node

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDecodeStrict: the JSON bodies of the operator endpoints (POST
// /v1/treaties, /revoke) reject duplicate keys, unknown fields, trailing
// data, wrong types, other content types and oversized bodies, each a 400
// (413, 415) naming the field.
func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name, ct, body string
		status         int
		field          string
	}{
		{"good", "application/json", `{"template":"bilateral","peer":"did:key:z","set":{"a":"1"}}`, 200, ""},
		{"no content type", "", `{"template":"t"}`, 200, ""},
		{"duplicate key", "application/json", `{"template":"a","template":"b"}`, 400, "template"},
		{"nested duplicate", "application/json", `{"set":{"region":"eu","region":"us"}}`, 400, "set.region"},
		{"unknown field", "application/json", `{"templat":"a"}`, 400, "templat"},
		{"wrong type", "application/json", `{"set":[1]}`, 400, "set"},
		{"trailing data", "application/json", `{} {}`, 400, "body"},
		{"malformed", "application/json", `{"a":`, 400, "body"},
		{"not json", "text/plain", `{}`, 415, "content-type"},
		{"garbage type", ";;;", `{}`, 415, "content-type"},
		{"too large", "application/json", `{"template":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/treaties", strings.NewReader(tt.body))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			w := httptest.NewRecorder()
			var req ProposeRequest
			ok := decodeStrict(w, r, 64<<10, &req)
			if ok != (tt.status == 200) {
				t.Fatalf("decodeStrict = %v: %d %s", ok, w.Code, w.Body)
			}
			if ok {
				return
			}
			var eb ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || w.Code != tt.status || eb.Error.Field != tt.field {
				t.Fatalf("%d %s, want %d naming %q", w.Code, w.Body, tt.status, tt.field)
			}
		})
	}
}

func TestRewriteServerError(t *testing.T) {
	in := "HTTP/1.1 431 Request Header Fields Too Large" + serverErrorHeaders + "431 Request Header Fields Too Large"
	out, ok := rewriteServerError([]byte(in))
	if !ok || !strings.Contains(string(out), `"code":"headers_too_large"`) || !strings.HasPrefix(string(out), "HTTP/1.1 431 ") {
		t.Fatalf("rewrite = %q, %v", out, ok)
	}
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nok",
		"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nno\n",
		"body bytes that start a later write",
	} {
		if _, ok := rewriteServerError([]byte(s)); ok {
			t.Errorf("rewrote a handler's answer %q", s)
		}
	}
}

func FuzzDuplicateKey(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":[{"c":1,"c":2}]}}`, `[1,2,{"x":null}]`, `"s"`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dup, err := duplicateKey(b)
		if err == nil && dup == "" && json.Valid(b) {
			// No duplicate: decoding into a map loses nothing.
			var v any
			if json.Unmarshal(b, &v) != nil {
				t.Fatal("valid JSON does not decode")
			}
		}
	})
}
