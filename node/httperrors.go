package node

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
)

// serverErrorHeaders follows the status line of every error Go's HTTP
// server writes itself, before any handler runs (malformed requests, 431
// headers too large, unsupported transfer encodings): net/http's
// errorHeaders. A handler's response always carries a Date header first.
const serverErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// jsonErrorListener makes the HTTP server's own error answers carry the
// API's documented JSON error shape instead of plain text.
type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c}, nil
}

type jsonErrorConn struct{ net.Conn }

// CloseWrite keeps the server's graceful close of TCP connections.
func (c *jsonErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *jsonErrorConn) Write(b []byte) (int, error) {
	out, ok := rewriteServerError(b)
	if !ok {
		return c.Conn.Write(b)
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// rewriteServerError turns one of net/http's own error responses (one
// write: status line, serverErrorHeaders, a plain-text message) into the
// same status with an ErrorBody.
func rewriteServerError(b []byte) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if len(b) < len(proto)+3 || !bytes.HasPrefix(b, []byte(proto)) || (b[len(proto)] != '4' && b[len(proto)] != '5') {
		return nil, false
	}
	eol := bytes.Index(b, []byte("\r\n"))
	if eol < 0 || !bytes.HasPrefix(b[eol:], []byte(serverErrorHeaders)) {
		return nil, false
	}
	status, err := strconv.Atoi(string(b[len(proto) : len(proto)+3]))
	if err != nil {
		return nil, false
	}
	msg := string(b[eol+len(serverErrorHeaders):])
	code, field := "bad_request", "request"
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		code, field = "headers_too_large", "headers"
	case http.StatusNotImplemented:
		code, field = "not_implemented", "transfer-encoding"
	}
	body, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Code: code, Field: field, Message: msg}})
	body = append(body, '\n')
	var out bytes.Buffer
	out.WriteString(proto + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	out.WriteString("Content-Type: " + ctJSON + "\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	out.Write(body)
	return out.Bytes(), true
}
