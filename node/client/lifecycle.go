package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/node/wire"
	"github.com/aurora-federation/aurora/treaty"
)

// BuildCancel returns the Cancel of job (its order's CID) signed by k,
// the order's client, dated now.
func BuildCancel(k *treaty.PrivateKey, job, reason string, now time.Time) (*treaty.Cancel, error) {
	c, err := cid.Decode(job)
	if err != nil {
		return nil, fmt.Errorf("client: job %q is not a CID: %w", job, err)
	}
	rec := &treaty.Cancel{V: treaty.Version, Order: treaty.LinkTo(c), Client: k.DID(), At: now.Unix(), Reason: reason}
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	return rec, treaty.Sign(rec, k)
}

// Cancel posts a signed Cancel to POST /v1/jobs/{id}/cancel. A second
// Cancel of a canceled job answers with Already set.
func (c *Client) Cancel(ctx context.Context, rec *treaty.Cancel) (*wire.CancelResponse, error) {
	b, err := treaty.Encode(rec)
	if err != nil {
		return nil, err
	}
	var out wire.CancelResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/jobs/"+rec.Order.String()+"/cancel", "application/vnd.ipld.dag-cbor", b, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Event is one Server-Sent Event of a job's stream. ID is 0 for events
// without an id (endpoints, lagged).
type Event struct {
	ID   int
	Kind string
	Data wire.Event
}

// SSE bounds: one line, one event's data.
const (
	maxEventLine = 64 << 10
	maxEventData = 256 << 10
)

// Events reads GET /v1/jobs/{id}/events once, resuming after event id
// after (0: from the first), and calls fn for each event until the
// stream ends, fn returns an error, or ctx is done. It returns the id of
// the last numbered event it saw (after, if none).
func (c *Client) Events(ctx context.Context, job string, after int, fn func(Event) error) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/v1/jobs/"+job+"/events", nil)
	if err != nil {
		return after, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if after > 0 {
		req.Header.Set("Last-Event-ID", strconv.Itoa(after))
	}
	hc := http.Client{} // a stream outlives the client's request timeout
	if c.HTTP != nil {
		hc = *c.HTTP
		hc.Timeout = 0
	}
	resp, err := hc.Do(req)
	if err != nil {
		return after, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		var eb struct {
			Error struct{ Code, Message, Field string }
		}
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
			return after, &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, Field: eb.Error.Field}
		}
		return after, &APIError{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(raw))}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return after, fmt.Errorf("client: events: content type %q, want text/event-stream", ct)
	}
	last := after
	err = readSSE(resp.Body, func(id, kind string, data []byte) error {
		ev := Event{Kind: kind}
		if id != "" {
			n, err := strconv.Atoi(id)
			if err != nil || n <= 0 {
				return fmt.Errorf("client: events: bad id %q", id)
			}
			ev.ID, last = n, n
		}
		if err := json.Unmarshal(data, &ev.Data); err != nil {
			return fmt.Errorf("client: events: %s event: %w", kind, err)
		}
		return fn(ev)
	})
	return last, err
}

// readSSE parses a text/event-stream (the WHATWG HTML "server-sent
// events" format: id, event and data fields, comments, a blank line ends
// an event), bounded per line and per event.
func readSSE(r io.Reader, fn func(id, kind string, data []byte) error) error {
	br := bufio.NewScanner(r)
	br.Buffer(make([]byte, 4096), maxEventLine)
	var (
		id, kind string
		data     bytes.Buffer
		has      bool
	)
	for br.Scan() {
		line := br.Text()
		if line == "" {
			if has {
				if kind == "" {
					kind = "message"
				}
				if err := fn(id, kind, bytes.TrimSuffix(data.Bytes(), []byte("\n"))); err != nil {
					return err
				}
			}
			id, kind, has = "", "", false
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "event":
			kind = value
		case "data":
			if data.Len()+len(value) > maxEventData {
				return fmt.Errorf("client: events: an event over %d bytes", maxEventData)
			}
			data.WriteString(value)
			data.WriteByte('\n')
			has = true
		}
	}
	if err := br.Err(); err != nil {
		return fmt.Errorf("client: events: %w", err)
	}
	return nil
}

// Watch follows a job's events until its status is terminal on this node
// (succeeded, failed, terminated, canceled, forwarded), reconnecting with
// Last-Event-ID when the stream breaks or lags, at most retries times in a
// row without a new event. fn sees every event once.
func (c *Client) Watch(ctx context.Context, job string, retries int, fn func(Event) error) error {
	after, fails := 0, 0
	for {
		done := false
		last, err := c.Events(ctx, job, after, func(ev Event) error {
			if ev.ID > 0 && wire.Terminal(ev.Data.Status) {
				done = true
			}
			return fn(ev)
		})
		switch {
		case done:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status != http.StatusTooManyRequests && ae.Status/100 != 5 {
			return err
		}
		if err == nil && last == after {
			// An empty stream: the job may have ended before this
			// connection (its last event already seen).
			if j, jerr := c.Job(ctx, job); jerr == nil && wire.Terminal(j.Status) {
				return nil
			}
		}
		if last > after {
			fails = 0
		} else if fails++; fails > retries {
			if err == nil {
				err = errors.New("client: events: the stream keeps ending before the job does")
			}
			return err
		}
		after = last
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(fails) * 200 * time.Millisecond):
		}
	}
}

// LogsResult is GET /v1/jobs/{id}/logs.
type LogsResult struct {
	Text      []byte
	Truncated bool // the network held more than the node returns
}

// Logs reads the last tail lines of a job's container log. With k (the
// job's client key) the request is signed (wire.LogsMessage); with nil it
// uses the client's operator token.
func (c *Client) Logs(ctx context.Context, k *treaty.PrivateKey, job string, tail int) (*LogsResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/v1/jobs/"+job+"/logs?tail="+strconv.Itoa(tail), nil)
	if err != nil {
		return nil, err
	}
	if k != nil {
		at := time.Now().Unix()
		req.Header.Set(wire.LogsClientHeader, string(k.DID()))
		req.Header.Set(wire.LogsDateHeader, strconv.FormatInt(at, 10))
		req.Header.Set(wire.LogsSignatureHeader, base64.StdEncoding.EncodeToString(ed25519.Sign(k.Ed25519(), wire.LogsMessage(job, at))))
	} else if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error struct{ Code, Message, Field string }
		}
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
			return nil, &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, Field: eb.Error.Field}
		}
		return nil, &APIError{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(raw))}
	}
	return &LogsResult{Text: raw, Truncated: resp.Header.Get(wire.LogsTruncatedHeader) == "true"}, nil
}
