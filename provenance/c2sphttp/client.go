package c2sphttp

import (
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
