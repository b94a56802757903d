package c2sphttp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/tiles"
)

// MaxResource bounds one fetched resource: a full entry bundle of maximal
// leaves (256 × (2 + 65,535) bytes); hash tiles and checkpoints are far
// smaller.
const MaxResource = tiles.Width * (2 + tiles.MaxEntrySize)

// Client fetches a tiled log's resources over HTTP. Its zero value is not
// usable: Prefix is required.
type Client struct {
	// Prefix is the log's URL prefix (".../tlog"); paths are joined to it.
	Prefix *url.URL
	// HTTP does the requests; nil means http.DefaultClient.
	HTTP *http.Client
	// UserAgent is sent with each request; empty sends Go's default.
	UserAgent string
}

// NewClient parses prefix (http or https) into a Client.
func NewClient(prefix string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(prefix, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("c2sphttp: %q is not an http(s) URL", prefix)
	}
	return &Client{Prefix: u, HTTP: hc}, nil
}

// StatusError reports a non-200 answer.
type StatusError struct {
	Path   string
	Status int
	Body   string // its first bytes
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("c2sphttp: GET %s: HTTP %d: %s", e.Path, e.Status, e.Body)
}

// Unwrap maps 404 to tiles.ErrNotFound (a missing tile).
func (e *StatusError) Unwrap() error {
	if e.Status == http.StatusNotFound {
		return tiles.ErrNotFound
	}
	return nil
}

// Fetch GETs the resource at path ("checkpoint", "tile/0/000") relative to
// the prefix, reading at most MaxResource bytes.
func (c *Client) Fetch(ctx context.Context, path string) ([]byte, error) {
	u := *c.Prefix
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("c2sphttp: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	limit := int64(MaxResource)
	if path == "checkpoint" {
		limit = provenance.MaxNoteSize
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("c2sphttp: GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Path: path, Status: resp.StatusCode, Body: strings.TrimSpace(string(b[:min(len(b), 256)]))}
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("c2sphttp: GET %s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// Bounds on a witness's answer to add-checkpoint. A 200 carries only
// cosignature lines (an Ed25519 line is about 100 bytes, an ML-DSA-44 one
// about 3.3 KiB): at most a note's worth. A 409 carries a decimal size.
const (
	MaxCosignatureResponse = provenance.MaxNoteSize
	maxConflictBody        = 24
	maxErrorBody           = 256
)

// WitnessClient submits checkpoints to a C2SP tlog-witness over HTTP: POST
// <prefix>/add-checkpoint. Its zero value is not usable: Prefix is
// required. It is safe for concurrent use.
type WitnessClient struct {
	// Prefix is the witness's submission prefix; "/add-checkpoint" is
	// joined to it.
	Prefix *url.URL
	// HTTP does the requests; nil means http.DefaultClient. Redirects are
	// answers like any other (a POST is not re-sent elsewhere): give a
	// client whose CheckRedirect returns http.ErrUseLastResponse.
	HTTP *http.Client
	// UserAgent is sent with each request; empty sends Go's default.
	UserAgent string
}

// NewWitnessClient parses prefix (http or https, no query or fragment) into
// a WitnessClient.
func NewWitnessClient(prefix string, hc *http.Client) (*WitnessClient, error) {
	u, err := url.Parse(strings.TrimSuffix(prefix, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("c2sphttp: %q is not an http(s) URL without query or fragment", prefix)
	}
	return &WitnessClient{Prefix: u, HTTP: hc}, nil
}

// WitnessError is a witness's answer other than 200 to add-checkpoint.
type WitnessError struct {
	Status int
	// Body is the first bytes of the answer, for the error message.
	Body string
	// StoredSize is, for a 409 with Content-Type text/x.tlog.size, the size
	// of the checkpoint the witness stored: retry with old = StoredSize.
	// Conflict reports whether it was given.
	StoredSize uint64
	Conflict   bool
}

func (e *WitnessError) Error() string {
	if e.Conflict {
		return fmt.Sprintf("c2sphttp: add-checkpoint: HTTP 409: the witness stored size %d", e.StoredSize)
	}
	return fmt.Sprintf("c2sphttp: add-checkpoint: HTTP %d: %s", e.Status, e.Body)
}

// ResponseError reports an answer that breaks C2SP tlog-witness: too large,
// a 409 without a well-formed size, a 200 without cosignature lines.
type ResponseError struct {
	Status int
	Rule   string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("c2sphttp: add-checkpoint: HTTP %d: %s", e.Status, e.Rule)
}

// AddCheckpoint POSTs an add-checkpoint body (provenance.CosignRequest) and
// returns the witness's cosignature lines (each "— name base64\n"; not
// verified here: the caller knows the witness's key). A non-200 answer is a
// *WitnessError (a 409 with the stored size: the caller retries with a
// proof from it); an answer over its bound or malformed is a
// *ResponseError; nothing beyond the bounds is read.
func (c *WitnessClient) AddCheckpoint(ctx context.Context, body []byte) ([]byte, error) {
	if len(body) > provenance.MaxAddCheckpointSize {
		return nil, fmt.Errorf("c2sphttp: add-checkpoint: body of %d bytes, limit %d", len(body), provenance.MaxAddCheckpointSize)
	}
	u := *c.Prefix
	u.Path = strings.TrimSuffix(u.Path, "/") + "/add-checkpoint"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", ctText)
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("c2sphttp: add-checkpoint: %w", err)
	}
	defer resp.Body.Close()
	limit := int64(maxErrorBody)
	switch resp.StatusCode {
	case http.StatusOK:
		limit = MaxCosignatureResponse
	case http.StatusConflict:
		limit = maxConflictBody
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("c2sphttp: add-checkpoint: read answer: %w", err)
	}
	over := int64(len(b)) > limit
	switch resp.StatusCode {
	case http.StatusOK:
		if over {
			return nil, &ResponseError{Status: resp.StatusCode, Rule: fmt.Sprintf("cosignatures larger than %d bytes", limit)}
		}
		if len(b) == 0 {
			return nil, &ResponseError{Status: resp.StatusCode, Rule: "no cosignature lines"}
		}
		return b, nil
	case http.StatusConflict:
		if ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";"); strings.TrimSpace(ct) != ctSize {
			return nil, &ResponseError{Status: resp.StatusCode, Rule: fmt.Sprintf("Content-Type %q, want %s", resp.Header.Get("Content-Type"), ctSize)}
		}
		if over {
			return nil, &ResponseError{Status: resp.StatusCode, Rule: fmt.Sprintf("size body larger than %d bytes", limit)}
		}
		size, err := provenance.ParseConflictBody(b)
		if err != nil {
			return nil, &ResponseError{Status: resp.StatusCode, Rule: err.Error()}
		}
		return nil, &WitnessError{Status: resp.StatusCode, StoredSize: size, Conflict: true}
	default:
		return nil, &WitnessError{Status: resp.StatusCode, Body: strings.TrimSpace(strings.ToValidUTF8(string(b[:min(len(b), maxErrorBody)]), "?"))}
	}
}
