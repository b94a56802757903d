// Package httpx is the HTTP plumbing every provider adapter shares: one
// request per logical call rebuilt for each attempt, bounded retries with
// exponential backoff and full jitter, Retry-After, bounded response bodies,
// and the mapping of HTTP failures onto the shared provider errors
// (providers.ErrRateLimited, ErrAuth, ErrNotFound) with an *APIError carrying
// the evidence.
//
// Two structs configure a Client. Config is the operator's knobs (timeouts,
// attempts, backoff, limits, logger) and is what an adapter's Config embeds as
// its HTTP field; its zero value works. API is the adapter's description of
// the remote API (name, base URL, how to authorize, how to read its error
// bodies) and is set by adapter code, not by operators.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aurora-federation/aurora/providers"
)

// Defaults of Config.
const (
	DefaultTimeout          = 15 * time.Second
	DefaultMaxAttempts      = 4
	DefaultBaseBackoff      = 200 * time.Millisecond
	DefaultMaxBackoff       = 5 * time.Second
	DefaultMaxRetryAfter    = 30 * time.Second
	DefaultMaxResponseBytes = 4 << 20
	// MaxErrorBody bounds APIError.Body.
	MaxErrorBody = 2 << 10
)

// Config is the operator-facing tuning of a Client. The zero value works;
// each field documents its default.
type Config struct {
	// HTTPClient sends the requests. Default: a client with a 15 s Timeout
	// (per attempt) over http.DefaultTransport.
	HTTPClient *http.Client
	// MaxAttempts bounds attempts per call, first included. Default 4; 1
	// disables retries.
	MaxAttempts int
	// BaseBackoff is the backoff cap of the first retry; it doubles per retry
	// up to MaxBackoff, and the actual wait is uniform in [0, cap) ("full
	// jitter"). Default 200 ms.
	BaseBackoff time.Duration
	// MaxBackoff caps the exponential backoff. Default 5 s.
	MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits out; a longer
	// one ends the retries at once with the 429/503 error (whose
	// APIError.RetryAfter tells the caller when to come back). Default 30 s.
	MaxRetryAfter time.Duration
	// MaxResponseBytes bounds a response body; a larger successful response
	// is an error, a larger error body is truncated. Default 4 MiB.
	MaxResponseBytes int64
	// Now reads the clock (for HTTP-date Retry-After). Default time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() in that case.
	// Default: a timer. Tests inject one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a uniformly random duration in [0, n) for n > 0.
	// Default math/rand/v2.
	Jitter func(n time.Duration) time.Duration
	// Logger receives one debug line per retry and per failed call, with
	// operation, method, path (never the query or headers), status and
	// attempt. Default: discard.
	Logger *slog.Logger
}

// API describes the remote API; adapters fill it in.
type API struct {
	// Name prefixes errors and log lines ("vastai"). Required.
	Name string
	// BaseURL is joined with Request.Path. Required; must be http or https.
	BaseURL string
	// Authorize sets credentials on each attempt's request (a header, a
	// signature over the body, which it can read through req.GetBody). It is
	// the one place the adapter calls Credential.Reveal. Default: none.
	Authorize func(req *http.Request) error
	// ParseError extracts the provider's error code and message from a
	// non-2xx body. Default ParseError, which knows the common JSON shapes
	// and falls back to the body text.
	ParseError func(status int, header http.Header, body []byte) (code, message string)
	// Classify picks the shared error a failed call wraps (nil = none).
	// Default Classify; adapters wrap it for provider quirks.
	Classify func(e *APIError) error
	// UserAgent is sent on every request. Default "aurora-providers/1".
	UserAgent string
	// Limit returns the published rate limit a request falls under (Salad's
	// 240 per minute per key, Vast's per-endpoint minimum intervals). Every
	// attempt, retries included, waits (Config.Sleep) until it fits the
	// limit. Default: no limit.
	Limit func(r Request) Limit
}

// Limit is a rate limit: at most N attempts in any window of Per, counted
// per Key (requests with different keys do not delay each other). N 1 is a
// minimum interval of Per between attempts. The zero value is no limit.
type Limit struct {
	Key string
	N   int
	Per time.Duration
}

// Client sends requests to one provider API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	api  API
	base *url.URL
	log  *slog.Logger

	mu   sync.Mutex             // protects following
	sent map[string][]time.Time // API.Limit: recent attempts per key, oldest first
}

// New validates cfg and api, fills defaults and returns a Client.
func New(cfg Config, api API) (*Client, error) {
	if api.Name == "" {
		return nil, errors.New("httpx: API.Name is required")
	}
	if api.BaseURL == "" {
		return nil, fmt.Errorf("%s: base URL is required", api.Name)
	}
	base, err := url.Parse(api.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("%s: base URL: %w", api.Name, err)
	}
	if base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("%s: base URL %q: want http(s)://host[/path]", api.Name, api.BaseURL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	if cfg.MaxAttempts < 0 || cfg.BaseBackoff < 0 || cfg.MaxBackoff < 0 || cfg.MaxResponseBytes < 0 || cfg.MaxRetryAfter < 0 {
		return nil, fmt.Errorf("%s: http config: negative limit", api.Name)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxRetryAfter == 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(n time.Duration) time.Duration { return rand.N(n) }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if api.ParseError == nil {
		api.ParseError = ParseError
	}
	if api.Classify == nil {
		api.Classify = Classify
	}
	if api.UserAgent == "" {
		api.UserAgent = "aurora-providers/1"
	}
	return &Client{cfg: cfg, api: api, base: base, log: log.With("provider", api.Name), sent: map[string][]time.Time{}}, nil
}

// Name returns API.Name.
func (c *Client) Name() string { return c.api.Name }

// BaseURL returns the normalized base URL (without a trailing slash).
func (c *Client) BaseURL() string { return c.base.String() }

// Retry says when a request may be sent again.
type Retry int

const (
	// RetryByMethod retries GET, HEAD, OPTIONS, PUT and DELETE on 429, 5xx
	// (except 501) and transport errors; POST and PATCH only on 429, which
	// means the request was not processed.
	RetryByMethod Retry = iota
	// RetryIdempotent retries any method like GET: the caller vouches that
	// repeating the request is safe (its body carries an idempotency key).
	RetryIdempotent
	// RetryRateLimitOnly retries only on 429, whatever the method: for a PUT
	// or DELETE that is not safe to repeat on the network in question.
	RetryRateLimitOnly
)

// Request is one logical call. Do builds a fresh *http.Request from it for
// every attempt, so bodies are re-sent and Authorize can sign each attempt.
type Request struct {
	Method string
	// Path is appended to the base URL path; it must start with "/" and is
	// sent as is, so callers escape dynamic segments (url.PathEscape).
	Path string
	// Query is encoded into the URL; nil = none.
	Query url.Values
	// Header is copied onto each attempt; nil = none.
	Header http.Header
	// Body is sent as is; nil = no body.
	Body []byte
	// ContentType of Body. Default "application/json" when Body is set.
	ContentType string
	// Retry policy; default RetryByMethod.
	Retry Retry
	// Op names the operation in logs and errors ("search offers").
	// Default "METHOD PATH".
	Op string
	// OK lists extra statuses that count as success besides 2xx (e.g. 404
	// for a DELETE that treats "gone" as done). Default none.
	OK []int
	// Redact lists secret values Body carries (a registry password, secret
	// env): an error answer that echoes one (a validation error quoting its
	// input) has it replaced by "[redacted]" in Message and Body before
	// the error is logged or returned.
	Redact []string
}

// JSON returns a Request with v encoded as the JSON body.
func JSON(method, path string, v any) (Request, error) {
	b, err := jsonMarshal(v)
	if err != nil {
		return Request{}, fmt.Errorf("httpx: encode %s %s body: %w", method, path, err)
	}
	return Request{Method: method, Path: path, Body: b, ContentType: "application/json"}, nil
}

// Response is a completed call with a success status.
type Response struct {
	Status   int
	Header   http.Header
	Body     []byte // whole body, at most Config.MaxResponseBytes
	Attempts int
}

// APIError is a call that ended with a non-success status. It unwraps to the
// shared error its status maps to (see Classify), so errors.Is(err,
// providers.ErrAuth) and errors.As(err, &apiErr) both work.
type APIError struct {
	Provider string // API.Name
	Op       string
	Method   string
	Path     string // without query
	Status   int
	Code     string // the provider's error code, if any ("no_such_ask")
	Message  string // the provider's message, or the body text
	// Body is the start of the response body (at most MaxErrorBody bytes).
	Body string
	// Truncated is set when Body is shorter than the response.
	Truncated bool
	// RetryAfter is the server's Retry-After, if it sent one.
	RetryAfter time.Duration
	Attempts   int
	// Err is the shared error this maps to (nil = none); Unwrap returns it.
	Err error
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: http %d", e.Provider, e.Op, e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap returns the shared error the status maps to, or nil.
func (e *APIError) Unwrap() error { return e.Err }

func (e *APIError) redact(values []string) {
	for _, v := range values {
		if len(v) < 3 {
			continue // too short to be a secret, too common to scrub
		}
		e.Message = strings.ReplaceAll(e.Message, v, "[redacted]")
		e.Body = strings.ReplaceAll(e.Body, v, "[redacted]")
		e.Code = strings.ReplaceAll(e.Code, v, "[redacted]")
	}
}

// Classify is the default status mapping: 429 → providers.ErrRateLimited,
// 401 and 403 → providers.ErrAuth, 404 and 410 → providers.ErrNotFound,
// anything else → nil.
func Classify(e *APIError) error {
	switch e.Status {
	case http.StatusTooManyRequests:
		return providers.ErrRateLimited
	case http.StatusUnauthorized, http.StatusForbidden:
		return providers.ErrAuth
	case http.StatusNotFound, http.StatusGone:
		return providers.ErrNotFound
	}
	return nil
}

// Do sends r, retrying as r.Retry allows, and returns the response of the
// first attempt with a success status. Otherwise the error is an *APIError
// (a non-success status), ctx.Err() wrapped (the context ended: Do stops at
// once, also while waiting to retry), or a transport error wrapped with the
// operation. A body over MaxResponseBytes is an error.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	if !strings.HasPrefix(r.Path, "/") {
		return nil, fmt.Errorf("%s: request path %q must start with /", c.api.Name, r.Path)
	}
	if r.Op == "" {
		r.Op = r.Method + " " + r.Path
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", c.api.Name, r.Op, err)
		}
		if err := c.pace(ctx, r); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", c.api.Name, r.Op, err)
		}
		resp, apiErr, err := c.attempt(ctx, r, attempt)
		if err == nil && apiErr == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %s: %w", c.api.Name, r.Op, ctx.Err())
		}
		var retryAfter time.Duration
		retryable := false
		if apiErr != nil {
			apiErr.redact(r.Redact)
			lastErr = apiErr
			retryAfter = apiErr.RetryAfter
			retryable = c.retryableStatus(r, apiErr.Status)
		} else {
			lastErr = fmt.Errorf("%s: %s: %w", c.api.Name, r.Op, err)
			retryable = c.idempotent(r) && !errors.Is(err, errBodyTooLarge)
		}
		if !retryable || attempt >= c.cfg.MaxAttempts {
			c.log.DebugContext(ctx, "http call failed", "op", r.Op, "method", r.Method, "path", r.Path, "attempt", attempt, "err", lastErr)
			return nil, lastErr
		}
		if retryAfter > c.cfg.MaxRetryAfter {
			c.log.DebugContext(ctx, "http retry-after beyond limit", "op", r.Op, "retry_after", retryAfter, "limit", c.cfg.MaxRetryAfter)
			return nil, lastErr
		}
		wait := c.backoff(attempt)
		if retryAfter > wait {
			wait = retryAfter
		}
		c.log.DebugContext(ctx, "http retry", "op", r.Op, "method", r.Method, "path", r.Path, "attempt", attempt, "wait", wait, "err", lastErr)
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", c.api.Name, r.Op, err)
		}
	}
}

var errBodyTooLarge = errors.New("response body too large")

// pace reserves the earliest time an attempt of r fits API.Limit and
// waits for it. Reserving under the lock keeps concurrent callers within
// the limit without polling.
func (c *Client) pace(ctx context.Context, r Request) error {
	if c.api.Limit == nil {
		return nil
	}
	l := c.api.Limit(r)
	if l.N <= 0 || l.Per <= 0 {
		return nil
	}
	c.mu.Lock()
	now := c.cfg.Now()
	sent := c.sent[l.Key] // nondecreasing; may hold reservations in the future
	for len(sent) > 0 && now.Sub(sent[0]) >= l.Per {
		sent = sent[1:]
	}
	at := now
	if len(sent) >= l.N {
		at = later(at, sent[len(sent)-l.N].Add(l.Per))
	}
	c.sent[l.Key] = append(sent, at)
	c.mu.Unlock()
	wait := at.Sub(now)
	if wait <= 0 {
		return nil
	}
	c.log.DebugContext(ctx, "http rate limit wait", "op", r.Op, "wait", wait, "limit", l.N, "per", l.Per)
	return c.cfg.Sleep(ctx, wait)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// attempt sends r once. It returns (resp, nil, nil) on success, (nil, apiErr,
// nil) on a non-success status, or (nil, nil, err) on a transport or read
// failure.
func (c *Client) attempt(ctx context.Context, r Request, attempt int) (*Response, *APIError, error) {
	req, err := c.build(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	success := resp.StatusCode >= 200 && resp.StatusCode < 300
	for _, s := range r.OK {
		success = success || resp.StatusCode == s
	}
	limit := c.cfg.MaxResponseBytes
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read response (status %d): %w", resp.StatusCode, err)
	}
	tooLarge := int64(len(body)) > limit
	if success {
		if tooLarge {
			return nil, nil, fmt.Errorf("%w: more than %d bytes (status %d)", errBodyTooLarge, limit, resp.StatusCode)
		}
		return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body, Attempts: attempt}, nil, nil
	}
	e := &APIError{
		Provider: c.api.Name, Op: r.Op, Method: r.Method, Path: r.Path,
		Status: resp.StatusCode, Attempts: attempt,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now()),
	}
	e.Body, e.Truncated = string(body), tooLarge
	if len(body) > MaxErrorBody {
		e.Body, e.Truncated = Excerpt(body, MaxErrorBody), true
	}
	e.Code, e.Message = c.api.ParseError(resp.StatusCode, resp.Header, body[:min(len(body), int(limit))])
	e.Err = c.api.Classify(e)
	return nil, e, nil
}

func (c *Client) build(ctx context.Context, r Request) (*http.Request, error) {
	u := *c.base
	p, q, _ := strings.Cut(r.Path, "?")
	u.Path = c.base.Path + p
	if q != "" || r.Query != nil {
		vals, err := url.ParseQuery(q)
		if err != nil {
			return nil, fmt.Errorf("request query: %w", err)
		}
		for k, vs := range r.Query {
			vals[k] = append(vals[k], vs...)
		}
		u.RawQuery = vals.Encode()
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if r.Body != nil {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("User-Agent", c.api.UserAgent)
	if c.api.Authorize != nil {
		if err := c.api.Authorize(req); err != nil {
			return nil, fmt.Errorf("authorize: %w", err)
		}
	}
	return req, nil
}

func (c *Client) idempotent(r Request) bool {
	switch r.Retry {
	case RetryIdempotent:
		return true
	case RetryRateLimitOnly:
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func (c *Client) retryableStatus(r Request, status int) bool {
	if status == http.StatusTooManyRequests {
		return true
	}
	return status >= 500 && status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported && c.idempotent(r)
}

// backoff returns the full-jitter wait after the given attempt (1-based).
func (c *Client) backoff(attempt int) time.Duration {
	capd := c.cfg.BaseBackoff
	for i := 1; i < attempt && capd < c.cfg.MaxBackoff; i++ {
		capd *= 2
	}
	capd = min(capd, c.cfg.MaxBackoff)
	if capd <= 0 {
		return 0
	}
	return c.cfg.Jitter(capd)
}

// parseRetryAfter reads a Retry-After value: delta seconds or an HTTP date.
// Unparseable or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// NoSleep is a Config.Sleep that does not wait but still honours ctx: for
// tests and fakes where retries should be instant.
func NoSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }
