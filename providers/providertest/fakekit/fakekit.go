// Package fakekit is shared plumbing for the fake provider servers in
// providers/<name>/<name>test: the fault injection behind the providertest
// hooks, a request-latency knob, and small JSON helpers. It does not import
// package testing, so fakes built on it run as plain processes
// (`aurora testnet fake-provider`).
package fakekit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Faults holds the state of the conformance hooks. Embed it (by value or
// pointer) in a fake server to get FailNextLaunch, LoseNextLaunch,
// RateLimitNext and SetLatency; the fake's handlers consult the Take* methods
// and Delay. The zero value injects nothing. Safe for concurrent use.
type Faults struct {
	mu         sync.Mutex // protects following
	failLaunch int
	loseLaunch int
	rateLimit  int
	latency    time.Duration
}

// FailNextLaunch makes the next n launch (create) requests fail with the
// network's server-error shape, creating nothing. n replaces any pending
// count; 0 clears it.
func (f *Faults) FailNextLaunch(n int) { f.set(&f.failLaunch, n) }

// LoseNextLaunch makes the next n launch requests create the workload and
// then answer with a server error, as if the response were lost: the case
// the idempotency key exists for. n replaces any pending count.
func (f *Faults) LoseNextLaunch(n int) { f.set(&f.loseLaunch, n) }

// RateLimitNext answers the next n authenticated requests of any kind with
// the network's 429. n replaces any pending count; 0 clears it.
func (f *Faults) RateLimitNext(n int) { f.set(&f.rateLimit, n) }

// SetLatency delays every request by d before it is handled (a request whose
// client goes away stops waiting). 0 clears it.
func (f *Faults) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = max(d, 0)
}

func (f *Faults) set(p *int, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*p = max(n, 0)
}

func (f *Faults) take(p *int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *p > 0 {
		*p--
		return true
	}
	return false
}

// TakeLaunchFailure consumes one pending FailNextLaunch.
func (f *Faults) TakeLaunchFailure() bool { return f.take(&f.failLaunch) }

// TakeLaunchLoss consumes one pending LoseNextLaunch.
func (f *Faults) TakeLaunchLoss() bool { return f.take(&f.loseLaunch) }

// TakeRateLimit consumes one pending RateLimitNext.
func (f *Faults) TakeRateLimit() bool { return f.take(&f.rateLimit) }

// DelayRequest is Delay for a server request. It first buffers the request
// body (up to MaxRequestBytes; r.Body is replaced) because net/http notices
// a client hanging up, and cancels r.Context(), only once the body has been
// read; without that a stalled handler outlives its client.
func (f *Faults) DelayRequest(r *http.Request) bool {
	if r.Body != nil && r.Body != http.NoBody {
		body, _ := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return f.Delay(r.Context())
}

// Delay waits out the configured latency or until ctx is done, and reports
// whether the request should still be answered. In a handler use
// DelayRequest.
func (f *Faults) Delay(ctx context.Context) bool {
	f.mu.Lock()
	d := f.latency
	f.mu.Unlock()
	if d == 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "fake: encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// MaxRequestBytes bounds request bodies the fakes read.
const MaxRequestBytes = 1 << 20

// ReadJSON decodes the request body into v strictly (unknown fields are an
// error: the fakes check that adapters send what the API documents) with the
// body bounded by MaxRequestBytes.
func ReadJSON(r *http.Request, v any) error {
	return decode(r, v, true)
}

// ReadJSONLoose is ReadJSON accepting unknown fields, for bodies whose
// documented schema is open-ended.
func ReadJSONLoose(r *http.Request, v any) error {
	return decode(r, v, false)
}

func decode(r *http.Request, v any, strict bool) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(body) > MaxRequestBytes {
		return fmt.Errorf("body larger than %d bytes", MaxRequestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after JSON body")
	}
	return nil
}
