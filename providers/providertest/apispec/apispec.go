// Package apispec checks the HTTP exchanges between an adapter and its fake
// against an OpenAPI 3 description of the network's API, written from the
// network's published material (providers/<name>/testdata/openapi.yaml).
// Wrap a fake's handler with a Checker; every request the adapter sends and
// every response the fake returns is validated (with
// github.com/getkin/kin-openapi), and Violations lists what did not match:
// an undocumented path or method, a missing required field, a value outside
// an enum, a status the operation does not document, a body of the wrong
// shape. Check does the same inside a test and fails it at cleanup.
//
// Requests are matched against the description's first server URL: the
// fake must serve the API under the same path prefix ("/api/public"), on
// any host.
package apispec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// uuidRE is RFC 9562's layout, for format: uuid (which kin-openapi leaves
// unchecked unless told).
const uuidRE = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

// Checker validates exchanges against one description. Safe for concurrent
// use.
type Checker struct {
	doc    *openapi3.T
	router routers.Router
	server *url.URL // the description's first server
	opts   *openapi3filter.Options

	mu         sync.Mutex // protects following
	violations []string
	exchanges  int
}

// New loads an OpenAPI 3.0 description (YAML or JSON) and returns a Checker.
// Security schemes are checked for presence: an apiKey header or an http
// bearer Authorization header must be sent where the operation requires it.
func New(spec []byte) (*Checker, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("apispec: load: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("apispec: description is invalid: %w", err)
	}
	if len(doc.Servers) == 0 {
		return nil, errors.New("apispec: description has no servers")
	}
	server, err := url.Parse(doc.Servers[0].URL)
	if err != nil || server.Host == "" {
		return nil, fmt.Errorf("apispec: server URL %q: want an absolute URL", doc.Servers[0].URL)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("apispec: router: %w", err)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc:    authenticate,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.WithStringFormatValidators(map[string]openapi3.StringFormatValidator{
				"uuid": openapi3.NewRegexpFormatValidator(uuidRE),
			}),
		},
	}
	return &Checker{doc: doc, router: router, server: server, opts: opts}, nil
}

// authenticate checks that the credential a security scheme names is
// present; whether it is the right one is the fake's business.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	r := in.RequestValidationInput.Request
	switch {
	case s.Type == "apiKey" && s.In == "header":
		if r.Header.Get(s.Name) == "" {
			return fmt.Errorf("header %s missing", s.Name)
		}
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || v == "" {
			return errors.New("missing Authorization: Bearer header")
		}
	default:
		return fmt.Errorf("security scheme %s/%s not supported by apispec", s.Type, s.In)
	}
	return nil
}

// FakePrefix starts the paths a fake serves for services other than the
// network's API (the S3 bucket Vast uploads logs to, a payment hook):
// Wrap passes them through unchecked, as they are not in the description.
const FakePrefix = "/__fake/"

// Wrap returns h with every exchange validated, except paths under
// FakePrefix. The request body is buffered so that both the validator and
// h read it.
func (c *Checker) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, FakePrefix) {
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			c.note("%s %s: read request body: %v", r.Method, r.URL.Path, err)
		}
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		in, ok := c.checkRequest(r, body)

		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		res := rec.Result()
		respBody := rec.Body.Bytes()
		if ok && r.Context().Err() == nil {
			c.checkResponse(in, res, respBody)
		}
		for k, vs := range res.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(res.StatusCode)
		w.Write(respBody)
	})
}

// checkRequest validates r; ok is false when no route matched (which is
// itself recorded).
func (c *Checker) checkRequest(r *http.Request, body []byte) (*openapi3filter.RequestValidationInput, bool) {
	c.mu.Lock()
	c.exchanges++
	c.mu.Unlock()
	// Route on the documented server: same path, the description's host.
	cp := r.Clone(r.Context())
	u := *r.URL
	u.Scheme, u.Host = c.server.Scheme, c.server.Host
	cp.URL, cp.Host = &u, c.server.Host
	cp.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := c.router.FindRoute(cp)
	if err != nil {
		c.note("request %s %s: not in the description: %v", r.Method, r.URL.Path, err)
		return nil, false
	}
	in := &openapi3filter.RequestValidationInput{Request: cp, PathParams: params, Route: route, Options: c.opts}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		c.note("request %s %s: %v", r.Method, r.URL.Path, err)
	}
	return in, true
}

func (c *Checker) checkResponse(in *openapi3filter.RequestValidationInput, res *http.Response, body []byte) {
	// kin-openapi has no text/html decoder (and registering one is global):
	// an HTML page is checked for being documented, its body not parsed.
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt == "text/html" {
		ref := in.Route.Operation.Responses.Status(res.StatusCode)
		if ref == nil {
			ref = in.Route.Operation.Responses.Default()
		}
		if ref == nil || ref.Value == nil || ref.Value.Content.Get("text/html") == nil {
			c.note("response %d to %s %s: an HTML page where the description has none", res.StatusCode, in.Request.Method, in.Request.URL.Path)
		}
		return
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header, Options: c.opts}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(in.Request.Context(), out); err != nil {
		c.note("response %d to %s %s: %v (body %.300q)", res.StatusCode, in.Request.Method, in.Request.URL.Path, err, body)
	}
}

func (c *Checker) note(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.violations = append(c.violations, fmt.Sprintf(format, args...))
}

// Violations returns every mismatch recorded so far, in order. The slice
// is the caller's.
func (c *Checker) Violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.violations...)
}

// Exchanges counts the requests seen.
func (c *Checker) Exchanges() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exchanges
}

// Serve starts a loopback server with h wrapped by a Checker for spec and
// returns its URL; t fails at cleanup, after the server has stopped, if
// any exchange did not match the description.
func Serve(t testing.TB, spec []byte, h http.Handler) (string, *Checker) {
	t.Helper()
	c, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Wrap(h))
	t.Cleanup(func() {
		srv.Close()
		for _, v := range c.Violations() {
			t.Errorf("apispec: %s", v)
		}
	})
	return srv.URL, c
}
