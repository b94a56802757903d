package node

import (
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/node/events"
	"github.com/aurora-federation/aurora/node/wire"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// maxCancelBody bounds a cancel request: one Cancel record, in dag-json
// at most a few hundred bytes.
const maxCancelBody = 4 << 10

// eventWriteTimeout is how long one event may take to reach the client
// before its stream is cut.
const eventWriteTimeout = 10 * time.Second

// cancelJob is POST /v1/jobs/{id}/cancel: the body is the tenant's signed
// Cancel of the job's order (dag-cbor or dag-json).
func (a *api) cancelJob(w http.ResponseWriter, r *http.Request) {
	id, ok := jobID(w, r)
	if !ok {
		return
	}
	body, ok := readBody(w, r, maxCancelBody)
	if !ok {
		return
	}
	var k treaty.Cancel
	var err error
	switch ct, ok := mediaType(r.Header.Get("Content-Type")); {
	case ok && (ct == ctDagCBOR || ct == "application/cbor"):
		err = treaty.Decode(body, &k)
	case ok && (ct == ctJSON || ct == ctDagJSON || ct == ""):
		err = treaty.DecodeJSON(body, &k)
	default:
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "content-type", fmt.Sprintf("content type %q: send %s or %s", truncate(r.Header.Get("Content-Type"), 128), ctDagJSON, ctDagCBOR))
		return
	}
	if err != nil {
		re := order.Reject(http.StatusBadRequest, "bad_record", err)
		if re.Field == "" {
			re.Field = "body"
		}
		a.writeReject(w, re)
		return
	}
	if k.Order.String() != id {
		writeError(w, http.StatusBadRequest, "bad_record", "order", fmt.Sprintf("the Cancel names order %s, the path job %s", truncate(k.Order.String(), 128), id))
		return
	}
	kb, err := treaty.Encode(&k)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	res, err := a.cfg.Core.Cancel(r.Context(), kb, "")
	if err != nil {
		var re *order.RejectError
		if errors.As(err, &re) {
			a.writeReject(w, re)
			return
		}
		a.cfg.Logger.ErrorContext(r.Context(), "cancel failed", "job", id, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	rec, err := treaty.EncodeJSON(&res.Job.Record)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, wire.CancelResponse{Job: id, Status: res.Job.Status(), Already: res.Already, Cancel: treaty.CIDOf(kb).String(),
		Leaves: res.Job.Leaves, Record: rec})
}

// jobID reads the path's job ID, answering 400 when it is not a CID in
// canonical form.
func jobID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if c, err := cid.Decode(id); err != nil || c.String() != id {
		msg := "not a CID in canonical form (CIDv1, base32, as the POST answer's job)"
		if err != nil {
			msg = "not a CID: " + err.Error()
		}
		writeError(w, http.StatusBadRequest, "bad_request", "id", msg)
		return "", false
	}
	return id, true
}

// jobEvents is GET /v1/jobs/{id}/events: the job's transitions as
// Server-Sent Events, each with its 1-based index as id, followed live
// until the job's status is terminal here. Last-Event-ID resumes after
// that transition. A running job's endpoints come as an endpoints event
// on every (re)connection and when it starts running.
func (a *api) jobEvents(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Events == nil {
		writeError(w, http.StatusNotFound, "not_found", "", "this node serves no event streams")
		return
	}
	after := 0
	if h := r.Header.Get("Last-Event-ID"); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 || n > treaty.MaxTransitions || strconv.Itoa(n) != h {
			writeError(w, http.StatusBadRequest, "bad_request", "Last-Event-ID", fmt.Sprintf("%q: want an event id this stream sent (0 to %d)", truncate(h, 32), treaty.MaxTransitions))
			return
		}
		after = n
	}
	if _, ok := a.job(w, r); !ok {
		return
	}
	id := r.PathValue("id")
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	sub, err := a.cfg.Events.Subscribe(id, host, after)
	if err != nil {
		var tm *events.TooManyError
		if errors.As(err, &tm) {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "too_many_streams", "", err.Error())
			return
		}
		writeError(w, http.StatusServiceUnavailable, "unavailable", "", err.Error())
		return
	}
	defer sub.Close()
	// Read after subscribing: what was committed before is in this read,
	// what comes after is published to the subscription.
	j, err := a.cfg.Ledger.Job(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	es := &eventStream{w: w, rc: rc}
	if err := es.flush(); err != nil {
		return
	}
	rec := &j.Record
	for i := after; i < len(rec.Transitions); i++ {
		if es.event(events.EventOf(rec, i)) != nil {
			return
		}
	}
	sub.Skip(len(rec.Transitions))
	status := j.Status()
	if status == treaty.StatusRunning && es.endpoints(r.Context(), a, j) != nil {
		return
	}
	if wire.Terminal(status) {
		return
	}
	beat := time.NewTicker(a.cfg.EventsHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-beat.C:
			if es.write(": ping\n\n") != nil {
				return
			}
		case ev, ok := <-sub.C():
			if !ok {
				if sub.Lagged() {
					es.write(fmt.Sprintf("event: %s\ndata: {\"job\":%q,\"detail\":\"this stream fell %d events behind; reconnect with Last-Event-ID\"}\n\n", wire.EventLagged, id, a.cfg.EventsBufferSize))
				}
				return
			}
			if es.event(ev) != nil {
				return
			}
			if ev.Data.Status == treaty.StatusRunning {
				if j, err := a.cfg.Ledger.Job(r.Context(), id); err == nil && es.endpoints(r.Context(), a, j) != nil {
					return
				}
			}
			if wire.Terminal(ev.Data.Status) {
				return
			}
		}
	}
}

// eventStream writes SSE frames, each under its own write deadline (the
// server's WriteTimeout would cut a long stream).
type eventStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (e *eventStream) write(s string) error {
	if err := e.rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout)); err != nil {
		return err
	}
	if _, err := e.w.Write([]byte(s)); err != nil {
		return err
	}
	return e.flush()
}

func (e *eventStream) flush() error { return e.rc.Flush() }

func (e *eventStream) event(ev events.Event) error {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return err
	}
	return e.write(fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Kind, data))
}

// endpoints sends a running job's endpoints as its provider reports them
// now; nothing when there are none or the provider cannot say.
func (e *eventStream) endpoints(ctx context.Context, a *api, j *order.Job) error {
	if a.cfg.Endpoints == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	eps, err := a.cfg.Endpoints(ctx, j)
	if err != nil || len(eps) == 0 {
		return nil
	}
	data, err := json.Marshal(wire.Event{Job: j.Record.Job, Endpoints: eps})
	if err != nil {
		return err
	}
	return e.write("event: " + wire.EventEndpoints + "\ndata: " + string(data) + "\n\n")
}

// jobEndpoints asks a running local job's provider where it is reached.
func (n *Node) jobEndpoints(ctx context.Context, j *order.Job) ([]wire.Endpoint, error) {
	if j.Record.Route.Kind != treaty.RouteProvider {
		return nil, nil
	}
	name, lease, ok := strings.Cut(j.Record.Lease, "/")
	p := n.Provider(name)
	if !ok || p == nil {
		return nil, nil
	}
	st, err := p.Status(ctx, lease)
	if err != nil {
		return nil, err
	}
	out := make([]wire.Endpoint, 0, len(st.Endpoints))
	for _, e := range st.Endpoints {
		out = append(out, wire.Endpoint{Kind: string(e.Kind), Host: e.Host, Port: e.Port, URL: e.URL, ContainerPort: e.ContainerPort})
	}
	return out, nil
}

// jobLogs is GET /v1/jobs/{id}/logs?tail=N (default 100, at most
// providers.MaxLogTail): the last lines of a job's container log, read
// from its provider now, as text. The operator token or the job's
// client's signature (wire.LogsMessage) authorizes it.
func (a *api) jobLogs(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Logs == nil {
		writeError(w, http.StatusNotFound, "not_found", "", "this node serves no logs")
		return
	}
	q := r.URL.Query()
	for k := range q {
		if k != "tail" {
			writeError(w, http.StatusBadRequest, "bad_query", queryField(k), "unknown query parameter "+truncate(k, 64)+" (only tail)")
			return
		}
	}
	tail, err := queryInt(q.Get("tail"), 100, 1, providers.MaxLogTail)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_query", "tail", err.Error())
		return
	}
	j, ok := a.job(w, r)
	if !ok {
		return
	}
	if !a.logsAuthorized(w, r, j) {
		return
	}
	if j.Record.Route.Kind == treaty.RoutePeer {
		writeError(w, http.StatusConflict, "job_forwarded", "", fmt.Sprintf("job %s runs at treaty peer %s: this node holds no lease to read logs from", j.Record.Job, truncate(j.Record.Route.Name, 128)))
		return
	}
	if j.Record.Lease == "" {
		writeError(w, http.StatusConflict, "no_lease", "", fmt.Sprintf("job %s has no lease (status %s)", j.Record.Job, j.Status()))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	res, err := a.cfg.Logs(ctx, j, tail)
	switch {
	case errors.Is(err, providers.ErrNotSupported):
		writeError(w, http.StatusNotImplemented, "not_supported", "", err.Error())
		return
	case errors.Is(err, providers.ErrNotFound):
		writeError(w, http.StatusNotFound, "lease_gone", "", err.Error())
		return
	case err != nil:
		writeError(w, http.StatusBadGateway, "provider_error", "", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set(wire.LogsTruncatedHeader, strconv.FormatBool(res.Truncated))
	w.Write(res.Text)
}

// logsAuthorized accepts the operator token or the job's client's
// signature over wire.LogsMessage, answering 401/403 otherwise.
func (a *api) logsAuthorized(w http.ResponseWriter, r *http.Request, j *order.Job) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || a.cfg.Token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.Token)) != 1 {
			writeError(w, http.StatusForbidden, "forbidden", "", "bad bearer token")
			return false
		}
		return true
	}
	did := treaty.DID(r.Header.Get(wire.LogsClientHeader))
	if did == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aurora"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", wire.LogsSignatureHeader, "send the operator token, or the job's client's signature ("+wire.LogsClientHeader+", "+wire.LogsDateHeader+", "+wire.LogsSignatureHeader+")")
		return false
	}
	if did != j.Record.Client {
		writeError(w, http.StatusForbidden, "not_client", "client", "only the job's client may read its logs")
		return false
	}
	at, err := strconv.ParseInt(r.Header.Get(wire.LogsDateHeader), 10, 64)
	skew := int64(treaty.MaxClockSkew / time.Second)
	if now := a.cfg.Clock().Unix(); err != nil || at < now-skew || at > now+skew {
		writeError(w, http.StatusForbidden, "bad_signature", wire.LogsDateHeader, fmt.Sprintf("want the unix time within %s of the node's", treaty.MaxClockSkew))
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(wire.LogsSignatureHeader))
	pub, perr := did.PublicKey()
	if err != nil || perr != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, wire.LogsMessage(j.Record.Job, at), sig) {
		writeError(w, http.StatusForbidden, "bad_signature", "sig", "the signature does not verify against the client's key")
		return false
	}
	return true
}

// jobLogs reads a local job's log through its provider.
func (n *Node) jobLogs(ctx context.Context, j *order.Job, tail int) (providers.LogResult, error) {
	name, lease, ok := strings.Cut(j.Record.Lease, "/")
	p := n.Provider(name)
	if !ok || p == nil {
		return providers.LogResult{}, fmt.Errorf("node: job %s: provider %q is not attached: %w", j.Record.Job, name, providers.ErrNotSupported)
	}
	return providers.Logs(ctx, p, lease, tail)
}
