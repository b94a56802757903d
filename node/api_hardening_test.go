package node_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/treaty"
)

// apiError decodes the documented error shape, failing if it is not one.
func apiError(t *testing.T, status int, ct string, body []byte) node.ErrorDetail {
	t.Helper()
	var eb node.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil || eb.Error.Code == "" || !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("status %d, Content-Type %q: body %q is not {\"error\": {…}} (%v)", status, ct, body, err)
	}
	return eb.Error
}

func do(t *testing.T, method, url, ct string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirect following
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// raw sends bytes on a fresh connection and reads one response.
func raw(t *testing.T, addr, req string) (int, string, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// TestAPIHardening: every error names its field and has the documented
// JSON shape, the HTTP layer's own included; IDs in paths are parsed as
// CIDs first; content types match exactly; an oversized declared length is
// refused at once; a proof not yet available is 503 with Retry-After.
func TestAPIHardening(t *testing.T) {
	cfg := newConfig()
	cfg.Provenance.Epoch = node.Duration(time.Hour) // no epoch closes: proofs stay unavailable
	tn := startNode(t, cfg)
	base := "http://" + tn.n.APIAddr()
	k := clientKey(t)
	good := mustOrder(t, k, spec())
	goodJSON, _ := treaty.EncodeJSON(good)
	tampered := *good
	tampered.Workload.Image = "evil:latest"
	tamperedJSON, _ := treaty.EncodeJSON(&tampered)
	unknown := bytes.Replace(goodJSON, []byte(`{"client"`), []byte(`{"admin":true,"client"`), 1)
	renamed := bytes.Replace(goodJSON, []byte(`"cpu":`), []byte(`"cpx":`), 1)
	if bytes.Equal(renamed, goodJSON) {
		t.Fatal("no cpu field to rename")
	}

	orders := []struct {
		name, ct    string
		body        []byte
		status      int
		code, field string
		msgContains string
	}{
		{"unknown field", "application/json", unknown, 400, "bad_record", "admin", `"admin"`},
		{"renamed field", "application/json", renamed, 400, "bad_record", "workload.cpx", `unknown field "cpx" in order.workload`},
		{"bad signature", "application/json", tamperedJSON, 400, "bad_signature", "sig", ""},
		{"malformed", "application/json", []byte(`{"v":`), 400, "bad_record", "body", ""},
		{"duplicate key", "application/json", bytes.Replace(goodJSON, []byte(`{"client"`), []byte(`{"v":1,"client"`), 1), 400, "bad_record", "", ""},
		{"garbage content type", ";;;", goodJSON, 415, "unsupported_media_type", "content-type", ""},
		{"unknown parameter", "application/json; profile=x", goodJSON, 415, "unsupported_media_type", "content-type", ""},
		{"text", "text/plain", goodJSON, 415, "unsupported_media_type", "content-type", ""},
	}
	for _, tt := range orders {
		t.Run("orders/"+tt.name, func(t *testing.T) {
			status, h, b := do(t, "POST", base+"/v1/orders", tt.ct, tt.body)
			e := apiError(t, status, h.Get("Content-Type"), b)
			if status != tt.status || e.Code != tt.code || (tt.field != "" && e.Field != tt.field) || e.Field == "" && status == 400 {
				t.Fatalf("%d %+v, want %d %s field %q", status, e, tt.status, tt.code, tt.field)
			}
			if !strings.Contains(e.Message, tt.msgContains) {
				t.Fatalf("message %q lacks %q", e.Message, tt.msgContains)
			}
		})
	}
	status, _, b := do(t, "POST", base+"/v1/orders", "application/json; charset=utf-8", goodJSON)
	if status != 200 {
		t.Fatalf("good order: %d %s", status, b)
	}
	var ack struct{ Job, CID string }
	json.Unmarshal(b, &ack)

	t.Run("declared length too large", func(t *testing.T) {
		start := time.Now()
		status, ct, b := raw(t, tn.n.APIAddr(), "POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n"+strings.Repeat("a", 1024))
		e := apiError(t, status, ct, b)
		if status != 413 || e.Code != "too_large" || e.Field != "body" || strings.Contains(e.Message, "127.0.0.1") {
			t.Fatalf("%d %+v", status, e)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("413 after %v: the body was waited for", d)
		}
	})

	c, _ := cid.Decode(ack.Job)
	upper, _ := c.StringOfBase('B') // base32 upper: the same CID, another spelling
	paths := []struct {
		name, path  string
		status      int
		code, field string
	}{
		{"job", "/v1/jobs/" + ack.Job, 200, "", ""},
		{"traversal into acks", "/v1/jobs/..%2Facks%2F" + ack.Job, 400, "bad_request", "id"},
		{"traversal into jobs", "/v1/jobs/..%2Fjobs%2F" + ack.Job, 400, "bad_request", "id"},
		{"other spelling", "/v1/jobs/" + upper, 400, "bad_request", "id"},
		{"not a CID", "/v1/jobs/job-1/proof", 400, "bad_request", "id"},
		{"unknown CID", "/v1/jobs/" + treaty.CIDOf([]byte("nothing")).String(), 404, "not_found", "id"},
		{"proof before the epoch closes", "/v1/jobs/" + ack.Job + "/proof", 503, "proof_unavailable", ""},
		{"dot dot", "/v1/jobs/../providers", 400, "bad_path", "path"},
		{"double slash", "//v1/providers", 400, "bad_path", "path"},
		{"no endpoint", "/v1/nope", 404, "not_found", ""},
	}
	for _, tt := range paths {
		t.Run("paths/"+tt.name, func(t *testing.T) {
			status, h, b := do(t, "GET", base+tt.path, "", nil)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, b)
			}
			if tt.code == "" {
				return
			}
			e := apiError(t, status, h.Get("Content-Type"), b)
			if e.Code != tt.code || e.Field != tt.field {
				t.Fatalf("%+v, want %s field %q", e, tt.code, tt.field)
			}
			if status == 503 && h.Get("Retry-After") != "3600" {
				t.Fatalf("Retry-After %q, want the epoch (3600)", h.Get("Retry-After"))
			}
		})
	}

	// Errors of Go's HTTP layer itself.
	for _, tc := range []struct {
		name, req   string
		status      int
		code, field string
	}{
		{"malformed request line", "GARBAGE\r\n\r\n", 400, "bad_request", "request"},
		{"malformed header", "GET /healthz HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", 400, "bad_request", "request"},
		{"headers too large", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 40<<10) + "\r\n\r\n", 431, "headers_too_large", "headers"},
	} {
		t.Run("http/"+tc.name, func(t *testing.T) {
			status, ct, b := raw(t, tn.n.APIAddr(), tc.req)
			e := apiError(t, status, ct, b)
			if status != tc.status || e.Code != tc.code || e.Field != tc.field {
				t.Fatalf("%d %+v", status, e)
			}
		})
	}
	// Ordinary answers are untouched by the error rewriting.
	if status, _, b := do(t, "GET", base+"/healthz", "", nil); status != 200 || string(b) != "ok\n" {
		t.Fatalf("healthz %d %q", status, b)
	}
}
