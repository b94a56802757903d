package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/clock"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/c2sphttp"
)

// ExternalWitnessConfig names a C2SP tlog-witness outside the federation
// (one [[provenance.external_witnesses]] table). Every witness round asks it
// over HTTP to cosign the node's checkpoint, alongside the treaty partners
// asked over libp2p; its cosignature joins the checkpoint like theirs, and
// `aurora federation policy` writes it into the trust policy.
type ExternalWitnessConfig struct {
	// Name labels the witness in metrics, logs and the trust policy
	// (letters, digits, '.', '_' and '-'; 1 to 64 bytes). Required,
	// unique.
	Name string `toml:"name"`
	// URL is its C2SP tlog-witness submission prefix: checkpoints are
	// POSTed to <url>/add-checkpoint. Required: http or https, no query or
	// fragment, at most 2048 bytes.
	URL string `toml:"url"`
	// Key is its C2SP verifier key, KEYNAME+HASH+BASE64 of type 0x04
	// (cosignature/v1; an Ed25519 key of type 0x01 is taken as its
	// cosignature/v1 form). Only cosignatures that verify under it count.
	// Required, unique.
	Key string `toml:"key"`
	// Timeout bounds each request to the witness. Default 5s; 100ms to 1m.
	Timeout Duration `toml:"timeout"`
}

// Limits of provenance.external_witnesses. A note carries at most
// provenance.MaxNoteSignatures signatures: the log's, the partners' and
// these.
const (
	MaxExternalWitnesses       = 8
	maxExternalWitnessName     = 64
	maxExternalWitnessURL      = 2048
	defaultExternalWitnessWait = 5 * time.Second
	minExternalWitnessWait     = 100 * time.Millisecond
	maxExternalWitnessWait     = time.Minute
)

// validateExternalWitnesses checks each entry, naming the field that is
// wrong (provenance.external_witnesses[1].key), and fills the default
// timeout.
func validateExternalWitnesses(ws []ExternalWitnessConfig) error {
	const section = "provenance.external_witnesses"
	if len(ws) > MaxExternalWitnesses {
		return &ConfigError{Key: section, Reason: fmt.Sprintf("%d witnesses, limit %d", len(ws), MaxExternalWitnesses)}
	}
	names, keys := map[string]int{}, map[string]int{}
	for i := range ws {
		w := &ws[i]
		field := func(f string) string { return fmt.Sprintf("%s[%d].%s", section, i, f) }
		if err := checkWitnessName(w.Name); err != nil {
			return &ConfigError{Key: field("name"), Reason: err.Error()}
		}
		if at, dup := names[w.Name]; dup {
			return &ConfigError{Key: field("name"), Reason: fmt.Sprintf("%q is also the name of %s[%d]", w.Name, section, at)}
		}
		names[w.Name] = i
		if err := checkWitnessURL(w.URL); err != nil {
			return &ConfigError{Key: field("url"), Reason: err.Error()}
		}
		if strings.Contains(w.Key, "+did:key:") {
			return &ConfigError{Key: field("key"), Reason: "want a C2SP verifier key KEYNAME+HASH+BASE64, not a did:key"}
		}
		v, err := provenance.ParseWitnessKey(w.Key)
		if err != nil {
			return &ConfigError{Key: field("key"), Reason: err.Error()}
		}
		if at, dup := keys[v.VerifierKey()]; dup {
			return &ConfigError{Key: field("key"), Reason: fmt.Sprintf("the same key as %s[%d]", section, at)}
		}
		keys[v.VerifierKey()] = i
		switch d := w.Timeout.Std(); {
		case d == 0:
			w.Timeout = Duration(defaultExternalWitnessWait)
		case d < minExternalWitnessWait || d > maxExternalWitnessWait:
			return &ConfigError{Key: field("timeout"), Reason: fmt.Sprintf("%s: want %s to %s", d, minExternalWitnessWait, maxExternalWitnessWait)}
		}
	}
	return nil
}

func checkWitnessName(s string) error {
	if s == "" || len(s) > maxExternalWitnessName {
		return fmt.Errorf("%d bytes, want 1 to %d", len(s), maxExternalWitnessName)
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q: only letters, digits, '.', '_' and '-'", s)
		}
	}
	return nil
}

func checkWitnessURL(s string) error {
	if len(s) > maxExternalWitnessURL {
		return fmt.Errorf("%d bytes, limit %d", len(s), maxExternalWitnessURL)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: want http(s)://host/prefix without credentials, query or fragment", s)
	}
	return nil
}

// Results of a request to an external witness
// (aurora_external_witness_requests_total{result}).
const (
	extOK          = "ok"              // cosigned, under the configured key
	extConflict    = "conflict"        // 409: it stored another size; retried from it once
	extRefused     = "refused"         // any other non-200 answer (404, 403, 422, 5xx, ...)
	extBadCosig    = "bad_cosignature" // 200, but no cosignature that verifies under the configured key
	extBadResponse = "bad_response"    // an answer that breaks the protocol or its bounds
	extUnreachable = "unreachable"     // no answer: connection refused, timeout, reset
	extError       = "error"           // the node could not build the request (no proof from that size)
)

var extResults = []string{extOK, extConflict, extRefused, extBadCosig, extBadResponse, extUnreachable, extError}

// externalWitnesses asks the configured external witnesses to cosign, over
// C2SP tlog-witness HTTP. It is safe for concurrent use.
type externalWitnesses struct {
	ws       []*externalWitness
	clock    clock.Clock
	log      *slog.Logger
	requests *prometheus.CounterVec // aurora_external_witness_requests_total{witness,result}
	last     *prometheus.GaugeVec   // aurora_external_witness_last_cosigned_timestamp_seconds{witness}
}

type externalWitness struct {
	cfg      ExternalWitnessConfig
	client   *c2sphttp.WitnessClient
	verifier *provenance.CosignatureVerifier
}

// newExternalWitnesses builds the clients of validated configs (nil when
// there are none) and registers their metrics.
func newExternalWitnesses(cfgs []ExternalWitnessConfig, reg prometheus.Registerer, clk clock.Clock, log *slog.Logger) (*externalWitnesses, error) {
	if len(cfgs) == 0 {
		return nil, nil
	}
	x := &externalWitnesses{clock: clk, log: log}
	// One client for all: a POST is never re-sent to where a redirect
	// points (the redirect is counted as a refusal), and no request
	// outlives its witness's timeout.
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range cfgs {
		v, err := provenance.ParseWitnessKey(c.Key)
		if err != nil {
			return nil, &ConfigError{Key: "provenance.external_witnesses.key", Reason: err.Error()}
		}
		wc, err := c2sphttp.NewWitnessClient(c.URL, hc)
		if err != nil {
			return nil, &ConfigError{Key: "provenance.external_witnesses.url", Reason: err.Error()}
		}
		wc.UserAgent = "aurora-node"
		x.ws = append(x.ws, &externalWitness{cfg: c, client: wc, verifier: v})
	}
	x.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aurora_external_witness_requests_total",
		Help: "add-checkpoint requests to external witnesses (provenance.external_witnesses), by witness and result (ok, conflict, refused, bad_cosignature, bad_response, unreachable, error).",
	}, []string{"witness", "result"})
	x.last = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aurora_external_witness_last_cosigned_timestamp_seconds",
		Help: "Unix time an external witness last returned a valid cosignature; 0 if it never did.",
	}, []string{"witness"})
	for _, w := range x.ws {
		for _, r := range extResults {
			x.requests.WithLabelValues(w.cfg.Name, r)
		}
		x.last.WithLabelValues(w.cfg.Name)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{x.requests, x.last} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("node: external witness metrics: %w", err)
			}
		}
	}
	return x, nil
}

// extend adds the external witnesses to an epoch loop's witness round: the
// round asks them next to whatever ecfg.Witnesses asks (the treaty
// partners, or nobody on a node without a mesh), and their keys join the
// keys whose cosignatures are merged.
func (x *externalWitnesses) extend(ecfg *provenance.EpochsConfig) {
	if x == nil {
		return
	}
	partners, partnerKeys, staticKeys := ecfg.Witnesses, ecfg.WitnessKeysFunc, ecfg.WitnessKeys
	ecfg.Witnesses = func(ctx context.Context, req provenance.WitnessRequest) [][]byte {
		var (
			wg  sync.WaitGroup
			out [][]byte
		)
		if partners != nil {
			wg.Go(func() { out = partners(ctx, req) })
		}
		ext := x.cosign(ctx, req)
		wg.Wait()
		return append(out, ext...)
	}
	ecfg.WitnessKeys = nil
	ecfg.WitnessKeysFunc = func() []*provenance.CosignatureVerifier {
		keys := staticKeys
		if partnerKeys != nil {
			keys = partnerKeys()
		}
		return append(append([]*provenance.CosignatureVerifier(nil), keys...), x.keys()...)
	}
}

// keys are the external witnesses' verifiers.
func (x *externalWitnesses) keys() []*provenance.CosignatureVerifier {
	out := make([]*provenance.CosignatureVerifier, len(x.ws))
	for i, w := range x.ws {
		out[i] = w.verifier
	}
	return out
}

// cosign asks every external witness at once and returns the answers that
// carry a valid cosignature by its configured key.
func (x *externalWitnesses) cosign(ctx context.Context, req provenance.WitnessRequest) [][]byte {
	out := make([][]byte, len(x.ws))
	var wg sync.WaitGroup
	for i, w := range x.ws {
		wg.Go(func() { out[i] = x.ask(ctx, w, req) })
	}
	wg.Wait()
	kept := out[:0]
	for _, b := range out {
		if b != nil {
			kept = append(kept, b)
		}
	}
	return kept
}

// ask submits the checkpoint to one witness: with a proof from the size it
// is expected to have stored (the previous epoch's), and after a 409 once
// more from the size it says it stored (C2SP tlog-witness). Every request
// is counted by result.
func (x *externalWitnesses) ask(ctx context.Context, w *externalWitness, req provenance.WitnessRequest) []byte {
	name := w.cfg.Name
	count := func(result string) { x.requests.WithLabelValues(name, result).Inc() }
	old := req.PrevSize
	for attempt := 0; ; attempt++ {
		body, err := req.Body(ctx, old)
		if err != nil {
			count(extError)
			x.log.WarnContext(ctx, "external witness: cannot build the request", "witness", name, "old", old, "err", err)
			return nil
		}
		rctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout.Std())
		resp, err := w.client.AddCheckpoint(rctx, body)
		cancel()
		var (
			we *c2sphttp.WitnessError
			re *c2sphttp.ResponseError
		)
		switch {
		case err == nil:
			line, err := w.cosignature(req.Checkpoint, resp, x.clock.Now())
			if err != nil {
				count(extBadCosig)
				x.log.WarnContext(ctx, "external witness: cosignature refused", "witness", name, "url", w.cfg.URL,
					"key", w.verifier.Name(), "err", err)
				return nil
			}
			count(extOK)
			x.last.WithLabelValues(name).Set(float64(x.clock.Now().Unix()))
			return line
		case errors.As(err, &we) && we.Conflict && attempt == 0:
			count(extConflict)
			x.log.DebugContext(ctx, "external witness: stored another size; retrying from it", "witness", name, "old", old, "stored", we.StoredSize)
			old = we.StoredSize
			continue
		case errors.As(err, &we):
			count(extRefused)
		case errors.As(err, &re):
			count(extBadResponse)
		default:
			count(extUnreachable)
		}
		x.log.WarnContext(ctx, "external witness: no cosignature", "witness", name, "url", w.cfg.URL, "size", req.Checkpoint.Size, "err", err)
		return nil
	}
}

// cosignature returns the line of resp by w's configured key, checked: it
// verifies over cp's body and is not dated beyond the clock skew a
// verifier allows. A witness may sign with several keys; only the
// configured one's line is kept.
func (w *externalWitness) cosignature(cp provenance.Checkpoint, resp []byte, now time.Time) ([]byte, error) {
	prefix := []byte("— " + w.verifier.Name() + " ")
	var names []string
	err := fmt.Errorf("no cosignature by key name %q", w.verifier.Name())
	for l := range bytes.Lines(resp) {
		if n, _, ok := strings.Cut(strings.TrimPrefix(string(l), "— "), " "); ok && len(names) < 4 {
			names = append(names, n)
		}
		if !bytes.HasPrefix(l, prefix) {
			continue
		}
		if !bytes.HasSuffix(l, []byte("\n")) {
			l = append(bytes.Clone(l), '\n')
		}
		var signed []byte
		if signed, err = provenance.MergeCosignatures(cp.Note, l); err != nil {
			continue
		}
		var t time.Time
		if t, err = provenance.VerifyCosignature(signed, w.verifier); err != nil {
			if errors.Is(err, provenance.ErrNoCosignature) {
				err = fmt.Errorf("the cosignature by %q is by another key than the configured %s", w.verifier.Name(), w.verifier.VerifierKey())
			}
			continue
		}
		if t.After(now.Add(provenance.MaxClockSkew)) {
			err = fmt.Errorf("cosignature dated %s, in the future", t.Format(time.RFC3339))
			continue
		}
		return l, nil
	}
	return nil, fmt.Errorf("%w (the answer is signed by %q)", err, names)
}

// trust lists the external witnesses for GET /v1/trust.
func (x *externalWitnesses) trust() []TrustExternalWitness {
	out := []TrustExternalWitness{}
	if x == nil {
		return out
	}
	for _, w := range x.ws {
		out = append(out, TrustExternalWitness{Name: w.cfg.Name, Key: w.verifier.VerifierKey(), URL: strings.TrimSuffix(w.cfg.URL, "/")})
	}
	return out
}

// TrustExternalWitness is an external witness in GET /v1/trust: its name in
// the node's config, its C2SP verifier key (type 0x04) and its
// add-checkpoint prefix.
type TrustExternalWitness struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	URL  string `json:"url"`
}
