package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/testnet"
	"github.com/aurora-federation/aurora/treaty"
)

var (
	soakFor   = flag.Duration("soak", 0, "run the soak for this long (make soak: 10m; .ci/run: a short variant); 0 skips it")
	soakRate  = flag.Int("soak-rate", 1000, "orders per second offered to the federation")
	soakEpoch = flag.Duration("soak-epoch", 60*time.Second, "provenance epoch of the soak's nodes")
)

// TestSoak runs a 3-node federation of aurora processes on loopback with
// sim providers at -soak-rate orders/s for -soak, and prints the budget
// table: sustained orders/s, Ack p99, epoch close p99, Ack → verifiable
// proof p95, provenance coverage, RSS per node, errors. It checks the
// invariants (no errors other than 503 busy, every sampled proof verifies
// in the end); the figures are budgets to read, not to assert.
func TestSoak(t *testing.T) {
	if *soakFor <= 0 {
		t.Skip("set -soak=10m (make soak) to run the soak")
	}
	bin := mustBin(t)
	work := t.TempDir()
	dir := filepath.Join(work, "tn")
	home := filepath.Join(work, "home")
	os.MkdirAll(home, 0o700)
	c := &cli{bin: bin, env: cleanEnv(home)}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer ccancel()
		c.run(cctx, "testnet", "down", "--dir", dir, "--grace", "10s")
	})
	upCtx, upCancel := context.WithTimeout(t.Context(), upTimeout)
	c.must(t, upCtx, 0, "testnet", "up", "--nodes", "3", "--dir", dir, "--epoch", soakEpoch.String(),
		"--fakes", "", "--sim-failure", "0.0001", "--timeout", upTimeout.String())
	upCancel()
	st, err := testnet.LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := node.LoadKey(st.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	bases := make([]string, len(st.Nodes))
	apis := make([]*client.Client, len(st.Nodes))
	for i, n := range st.Nodes {
		tok, _ := node.LoadToken(n.Home)
		bases[i], apis[i] = n.API, client.New(n.API, string(tok))
	}
	verify := proofVerifier(t, st)

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	var (
		mu         sync.Mutex
		lat        []time.Duration
		acked      atomic.Int64
		busy       atomic.Int64
		errs       atomic.Int64
		sampled    []time.Duration // Ack → verifiable proof
		unproved   atomic.Int64
		lastErr    atomic.Value
		lastSample atomic.Int64
		wg, proof  sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(t.Context(), *soakFor)
	defer cancel()
	start := time.Now()
	lastSample.Store(-1)
	const workers = 64
	per := time.Second * time.Duration(workers) / time.Duration(*soakRate)
	for w := range workers {
		wg.Go(func() {
			next := time.Now().Add(time.Duration(w) * per / workers)
			for i := 0; ; i++ {
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				}
				if ctx.Err() != nil {
					return
				}
				next = next.Add(per)
				from := (w + i) % len(st.Nodes)
				regions := st.Nodes[from].Regions
				if i%10 == 0 { // a tenth goes to a peer's region: forwarded
					regions = st.Nodes[(from+1)%len(st.Nodes)].Regions
				}
				o, err := client.BuildOrder(ck, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "5/h", Regions: regions}, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := treaty.Encode(o)
				t0 := time.Now()
				job, status, err := post(hc, bases[from]+"/v1/orders", body)
				d := time.Since(t0)
				switch {
				case err == nil && status == 200:
					acked.Add(1)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
					if sec, last := time.Since(start).Milliseconds()/1000, lastSample.Load(); job != "" && sec > last && lastSample.CompareAndSwap(last, sec) { // one proof a second
						proof.Go(func() {
							if dd, ok := waitProof(apis[from], verify, from, job, t0, 5**soakEpoch+30*time.Second); ok {
								mu.Lock()
								sampled = append(sampled, dd)
								mu.Unlock()
							} else {
								unproved.Add(1)
							}
						})
					}
				case status == 503:
					busy.Add(1)
				default:
					errs.Add(1)
					lastErr.Store(fmt.Sprintf("%d %v", status, err))
				}
			}
		})
	}
	wg.Wait()
	offered := time.Since(start)
	proof.Wait()

	fams, err := testnet.Scrape(t.Context(), bases)
	if err != nil {
		t.Fatal(err)
	}
	k := testnet.ComputeKPIs(fams)
	epochP99 := testnet.Quantile(0.99, fams, "aurora_epoch_duration_seconds")
	var rss []string
	for _, n := range st.Nodes {
		rss = append(rss, fmt.Sprintf("%.0f MB", float64(vmRSS(n.PID))/1e6))
	}
	slices.Sort(lat)
	slices.Sort(sampled)
	pct := func(xs []time.Duration, q float64) time.Duration {
		if len(xs) == 0 {
			return 0
		}
		return xs[min(len(xs)-1, int(q*float64(len(xs))))]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "soak: 3 nodes, sim providers, %d orders/s offered for %s, %s epochs\n", *soakRate, soakFor.String(), soakEpoch.String())
	fmt.Fprintf(&b, "| figure | goal | measured |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| sustained orders/s (acked) | %d | %.0f |\n", *soakRate, float64(acked.Load())/offered.Seconds())
	fmt.Fprintf(&b, "| Ack p99 | ≤ 5 ms | %s |\n", pct(lat, 0.99).Round(10*time.Microsecond))
	fmt.Fprintf(&b, "| epoch close p99 | ≤ 2 s | %.2f s |\n", epochP99)
	fmt.Fprintf(&b, "| Ack → verifiable proof p95 (%d sampled) | ≤ 2 epochs (%s) | %s |\n", len(sampled), 2**soakEpoch, pct(sampled, 0.95).Round(time.Millisecond))
	fmt.Fprintf(&b, "| provenance coverage | 1.000 | %.3f (%.0f of %.0f records attested) |\n", k.Coverage, k.Attested, k.Records)
	fmt.Fprintf(&b, "| RSS per node after %d orders | ≤ 400 MB | %s |\n", acked.Load(), strings.Join(rss, ", "))
	fmt.Fprintf(&b, "| errors | 0 | %d (and %d answered 503 busy) |\n", errs.Load(), busy.Load())
	t.Log("\n" + b.String())
	if p := os.Getenv("AURORA_SOAK_REPORT"); p != "" {
		os.WriteFile(p, []byte(b.String()), 0o644)
	}
	if errs.Load() > 0 {
		t.Errorf("%d orders failed (last: %v)", errs.Load(), lastErr.Load())
	}
	if unproved.Load() > 0 {
		t.Errorf("%d sampled jobs had no verifiable proof within five epochs", unproved.Load())
	}
}

func mustBin(t *testing.T) string {
	t.Helper()
	if *auroraBin == "" {
		t.Skip("needs -aurora-bin")
	}
	bin, err := filepath.Abs(*auroraBin)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// post sends a dag-cbor order and returns the job of an Ack.
func post(hc *http.Client, url string, body []byte) (string, int, error) {
	resp, err := hc.Post(url, "application/vnd.ipld.dag-cbor", bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var r node.OrderResponse
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return "", 200, err
		}
	}
	return r.Job, resp.StatusCode, nil
}

// proofVerifier verifies a bundle fully: the node's log key, at least one
// witness among the other nodes, both dev TSAs.
func proofVerifier(t *testing.T, st *testnet.ProcessState) func(nodeIdx int, raw []byte) error {
	pem, err := os.ReadFile(st.TSARoots)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := tsa.CertPoolFromPEM(pem)
	if err != nil {
		t.Fatal(err)
	}
	return func(i int, raw []byte) error {
		n := st.Nodes[i]
		b, err := provenance.ParseBundle(raw)
		if err != nil {
			return err
		}
		var ws []*provenance.CosignatureVerifier
		for _, w := range st.Nodes {
			if w.Index != n.Index {
				v, err := provenance.WitnessVerifier("aurora-witness/"+w.PeerID, treaty.DID(w.DID))
				if err != nil {
					return err
				}
				ws = append(ws, v)
			}
		}
		_, err = provenance.VerifyBundle(b, provenance.VerifyOptions{Origin: n.Origin, LogDID: treaty.DID(n.DID), Now: time.Now(),
			WitnessKeys: ws, MinWitnesses: 1, TSAVerifier: tsa.Verifier{Opts: tsa.VerifyOptions{Roots: roots}}})
		return err
	}
}

// waitProof polls a job's proof until it verifies, and returns how long
// after acked that was.
func waitProof(api *client.Client, verify func(int, []byte) error, idx int, job string, acked time.Time, within time.Duration) (time.Duration, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for ctx.Err() == nil {
		if raw, err := api.Raw(ctx, http.MethodGet, "/v1/jobs/"+job+"/proof", "", nil); err == nil {
			if verify(idx, raw) == nil {
				return time.Since(acked), true
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return 0, false
}

// vmRSS reads a process's resident set size in bytes.
func vmRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
