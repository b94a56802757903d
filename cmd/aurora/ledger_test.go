package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/treaty"
)

func runAurora(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// TestLedgerBackupRestore backs up a running node over its API (full, then
// incremental since the full's version), restores both into a fresh home and
// finds every job.
func TestLedgerBackupRestore(t *testing.T) {
	home := filepath.Join(t.TempDir(), "n1")
	cfg := node.DefaultConfig()
	cfg.Backup.Interval = 0
	cfg.P2P.Listen = []string{}
	if _, err := node.InitHome(home, cfg, false, nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(t.Context(), node.Options{Home: home, Config: cfg, APIListener: ln})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	api := "http://" + n.APIAddr()
	k, _ := treaty.GenerateKey(nil)
	c := client.New(api, "")
	submit := func() string {
		o, err := client.BuildOrder(k, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Submit(t.Context(), o)
		if err != nil || r.Result != "ack" {
			t.Fatalf("submit: %v %+v", err, r)
		}
		return r.Job
	}
	jobs := []string{submit(), submit()}
	dir := t.TempDir()
	full, incr := filepath.Join(dir, "full.bak"), filepath.Join(dir, "incr.bak")
	out, errs, code := runAurora(t, "ledger", "backup", "--home", home, "--api", api, "-o", full)
	if code != 0 {
		t.Fatalf("backup: %s %s", out, errs)
	}
	m, err := store.DecodeManifest(mustOpen(t, full+store.ManifestSuffix))
	if err != nil {
		t.Fatal(err)
	}
	jobs = append(jobs, submit())
	if out, errs, code = runAurora(t, "ledger", "backup", "--home", home, "--api", api, "-o", incr, "--since", itoa(m.Version)); code != 0 {
		t.Fatalf("incremental backup: %s %s", out, errs)
	}
	// A wrong token is refused.
	os.WriteFile(filepath.Join(home, node.TokenFile), []byte(strings.Repeat("f", 64)), 0o600)
	if _, errs, code = runAurora(t, "ledger", "backup", "--home", home, "--api", api, "-o", filepath.Join(dir, "x.bak")); code == 0 || !strings.Contains(errs, "403") {
		t.Fatalf("backup with a bad token: code %d %s", code, errs)
	}

	// An order accepted after the last backup: its nonce is not in the backup.
	lateOrder, err := client.BuildOrder(k, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Submit(t.Context(), lateOrder); err != nil || r.Result != "ack" {
		t.Fatalf("late order: %v %+v", err, r)
	}
	time.Sleep(1100 * time.Millisecond) // the restore time is later than the late order's creation

	fresh := filepath.Join(t.TempDir(), "n2")
	if _, err := node.InitHome(fresh, cfg, false, nil); err != nil {
		t.Fatal(err)
	}
	if out, errs, code = runAurora(t, "ledger", "restore", "--home", fresh, full, incr); code != 0 {
		t.Fatalf("restore: %s %s", out, errs)
	}
	db, err := store.Open(store.Config{Dir: filepath.Join(fresh, node.DataDir)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ledger := node.LedgerOf(db)
	defer ledger.Close()
	for _, id := range jobs {
		if _, err := ledger.Job(t.Context(), id); err != nil {
			t.Errorf("job %s missing after restore: %v", id, err)
		}
	}
	db.Close()
	// The restored node cannot be made to accept the late order again (its
	// nonce was used after the backup), but takes new ones.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n2, err := node.New(t.Context(), node.Options{Home: fresh, Config: cfg, APIListener: ln2})
	if err != nil {
		t.Fatal(err)
	}
	c2 := client.New("http://"+n2.APIAddr(), "")
	_, err = c2.Submit(t.Context(), lateOrder)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 409 || ae.Code != "restored" {
		t.Errorf("the late order replayed after the restore: %v, want 409 restored", err)
	}
	newer, _ := client.BuildOrder(k, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h"}, time.Now())
	if r, err := c2.Submit(t.Context(), newer); err != nil || r.Result != "ack" {
		t.Errorf("a new order after the restore: %v %+v", err, r)
	}
	n2.Close(context.Background())
	// A tampered backup is refused by its manifest checksum.
	b, _ := os.ReadFile(incr)
	b[len(b)/2] ^= 1
	os.WriteFile(incr, b, 0o600)
	if _, errs, code = runAurora(t, "ledger", "restore", "--home", fresh, incr); code == 0 || !strings.Contains(errs, "sha256") && !strings.Contains(errs, "checksum") {
		t.Fatalf("tampered backup: code %d %s, want a checksum refusal", code, errs)
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
