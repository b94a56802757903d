package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/provenance/tsa"
)

// TestTSAServe runs `aurora tsa serve`, timestamps through it with the
// client, and stops it by cancelling the command's context (what SIGINT
// does through run's signal.NotifyContext).
func TestTSAServe(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	root := newRootCmd(strings.NewReader(""), pw, io.Discard)
	root.SetArgs([]string{"tsa", "serve", "--listen", "127.0.0.1:0", "--home", home})
	done := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		pw.Close()
		done <- err
	}()

	sc := bufio.NewScanner(pr)
	var url, rootPath string
	for sc.Scan() {
		line := sc.Text()
		if u, ok := strings.CutPrefix(line, "tsa: serving RFC 3161 at "); ok {
			url = u
		}
		if p, ok := strings.CutPrefix(line, "tsa: root certificate "); ok {
			rootPath = p
			break
		}
	}
	if url == "" || rootPath == "" {
		t.Fatalf("serve printed url %q root %q; err %v", url, rootPath, sc.Err())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if want := filepath.Join(home, "tsa", tsa.DevRootCertFile); rootPath != want {
		t.Fatalf("root path %s, want %s", rootPath, want)
	}
	if _, err := os.Stat(rootPath); err != nil {
		t.Fatal(err)
	}

	pemData, err := os.ReadFile(rootPath)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := tsa.CertPoolFromPEM(pemData)
	if err != nil {
		t.Fatal(err)
	}
	c := &tsa.Client{URL: url, Roots: roots}
	digest := sha256.Sum256([]byte("checkpoint\n"))
	if _, err := c.Timestamp(ctx, digest); err != nil {
		t.Fatal(err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s of cancellation")
	}
}
