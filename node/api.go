package node

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aurora-federation/aurora/node/events"
	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/node/wire"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// Content types the API speaks. JSON bodies are dag-json.
const (
	ctJSON    = "application/json"
	ctDagJSON = "application/vnd.ipld.dag-json"
	ctDagCBOR = "application/vnd.ipld.dag-cbor"
)

// Prover builds a job's proof bundle and serves the latest checkpoint.
type Prover interface {
	// ProofBundle returns the proof bundle of the leaf at index.
	ProofBundle(ctx context.Context, index uint64) ([]byte, error)
	// LatestCheckpoint returns the latest (cosigned) checkpoint note.
	LatestCheckpoint(ctx context.Context) ([]byte, error)
}

// ProviderInfo is one attached provider as GET /v1/providers shows it.
type ProviderInfo struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	Regions      []string `json:"regions"`
	Capabilities any      `json:"capabilities"`
	Healthy      bool     `json:"healthy"`
	Reputation   int64    `json:"reputation_permille"`
}

// APIHandlerConfig wires the HTTP API.
type APIHandlerConfig struct {
	Core    *order.Core
	Ledger  *order.Ledger
	Metrics *Metrics
	Token   Token
	// MaxBodyBytes bounds request bodies. Default 256 KiB.
	MaxBodyBytes int64
	Prover       Prover
	Providers    func() []ProviderInfo
	// Backup streams a consistent ledger backup of versions > since, or the
	// rest of an interrupted one after the cursor, and returns the backup's
	// version (store.DB.BackupFrom).
	Backup func(ctx context.Context, w io.Writer, since uint64, c store.BackupCursor) (uint64, error)
	// BackupIdleTimeout is the backup stream's own write deadline, in place
	// of the server's WriteTimeout: renewed for every chunk of
	// backupChunk bytes, it is how long the client may take to accept one.
	// Default 1 min (backup.stream_idle_timeout).
	BackupIdleTimeout time.Duration
	// BackupProgressEvery is how often, in bytes, a backup stream logs its
	// progress. Default 256 MiB.
	BackupProgressEvery int64
	// Module returns the wasm of a policy module the node holds, nil when
	// it holds none by that CID (GET /v1/policies/{cid}).
	Module func(cid.Cid) []byte
	// Extra registers more routes (treaties, peers) on the mux.
	Extra func(mux *http.ServeMux, auth func(http.HandlerFunc) http.HandlerFunc)
	// ProofRetryAfter is the Retry-After of a 503 proof_unavailable (the
	// job's epoch has not closed): the epoch interval. Default 1 s.
	ProofRetryAfter time.Duration
	// Events fans job changes out to GET /v1/jobs/{id}/events; nil: no
	// event streams.
	Events *events.Hub
	// EventsBufferSize is the hub's per-stream buffer, named in a lagged
	// stream's last event.
	EventsBufferSize int
	// EventsHeartbeat is how often an idle event stream gets a comment
	// line. Default 15s.
	EventsHeartbeat time.Duration
	// Endpoints says where a running job is reached (its provider's
	// Status); nil: no endpoints events.
	Endpoints func(ctx context.Context, j *order.Job) ([]wire.Endpoint, error)
	// Logs reads a job's log through its provider; nil: no logs endpoint.
	Logs   func(ctx context.Context, j *order.Job, tail int) (providers.LogResult, error)
	Ready  func() bool
	Clock  func() time.Time
	Logger *slog.Logger
}

type api struct {
	cfg APIHandlerConfig
}

// NewAPIHandler returns the node's HTTP API handler.
func NewAPIHandler(cfg APIHandlerConfig) http.Handler {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 256 << 10
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ProofRetryAfter <= 0 {
		cfg.ProofRetryAfter = time.Second
	}
	if cfg.EventsHeartbeat <= 0 {
		cfg.EventsHeartbeat = 15 * time.Second
	}
	if cfg.BackupIdleTimeout <= 0 {
		cfg.BackupIdleTimeout = time.Minute
	}
	if cfg.BackupProgressEvery <= 0 {
		cfg.BackupProgressEvery = 256 << 20
	}
	a := &api{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/orders", a.postOrder)
	mux.HandleFunc("GET /v1/jobs", a.auth(a.listJobs))
	mux.HandleFunc("GET /v1/jobs/{id}", a.getJob)
	mux.HandleFunc("GET /v1/jobs/{id}/proof", a.getProof)
	mux.HandleFunc("GET /v1/jobs/{id}/decision", a.getDecision)
	mux.HandleFunc("GET /v1/policies/{cid}", a.getModule)
	mux.HandleFunc("POST /v1/jobs/{id}/cancel", a.cancelJob)
	mux.HandleFunc("GET /v1/jobs/{id}/events", a.jobEvents)
	mux.HandleFunc("GET /v1/jobs/{id}/logs", a.jobLogs)
	mux.HandleFunc("GET /v1/checkpoints/latest", a.latestCheckpoint)
	mux.HandleFunc("GET /v1/providers", a.listProviders)
	if cfg.Backup != nil {
		mux.HandleFunc("POST /v1/ledger/backup", a.auth(a.backup))
	}
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics.Registry, promhttp.HandlerOpts{Registry: cfg.Metrics.Registry}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Ready != nil && !cfg.Ready() {
			writeError(w, http.StatusServiceUnavailable, "not_ready", "", "node is starting or stopping")
			return
		}
		io.WriteString(w, "ready\n")
	})
	if cfg.Extra != nil {
		cfg.Extra(mux, a.auth)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "", fmt.Sprintf("no endpoint %s %s", r.Method, truncate(r.URL.Path, 256)))
	})
	return front(mux)
}

// front answers with the documented JSON error what the ServeMux would
// answer with a redirect and an HTML body: a path not in canonical form
// ("..", ".", "//", a missing trailing slash) is 400 bad_path. No route of
// the API redirects, so every redirect is the mux's.
func front(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&noRedirect{ResponseWriter: w, r: r}, r)
	})
}

// noRedirect turns a redirect into a 400 bad_path and drops its body.
type noRedirect struct {
	http.ResponseWriter
	r          *http.Request
	redirected bool
}

func (w *noRedirect) WriteHeader(code int) {
	if code >= 300 && code < 400 && w.Header().Get("Location") != "" && !w.redirected {
		w.redirected = true
		loc := w.Header().Get("Location")
		w.Header().Del("Location")
		writeError(w.ResponseWriter, http.StatusBadRequest, "bad_path", "path",
			fmt.Sprintf("path %q is not in canonical form (the canonical form is %q)", truncate(w.r.URL.EscapedPath(), 256), truncate(loc, 256)))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *noRedirect) Write(b []byte) (int, error) {
	if w.redirected {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines) through the wrapper.
func (w *noRedirect) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes through (streamed backups).
func (w *noRedirect) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// ErrorBody is every error response: {"error": {"code", "message", "field"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail names what went wrong.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, field, msg string) {
	w.Header().Set("Content-Type", ctJSON)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(ErrorBody{Error: ErrorDetail{Code: code, Message: msg, Field: field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", ctJSON)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// auth requires the operator bearer token.
func (a *api) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if h == "" || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="aurora"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "", "missing bearer token (Authorization: Bearer <api.token>)")
			return
		}
		if a.cfg.Token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.Token)) != 1 {
			writeError(w, http.StatusForbidden, "forbidden", "", "bad bearer token")
			return
		}
		next(w, r)
	}
}

// OrderResponse answers POST /v1/orders. A Denial is a 200 answer too: the
// node judged the order and signed its refusal.
type OrderResponse struct {
	Result string `json:"result"` // "ack" or "denial"
	// Replayed is true when the identical order was answered before: this
	// is that answer, unchanged.
	Replayed bool            `json:"replayed,omitempty"`
	CID      string          `json:"cid"` // the Ack's or Denial's CID
	Job      string          `json:"job,omitempty"`
	Record   json.RawMessage `json:"record"` // dag-json of the Ack or Denial
}

// readBody reads a bounded request body, mapping the limit to 413.
func (a *api) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	return readBody(w, r, a.cfg.MaxBodyBytes)
}

// readBody reads a body of at most limit bytes. A declared Content-Length
// over the limit is 413 at once, before reading; a body that grows past it
// is 413 too. A read that fails (a client that stops sending, a reset) is
// 400 bad_body, without the socket addresses Go's error carries.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.ContentLength > limit {
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "body", fmt.Sprintf("Content-Length %d exceeds the limit of %d bytes", r.ContentLength, limit))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &mbe):
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", "body", fmt.Sprintf("body exceeds %d bytes", limit))
		case errors.As(err, &ne) && ne.Timeout():
			writeError(w, http.StatusBadRequest, "bad_body", "body", "reading body: timed out before the declared length arrived")
		case errors.Is(err, io.ErrUnexpectedEOF):
			writeError(w, http.StatusBadRequest, "bad_body", "body", "reading body: shorter than its declared length")
		default:
			writeError(w, http.StatusBadRequest, "bad_body", "body", "reading body: connection error")
		}
		return nil, false
	}
	return body, true
}

// mediaType parses a Content-Type exactly: "" (absent) or one media type
// with valid parameters; anything unparsable is refused (415), never read
// as the default.
func mediaType(h string) (string, bool) {
	if strings.TrimSpace(h) == "" {
		return "", true
	}
	ct, params, err := mime.ParseMediaType(h)
	if err != nil {
		return "", false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return "", false
		}
	}
	return ct, true
}

func (a *api) postOrder(w http.ResponseWriter, r *http.Request) {
	body, ok := a.readBody(w, r)
	if !ok {
		return
	}
	var o treaty.Order
	ct, ok := mediaType(r.Header.Get("Content-Type"))
	var err error
	switch {
	case ok && (ct == ctDagCBOR || ct == "application/cbor"):
		err = treaty.Decode(body, &o)
	case ok && (ct == ctJSON || ct == ctDagJSON || ct == ""):
		err = treaty.DecodeJSON(body, &o)
	default:
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "content-type", fmt.Sprintf("content type %q: send %s or %s", truncate(r.Header.Get("Content-Type"), 128), ctDagJSON, ctDagCBOR))
		return
	}
	if err != nil {
		a.cfg.Metrics.Order.Orders.WithLabelValues(order.ResultRejected).Inc()
		re := order.Reject(http.StatusBadRequest, "bad_record", err)
		if re.Field == "" {
			re.Field = "body" // not a record at all: the body is at fault
		}
		a.writeReject(w, re)
		return
	}
	reply, err := a.cfg.Core.Submit(r.Context(), &o)
	if err != nil {
		var re *order.RejectError
		if errors.As(err, &re) {
			a.writeReject(w, re)
			return
		}
		a.cfg.Logger.ErrorContext(r.Context(), "order failed", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	resp := OrderResponse{Job: reply.Job, Result: "ack", Replayed: reply.Replayed}
	if reply.Denial != nil {
		resp.Result = "denial"
	}
	resp.CID = treaty.CIDOf(reply.Bytes).String()
	js, err := treaty.DAGJSONFromCBOR(reply.Bytes)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	resp.Record = js
	writeJSON(w, http.StatusOK, resp)
}

func (a *api) writeReject(w http.ResponseWriter, re *order.RejectError) {
	if re.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((re.RetryAfter+time.Second-1)/time.Second)))
	}
	writeError(w, re.Status, re.Code, re.Field, re.Error())
}

// JobResponse is GET /v1/jobs/{id}.
type JobResponse struct {
	Job    string          `json:"job"`
	Status string          `json:"status"`
	Leaves []uint64        `json:"leaves"`
	Record json.RawMessage `json:"record"` // dag-json JobRecord
	Ack    json.RawMessage `json:"ack"`    // dag-json Ack
}

func (a *api) jobResponse(j *order.Job) (JobResponse, error) {
	rec, err := treaty.EncodeJSON(&j.Record)
	if err != nil {
		return JobResponse{}, err
	}
	ack, err := treaty.DAGJSONFromCBOR(j.Ack)
	if err != nil {
		return JobResponse{}, err
	}
	return JobResponse{Job: j.Record.Job, Status: j.Status(), Leaves: j.Leaves, Record: rec, Ack: ack}, nil
}

func (a *api) getJob(w http.ResponseWriter, r *http.Request) {
	j, ok := a.job(w, r)
	if !ok {
		return
	}
	resp, err := a.jobResponse(j)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// jobCID parses the {id} of a job route. A job ID is the order's CID, in
// its canonical text form: parsed before any lookup, so no other spelling
// (or a path) reaches the store.
func jobCID(w http.ResponseWriter, r *http.Request) (cid.Cid, bool) {
	id := r.PathValue("id")
	c, err := cid.Decode(id)
	if err != nil || c.String() != id {
		msg := "not a CID in canonical form (CIDv1, base32, as the POST answer's job)"
		if err != nil {
			msg = "not a CID: " + err.Error()
		}
		writeError(w, http.StatusBadRequest, "bad_request", "id", msg)
		return cid.Undef, false
	}
	return c, true
}

func (a *api) job(w http.ResponseWriter, r *http.Request) (*order.Job, bool) {
	c, ok := jobCID(w, r)
	if !ok {
		return nil, false
	}
	id := c.String()
	j, err := a.cfg.Ledger.Job(r.Context(), id)
	if errors.Is(err, order.ErrJobNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "id", fmt.Sprintf("no job %q", id))
		return nil, false
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return nil, false
	}
	return j, true
}

func (a *api) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := queryInt(q.Get("limit"), 100, 1, 1000)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_query", "limit", err.Error())
		return
	}
	offset, err := queryInt(q.Get("offset"), 0, 0, 1<<30)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_query", "offset", err.Error())
		return
	}
	for k := range q {
		if k != "limit" && k != "offset" {
			writeError(w, http.StatusBadRequest, "bad_query", k, "unknown query parameter "+k)
			return
		}
	}
	out := []JobResponse{}
	err = a.cfg.Ledger.List(r.Context(), offset, limit, func(j *order.Job) bool {
		resp, err := a.jobResponse(j)
		if err == nil {
			out = append(out, resp)
		}
		return true
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": out})
}

func queryInt(s string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q: want an integer from %d to %d", s, lo, hi)
	}
	return n, nil
}

func (a *api) getProof(w http.ResponseWriter, r *http.Request) {
	j, ok := a.job(w, r)
	if !ok {
		return
	}
	if a.cfg.Prover == nil || len(j.Leaves) == 0 {
		writeError(w, http.StatusNotFound, "no_proof", "", "no provenance log on this node or no leaf for this job")
		return
	}
	b, err := a.cfg.Prover.ProofBundle(r.Context(), j.Leaves[len(j.Leaves)-1])
	if err != nil {
		// The job's last leaf is not yet in an attested epoch (closed,
		// cosigned, pinned): ask again after an epoch.
		w.Header().Set("Retry-After", strconv.Itoa(int((a.cfg.ProofRetryAfter+time.Second-1)/time.Second)))
		writeError(w, http.StatusServiceUnavailable, "proof_unavailable", "", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b)
}

func (a *api) latestCheckpoint(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Prover == nil {
		writeError(w, http.StatusNotFound, "no_checkpoint", "", "no provenance log on this node")
		return
	}
	b, err := a.cfg.Prover.LatestCheckpoint(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "no_checkpoint", "", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b)
}

func (a *api) listProviders(w http.ResponseWriter, r *http.Request) {
	var ps []ProviderInfo
	if a.cfg.Providers != nil {
		ps = a.cfg.Providers()
	}
	if ps == nil {
		ps = []ProviderInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"providers": ps})
}

// Trailers of a backup stream, known only once it is written; a stream
// without them was cut short.
const (
	// BackupVersionTrailer carries the backup's version: the manifest's,
	// and the next incremental backup's since. For a resumed stream it is
	// the version of the kept part and the rest together.
	BackupVersionTrailer = "Aurora-Backup-Version"
	// BackupBytesTrailer carries the bytes this stream sent.
	BackupBytesTrailer = "Aurora-Backup-Bytes"
)

// backupChunk is the most the backup stream writes under one renewal of
// its write deadline.
const backupChunk = 64 << 10

// backup streams a transaction-consistent ledger backup (POST
// /v1/ledger/backup?since=V[&after_key=K&after_version=W]): the versions
// greater than since or, given the cursor of the part of an interrupted
// stream the client kept (store.ScanBackup), the rest of it. The stream is
// bounded by its own deadline, not the server's timeouts: each chunk must
// be taken within BackupIdleTimeout, however long the whole takes. The
// version and byte count are sent as trailers.
func (a *api) backup(w http.ResponseWriter, r *http.Request) {
	since, cur, ok := parseBackupQuery(w, r)
	if !ok {
		return
	}
	// The server's WriteTimeout would cut the stream: until the first
	// chunk (the backup may wait for a scheduled one or value-log GC)
	// there is no write deadline, then each chunk renews its own. A client
	// that goes away still ends the stream, through the context.
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", "backup: the connection takes no deadline: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Trailer", BackupVersionTrailer+", "+BackupBytesTrailer)
	log := a.cfg.Logger.With("since", since, "resumed", !cur.IsZero())
	start := a.cfg.Clock()
	bw := &backupWriter{w: w, rc: rc, idle: a.cfg.BackupIdleTimeout, every: a.cfg.BackupProgressEvery}
	if a.cfg.Metrics != nil {
		bw.bytes = a.cfg.Metrics.BackupStreamBytes
	}
	bw.progress = func(n int64) {
		el := a.cfg.Clock().Sub(start)
		log.InfoContext(r.Context(), "backup progress", "bytes", n, "elapsed", el.Round(time.Millisecond).String(), "mb_per_s", mbPerSecond(n, el))
	}
	v, err := a.cfg.Backup(r.Context(), bw, since, cur)
	result := "ok"
	defer func() {
		if a.cfg.Metrics != nil {
			a.cfg.Metrics.BackupStreams.WithLabelValues(result).Inc()
		}
	}()
	el := a.cfg.Clock().Sub(start)
	if err != nil {
		result = "failed"
		log.ErrorContext(r.Context(), "backup stream failed", "bytes", bw.n, "elapsed", el.Round(time.Millisecond).String(), "err", err)
		if bw.n == 0 {
			writeError(w, http.StatusInternalServerError, "backup_failed", "", err.Error())
		}
		return // no trailer: the client sees an incomplete backup
	}
	// The rest of the body and the trailers go out after the handler
	// returns, under this deadline.
	_ = rc.SetWriteDeadline(time.Now().Add(a.cfg.BackupIdleTimeout))
	if bw.n == 0 {
		w.WriteHeader(http.StatusOK) // before the trailers' values: else they go out as headers
	}
	w.Header().Set(BackupVersionTrailer, strconv.FormatUint(v, 10))
	w.Header().Set(BackupBytesTrailer, strconv.FormatInt(bw.n, 10))
	log.InfoContext(r.Context(), "backup streamed", "version", v, "bytes", bw.n, "elapsed", el.Round(time.Millisecond).String(), "mb_per_s", mbPerSecond(bw.n, el))
}

// parseBackupQuery reads ?since=V and the optional cursor
// &after_key=K&after_version=W (K the last key kept, unpadded base64url;
// W the kept part's highest version), answering a 400 naming the
// parameter at fault.
func parseBackupQuery(w http.ResponseWriter, r *http.Request) (since uint64, cur store.BackupCursor, ok bool) {
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "body", "a backup request has no body")
		return 0, cur, false
	}
	q := r.URL.Query()
	for k, v := range q {
		switch k {
		case "since", "after_key", "after_version":
		default:
			writeError(w, http.StatusBadRequest, "bad_query", queryField(k), "only ?since=VERSION, with &after_key=KEY&after_version=VERSION to resume, is accepted")
			return 0, cur, false
		}
		if len(v) != 1 {
			writeError(w, http.StatusBadRequest, "bad_query", k, k+": given more than once")
			return 0, cur, false
		}
	}
	version := func(name string) (uint64, bool) {
		s := q.Get(name)
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != s {
			writeError(w, http.StatusBadRequest, "bad_query", name, fmt.Sprintf("%s: %q is not a version (a decimal number, 0 to 2^64-1)", name, truncate(s, 64)))
			return 0, false
		}
		return n, true
	}
	if q.Has("since") {
		if since, ok = version("since"); !ok {
			return 0, cur, false
		}
	}
	switch {
	case q.Has("after_key") != q.Has("after_version"):
		missing := "after_version"
		if !q.Has("after_key") {
			missing = "after_key"
		}
		writeError(w, http.StatusBadRequest, "bad_query", missing, "after_key and after_version resume a backup together: "+missing+" is missing")
		return 0, cur, false
	case !q.Has("after_key"):
		return since, cur, true
	}
	k := q.Get("after_key")
	if len(k) > base64.RawURLEncoding.EncodedLen(store.MaxBackupCursorKey) {
		writeError(w, http.StatusBadRequest, "bad_query", "after_key", fmt.Sprintf("after_key: longer than %d bytes", store.MaxBackupCursorKey))
		return 0, cur, false
	}
	key, err := base64.RawURLEncoding.Strict().DecodeString(k)
	if err != nil || len(key) == 0 {
		writeError(w, http.StatusBadRequest, "bad_query", "after_key", "after_key: want the last key kept, unpadded base64url, not empty")
		return 0, cur, false
	}
	v, ok := version("after_version")
	if !ok {
		return 0, cur, false
	}
	if v < since {
		writeError(w, http.StatusBadRequest, "bad_query", "after_version", fmt.Sprintf("after_version: %d is below since %d (the kept part holds only versions above since)", v, since))
		return 0, cur, false
	}
	return since, store.BackupCursor{Key: key, Version: v}, true
}

// queryField names an unknown query parameter in a 400: itself, or
// "query" when it has no name.
func queryField(k string) string {
	if k == "" {
		return "query"
	}
	return truncate(k, 64)
}

// backupWriter writes the backup stream in chunks, renewing the
// connection's write deadline before each, and counts what it sent.
type backupWriter struct {
	w        io.Writer
	rc       *http.ResponseController
	idle     time.Duration
	n        int64
	bytes    prometheus.Counter // nil: not counted
	every    int64              // progress is called every so many bytes
	progress func(n int64)
}

func (b *backupWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), backupChunk)]
		// A network deadline is wall-clock time, not the injected clock.
		if err := b.rc.SetWriteDeadline(time.Now().Add(b.idle)); err != nil {
			return written, err
		}
		n, err := b.w.Write(chunk)
		written += n
		before := b.n
		b.n += int64(n)
		if b.bytes != nil {
			b.bytes.Add(float64(n))
		}
		if b.progress != nil && b.n/b.every > before/b.every {
			b.progress(b.n)
		}
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// mbPerSecond is a rate in MB (10^6 bytes) per second, rounded to 0.1.
func mbPerSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return math.Round(float64(n)/1e6/d.Seconds()*10) / 10
}
