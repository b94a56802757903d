package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/google/go-cmp/cmp"
)

// script answers requests with the given statuses in order, then 200.
type script struct {
	mu       sync.Mutex
	steps    []step
	requests []*http.Request
	bodies   []string
}

type step struct {
	status int
	header map[string]string
	body   string
	hangup bool // close the connection without a response
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var st step
	if len(s.steps) > 0 {
		st, s.steps = s.steps[0], s.steps[1:]
	} else {
		st = step{status: 200, body: `{"ok":true}`}
	}
	buf := new(strings.Builder)
	if r.Body != nil {
		b := make([]byte, 1024)
		n, _ := r.Body.Read(b)
		buf.Write(b[:n])
	}
	s.requests = append(s.requests, r)
	s.bodies = append(s.bodies, buf.String())
	s.mu.Unlock()
	if st.hangup {
		hj := w.(http.Hijacker)
		c, _, _ := hj.Hijack()
		c.Close()
		return
	}
	for k, v := range st.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(st.status)
	w.Write([]byte(st.body))
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newTestClient(t *testing.T, h http.Handler, cfg Config, api API) (*Client, *sleeps) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	sl := &sleeps{}
	if cfg.Sleep == nil {
		cfg.Sleep = sl.sleep
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(n time.Duration) time.Duration { return n } // worst case: the cap
	}
	if api.Name == "" {
		api.Name = "testnet"
	}
	api.BaseURL = srv.URL + "/api/v0"
	c, err := New(cfg, api)
	if err != nil {
		t.Fatal(err)
	}
	return c, sl
}

func TestDoRetries(t *testing.T) {
	tests := []struct {
		name       string
		req        Request
		steps      []step
		wantErr    error // errors.Is target; nil = success
		wantStatus int   // APIError status when failing
		wantCalls  int
		wantSleeps []time.Duration
	}{
		{
			name:      "ok",
			req:       Request{Method: "GET", Path: "/x"},
			wantCalls: 1,
		},
		{
			name:       "429 twice then ok",
			req:        Request{Method: "GET", Path: "/x"},
			steps:      []step{{status: 429, body: "API requests too frequent"}, {status: 429}},
			wantCalls:  3,
			wantSleeps: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond},
		},
		{
			name:       "persistent 429",
			req:        Request{Method: "GET", Path: "/x"},
			steps:      []step{{status: 429}, {status: 429}, {status: 429}, {status: 429}, {status: 429}},
			wantErr:    providers.ErrRateLimited,
			wantStatus: 429,
			wantCalls:  4,
			wantSleeps: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond},
		},
		{
			name:       "429 on POST is retried",
			req:        Request{Method: "POST", Path: "/x", Body: []byte(`{}`)},
			steps:      []step{{status: 429}},
			wantCalls:  2,
			wantSleeps: []time.Duration{200 * time.Millisecond},
		},
		{
			name:       "Retry-After seconds",
			req:        Request{Method: "GET", Path: "/x"},
			steps:      []step{{status: 429, header: map[string]string{"Retry-After": "3"}}},
			wantCalls:  2,
			wantSleeps: []time.Duration{3 * time.Second},
		},
		{
			name:       "Retry-After beyond limit stops",
			req:        Request{Method: "GET", Path: "/x"},
			steps:      []step{{status: 429, header: map[string]string{"Retry-After": "120"}}},
			wantErr:    providers.ErrRateLimited,
			wantStatus: 429,
			wantCalls:  1,
		},
		{
			name:       "503 GET retried",
			req:        Request{Method: "GET", Path: "/x"},
			steps:      []step{{status: 503, body: "<html><title>Bad Gateway</title></html>"}},
			wantCalls:  2,
			wantSleeps: []time.Duration{200 * time.Millisecond},
		},
		{
			name:       "500 POST not retried",
			req:        Request{Method: "POST", Path: "/x", Body: []byte(`{}`)},
			steps:      []step{{status: 500}},
			wantStatus: 500,
			wantCalls:  1,
		},
		{
			name:       "500 POST marked idempotent retried",
			req:        Request{Method: "POST", Path: "/x", Body: []byte(`{}`), Retry: RetryIdempotent},
			steps:      []step{{status: 500}},
			wantCalls:  2,
			wantSleeps: []time.Duration{200 * time.Millisecond},
		},
		{
			name:       "500 PUT rate-limit-only not retried",
			req:        Request{Method: "PUT", Path: "/x", Body: []byte(`{}`), Retry: RetryRateLimitOnly},
			steps:      []step{{status: 500}},
			wantStatus: 500,
			wantCalls:  1,
		},
		{
			name:       "501 not retried",
			req:        Request{Method: "GET", Path: "/x"},
			steps:      []step{{status: 501}},
			wantStatus: 501,
			wantCalls:  1,
		},
		{
			name:       "401 auth",
			req:        Request{Method: "GET", Path: "/x"},
			steps:      []step{{status: 401, body: `{"success":false,"error":"auth_error","msg":"Invalid user key"}`}},
			wantErr:    providers.ErrAuth,
			wantStatus: 401,
			wantCalls:  1,
		},
		{
			name:       "403 auth",
			req:        Request{Method: "GET", Path: "/x"},
			steps:      []step{{status: 403}},
			wantErr:    providers.ErrAuth,
			wantStatus: 403,
			wantCalls:  1,
		},
		{
			name:       "404 not found",
			req:        Request{Method: "DELETE", Path: "/x"},
			steps:      []step{{status: 404}},
			wantErr:    providers.ErrNotFound,
			wantStatus: 404,
			wantCalls:  1,
		},
		{
			name:      "404 accepted as OK",
			req:       Request{Method: "DELETE", Path: "/x", OK: []int{404}},
			steps:     []step{{status: 404}},
			wantCalls: 1,
		},
		{
			name:       "transport error GET retried",
			req:        Request{Method: "GET", Path: "/x"},
			steps:      []step{{hangup: true}},
			wantCalls:  2,
			wantSleeps: []time.Duration{200 * time.Millisecond},
		},
		{
			name:       "transport error POST not retried",
			req:        Request{Method: "POST", Path: "/x", Body: []byte("{}")},
			steps:      []step{{hangup: true}},
			wantStatus: -1,
			wantCalls:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{steps: tt.steps}
			c, sl := newTestClient(t, s, Config{}, API{})
			resp, err := c.Do(t.Context(), tt.req)
			if got := s.count(); got != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", got, tt.wantCalls)
			}
			if diff := cmp.Diff(tt.wantSleeps, sl.d); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
			if tt.wantErr == nil && tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Do: %v", err)
				}
				if resp.Attempts != tt.wantCalls {
					t.Errorf("Attempts = %d, want %d", resp.Attempts, tt.wantCalls)
				}
				return
			}
			if err == nil {
				t.Fatalf("Do succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Do error %v, want %v", err, tt.wantErr)
			}
			var ae *APIError
			if tt.wantStatus > 0 {
				if !errors.As(err, &ae) {
					t.Fatalf("Do error %T %v, want *APIError", err, err)
				}
				if ae.Status != tt.wantStatus || ae.Attempts != tt.wantCalls {
					t.Errorf("APIError status %d attempts %d, want %d %d", ae.Status, ae.Attempts, tt.wantStatus, tt.wantCalls)
				}
				if !strings.HasPrefix(err.Error(), "testnet: ") {
					t.Errorf("error %q lacks the provider prefix", err)
				}
			}
			if tt.wantStatus < 0 && errors.As(err, &ae) {
				t.Errorf("transport failure returned an APIError: %v", err)
			}
		})
	}
}

func TestDoBackoffCap(t *testing.T) {
	s := &script{}
	for range 10 {
		s.steps = append(s.steps, step{status: 503})
	}
	c, sl := newTestClient(t, s, Config{MaxAttempts: 8, BaseBackoff: time.Second, MaxBackoff: 3 * time.Second}, API{})
	_, err := c.Do(t.Context(), Request{Path: "/x"})
	if err == nil {
		t.Fatal("want error")
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second}
	if diff := cmp.Diff(want, sl.d); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestDoJitterBelowCap(t *testing.T) {
	s := &script{steps: []step{{status: 503}, {status: 503}, {status: 503}}}
	var seen []time.Duration
	cfg := Config{Jitter: func(n time.Duration) time.Duration { seen = append(seen, n); return n / 4 }}
	c, sl := newTestClient(t, s, cfg, API{})
	if _, err := c.Do(t.Context(), Request{Path: "/x"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}, seen); diff != "" {
		t.Errorf("jitter caps (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}, sl.d); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestDoCancelDuringBackoff(t *testing.T) {
	s := &script{steps: []step{{status: 429}, {status: 429}, {status: 429}}}
	ctx, cancel := context.WithCancel(t.Context())
	cfg := Config{Sleep: func(ctx context.Context, d time.Duration) error {
		cancel()
		return sleep(ctx, d)
	}}
	c, _ := newTestClient(t, s, cfg, API{})
	_, err := c.Do(ctx, Request{Path: "/x"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	if n := s.count(); n != 1 {
		t.Errorf("server saw %d requests after cancel, want 1", n)
	}
}

func TestDoCancelledBeforeStart(t *testing.T) {
	s := &script{}
	c, _ := newTestClient(t, s, Config{}, API{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Do(ctx, Request{Path: "/x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	if s.count() != 0 {
		t.Errorf("a request was sent with a cancelled context")
	}
}

func TestDoRealSleepHonoursDeadline(t *testing.T) {
	s := &script{steps: []step{{status: 429, header: map[string]string{"Retry-After": "20"}}}}
	c, _ := newTestClient(t, s, Config{Sleep: sleep}, API{})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, Request{Path: "/x"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Do waited %v, past its deadline towards the 20 s Retry-After", d)
	}
}

func TestDoBodyLimits(t *testing.T) {
	big := strings.Repeat("x", 5000)
	s := &script{steps: []step{
		{status: 200, body: `"` + big + `"`},
		{status: 400, body: big},
	}}
	c, _ := newTestClient(t, s, Config{MaxResponseBytes: 4096}, API{})
	_, err := c.Do(t.Context(), Request{Path: "/x"})
	if err == nil || !strings.Contains(err.Error(), "more than 4096 bytes") {
		t.Errorf("oversized success body: %v, want a size error", err)
	}
	if s.count() != 1 {
		t.Errorf("oversized body was retried (%d requests)", s.count())
	}
	_, err = c.Do(t.Context(), Request{Path: "/x"})
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("oversized error body: %v, want APIError", err)
	}
	if !ae.Truncated || len(ae.Body) > MaxErrorBody {
		t.Errorf("APIError body %d bytes truncated=%v, want ≤ %d and truncated", len(ae.Body), ae.Truncated, MaxErrorBody)
	}
}

func TestDoRequestShape(t *testing.T) {
	s := &script{steps: []step{{status: 503}}}
	var authCalls atomic.Int32
	api := API{Authorize: func(r *http.Request) error {
		authCalls.Add(1)
		r.Header.Set("Authorization", "Bearer k")
		return nil
	}}
	c, _ := newTestClient(t, s, Config{}, api)
	req, err := JSON("PUT", "/asks/7/", map[string]any{"label": "a<b"})
	if err != nil {
		t.Fatal(err)
	}
	req.Query = map[string][]string{"owner": {"me"}}
	req.Header = http.Header{"X-Extra": {"1"}}
	if _, err := c.Do(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if authCalls.Load() != 2 {
		t.Errorf("Authorize called %d times for 2 attempts", authCalls.Load())
	}
	for i, r := range s.requests {
		if r.URL.Path != "/api/v0/asks/7/" || r.URL.RawQuery != "owner=me" {
			t.Errorf("attempt %d: URL %s", i, r.URL)
		}
		if r.Header.Get("Authorization") != "Bearer k" || r.Header.Get("X-Extra") != "1" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("attempt %d: headers %v", i, r.Header)
		}
		if s.bodies[i] != `{"label":"a<b"}` {
			t.Errorf("attempt %d: body %q (each attempt must resend it)", i, s.bodies[i])
		}
	}
}

func TestCustomClassify(t *testing.T) {
	s := &script{steps: []step{{status: 404, body: `{"error":"auth_error","msg":"Invalid user key"}`}}}
	api := API{Classify: func(e *APIError) error {
		if e.Status == 404 && strings.Contains(e.Message, "Invalid user key") {
			return providers.ErrAuth
		}
		return Classify(e)
	}}
	c, _ := newTestClient(t, s, Config{}, api)
	_, err := c.Do(t.Context(), Request{Path: "/bundles/"})
	if !errors.Is(err, providers.ErrAuth) || errors.Is(err, providers.ErrNotFound) {
		t.Errorf("Do = %v, want ErrAuth only", err)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		api  API
	}{
		{"no name", Config{}, API{BaseURL: "http://x"}},
		{"no base", Config{}, API{Name: "n"}},
		{"bad scheme", Config{}, API{Name: "n", BaseURL: "ftp://x"}},
		{"no host", Config{}, API{Name: "n", BaseURL: "http://"}},
		{"negative", Config{MaxAttempts: -1}, API{Name: "n", BaseURL: "http://x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, tt.api); err == nil {
				t.Errorf("New accepted %+v %+v", tt.cfg, tt.api)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"7", 7 * time.Second},
		{"99999999", 24 * time.Hour},
		{"Wed, 25 Nov 2026 12:00:30 GMT", 30 * time.Second},
		{"Wed, 25 Nov 2026 11:00:00 GMT", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		name, body        string
		wantCode, wantMsg string
	}{
		{"vast", `{"success":false,"error":"no_such_ask","msg":"error 404/3603: no_such_ask  Instance type by id 7 is not available.","ask_id":7}`, "no_such_ask", "error 404/3603: no_such_ask  Instance type by id 7 is not available."},
		{"vast detail", `{"detail":"API requests too frequent endpoint threshold=4.5"}`, "", "API requests too frequent endpoint threshold=4.5"},
		{"plain text", "API requests too frequent", "", "API requests too frequent"},
		{"problem details", `{"type":"https://docs.salad.com/errors/not-found","title":"Not Found","status":404,"detail":"container group not found"}`, "Not Found", "container group not found"},
		{"akash", `{"error":"NotFoundError","message":"Deployment not found","code":"not_found","type":"client_error"}`, "not_found", "Deployment not found"},
		{"fastapi", `{"detail":[{"loc":["body","duration_hours"],"msg":"field required","type":"value_error.missing"}]}`, "validation_error", "[body duration_hours]: field required"},
		{"nested", `{"error":{"code":"E1","message":"boom"}}`, "E1", "boom"},
		{"flux", `{"status":"error","data":{"code":401,"name":"Unauthorized","message":"Unauthorized. Access denied."}}`, "401", "Unauthorized. Access denied."},
		{"html", "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "", "html: 502 Bad Gateway"},
		{"html no title", "<html><body>oops</body></html>", "", "html error page"},
		{"empty", "", "", "Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := ParseError(400, nil, []byte(tt.body))
			if code != tt.wantCode || msg != tt.wantMsg {
				t.Errorf("ParseError = (%q, %q), want (%q, %q)", code, msg, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	type T struct {
		A int `json:"a"`
	}
	tests := []struct {
		name    string
		in      string
		strict  bool
		wantErr string
	}{
		{"ok", `{"a":1}`, false, ""},
		{"unknown tolerated", `{"a":1,"b":2}`, false, ""},
		{"unknown strict", `{"a":1,"b":2}`, true, "unknown field"},
		{"wrong type", `{"a":"1"}`, false, "cannot unmarshal"},
		{"trailing", `{"a":1} {"a":2}`, false, "trailing data"},
		{"html", `<html>nope</html>`, false, "HTML"},
		{"text", `Internal Server Error`, false, "is text"},
		{"empty", ` `, false, "empty body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v T
			var err error
			if tt.strict {
				err = DecodeJSONStrict([]byte(tt.in), &v)
			} else {
				err = DecodeJSON([]byte(tt.in), &v)
			}
			if tt.wantErr == "" {
				if err != nil || v.A != 1 {
					t.Errorf("DecodeJSON(%s) = %+v, %v", tt.in, v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("DecodeJSON(%s) error %v, want %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func FuzzParseError(f *testing.F) {
	for _, s := range []string{
		`{"success":false,"error":"no_such_ask","msg":"x"}`, `{"detail":"y"}`, `{"detail":[{"loc":[1],"msg":"m"}]}`,
		`{"type":"t","title":"T","status":4,"detail":"d"}`, `{"status":"error","data":{"code":1}}`,
		"<html><title>x</title>", "plain", `{"error":{"error":{"error":{}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		code, msg := ParseError(500, nil, b)
		if len(code) > 1<<20 || len(msg) > 1024 {
			t.Fatalf("unbounded output: code %d bytes, msg %d bytes", len(code), len(msg))
		}
	})
}

// A validation error that quotes the request's secret (FastAPI's 422
// "input", say) reaches the caller and the debug log scrubbed.
func TestDoRedactsEchoedSecrets(t *testing.T) {
	const secret = "s3cr3t-env-value"
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"detail":[{"loc":["body","secret_env_variables","K"],"msg":"bad","input":"`+secret+`"}]}`)
	})
	var logs strings.Builder
	c, _ := newTestClient(t, h, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, API{Name: "x"})
	_, err := c.Do(t.Context(), Request{Method: http.MethodPost, Path: "/deploy", Body: []byte(`{"K":"` + secret + `"}`), Redact: []string{secret}})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity {
		t.Fatalf("Do = %v, want the 422", err)
	}
	if out := fmt.Sprintf("%v %+v %s %s", err, ae, ae.Body, ae.Message); strings.Contains(out, secret) || !strings.Contains(ae.Body, "[redacted]") {
		t.Errorf("error shows the secret or lost the redaction mark: %s", out)
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("debug log shows the secret: %s", logs.String())
	}
}
