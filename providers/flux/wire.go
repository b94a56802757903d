package flux

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
)

// FluxOS answers every call with HTTP 200 and an envelope
//
//	{"status":"success"|"error"|"warning","data":...}
//
// errors included: {"status":"error","data":{"code":..,"name":..,"message":..}}.
type envelope struct {
	Status string          `json:"status"`
	Data   json.RawMessage `json:"data"`
}

// APIError is a FluxOS error envelope (delivered with HTTP 200). It unwraps
// to providers.ErrAuth for "Unauthorized", providers.ErrNotFound for "not
// found" messages, else nothing.
type APIError struct {
	Op      string
	Status  string // "error" or "warning"
	Code    string // data.code, as text (often absent)
	Name    string // data.name ("Error", "Unauthorized", ...)
	Message string
	Err     error
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flux: %s: %s", e.Op, e.Status)
	if e.Name != "" {
		fmt.Fprintf(&b, " %s", e.Name)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// Unwrap returns the shared error the envelope maps to, or nil.
func (e *APIError) Unwrap() error { return e.Err }

// unwrapEnvelope returns data of a success envelope or an *APIError.
func unwrapEnvelope(op string, body []byte) (json.RawMessage, error) {
	var env envelope
	if err := httpx.DecodeJSON(body, &env); err != nil {
		return nil, fmt.Errorf("flux: %s: %w", op, err)
	}
	switch env.Status {
	case "success":
		if len(env.Data) == 0 {
			return nil, fmt.Errorf("flux: %s: success without data", op)
		}
		return env.Data, nil
	case "error", "warning":
		e := &APIError{Op: op, Status: env.Status}
		var d struct {
			Code    json.RawMessage `json:"code"`
			Name    string          `json:"name"`
			Message string          `json:"message"`
		}
		if json.Unmarshal(env.Data, &d) == nil {
			e.Name, e.Message = d.Name, d.Message
			e.Code = strings.Trim(string(bytes.TrimSpace(d.Code)), `"`)
			if e.Code == "null" {
				e.Code = ""
			}
		} else {
			var s string
			if json.Unmarshal(env.Data, &s) == nil {
				e.Message = s
			} else {
				e.Message = httpx.Excerpt(env.Data, 200)
			}
		}
		e.Name, e.Code, e.Message = httpx.Excerpt([]byte(e.Name), 60), httpx.Excerpt([]byte(e.Code), 20), httpx.Excerpt([]byte(e.Message), 300)
		e.Err = classify(e)
		return nil, e
	}
	return nil, fmt.Errorf("flux: %s: unexpected envelope status %q", op, httpx.Excerpt([]byte(env.Status), 40))
}

func classify(e *APIError) error {
	m := strings.ToLower(e.Message)
	switch {
	case e.Code == "401" || e.Code == "403" || strings.EqualFold(e.Name, "Unauthorized") || strings.Contains(m, "unauthorized"):
		return providers.ErrAuth
	case strings.Contains(m, "not found"):
		return providers.ErrNotFound
	case e.Code == "429" || strings.Contains(m, "too many requests"):
		return providers.ErrRateLimited
	}
	return nil
}

// deploymentInfo is GET /apps/deploymentinformation (fields Aurora uses).
type deploymentInfo struct {
	// Price is the chain's price table: consensus's minimum for a message.
	Price                   []chainInterval `json:"price"`
	Address                 string          `json:"address"`
	MinimumInstances        int64           `json:"minimumInstances"`
	MaximumInstances        int64           `json:"maximumInstances"`
	MinBlocksAllowance      int64           `json:"minBlocksAllowance"`
	MaxBlocksAllowance      int64           `json:"maxBlocksAllowance"`
	BlocksAllowanceInterval int64           `json:"blocksAllowanceInterval"`
}

func parseDeploymentInfo(data json.RawMessage) (deploymentInfo, error) {
	var d deploymentInfo
	if err := httpx.DecodeJSON(data, &d); err != nil {
		return d, fmt.Errorf("flux: deployment information: %w", err)
	}
	if d.Address == "" || len(d.Address) > 64 || d.MinimumInstances < 0 || d.MaximumInstances < 0 ||
		d.MinBlocksAllowance < 0 || d.MaxBlocksAllowance < 0 || d.BlocksAllowanceInterval < 0 {
		return d, fmt.Errorf("flux: deployment information: implausible %s", httpx.Excerpt(data, 200))
	}
	return d, nil
}

// price is POST /apps/calculatefiatandfluxprice. fluxDiscount is a number
// (percent) or, when the chain price exceeds the quote, the string "Not
// possible to define discount" (RunOnFlux/flux @ 845aa9b
// ZelBack/src/services/utils/appSpecHelpers.js).
type price struct {
	USD          json.Number  `json:"usd"`
	FLUX         json.Number  `json:"flux"`
	FLUXDiscount fluxDiscount `json:"fluxDiscount"`
}

// fluxDiscount is the discount in percent as FluxOS wrote it, "" when
// FluxOS could not define one.
type fluxDiscount string

// String returns the discount as received ("5"), or "".
func (d fluxDiscount) String() string { return string(d) }

// UnmarshalJSON accepts a number, a string (kept only when it is a
// number) or null.
func (d *fluxDiscount) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*d = fluxDiscount(n)
		return nil
	}
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("fluxDiscount: want a number or a string, got %s", httpx.Excerpt(b, 60))
	}
	*d = ""
	return nil
}

func parsePrice(data json.RawMessage) (price, error) {
	var p price
	if err := httpx.DecodeJSON(data, &p); err != nil {
		return p, fmt.Errorf("flux: price: %w", err)
	}
	if p.USD == "" || p.FLUX == "" {
		return p, fmt.Errorf("flux: price: usd or flux missing in %s", httpx.Excerpt(data, 200))
	}
	return p, nil
}

// publishedSpec is the part of GET /apps/appspecifications/{name} Aurora
// reads; the raw document is kept for updates.
type publishedSpec struct {
	Name    string `json:"name"`
	Compose []struct {
		Ports          []int64 `json:"ports"`
		ContainerPorts []int64 `json:"containerPorts"`
	} `json:"compose"`
	Owner     string `json:"owner"`
	Instances int64  `json:"instances"`
	Expire    int64  `json:"expire"`
	Height    int64  `json:"height"`
	Hash      string `json:"hash"`
	Version   int64  `json:"version"`
}

func parsePublished(data json.RawMessage) (publishedSpec, error) {
	var s publishedSpec
	if err := httpx.DecodeJSON(data, &s); err != nil {
		return s, fmt.Errorf("flux: app specification: %w", err)
	}
	if s.Name == "" || s.Owner == "" || s.Height < 0 || s.Expire < 0 || s.Instances < 0 {
		return s, fmt.Errorf("flux: app specification: implausible %s", httpx.Excerpt(data, 200))
	}
	if s.Expire == 0 {
		// Specs before v6 had no expire: the network default applies (PON).
		s.Expire = defaultExpireBlocks
	}
	return s, nil
}

// message is a temporary or permanent app message.
type message struct {
	Type              string          `json:"type"`
	Version           int64           `json:"version"`
	AppSpecifications json.RawMessage `json:"appSpecifications"`
	Hash              string          `json:"hash"`
	Timestamp         int64           `json:"timestamp"`
	Height            int64           `json:"height,omitempty"`
	TxID              string          `json:"txid,omitempty"`
	spec              publishedSpec
}

func parseMessages(data json.RawMessage) ([]message, error) {
	var ms []message
	if err := httpx.DecodeJSON(data, &ms); err != nil {
		return nil, fmt.Errorf("flux: app messages: %w", err)
	}
	for i := range ms {
		if !isHash(ms[i].Hash) {
			return nil, fmt.Errorf("flux: app messages: bad hash %q", httpx.Excerpt([]byte(ms[i].Hash), 80))
		}
		if len(ms[i].AppSpecifications) > 0 {
			_ = json.Unmarshal(ms[i].AppSpecifications, &ms[i].spec)
		}
	}
	return ms, nil
}

// location is one running instance (GET /apps/location/{name}).
type location struct {
	Name string `json:"name"`
	Hash string `json:"hash"`
	IP   string `json:"ip"`
}

func parseLocations(data json.RawMessage) ([]location, error) {
	var ls []location
	if err := httpx.DecodeJSON(data, &ls); err != nil {
		return nil, fmt.Errorf("flux: app locations: %w", err)
	}
	return ls, nil
}

func parseHeight(data json.RawMessage) (int64, error) {
	var h int64
	if err := httpx.DecodeJSON(data, &h); err != nil || h <= 0 {
		return 0, fmt.Errorf("flux: block count: bad %s", httpx.Excerpt(data, 60))
	}
	return h, nil
}

func parseHashData(data json.RawMessage) (string, error) {
	var h string
	if err := httpx.DecodeJSON(data, &h); err != nil || !isHash(h) {
		return "", fmt.Errorf("flux: message hash: want 64 hex characters, got %s", httpx.Excerpt(data, 100))
	}
	return h, nil
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// maxStringifyDepth bounds nesting in jsStringify.
const maxStringifyDepth = 32

// jsStringify re-serializes a JSON document exactly as JavaScript's
// JSON.stringify would print the value it parses to: key order kept, no
// white space, strings escaped the JavaScript way (only ", \ and control
// characters; non-ASCII, "/", "<", U+2028 left as they are). Number literals
// are kept as received: FluxOS produced them with JSON.stringify already.
// FluxOS signs type + version + JSON.stringify(formattedSpec) + timestamp, so
// this is what the owner signs.
func jsStringify(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var b bytes.Buffer
	if err := stringifyValue(dec, &b, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("flux: stringify: trailing data")
	}
	return b.Bytes(), nil
}

func stringifyValue(dec *json.Decoder, b *bytes.Buffer, depth int) error {
	if depth > maxStringifyDepth {
		return errors.New("flux: stringify: nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("flux: stringify: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			b.WriteByte('{')
			for first := true; dec.More(); first = false {
				if !first {
					b.WriteByte(',')
				}
				k, err := dec.Token()
				if err != nil {
					return fmt.Errorf("flux: stringify: %w", err)
				}
				writeJSString(b, k.(string))
				b.WriteByte(':')
				if err := stringifyValue(dec, b, depth+1); err != nil {
					return err
				}
			}
			b.WriteByte('}')
		case '[':
			b.WriteByte('[')
			for first := true; dec.More(); first = false {
				if !first {
					b.WriteByte(',')
				}
				if err := stringifyValue(dec, b, depth+1); err != nil {
					return err
				}
			}
			b.WriteByte(']')
		}
		if _, err := dec.Token(); err != nil { // closing delimiter
			return fmt.Errorf("flux: stringify: %w", err)
		}
	case string:
		writeJSString(b, t)
	case json.Number:
		b.WriteString(t.String())
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case nil:
		b.WriteString("null")
	}
	return nil
}

func writeJSString(b *bytes.Buffer, s string) {
	const hexd = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hexd[r>>4])
				b.WriteByte(hexd[r&15])
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
