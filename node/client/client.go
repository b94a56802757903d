// Package client talks to an Aurora node's HTTP API and builds signed
// orders. The CLI, the testnet and the demo use it.
package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aurora-federation/aurora/treaty"
)

// Client calls one node's API. Safe for concurrent use.
type Client struct {
	// Base is the API's base URL, e.g. http://127.0.0.1:7070.
	Base string
	// Token is the operator bearer token, for operator endpoints.
	Token string
	// HTTP defaults to a client with a 30s timeout.
	HTTP *http.Client
}

// New returns a client for base.
func New(base, token string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// APIError is an error response from the node.
type APIError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// maxResponse bounds responses the client reads.
const maxResponse = 16 << 20

// Do sends a request and decodes a JSON answer into out (when non-nil).
func (c *Client) Do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	raw, err := c.Raw(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("client: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Raw sends a request and returns the answer's body.
func (c *Client) Raw(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
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
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error struct{ Code, Message, Field string }
		}
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
			return nil, &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, Field: eb.Error.Field}
		}
		return nil, &APIError{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(raw))}
	}
	return raw, nil
}

// OrderResponse is the answer to POST /v1/orders.
type OrderResponse struct {
	Result string `json:"result"`
	// Replayed: the identical order was answered before; this is that answer.
	Replayed bool            `json:"replayed"`
	CID      string          `json:"cid"`
	Job      string          `json:"job"`
	Record   json.RawMessage `json:"record"`
}

// Submit posts a signed order as dag-cbor.
func (c *Client) Submit(ctx context.Context, o *treaty.Order) (*OrderResponse, error) {
	b, err := treaty.Encode(o)
	if err != nil {
		return nil, err
	}
	var out OrderResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/orders", "application/vnd.ipld.dag-cbor", b, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Job is GET /v1/jobs/{id}.
type Job struct {
	Job    string          `json:"job"`
	Status string          `json:"status"`
	Leaves []uint64        `json:"leaves"`
	Record json.RawMessage `json:"record"`
	Ack    json.RawMessage `json:"ack"`
}

// Job fetches a job.
func (c *Client) Job(ctx context.Context, id string) (*Job, error) {
	var out Job
	return &out, c.Do(ctx, http.MethodGet, "/v1/jobs/"+id, "", nil, &out)
}

// Jobs lists jobs (operator token).
func (c *Client) Jobs(ctx context.Context, offset, limit int) ([]Job, error) {
	var out struct{ Jobs []Job }
	err := c.Do(ctx, http.MethodGet, fmt.Sprintf("/v1/jobs?offset=%d&limit=%d", offset, limit), "", nil, &out)
	return out.Jobs, err
}

// WaitSettled polls a job until it is running, failed, forwarded or
// canceled (or ctx ends).
func (c *Client) WaitSettled(ctx context.Context, id string) (*Job, error) {
	for {
		j, err := c.Job(ctx, id)
		if err != nil {
			return nil, err
		}
		switch j.Status {
		case treaty.StatusRunning, treaty.StatusFailed, treaty.StatusSucceeded, treaty.StatusTerminated, treaty.StatusForwarded, treaty.StatusCanceled:
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// OrderSpec describes an order in the CLI's terms.
type OrderSpec struct {
	Image    string
	Cmd      []string
	Env      map[string]string
	GPU      string // "A100:1" (model:count), "" = none
	MinVRAM  int64  // MiB
	CPU      int64  // millicores
	Memory   int64  // MiB
	Disk     int64  // MiB
	Duration time.Duration
	Ports    []int64
	Regions  []string
	// MaxPrice is "2.50/h" or "2.50" (USD per hour).
	MaxPrice      string
	MinReputation int64
	Providers     []string
	// Lifetime is how long the order stays valid. Default 10 minutes.
	Lifetime time.Duration
	// Secrets are environment variables sealed to SealTo
	// (treaty.SealSecrets): the order carries only their box, and only
	// that operator opens it, at launch. Names must differ from Env's.
	Secrets map[string]string
	// SealTo is the DID of the operator the order is submitted to
	// (required with Secrets). Learn it out of band (`aurora id` on the
	// node) or with NodeDID, and check that the Ack is signed by it.
	SealTo treaty.DID
}

// ParseUSDPerHour parses "2.50/h" or "2.50" into micro-USD per hour.
func ParseUSDPerHour(s string) (int64, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(s), "/h"), "/hr"))
	s = strings.TrimPrefix(s, "$")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || len(frac) > 6 {
		return 0, fmt.Errorf("price %q: want dollars per hour like 2.50/h (at most 6 decimals)", s)
	}
	w, err := strconv.ParseInt("0"+whole, 10, 64)
	if err != nil || w > 1_000_000 {
		return 0, fmt.Errorf("price %q: want dollars per hour like 2.50/h", s)
	}
	f := int64(0)
	if frac != "" {
		f, err = strconv.ParseInt((frac + "000000")[:6], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("price %q: want dollars per hour like 2.50/h", s)
		}
	}
	return w*1_000_000 + f, nil
}

// BuildOrder makes and signs an order with a fresh random nonce.
func BuildOrder(k *treaty.PrivateKey, s OrderSpec, now time.Time) (*treaty.Order, error) {
	price, err := ParseUSDPerHour(s.MaxPrice)
	if err != nil {
		return nil, err
	}
	if s.Lifetime == 0 {
		s.Lifetime = 10 * time.Minute
	}
	if s.Duration == 0 {
		s.Duration = time.Hour
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	w := treaty.Workload{Image: s.Image, Cmd: s.Cmd, CPU: s.CPU, Memory: s.Memory, Disk: s.Disk,
		Duration: int64(s.Duration / time.Second), Ports: s.Ports}
	if w.Cmd == nil {
		w.Cmd = []string{}
	}
	if w.Ports == nil {
		w.Ports = []int64{}
	}
	w.Env = []treaty.EnvVar{}
	for k, v := range s.Env {
		w.Env = append(w.Env, treaty.EnvVar{Name: k, Value: v})
	}
	slices.SortFunc(w.Env, func(a, b treaty.EnvVar) int { return strings.Compare(a.Name, b.Name) })
	if s.GPU != "" {
		model, count, ok := strings.Cut(s.GPU, ":")
		n := int64(1)
		if ok {
			if n, err = strconv.ParseInt(count, 10, 64); err != nil {
				return nil, fmt.Errorf("gpu %q: want MODEL:COUNT like A100:1", s.GPU)
			}
		}
		w.GPU = &treaty.GPU{Model: model, Count: n, MinVRAM: s.MinVRAM}
	}
	regions := slices.Clone(s.Regions)
	slices.Sort(regions)
	provs := slices.Clone(s.Providers)
	slices.Sort(provs)
	if regions == nil {
		regions = []string{}
	}
	if provs == nil {
		provs = []string{}
	}
	o := &treaty.Order{V: treaty.Version, Client: k.DID(), Nonce: nonce, Created: now.Unix(), Expires: now.Add(s.Lifetime).Unix(),
		Workload:    w,
		Constraints: treaty.Constraints{Regions: slices.Compact(regions), MaxPricePerHour: price, MinReputation: s.MinReputation, Providers: slices.Compact(provs)}}
	if len(s.Secrets) > 0 {
		if s.SealTo == "" {
			return nil, errors.New("client: secrets need SealTo, the DID of the operator that runs the order")
		}
		env := make([]treaty.EnvVar, 0, len(s.Secrets))
		for k, v := range s.Secrets {
			env = append(env, treaty.EnvVar{Name: k, Value: v})
		}
		if err := treaty.SealSecrets(s.SealTo, o, env); err != nil {
			return nil, err
		}
	}
	if err := o.Validate(now); err != nil {
		return nil, err
	}
	if err := treaty.Sign(o, k); err != nil {
		return nil, err
	}
	return o, nil
}

// NodeDID returns the DID of the node's key as its GET /v1/trust states it
// (the log key, a C2SP signed-note verifier key of the node's Ed25519
// key), for sealing secrets to it. The answer is only as trustworthy as
// the connection: pin the DID from `aurora id` where it matters, and check
// that the order's Ack is signed by the DID sealed to.
func (c *Client) NodeDID(ctx context.Context) (treaty.DID, error) {
	var tv struct {
		LogKey string `json:"log_key"`
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/trust", "", nil, &tv); err != nil {
		return "", err
	}
	return DIDFromVerifierKey(tv.LogKey)
}

// DIDFromVerifierKey reads a C2SP signed-note verifier key
// ("name+hash+base64(0x01 || Ed25519 key)") and returns the DID of its
// key, checking the key hash (SHA-256 of name, "\n", 0x01 and the key).
func DIDFromVerifierKey(vkey string) (treaty.DID, error) {
	parts := strings.SplitN(vkey, "+", 3) // the key data is base64, which has "+" too
	if len(parts) != 3 || parts[0] == "" || len(parts[1]) != 8 {
		return "", fmt.Errorf("client: verifier key %q: want name+hash+key", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 0x01 {
		return "", fmt.Errorf("client: verifier key %q: not an Ed25519 key", vkey)
	}
	sum := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	if hex.EncodeToString(sum[:4]) != parts[1] {
		return "", fmt.Errorf("client: verifier key %q: key hash does not match", vkey)
	}
	return treaty.DIDFromPublicKey(ed25519.PublicKey(raw[1:])), nil
}

// IsStatus reports whether err is an API error with the given HTTP status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}
