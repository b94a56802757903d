package tsa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Authority is one TSA as Dual uses it.
type Authority struct {
	// Name identifies the TSA in logs and errors, e.g. "freetsa". Required,
	// distinct between the two authorities.
	Name string
	// Timestamper obtains tokens, typically a *Client. Required.
	Timestamper Timestamper
	// Verify holds the roots (required) and optional policy every token
	// from this TSA must satisfy. Its Nonce is ignored: only the
	// Timestamper knows the nonce it sent, and *Client checks it.
	Verify VerifyOptions
}

// DualConfig configures a Dual. Zero durations and counts take the defaults
// documented on each field.
type DualConfig struct {
	// TSAs are the two independent authorities.
	TSAs [2]Authority
	// Attempts per TSA, the first included. Default 5.
	Attempts int
	// Backoff is the wait before the second attempt; it doubles after each
	// failure up to MaxBackoff. Default 2s.
	Backoff time.Duration
	// MaxBackoff caps the wait between attempts. Default 1m.
	MaxBackoff time.Duration
	// AttemptTimeout bounds one attempt. Default 30s.
	AttemptTimeout time.Duration
	// Logger receives a warning per failed attempt. Nil discards.
	Logger *slog.Logger
}

func (c *DualConfig) validate() error {
	for i, a := range c.TSAs {
		if a.Name == "" || a.Timestamper == nil || a.Verify.Roots == nil {
			return fmt.Errorf("tsa: dual: authority %d needs a name, a timestamper and roots", i)
		}
	}
	if c.TSAs[0].Name == c.TSAs[1].Name {
		return fmt.Errorf("tsa: dual: both authorities are named %q", c.TSAs[0].Name)
	}
	if c.Attempts < 0 || c.Backoff < 0 || c.MaxBackoff < 0 || c.AttemptTimeout < 0 {
		return errors.New("tsa: dual: negative attempts or durations")
	}
	if c.Attempts == 0 {
		c.Attempts = 5
	}
	if c.Backoff == 0 {
		c.Backoff = 2 * time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = time.Minute
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Dual timestamps one digest with two independent TSAs concurrently, with
// bounded retries, so an epoch survives one TSA's outage, key compromise or
// expired certificate. It is safe for concurrent use.
type Dual struct {
	cfg DualConfig
}

// NewDual validates cfg and fills its defaults.
func NewDual(cfg DualConfig) (*Dual, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Dual{cfg: cfg}, nil
}

// Attestation is the outcome of Dual.Timestamp. Index i refers to
// DualConfig.TSAs[i].
type Attestation struct {
	Digest [32]byte
	// Tokens holds each verified token (a DER TimeStampResp as the
	// Timestamper returned it), nil where that TSA failed.
	Tokens [2][]byte
	// Infos holds what each verified token attests.
	Infos [2]*Info
	// Attempts counts the requests made to each TSA.
	Attempts [2]int
	// Errs holds each TSA's last error, nil on success: retryable failure
	// evidence for a partially attested epoch.
	Errs [2]error
}

// Attested reports whether both tokens verified and came from different
// signing keys.
func (a *Attestation) Attested() bool {
	return a.Infos[0] != nil && a.Infos[1] != nil && !sameKey(a.Infos[0], a.Infos[1])
}

func sameKey(x, y *Info) bool {
	return bytes.Equal(x.Signer.RawSubjectPublicKeyInfo, y.Signer.RawSubjectPublicKeyInfo)
}

// NotAttestedError says why an epoch is not attested: each TSA's last error,
// or that both tokens were signed by the same key.
type NotAttestedError struct {
	Names      [2]string
	Errs       [2]error
	SameSigner bool
}

func (e *NotAttestedError) Error() string {
	if e.SameSigner {
		return fmt.Sprintf("tsa: not attested: %s and %s signed with the same key", e.Names[0], e.Names[1])
	}
	msg := "tsa: not attested"
	for i, err := range e.Errs {
		if err != nil {
			msg += fmt.Sprintf("; %s: %v", e.Names[i], err)
		}
	}
	return msg
}

// Unwrap returns the per-TSA errors.
func (e *NotAttestedError) Unwrap() []error {
	var out []error
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// Timestamp asks both TSAs for a token over digest concurrently, retrying each
// with exponential backoff, and verifies every token against that TSA's
// VerifyOptions. It returns when both have succeeded or given up (or ctx is
// done); its goroutines have ended by then. The Attestation is always
// returned; the error is a *NotAttestedError unless both tokens verified
// and came from different keys.
func (d *Dual) Timestamp(ctx context.Context, digest [32]byte) (*Attestation, error) {
	att := &Attestation{Digest: digest}
	var wg sync.WaitGroup
	for i := range d.cfg.TSAs {
		wg.Go(func() {
			att.Tokens[i], att.Infos[i], att.Attempts[i], att.Errs[i] = d.obtain(ctx, d.cfg.TSAs[i], digest)
		})
	}
	wg.Wait()
	if att.Attested() {
		return att, nil
	}
	e := &NotAttestedError{Names: [2]string{d.cfg.TSAs[0].Name, d.cfg.TSAs[1].Name}, Errs: att.Errs}
	e.SameSigner = att.Infos[0] != nil && att.Infos[1] != nil
	return att, e
}

func (d *Dual) obtain(ctx context.Context, a Authority, digest [32]byte) ([]byte, *Info, int, error) {
	opts := a.Verify
	opts.Nonce = nil
	delay := d.cfg.Backoff
	for attempt := 1; ; attempt++ {
		tok, info, err := d.once(ctx, a, digest, opts)
		if err == nil {
			return tok, info, attempt, nil
		}
		d.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "tsa attempt failed",
			slog.String("tsa", a.Name), slog.Int("attempt", attempt), slog.Any("err", err))
		if attempt >= d.cfg.Attempts || ctx.Err() != nil {
			return nil, nil, attempt, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, attempt, errors.Join(err, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, d.cfg.MaxBackoff)
	}
}

func (d *Dual) once(ctx context.Context, a Authority, digest [32]byte, opts VerifyOptions) ([]byte, *Info, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.AttemptTimeout)
	defer cancel()
	tok, err := a.Timestamper.Timestamp(ctx, digest)
	if err != nil {
		return nil, nil, err
	}
	info, err := Verify(tok, digest, opts)
	if err != nil {
		return nil, nil, err
	}
	return tok, info, nil
}
