package testnet

import (
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aurora-federation/aurora/provenance/tsa"
)

// DevTSA is a dev RFC 3161 TSA (its own CA) served over HTTP on loopback.
type DevTSA struct {
	URL string
	tsa *tsa.DevTSA
	srv *http.Server
	ln  net.Listener
}

// StartDevTSA creates (or loads) a dev TSA in dir and serves it.
func StartDevTSA(dir string) (*DevTSA, error) {
	d, err := tsa.NewDevTSA(dir, nil)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &DevTSA{URL: "http://" + ln.Addr().String() + "/", tsa: d, ln: ln,
		srv: &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 5 * time.Second}}
	go t.srv.Serve(ln)
	return t, nil
}

// Close stops the server.
func (t *DevTSA) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// writeRoots writes the PEM roots of every TSA to path (tsa_roots).
func writeRoots(path string, ts []*DevTSA) error {
	var out []byte
	for _, t := range ts {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: t.tsa.Root().Raw})...)
	}
	return os.WriteFile(path, out, 0o644)
}

// TSARootsPath is where Start writes both dev TSAs' roots.
func (tn *Testnet) TSARootsPath() string { return filepath.Join(tn.Dir, "tsa-roots.pem") }
