package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

func jsonMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// DecodeJSON decodes a provider response into v, tolerating fields v does not
// name (providers add fields) but not a type mismatch, trailing data, or a
// body that is not JSON; the error then says what arrived instead (an HTML
// error page, plain text) with a short excerpt. Callers bound data (Do does).
func DecodeJSON(data []byte, v any) error { return decode(data, v, false) }

// DecodeJSONStrict is DecodeJSON rejecting unknown fields: for inputs Aurora
// defines itself (fake servers decoding adapter requests).
func DecodeJSONStrict(data []byte, v any) error { return decode(data, v, true) }

// DecodeJSON decodes the response body with DecodeJSON.
func (r *Response) DecodeJSON(v any) error { return DecodeJSON(r.Body, v) }

func decode(data []byte, v any, strict bool) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return errors.New("httpx: empty body, want JSON")
	}
	if c := trimmed[0]; c != '{' && c != '[' && c != '"' && c != 'n' && c != 't' && c != 'f' && c != '-' && (c < '0' || c > '9') {
		kind := "text"
		if c == '<' {
			kind = "HTML or XML"
		}
		return fmt.Errorf("httpx: body is %s, want JSON: %q", kind, Excerpt(trimmed, 120))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("httpx: decode JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("httpx: decode JSON: trailing data after the value")
	}
	return nil
}

// Excerpt returns at most n bytes of b as valid UTF-8 text with control
// characters replaced, for error messages.
func Excerpt(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, string(bytes.ToValidUTF8(b, []byte("?"))))
}

// ParseError is the default API.ParseError. It understands the error shapes
// of the networks Aurora speaks to:
//
//	{"error":"no_such_ask","msg":"..."}                     Vast.ai
//	{"detail":"API requests too frequent"}                   Vast.ai, io.net
//	{"detail":[{"loc":[...],"msg":"...","type":"..."}]}      FastAPI validation
//	{"type":"...","title":"...","status":404,"detail":"..."} RFC 7807 (Salad)
//	{"error":"NotFound","message":"...","code":"not_found"}  Akash Console
//	{"error":{"code":"...","message":"..."}}                 nested envelopes
//	{"status":"error","data":{"code":..,"name":..,"message":..}} Flux
//
// and otherwise returns the body's text (HTML tags stripped to their title,
// if any) as the message.
func ParseError(status int, _ http.Header, body []byte) (code, message string) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var m map[string]json.RawMessage
		if json.Unmarshal(trimmed, &m) == nil {
			code, message = fromEnvelope(m, 3)
			if code != "" || message != "" {
				return Excerpt([]byte(code), 100), Excerpt([]byte(message), 300)
			}
		}
	}
	if len(trimmed) > 0 && trimmed[0] == '<' {
		if t := htmlTitle(trimmed); t != "" {
			return "", "html: " + t
		}
		return "", "html error page"
	}
	if len(trimmed) == 0 {
		return "", http.StatusText(status)
	}
	return "", Excerpt(trimmed, 300)
}

func fromEnvelope(m map[string]json.RawMessage, depth int) (code, message string) {
	str := func(k string) string {
		var s string
		if raw, ok := m[k]; ok && json.Unmarshal(raw, &s) == nil {
			return s
		}
		if raw, ok := m[k]; ok {
			var n json.Number
			if json.Unmarshal(raw, &n) == nil {
				return n.String()
			}
		}
		return ""
	}
	// Nested {"error":{...}} or Flux {"status":"error","data":{...}}.
	for _, k := range []string{"error", "data"} {
		if depth <= 0 {
			break
		}
		if raw, ok := m[k]; ok && len(bytes.TrimSpace(raw)) > 0 && bytes.TrimSpace(raw)[0] == '{' {
			if k == "data" && str("status") != "error" {
				continue
			}
			var inner map[string]json.RawMessage
			if json.Unmarshal(raw, &inner) == nil {
				if c, msg := fromEnvelope(inner, depth-1); c != "" || msg != "" {
					return c, msg
				}
			}
		}
	}
	code = str("code")
	if e := str("error"); e != "" {
		if code == "" {
			code = e
		}
	}
	if code == "" {
		code = str("name")
	}
	for _, k := range []string{"msg", "message", "detail", "title", "error"} {
		if s := str(k); s != "" {
			message = s
			break
		}
	}
	if message == "" {
		if raw, ok := m["detail"]; ok {
			var items []struct {
				Loc []any  `json:"loc"`
				Msg string `json:"msg"`
			}
			if json.Unmarshal(raw, &items) == nil && len(items) > 0 {
				parts := make([]string, 0, len(items))
				for _, it := range items {
					parts = append(parts, fmt.Sprintf("%v: %s", it.Loc, it.Msg))
				}
				message = strings.Join(parts, "; ")
				if code == "" {
					code = "validation_error"
				}
			}
		}
	}
	if title := str("title"); title != "" && message != title && str("detail") != "" && code == "" {
		code = title
	}
	return code, message
}

func htmlTitle(b []byte) string {
	i := indexASCIIFold(b, "<title>")
	if i < 0 {
		return ""
	}
	rest := b[i+len("<title>"):]
	j := indexASCIIFold(rest, "</title>")
	if j < 0 {
		return ""
	}
	return strings.TrimSpace(Excerpt(rest[:j], 200))
}

// indexASCIIFold is bytes.Index ignoring ASCII case. (bytes.ToLower would
// shift offsets: it rewrites invalid UTF-8 as three-byte U+FFFD.)
func indexASCIIFold(b []byte, sub string) int {
	for i := 0; i+len(sub) <= len(b); i++ {
		match := true
		for j := 0; j < len(sub); j++ {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}
