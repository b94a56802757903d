package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/testnet"
	"github.com/aurora-federation/aurora/treaty"
)

var auroraBin = flag.String("aurora-bin", "", "the aurora binary to test end to end (make smoke-e2e passes bin/aurora)")

// Budgets. The whole test is bounded by overall; each step has its own
// bound inside it.
const (
	overall      = 4 * time.Minute
	upTimeout    = 2 * time.Minute
	settleBudget = 90 * time.Second
	promBudget   = 60 * time.Second
)

// cli runs the aurora binary with a clean environment (no AURORA_*, HOME
// in a temp dir so no ~/.aurora is read).
type cli struct {
	bin string
	env []string
}

// run returns the combined output and the exit code (-1 if it did not
// exit normally; the error is then appended to the output).
func (c *cli) run(ctx context.Context, args ...string) (string, int) {
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env
	// On the deadline, SIGINT first: `up` then stops what it started.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	out, err := cmd.CombinedOutput()
	if err == nil {
		return string(out), 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		return string(out), ee.ExitCode()
	}
	return string(out) + "\n(" + err.Error() + ")", -1
}

// must runs the binary and fails the test unless it exits with want.
func (c *cli) must(t *testing.T, ctx context.Context, want int, args ...string) string {
	t.Helper()
	out, code := c.run(ctx, args...)
	if code != want {
		t.Fatalf("aurora %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
	}
	return out
}

// Kinds of orders in the mix.
const (
	kindLocal   = "local"
	kindForward = "peer region (forwarded)"
	kindDeny    = "denied"
)

type result struct {
	kind     string
	from, to int // to: the node expected to run it
	resp     *client.OrderResponse
	ack      *treaty.Ack
	err      error
}

func TestSmokeE2E(t *testing.T) {
	if *auroraBin == "" {
		t.Skip("needs the built binary: run `make smoke-e2e` (go test ./testnet/e2e/ -aurora-bin=/abs/path/to/aurora)")
	}
	bin, err := filepath.Abs(*auroraBin)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("-aurora-bin %s is not an executable file (%v)", bin, err)
	}
	begin := time.Now()
	step := func(format string, args ...any) {
		t.Logf("%6.1fs  %s", time.Since(begin).Seconds(), fmt.Sprintf(format, args...))
	}
	ctx, cancel := context.WithTimeout(t.Context(), overall)
	defer cancel()

	work := t.TempDir()
	dir := filepath.Join(work, "tn")
	home := filepath.Join(work, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &cli{bin: bin, env: cleanEnv(home)}

	// Cleanups run last-registered first: logs are dumped after the
	// testnet is down, both before the temp dir goes.
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, dir)
		}
	})
	t.Cleanup(func() {
		st, err := testnet.LoadState(dir)
		if err != nil {
			return // down already ran, or up stopped what it started
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer ccancel()
		if out, code := c.run(cctx, "testnet", "down", "--dir", dir, "--grace", "10s"); code != 0 {
			t.Logf("cleanup: aurora testnet down: exit %d\n%s", code, out)
		}
		for _, r := range testnet.Stop(st.Processes(), time.Second) {
			if r.Outcome != "not running" {
				t.Errorf("cleanup: pid %d was still running after down (%s)", r.Proc.PID, r.Outcome)
			}
		}
	})

	// 1. Up.
	upCtx, upCancel := context.WithTimeout(ctx, upTimeout)
	out := c.must(t, upCtx, 0, "testnet", "up", "--nodes", "3", "--dir", dir, "--epoch", "1s", "--timeout", upTimeout.String())
	upCancel()
	if !strings.Contains(out, "testnet ready: 3 nodes ("+dir+")") {
		t.Fatalf("up did not report a ready testnet:\n%s", out)
	}
	st, err := testnet.LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Ready || len(st.Nodes) != 3 || len(st.Fakes) != 3 || len(st.TSAs) != 2 {
		t.Fatalf("testnet.json: ready %v, %d nodes, %d fakes, %d TSAs", st.Ready, len(st.Nodes), len(st.Fakes), len(st.TSAs))
	}
	for _, p := range st.Processes() {
		if !p.Alive() {
			t.Fatalf("pid %d (%s) is not running after up", p.PID, p.Log)
		}
		if !strings.Contains(out, "pid "+strconv.Itoa(p.PID)) {
			t.Errorf("up printed no line for pid %d", p.PID)
		}
	}
	apis := make([]*client.Client, len(st.Nodes))
	bases := make([]string, len(st.Nodes))
	for i, n := range st.Nodes {
		tok, err := node.LoadToken(n.Home)
		if err != nil {
			t.Fatal(err)
		}
		apis[i], bases[i] = client.New(n.API, string(tok)), n.API
	}
	step("testnet up: %d nodes, %d fakes, %d TSAs", len(st.Nodes), len(st.Fakes), len(st.TSAs))

	// 2. Prometheus, before the traffic so its rates see it.
	prom := startPrometheus(t, ctx, work, bases)
	if prom != "" {
		step("prometheus up at %s, every target up", prom)
	}

	// 3. Orders: a handful through the CLI, the rest through the client
	// package, spread over the nodes.
	nodeOf := map[string]int{}
	for i, n := range st.Nodes {
		nodeOf[n.DID] = i
	}
	spec := func(kind string, from, i int) (client.OrderSpec, int) {
		s := client.OrderSpec{Image: "ghcr.io/aurora/infer:1", GPU: "A100:1", Regions: st.Nodes[from].Regions, MaxPrice: "2.50/h", Duration: time.Hour}
		switch kind {
		case kindForward:
			to := (from + 1) % len(st.Nodes)
			s.Regions = st.Nodes[to].Regions
			return s, to
		case kindDeny:
			if i%2 == 0 {
				s.Regions = []string{"ap-south"} // no node serves it
			} else {
				s.GPU = "B300:8" // no provider has it
			}
			return s, -1
		}
		return s, from
	}
	var results []result
	cliOrders := []struct {
		kind string
		from int
	}{{kindLocal, 0}, {kindLocal, 1}, {kindLocal, 2}, {kindForward, 0}, {kindForward, 1}, {kindDeny, 2}}
	reAck := regexp.MustCompile(`(?m)^ack (\S+)\njob:\s+(\S+)\nroute: (\S+) (\S+)`)
	for i, o := range cliOrders {
		s, to := spec(o.kind, o.from, i)
		args := []string{"order", "submit", "--key", st.ClientKey, "--api", st.Nodes[o.from].API,
			"--image", s.Image, "--gpu", s.GPU, "--max-price", s.MaxPrice}
		for _, r := range s.Regions {
			args = append(args, "--region", r)
		}
		if o.kind == kindDeny {
			out := c.must(t, ctx, 3, args...) // exit 3: denied
			if !strings.HasPrefix(out, "denial ") {
				t.Fatalf("denied order: %s", out)
			}
			results = append(results, result{kind: o.kind, from: o.from, to: to, resp: &client.OrderResponse{Result: "denial"}})
			continue
		}
		out := c.must(t, ctx, 0, args...)
		m := reAck.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("order submit printed no ack:\n%s", out)
		}
		wantRoute := treaty.RouteProvider
		if o.kind == kindForward {
			wantRoute = treaty.RoutePeer
			if m[4] != st.Nodes[to].DID {
				t.Errorf("CLI forwarded order went to %s, want node%d %s", m[4], to, st.Nodes[to].DID)
			}
		}
		if m[3] != wantRoute {
			t.Errorf("CLI %s order from node%d: route %s, want %s", o.kind, o.from, m[3], wantRoute)
		}
		// Fetch the job's ack through the API to follow it like the rest.
		j, err := apis[o.from].Job(ctx, m[2])
		if err != nil {
			t.Fatalf("job %s of a CLI order: %v", m[2], err)
		}
		var a treaty.Ack
		if err := treaty.DecodeJSON(j.Ack, &a); err != nil {
			t.Fatalf("job %s ack: %v", m[2], err)
		}
		results = append(results, result{kind: o.kind, from: o.from, to: to, resp: &client.OrderResponse{Result: "ack", CID: m[1], Job: m[2]}, ack: &a})
	}
	step("%d orders through `aurora order submit`", len(cliOrders))

	ck, err := node.LoadKey(st.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	const apiOrders = 94
	planned := make([]result, apiOrders)
	for i := range planned {
		kind := kindLocal
		switch {
		case i%20 >= 17:
			kind = kindDeny
		case i%20 >= 12:
			kind = kindForward
		}
		planned[i] = result{kind: kind, from: i % len(st.Nodes)}
	}
	var wg sync.WaitGroup
	queue := make(chan int)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				r := &planned[i]
				s, to := spec(r.kind, r.from, i)
				r.to = to
				o, err := client.BuildOrder(ck, s, time.Now())
				if err != nil {
					r.err = err
					continue
				}
				r.resp, r.err = apis[r.from].Submit(ctx, o)
				if r.err == nil && r.resp.Result == "ack" {
					var a treaty.Ack
					if r.err = treaty.DecodeJSON(r.resp.Record, &a); r.err == nil {
						r.ack = &a
					}
				}
			}
		}()
	}
	for i := range planned {
		queue <- i
	}
	close(queue)
	wg.Wait()
	results = append(results, planned...)

	// Every order got the answer its kind calls for.
	var acks, forwardedAcks, denials int
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("order %d (%s from node%d): %v", i, r.kind, r.from, r.err)
		case r.kind == kindDeny:
			if r.resp.Result != "denial" {
				t.Errorf("order %d (%s from node%d): %s, want a denial", i, r.kind, r.from, r.resp.Result)
			}
			denials++
		case r.resp.Result != "ack":
			t.Errorf("order %d (%s from node%d): %s, want an ack: %s", i, r.kind, r.from, r.resp.Result, r.resp.Record)
		case r.kind == kindForward:
			acks++
			if r.ack.Route.Kind != treaty.RoutePeer || r.ack.Route.Name != st.Nodes[r.to].DID || len(r.ack.Via) != 1 {
				t.Errorf("order %d from node%d for node%d's region: route %+v via %d hops, want forwarded to node%d", i, r.from, r.to, r.ack.Route, len(r.ack.Via), r.to)
				continue
			}
			forwardedAcks++
		default:
			acks++
			if r.ack.Route.Kind != treaty.RouteProvider {
				t.Errorf("local order %d from node%d: route %+v, want a provider of its own", i, r.from, r.ack.Route)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	step("%d orders: %d acked (%d forwarded to a treaty peer), %d denied", len(results), acks, forwardedAcks, denials)

	// 4. Every acked job settles where it runs: the origin's job for a
	// local order, the peer's job (from the signed ack in the via chain)
	// for a forwarded one.
	settleCtx, settleCancel := context.WithTimeout(ctx, settleBudget)
	defer settleCancel()
	type runAt struct {
		node int
		job  string
	}
	var proofJob *runAt
	running, failed := 0, 0
	for i, r := range results {
		if r.ack == nil {
			continue
		}
		at := runAt{r.from, r.ack.Job}
		if r.kind == kindForward {
			var peerAck treaty.Ack
			if err := treaty.Decode(r.ack.Via[0].Ack, &peerAck); err != nil {
				t.Fatalf("order %d: peer ack in the via chain: %v", i, err)
			}
			if err := treaty.Verify(&peerAck); err != nil || string(peerAck.Operator) != st.Nodes[r.to].DID {
				t.Fatalf("order %d: peer ack signed by %s (%v), want node%d", i, peerAck.Operator, err, r.to)
			}
			at = runAt{nodeOf[string(peerAck.Operator)], peerAck.Job}
		}
		j, err := apis[at.node].WaitSettled(settleCtx, at.job)
		if err != nil {
			t.Fatalf("job %s on node%d never settled: %v", at.job, at.node, err)
		}
		switch j.Status {
		case treaty.StatusRunning, treaty.StatusSucceeded:
			running++
			if proofJob == nil && r.kind == kindLocal {
				proofJob = &at
			}
		case treaty.StatusFailed:
			failed++
		default:
			t.Fatalf("job %s on node%d settled as %s", at.job, at.node, j.Status)
		}
	}
	step("jobs settled: %d running, %d failed (fallbacks exhausted)", running, failed)

	// 5. KPIs from the nodes' /metrics.
	fams, err := testnet.Scrape(ctx, bases)
	if err != nil {
		t.Fatal(err)
	}
	k := testnet.ComputeKPIs(fams)
	t.Logf("KPIs from /metrics:\n%s", k.Table())
	if k.Acked != float64(acks) {
		t.Errorf("aurora_jobs_acked_total = %v over the nodes, want %d (one per ack, forwarded ones at the peer)", k.Acked, acks)
	}
	if k.Filled != float64(running) || k.Failed != float64(failed) {
		t.Errorf("filled %v, failed %v in /metrics; the jobs say %d running, %d failed", k.Filled, k.Failed, running, failed)
	}
	if k.FillRate < 0.8 {
		t.Errorf("fill rate %.3f, want >= 0.80", k.FillRate)
	}
	if k.Forwarded < 1 || k.Forwarded < float64(forwardedAcks) {
		t.Errorf("aurora_orders_total{result=\"forwarded\"} = %v, want >= %d", k.Forwarded, forwardedAcks)
	}
	if k.Denied < float64(denials) {
		t.Errorf("aurora_orders_total{result=\"denied\"} = %v, want >= %d", k.Denied, denials)
	}
	if math.IsNaN(k.PolicyP99) {
		t.Errorf("no policy decisions in aurora_policy_decision_duration_seconds")
	}
	// Provenance coverage: every record is attested (two TSA tokens on its
	// epoch) about one epoch after it is written.
	var cov testnet.KPIs
	if err := waitUntil(ctx, 30*time.Second, func() bool {
		fams, err := testnet.Scrape(ctx, bases)
		if err != nil {
			return false
		}
		cov = testnet.ComputeKPIs(fams)
		return cov.Records > 0 && cov.Coverage >= 0.95
	}); err != nil {
		t.Errorf("provenance coverage %.3f (%v of %v records attested), want >= 0.95", cov.Coverage, cov.Attested, cov.Records)
	}
	step("KPIs checked: fill rate %.3f, %v forwarded, %v denied, coverage %.3f", k.FillRate, k.Forwarded, k.Denied, cov.Coverage)

	// 6. One job's proof, fetched and verified offline through the CLI.
	if proofJob == nil {
		t.Fatal("no local job ran: nothing to prove")
	}
	pn := st.Nodes[proofJob.node]
	proof := filepath.Join(work, "job.proof")
	// Offline verification with everything the bundle can prove: the log
	// signature (--log-key), a cosignature of another node (witnesses) and
	// two RFC 3161 tokens under the dev TSAs' roots.
	verify := []string{"proof", "verify", proof, "--origin", pn.Origin, "--log-key", pn.DID, "--min-witnesses", "1", "--tsa-roots", st.TSARoots}
	for _, w := range st.Nodes {
		if w.Index != pn.Index {
			verify = append(verify, "--witness-key", "aurora-witness/"+w.PeerID+"+"+w.DID)
		}
	}
	// The bundle is complete once an epoch checkpoint covering the job's
	// last record is cosigned and timestamped: poll get + verify.
	var lastOut string
	if err := waitUntil(ctx, 30*time.Second, func() bool {
		out, code := c.run(ctx, "proof", "get", proofJob.job, "-o", proof, "--api", pn.API)
		if code != 0 {
			lastOut = out
			return false
		}
		out, code = c.run(ctx, verify...)
		lastOut = out
		return code == 0
	}); err != nil {
		t.Fatalf("job %s on node%d: no proof bundle verified within 30s; last attempt:\n%s", proofJob.job, proofJob.node, lastOut)
	}
	for _, want := range []string{"ok    record", "ok    inclusion", "ok    log-signature", "ok    witnesses", "ok    tsa", "verified: leaf"} {
		if !strings.Contains(lastOut, want) {
			t.Errorf("proof verify does not say %q:\n%s", want, lastOut)
		}
	}
	// Another operator's key must not verify it.
	other := st.Nodes[(proofJob.node+1)%len(st.Nodes)]
	if out, code := c.run(ctx, "proof", "verify", proof, "--origin", pn.Origin, "--log-key", other.DID); code != 1 {
		t.Errorf("proof verified under node%d's key:\n%s", other.Index, out)
	}
	step("proof of job %s on node%d verified offline", proofJob.job, proofJob.node)

	// 7. Ledger backup of node0 through its home, and its manifest.
	backup := filepath.Join(work, "node0.backup")
	c.must(t, ctx, 0, "ledger", "backup", "-o", backup, "--home", st.Nodes[0].Home)
	checkBackup(t, backup)
	step("ledger backup of node0 written and its manifest checked")

	// 8. Prometheus: the recording rules over the scraped nodes.
	if prom != "" {
		checkPrometheus(t, ctx, prom, len(bases), k.FillRate)
		step("prometheus evaluated job:aurora_jobs_fill:ratio_rate5m")
	}

	// 9. Status: everything up; then one fake dies and status says so.
	out = c.must(t, ctx, 0, "testnet", "status", "--dir", dir)
	if n := strings.Count(out, "  yes  "); n != len(st.Processes()) {
		t.Errorf("status shows %d live processes, want %d:\n%s", n, len(st.Processes()), out)
	}
	victim := st.Fakes[len(st.Fakes)-1]
	if err := victim.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := waitUntil(ctx, 10*time.Second, func() bool { return !victim.Alive() }); err != nil {
		t.Fatalf("%s survived SIGKILL", victim.Name())
	}
	out = c.must(t, ctx, 1, "testnet", "status", "--dir", dir)
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(victim.Name()) + `\s+\d+\s+no\s`).MatchString(out) {
		t.Errorf("status does not show %s down:\n%s", victim.Name(), out)
	}
	step("testnet status: all up, then %s reported down", victim.Name())

	// 10. Down: every process gone, testnet.json removed.
	out = c.must(t, ctx, 0, "testnet", "down", "--dir", dir)
	for _, p := range st.Processes() {
		if p.Alive() {
			t.Errorf("pid %d still running after down (log %s)", p.PID, p.Log)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, testnet.StateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after down: %v", testnet.StateFile, err)
	}
	if !strings.Contains(out, "testnet down") {
		t.Errorf("down said:\n%s", out)
	}
	step("testnet down: no process left")
}

func cleanEnv(home string) []string {
	env := []string{"HOME=" + home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AURORA_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

func waitUntil(ctx context.Context, d time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func checkBackup(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path + store.ManifestSuffix)
	if err != nil {
		t.Fatal(err)
	}
	m, err := store.DecodeManifest(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	switch {
	case !m.Full():
		t.Errorf("manifest: since %d, want a full backup", m.Since)
	case m.Version == 0:
		t.Errorf("manifest: version 0 after %d bytes of ledger", len(data))
	case m.Size != int64(len(data)):
		t.Errorf("manifest: size %d, file has %d bytes", m.Size, len(data))
	case m.SHA256 != hex.EncodeToString(sum[:]):
		t.Errorf("manifest: sha256 %s, file hashes to %x", m.SHA256, sum)
	case time.Since(m.Created) > 10*time.Minute || time.Until(m.Created) > time.Minute:
		t.Errorf("manifest: created %v", m.Created)
	}
}

// startPrometheus starts the prometheus server (Debian package
// prometheus) scraping the nodes every second with the repository's
// recording rules, and waits until every target is up. It returns its base
// URL, or "" when prometheus is not installed.
func startPrometheus(t *testing.T, ctx context.Context, work string, bases []string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Log("prometheus is not installed (Debian package prometheus): skipping the Prometheus checks")
		return ""
	}
	rules, err := filepath.Abs(filepath.Join("..", "..", "ops", "prometheus", "aurora-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rules); err != nil {
		t.Fatalf("recording rules: %v", err)
	}
	var targets []string
	for _, b := range bases {
		u, err := url.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, fmt.Sprintf("%q", u.Host))
	}
	pdir := filepath.Join(work, "prometheus")
	if err := os.MkdirAll(filepath.Join(pdir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The rules expect the scrape job to be called "aurora".
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: aurora
    metrics_path: /metrics
    static_configs:
      - targets: [%s]
`, rules, strings.Join(targets, ", "))
	cfgPath := filepath.Join(pdir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(cctx, promtool, "check", "config", cfgPath).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("promtool check config: %v\n%s", err, out)
		}
	}
	ports, err := testnet.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	logf, err := os.Create(filepath.Join(pdir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(pdir, "data"),
		"--web.listen-address="+strings.TrimPrefix(base, "http://"), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			data, _ := os.ReadFile(filepath.Join(pdir, "prometheus.log"))
			t.Logf("prometheus.log:\n%s", lastLines(string(data), 20))
		}
	})
	pctx, cancel := context.WithTimeout(ctx, promBudget)
	defer cancel()
	var last string
	err = pollCtx(pctx, done, func() bool {
		var v struct {
			Data struct {
				ActiveTargets []struct {
					Labels    map[string]string `json:"labels"`
					Health    string            `json:"health"`
					LastError string            `json:"lastError"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := getJSON(pctx, base+"/api/v1/targets", &v); err != nil {
			last = err.Error()
			return false
		}
		up := 0
		for _, tg := range v.Data.ActiveTargets {
			if tg.Health == "up" && tg.Labels["job"] == "aurora" {
				up++
			} else {
				last = tg.Labels["instance"] + ": " + tg.Health + " " + tg.LastError
			}
		}
		return up == len(bases) && len(v.Data.ActiveTargets) == len(bases)
	})
	if err != nil {
		t.Fatalf("prometheus targets not all up: %v (last: %s)", err, last)
	}
	return base
}

// checkPrometheus waits until the fill-rate recording rule has a value for
// job "aurora" that agrees with the fill rate computed from /metrics.
func checkPrometheus(t *testing.T, ctx context.Context, base string, nodes int, fill float64) {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, promBudget)
	defer cancel()
	query := func(q string) (map[string]string, float64, error) {
		var v struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  [2]any            `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := getJSON(pctx, base+"/api/v1/query?query="+url.QueryEscape(q), &v); err != nil {
			return nil, 0, err
		}
		if v.Status != "success" || len(v.Data.Result) != 1 {
			return nil, 0, fmt.Errorf("%s: status %s, %d series", q, v.Status, len(v.Data.Result))
		}
		s, _ := v.Data.Result[0].Value[1].(string)
		f, err := strconv.ParseFloat(s, 64)
		return v.Data.Result[0].Metric, f, err
	}
	if _, up, err := query(`sum(up{job="aurora"})`); err != nil || up != float64(nodes) {
		t.Errorf(`sum(up{job="aurora"}) = %v (%v), want %d`, up, err, nodes)
	}
	var got float64
	var lastErr error
	err := pollCtx(pctx, nil, func() bool {
		labels, v, err := query("job:aurora_jobs_fill:ratio_rate5m")
		if err != nil {
			lastErr = err
			return false
		}
		if labels["job"] != "aurora" {
			lastErr = fmt.Errorf("series %v, want job=aurora", labels)
			return false
		}
		got = v
		// The rule's rates see the same counters as /metrics; they agree
		// once the last scrape after the jobs settled is evaluated.
		return !math.IsNaN(v) && !math.IsInf(v, 0) && math.Abs(v-fill) <= 0.05
	})
	if err != nil {
		t.Fatalf("job:aurora_jobs_fill:ratio_rate5m = %v (last error %v), want within 0.05 of the /metrics fill rate %.3f", got, lastErr, fill)
	}
	t.Logf("prometheus: job:aurora_jobs_fill:ratio_rate5m{job=\"aurora\"} = %.3f (from /metrics: %.3f)", got, fill)
}

func getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, lastLines(string(data), 3))
	}
	return json.Unmarshal(data, out)
}

// pollCtx polls cond every 250ms until it holds, ctx ends or died closes.
func pollCtx(ctx context.Context, died <-chan struct{}, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-died:
			return errors.New("the process exited")
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dumpLogs logs the tail of every testnet log (on failure).
func dumpLogs(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "node*", "node.log"))
	fakes, _ := filepath.Glob(filepath.Join(dir, "fakes", "*.log"))
	tsas, _ := filepath.Glob(filepath.Join(dir, "tsa*", "tsa.log"))
	for _, l := range append(append(logs, fakes...), tsas...) {
		data, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		t.Logf("%s (last lines):\n%s", l, lastLines(string(data), 15))
	}
}
