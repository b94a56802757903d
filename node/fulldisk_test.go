package node_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/node/store"
)

// smallVolume mounts a tmpfs of size bytes for the test (root only) and
// returns its path; it is unmounted at cleanup.
func smallVolume(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "aurora-test", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a ballast file name leaving about keep bytes free on dir's
// volume.
func fill(t *testing.T, dir, name string, keep uint64) string {
	t.Helper()
	free, _, err := store.FreeSpace(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if free > keep {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		for n := uint64(0); n+uint64(len(buf)) < free-keep; n += uint64(len(buf)) {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
		f.Close()
	}
	return path
}

// TestFullDiskIsAState fills a node's data volume under load: new orders
// get 507 storage_full (nothing written), reads, proofs, metrics and
// /healthz keep working, /readyz says not ready; every acked job survives;
// the node restarts while full, still refusing; freeing space brings it
// back without a restart.
func TestFullDiskIsAState(t *testing.T) {
	vol := smallVolume(t, "400m")
	home := filepath.Join(vol, "home")
	cfg := newConfig()
	cfg.Store = node.StoreConfig{ReserveBytes: 96 << 20, CheckInterval: node.Duration(50 * time.Millisecond)}
	cfg.Log.Level = "error"
	if _, err := node.InitHome(home, cfg, false, nil); err != nil {
		t.Fatal(err)
	}
	tn := &testNode{t: t, home: home, cfg: cfg}
	tn.start()
	// Leave ~120 MiB: the node fills the rest above its 96 MiB reserve
	// (about 2,500 orders; a machine busy with other suites acks only
	// 25 a second, hence the 4-minute budget).
	ballast := fill(t, vol, "ballast", 120<<20)
	k := clientKey(t)

	var (
		mu    sync.Mutex
		acked []string
		full  bool
	)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				mu.Lock()
				done := full
				mu.Unlock()
				if done {
					return
				}
				o, err := client.BuildOrder(k, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "5/h",
					Env: map[string]string{"PAD": strings.Repeat("x", 3000)}}, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				r, err := tn.api.Submit(ctx, o)
				mu.Lock()
				switch {
				case err == nil && r.Result == "ack":
					acked = append(acked, r.Job)
				case client.IsStatus(err, 507):
					full = true
				case err != nil && ctx.Err() == nil:
					t.Errorf("while filling: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if !full {
		t.Fatalf("never refused with 507 after %d orders", len(acked))
	}
	t.Logf("%d orders acked before the volume reached its reserve", len(acked))
	// Hold the volume well below the reserve: a badger compaction can free
	// a few MiB, which would rightly make the node take orders again.
	topUp := fill(t, vol, "topup", 48<<20)
	// The guard measures every check_interval; it may have seen that
	// space and let orders in again meanwhile.
	waitNotReady(t, tn)
	checkFull := func(stage string) {
		t.Helper()
		o, _ := client.BuildOrder(k, spec(), time.Now())
		_, err := tn.api.Submit(t.Context(), o)
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != 507 || ae.Code != "storage_full" {
			t.Fatalf("%s: new order got %v, want 507 storage_full", stage, err)
		}
		for _, path := range []string{"/healthz", "/metrics", "/v1/jobs/" + acked[0]} {
			if _, err := tn.api.Raw(t.Context(), http.MethodGet, path, "", nil); err != nil {
				t.Fatalf("%s: GET %s: %v", stage, path, err)
			}
		}
		if _, err := tn.api.Raw(t.Context(), http.MethodGet, "/readyz", "", nil); !client.IsStatus(err, 503) {
			t.Fatalf("%s: /readyz: %v, want 503", stage, err)
		}
		for _, id := range acked {
			if _, err := tn.n.Ledger().Job(t.Context(), id); err != nil {
				t.Fatalf("%s: acked job %s lost: %v", stage, id, err)
			}
		}
	}
	checkFull("full")
	// Stopped, the node's memtables go to disk compressed: top the volume
	// up so that it is below the reserve at the start.
	if err := tn.n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(ballast, ballast+"2"); err != nil {
		t.Fatal(err)
	}
	fill(t, vol, "ballast", 48<<20)
	free, _, _ := store.FreeSpace(vol)
	t.Logf("restarting with %d MiB free", free>>20)
	tn.start()
	waitNotReady(t, tn)
	checkFull("restarted while full")

	// Space returns: the node takes orders again by itself.
	for _, f := range []string{ballast, ballast + "2", topUp} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, _ := client.BuildOrder(k, spec(), time.Now())
		r, err := tn.api.Submit(t.Context(), o)
		if err == nil && r.Result == "ack" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refusing after space returned: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := tn.api.Raw(t.Context(), http.MethodGet, "/readyz", "", nil); err != nil {
		t.Fatalf("/readyz after recovery: %v", err)
	}
}

// waitNotReady waits for /readyz to say not ready (the disk guard's next
// check), failing after a few seconds.
func waitNotReady(t *testing.T, tn *testNode) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := tn.api.Raw(t.Context(), http.MethodGet, "/readyz", "", nil)
		if client.IsStatus(err, 503) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %v with the volume below its reserve", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
