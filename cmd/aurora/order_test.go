package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/treaty"
)

// orderNode starts a standalone node with one sim provider whose leases
// run after latency_ms and returns its API base.
func orderNode(t *testing.T, latencyMS string) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "n")
	cfg := node.DefaultConfig()
	cfg.Backup.Interval = 0
	cfg.P2P.Listen = []string{}
	cfg.Providers = []node.ProviderConfig{{Kind: "sim", Name: "sim-eu", Regions: []string{"eu-west"}, Options: map[string]string{"seed": "1", "latency_ms": latencyMS}}}
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
	t.Cleanup(func() { n.Close(context.Background()) })
	return "http://" + n.APIAddr()
}

func jobOf(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if id, ok := strings.CutPrefix(line, "job:   "); ok {
			return strings.TrimSpace(id)
		}
	}
	t.Fatalf("no job in %q", out)
	return ""
}

// TestOrderSpecWatchCancel: `order submit -f` with a template and --set
// overrides, `order watch` following the job to running in another
// command and to canceled after `order cancel`; a second cancel is a
// no-op; an unknown spec key is refused naming it.
func TestOrderSpecWatchCancel(t *testing.T) {
	api := orderNode(t, "0")
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "client.key")
	if out, errs, code := runAurora(t, "key", "new", "--out", keyPath); code != 0 {
		t.Fatalf("key new: %s %s", out, errs)
	}
	spec := filepath.Join(dir, "job.toml")
	if err := os.WriteFile(spec, []byte("template = \"gpu-inference\"\nregions = [\"eu-west\"]\n[env]\nMODEL = \"llama\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runAurora(t, "order", "submit", "--api", api, "--key", keyPath, "-f", spec, "--set", "max_price=3/h", "--set", "gpu=A100:1", "--wait")
	if code != 0 || !strings.Contains(out, "status: running") {
		t.Fatalf("submit -f: %d %s %s", code, out, errs)
	}
	job := jobOf(t, out)
	j, err := client.New(api, "").Job(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	var ack treaty.Ack
	if err := treaty.DecodeJSON(j.Ack, &ack); err != nil || ack.Price > 3_000_000 {
		t.Fatalf("ack %+v %v", ack, err)
	}

	out, errs, code = runAurora(t, "order", "cancel", "--api", api, "--key", keyPath, "--reason", "done", job)
	if code != 0 || !strings.Contains(out, "status: canceled") || strings.Contains(out, "already") {
		t.Fatalf("cancel: %d %s %s", code, out, errs)
	}
	out, errs, code = runAurora(t, "order", "cancel", "--api", api, "--key", keyPath, job)
	if code != 0 || !strings.Contains(out, "already canceled") {
		t.Fatalf("second cancel: %d %s %s", code, out, errs)
	}
	out, errs, code = runAurora(t, "order", "watch", "--api", api, job)
	if code != 0 {
		t.Fatalf("watch: %d %s %s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.Contains(lines[0], "accepted") || !strings.Contains(lines[len(lines)-1], "canceled") {
		t.Errorf("watch printed:\n%s", out)
	}

	if err := os.WriteFile(spec, []byte("template = \"gpu-inference\"\ngpus = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code = runAurora(t, "order", "submit", "--api", api, "--key", keyPath, "-f", spec)
	if code == 0 || !strings.Contains(errs, "gpus: unknown key") {
		t.Errorf("unknown spec key: %d %s", code, errs)
	}
	_, errs, code = runAurora(t, "order", "submit", "--api", api, "--key", keyPath, "--template", "gpu-inference", "--image", "x:1")
	if code == 0 || !strings.Contains(errs, "--set image=") {
		t.Errorf("a flag mixed with --template: %d %s", code, errs)
	}
	stranger := filepath.Join(dir, "stranger.key")
	if _, _, code := runAurora(t, "key", "new", "--out", stranger); code != 0 {
		t.Fatal("key new")
	}
	_, errs, code = runAurora(t, "order", "cancel", "--api", api, "--key", stranger, job)
	if code == 0 || !strings.Contains(errs, "not_client") {
		t.Errorf("a stranger's cancel: %d %s", code, errs)
	}
}

// TestOrderWatchUntilCanceled: watch started on a launching job (the
// stream stays open) returns, exit 0, once the job is canceled, having
// printed its transitions as JSON lines.
func TestOrderWatchUntilCanceled(t *testing.T) {
	api := orderNode(t, "3600000") // stays launching
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "client.key")
	if _, _, code := runAurora(t, "key", "new", "--out", keyPath); code != 0 {
		t.Fatal("key new")
	}
	out, errs, code := runAurora(t, "order", "submit", "--api", api, "--key", keyPath, "--template", "gpu-inference", "--set", "max_price=3/h")
	if code != 0 {
		t.Fatalf("submit: %s %s", out, errs)
	}
	job := jobOf(t, out)
	type result struct {
		out, errs string
		code      int
	}
	done := make(chan result, 1)
	go func() {
		out, errs, code := runAurora(t, "order", "watch", "--api", api, "--json", job)
		done <- result{out, errs, code}
	}()
	select {
	case r := <-done:
		t.Fatalf("watch returned while the job launches: %+v", r)
	case <-time.After(300 * time.Millisecond): // still following
	}
	k, err := node.LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := client.BuildCancel(k, job, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(api, "").Cancel(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 || !strings.Contains(r.out, `"status":"accepted"`) || !strings.Contains(r.out, `"status":"canceled"`) {
		t.Errorf("watch: %d %s\n%s", r.code, r.errs, r.out)
	}
}

// TestOrderLogsNotSupported: `order logs` of a job on the sim network
// exits non-zero with the network's reason (the Vast.ai path is tested in
// node, TestJobLogs).
func TestOrderLogsNotSupported(t *testing.T) {
	api := orderNode(t, "0")
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "client.key")
	if _, _, code := runAurora(t, "key", "new", "--out", keyPath); code != 0 {
		t.Fatal("key new")
	}
	out, errs, code := runAurora(t, "order", "submit", "--api", api, "--key", keyPath, "--template", "gpu-inference", "--set", "max_price=3/h", "--wait")
	if code != 0 {
		t.Fatalf("submit: %s %s", out, errs)
	}
	job := jobOf(t, out)
	_, errs, code = runAurora(t, "order", "logs", "--api", api, "--key", keyPath, job)
	if code == 0 || !strings.Contains(errs, "501 not_supported") || !strings.Contains(errs, "no containers") {
		t.Errorf("logs: %d %s", code, errs)
	}
	_, errs, code = runAurora(t, "order", "logs", "--api", api, "--key", keyPath, "--tail", "0", job)
	if code == 0 || !strings.Contains(errs, "tail") {
		t.Errorf("tail 0: %d %s", code, errs)
	}
}
