package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
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
	// Nothing arrived: nothing is left to resume.
	if left, _ := filepath.Glob(filepath.Join(dir, "x.bak*")); len(left) != 0 {
		t.Errorf("a refused backup left %v", left)
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
	// Created has one-second resolution, and an order created in the
	// second of the restore is refused (it may predate it): date the new
	// one in the next second, within the allowed clock skew.
	newer, _ := client.BuildOrder(k, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h"}, time.Now().Truncate(time.Second).Add(time.Second))
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

// cutProxy forwards connections to target and cuts each response after
// limit bytes: a network that drops in the middle of a backup.
func cutProxy(t *testing.T, target string, limit int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.CopyN(c, up, limit)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return "http://" + ln.Addr().String()
}

// TestLedgerBackupResume: an incremental backup cut by the network leaves
// FILE.partial; --resume keeps its whole frames and fetches the rest (with
// the jobs accepted meanwhile), and the full backup and the resumed
// incremental restore every job.
func TestLedgerBackupResume(t *testing.T) {
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
	c := client.New(api, "")
	var mu sync.Mutex
	var jobs []string
	submit := func(count int) {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, _ := treaty.GenerateKey(nil)
				for i := w; i < count; i += 8 {
					o, err := client.BuildOrder(k, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h"}, time.Now())
					if err != nil {
						t.Error(err)
						return
					}
					r, err := c.Submit(t.Context(), o)
					if err != nil || r.Result != "ack" {
						t.Errorf("submit: %v %+v", err, r)
						return
					}
					mu.Lock()
					jobs = append(jobs, r.Job)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	submit(20)
	dir := t.TempDir()
	full, incr := filepath.Join(dir, "full.bak"), filepath.Join(dir, "incr.bak")
	if out, errs, code := runAurora(t, "ledger", "backup", "--home", home, "--api", api, "-o", full); code != 0 {
		t.Fatalf("backup: %s %s", out, errs)
	}
	m, err := store.DecodeManifest(mustOpen(t, full+store.ManifestSuffix))
	if err != nil {
		t.Fatal(err)
	}
	submit(resumeJobs)
	// How big the incremental is, to cut it past its first frame.
	probe := filepath.Join(dir, "probe.bak")
	if out, errs, code := runAurora(t, "ledger", "backup", "--home", home, "--api", api, "-o", probe, "--since", itoa(m.Version)); code != 0 {
		t.Fatalf("incremental backup: %s %s", out, errs)
	}
	pm, err := store.DecodeManifest(mustOpen(t, probe+store.ManifestSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if pm.Size < 3<<20/2 {
		t.Fatalf("the incremental of %d jobs is %d bytes: too small to cut after a whole 1 MiB frame", resumeJobs, pm.Size)
	}
	cut := cutProxy(t, n.APIAddr(), pm.Size*3/4)
	out, errs, code := runAurora(t, "ledger", "backup", "--home", home, "--api", cut, "-o", incr, "--since", itoa(m.Version))
	if code == 0 || !strings.Contains(errs, "backup interrupted after") || !strings.Contains(errs, "--resume") {
		t.Fatalf("backup through a cut connection: exit %d\n%s%s", code, out, errs)
	}
	for _, f := range []string{incr + ".partial", incr + ".partial.json"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("after the cut: %v", err)
		}
	}
	if _, err := os.Stat(incr); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the cut backup was renamed into place: %v", err)
	}
	// The node takes more orders meanwhile: the resumed backup has them.
	submit(5)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a new backup over the interrupted one", []string{"--api", api, "--since", itoa(m.Version)}, "--resume"},
		{"resumed with another since", []string{"--api", api, "--since", "1", "--resume"}, "not --since 1"},
	} {
		if out, errs, code := runAurora(t, append([]string{"ledger", "backup", "--home", home, "-o", incr}, tc.args...)...); code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, want an error with %q\n%s%s", tc.name, code, tc.want, out, errs)
		}
	}
	out, errs, code = runAurora(t, "ledger", "backup", "--home", home, "--api", api, "-o", incr, "--resume")
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, out, errs)
	}
	mk := regexp.MustCompile(`: (\d+) bytes kept \((\d+) whole frames`).FindStringSubmatch(errs)
	if mk == nil {
		t.Fatalf("resume did not say what it kept:\n%s", errs)
	}
	kept, _ := strconv.ParseInt(mk[1], 10, 64)
	frames, _ := strconv.Atoi(mk[2])
	if kept < 512<<10 || frames < 1 {
		t.Fatalf("resume kept %d bytes in %d frames: the cursor was not used\n%s", kept, frames, errs)
	}
	for _, f := range []string{incr + ".partial", incr + ".partial.json"} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after the resumed backup: %v", f, err)
		}
	}
	im, err := store.DecodeManifest(mustOpen(t, incr+store.ManifestSuffix))
	if err != nil || im.Since != m.Version || im.Version <= pm.Version {
		t.Fatalf("resumed manifest %+v (%v): want since %d and a version beyond the probe's %d", im, err, m.Version, pm.Version)
	}
	if im.Size > pm.Size+kept/2 {
		t.Errorf("the resumed backup is %d bytes, the uncut one %d: the kept %d bytes were sent again", im.Size, pm.Size, kept)
	}

	fresh := filepath.Join(t.TempDir(), "n2")
	if _, err := node.InitHome(fresh, cfg, false, nil); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := runAurora(t, "ledger", "restore", "--home", fresh, full, incr); code != 0 {
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
			t.Errorf("job %s missing after restoring the full and the resumed incremental backup: %v", id, err)
		}
	}
	t.Logf("%d jobs; full %d bytes; incremental %d bytes, cut at %d, %d kept in %d frames", len(jobs), m.Size, im.Size, pm.Size*3/4, kept, frames)
}

// resumeJobs is how many jobs make an incremental backup of several 1 MiB
// frames.
const resumeJobs = 500

// TestLedgerResumeState: --resume needs the state an interrupted backup
// left, bounded at 4 KiB and strict.
func TestLedgerResumeState(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "b.bak")
	state := `{"since":7,"api":"http://127.0.0.1:1","started":"2026-01-01T00:00:00Z"}`
	for _, tc := range []struct {
		name, state, want string
	}{
		{"no interrupted backup", "", "no interrupted backup of"},
		{"state at 4 KiB", state + strings.Repeat(" ", maxPartialState-len(state)), "b.bak.partial: no such file"},
		{"state over 4 KiB", state + strings.Repeat(" ", maxPartialState-len(state)+1), "larger than 4096 bytes"},
		{"unknown field", `{"since":7,"x":1}`, "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out + partialStateSuffix)
			if tc.state != "" {
				if err := os.WriteFile(out+partialStateSuffix, []byte(tc.state), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, errs, code := runAurora(t, "ledger", "backup", "--home", dir, "--api", "http://127.0.0.1:1", "-o", out, "--resume"); code == 0 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, want an error with %q: %s", code, tc.want, errs)
			}
		})
	}
}
