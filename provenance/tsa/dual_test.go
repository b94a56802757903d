package tsa_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/provenance/tsa/tsatest"
)

func authority(name string, d *tsa.DevTSA, ts tsa.Timestamper) tsa.Authority {
	if ts == nil {
		ts = d
	}
	return tsa.Authority{Name: name, Timestamper: ts, Verify: tsa.VerifyOptions{Roots: d.Roots()}}
}

// failing returns a Timestamper that fails its first n calls, then delegates.
func failing(n int64, next tsa.Timestamper, calls *atomic.Int64) tsa.Timestamper {
	return tsa.TimestamperFunc(func(ctx context.Context, digest [32]byte) ([]byte, error) {
		if calls.Add(1) <= n {
			return nil, errors.New("tsa unavailable")
		}
		return next.Timestamp(ctx, digest)
	})
}

func TestDualAttested(t *testing.T) {
	a, b := newDevTSA(t, nil), newDevTSA(t, nil)
	dual, err := tsa.NewDual(tsa.DualConfig{TSAs: [2]tsa.Authority{authority("a", a, nil), authority("b", b, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	digest := tsatest.Digest("cp")
	att, err := dual.Timestamp(t.Context(), digest)
	if err != nil {
		t.Fatal(err)
	}
	if !att.Attested() || att.Attempts != [2]int{1, 1} || att.Digest != digest {
		t.Fatalf("attestation %+v", att)
	}
	for i, d := range []*tsa.DevTSA{a, b} {
		if _, err := tsa.Verify(att.Tokens[i], digest, tsa.VerifyOptions{Roots: d.Roots()}); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
}

func TestDualRetriesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Created in the bubble so that certificates and genTime share its clock.
		a, b := newDevTSA(t, nil), newDevTSA(t, nil)
		var calls atomic.Int64
		dual, err := tsa.NewDual(tsa.DualConfig{
			TSAs:    [2]tsa.Authority{authority("a", a, failing(2, a, &calls)), authority("b", b, nil)},
			Backoff: 2 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		att, err := dual.Timestamp(t.Context(), tsatest.Digest("cp"))
		if err != nil {
			t.Fatal(err)
		}
		if att.Attempts != [2]int{3, 1} {
			t.Fatalf("attempts %v, want [3 1]", att.Attempts)
		}
		// Two failures: waits of 2s then 4s on the bubble's clock.
		if got := time.Since(start); got != 6*time.Second {
			t.Fatalf("elapsed %v, want 6s of backoff", got)
		}
	})
}

func TestDualOneTSADown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Created in the bubble so that certificates and genTime share its clock.
		a, b := newDevTSA(t, nil), newDevTSA(t, nil)
		var calls atomic.Int64
		dual, err := tsa.NewDual(tsa.DualConfig{
			TSAs:       [2]tsa.Authority{authority("a", a, nil), authority("b", b, failing(1<<30, b, &calls))},
			Attempts:   4,
			Backoff:    time.Second,
			MaxBackoff: 3 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		att, err := dual.Timestamp(t.Context(), tsatest.Digest("cp"))
		var nae *tsa.NotAttestedError
		if !errors.As(err, &nae) || nae.Errs[0] != nil || nae.Errs[1] == nil || nae.SameSigner {
			t.Fatalf("err = %v, want NotAttestedError blaming b", err)
		}
		if att.Attested() || att.Tokens[0] == nil || att.Tokens[1] != nil || att.Attempts[1] != 4 || calls.Load() != 4 {
			t.Fatalf("attestation %+v, calls %d", att, calls.Load())
		}
		// Backoff 1s, 2s, then capped at 3s.
		if got := time.Since(start); got != 6*time.Second {
			t.Fatalf("elapsed %v, want 6s", got)
		}
	})
}

func TestDualVerifiesTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, stranger := newDevTSA(t, nil), newDevTSA(t, nil), newDevTSA(t, nil)
		// b's timestamper returns tokens from a TSA b's roots do not trust.
		dual, err := tsa.NewDual(tsa.DualConfig{
			TSAs:     [2]tsa.Authority{authority("a", a, nil), authority("b", b, stranger)},
			Attempts: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		att, err := dual.Timestamp(t.Context(), tsatest.Digest("cp"))
		if err == nil || att.Attested() || tsa.FailedCheck(att.Errs[1]) != tsa.CheckChain {
			t.Fatalf("err = %v, b's error = %v; want a chain failure", err, att.Errs[1])
		}
	})
}

func TestDualSameSigner(t *testing.T) {
	a := newDevTSA(t, nil)
	dual, err := tsa.NewDual(tsa.DualConfig{TSAs: [2]tsa.Authority{authority("a", a, nil), authority("a-again", a, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	att, err := dual.Timestamp(t.Context(), tsatest.Digest("cp"))
	var nae *tsa.NotAttestedError
	if !errors.As(err, &nae) || !nae.SameSigner || att.Attested() {
		t.Fatalf("err = %v, want SameSigner", err)
	}
}

func TestDualContextCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Created in the bubble so that certificates and genTime share its clock.
		a, b := newDevTSA(t, nil), newDevTSA(t, nil)
		var calls atomic.Int64
		dual, err := tsa.NewDual(tsa.DualConfig{
			TSAs:    [2]tsa.Authority{authority("a", a, nil), authority("b", b, failing(1<<30, b, &calls))},
			Backoff: 10 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
		defer cancel()
		start := time.Now()
		att, err := dual.Timestamp(ctx, tsatest.Digest("cp"))
		if err == nil || !errors.Is(att.Errs[1], context.DeadlineExceeded) {
			t.Fatalf("err = %v, b: %v; want the deadline", err, att.Errs[1])
		}
		if got := time.Since(start); got != 15*time.Second {
			t.Fatalf("returned after %v, want at the 15s deadline", got)
		}
		if att.Attempts[1] != 2 {
			t.Fatalf("b attempts %d, want 2 (at 0s and 10s)", att.Attempts[1])
		}
	})
}

func TestNewDualValidates(t *testing.T) {
	a, b := newDevTSA(t, nil), newDevTSA(t, nil)
	ok := [2]tsa.Authority{authority("a", a, nil), authority("b", b, nil)}
	tests := []struct {
		name string
		edit func(*tsa.DualConfig)
	}{
		{"no name", func(c *tsa.DualConfig) { c.TSAs[0].Name = "" }},
		{"no timestamper", func(c *tsa.DualConfig) { c.TSAs[1].Timestamper = nil }},
		{"no roots", func(c *tsa.DualConfig) { c.TSAs[1].Verify.Roots = nil }},
		{"same names", func(c *tsa.DualConfig) { c.TSAs[1].Name = "a" }},
		{"negative attempts", func(c *tsa.DualConfig) { c.Attempts = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tsa.DualConfig{TSAs: ok}
			tt.edit(&cfg)
			if _, err := tsa.NewDual(cfg); err == nil {
				t.Fatal("NewDual accepted an invalid config")
			}
		})
	}
}
