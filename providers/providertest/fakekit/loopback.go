package fakekit

import (
	"net/http"
	"net/http/httptest"
	"sync"
)

// Loopback serves a fake's handler on a loopback httptest server started on
// first use. The zero value is ready; it is safe for concurrent use.
type Loopback struct {
	mu  sync.Mutex // protects srv
	srv *httptest.Server
}

// Start starts the server (once) with handler() and returns its base URL
// followed by suffix (the API's path prefix, e.g. "/v1").
func (l *Loopback) Start(handler func() http.Handler, suffix string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv == nil {
		l.srv = httptest.NewServer(handler())
	}
	return l.srv.URL + suffix
}

// URL returns the base URL followed by suffix, or "" when not started.
func (l *Loopback) URL(suffix string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv == nil {
		return ""
	}
	return l.srv.URL + suffix
}

// Close stops a started server; Start may start a new one afterwards.
func (l *Loopback) Close() {
	l.mu.Lock()
	srv := l.srv
	l.srv = nil
	l.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}
