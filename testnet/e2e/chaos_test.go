package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/testnet"
	"github.com/aurora-federation/aurora/treaty"
)

// The chaos suite (make chaos): a 3-node federation of aurora processes,
// each in its own network namespace, partitioned, killed and shaped under
// load. Every figure is printed as a "chaos:" line.
var (
	chaosPartitions   = flag.String("chaos-partitions", "10s,75s", "TestChaosPartition: comma-separated partition lengths (the budget holds for 10s to 5m)")
	chaosRounds       = flag.Int("chaos-rounds", 5, "TestChaosChurn: kill -9 and restart rounds")
	chaosSeed         = flag.Uint64("chaos-seed", 0, "TestChaosChurn: seed of the victims and moments (0: from the clock; printed)")
	chaosNATPartition = flag.Duration("chaos-nat-partition", 45*time.Second, "TestChaosNAT: how long node2 (behind NAT) is cut off")
	chaosRate         = flag.Int64("chaos-rate", 256_000, "TestChaosBandwidth: node0's link rate in bit/s (tc tbf)")
)

// Chaos budgets (README, Budgets): every treaty pair reconnected directly
// within chaosReconnect of a heal; treaty books converged within one sync
// interval (2 epochs, 2 s here) + 2 s.
const (
	chaosEpoch     = time.Second
	chaosSync      = 2 * chaosEpoch
	chaosReconnect = 10 * time.Second
	chaosConverge  = chaosSync + 2*time.Second
)

// chaosNet starts the suite's federation: 3 nodes, 1 s epochs, every pair
// a treaty pair.
func chaosNet(t *testing.T, ctx context.Context) *netnsNet {
	t.Helper()
	return upNetns(t, ctx, testnet.UpOptions{Nodes: 3, Epoch: chaosEpoch, SimFailure: 0.0001})
}

// book returns a node's treaty book: CID → state.
func book(ctx context.Context, api *client.Client) (map[string]string, error) {
	var v struct {
		Treaties []node.TreatyView `json:"treaties"`
	}
	if err := api.Do(ctx, http.MethodGet, "/v1/treaties", "", nil, &v); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, tv := range v.Treaties {
		out[tv.CID] = tv.State
	}
	return out, nil
}

// booksAgree reports whether every node has the same treaty book, and
// describes the first difference.
func (n *netnsNet) booksAgree(ctx context.Context) (bool, string) {
	var first map[string]string
	for i, api := range n.apis {
		b, err := book(ctx, api)
		if err != nil {
			return false, fmt.Sprintf("node%d: %v", i, err)
		}
		if i == 0 {
			first = b
			continue
		}
		for c, s := range first {
			if b[c] != s {
				return false, fmt.Sprintf("treaty %s is %q on node0, %q on node%d", c, s, b[c], i)
			}
		}
		if len(b) != len(first) {
			return false, fmt.Sprintf("node0 holds %d treaties, node%d %d", len(first), i, len(b))
		}
	}
	return true, ""
}

// latestCheckpoint reads node i's latest checkpoint, verified with its log
// key.
func (n *netnsNet) latestCheckpoint(ctx context.Context, i int) (provenance.Checkpoint, error) {
	raw, err := n.apis[i].Raw(ctx, http.MethodGet, "/v1/checkpoints/latest", "", nil)
	if err != nil {
		return provenance.Checkpoint{}, err
	}
	np := n.st.Nodes[i]
	v, err := provenance.LogVerifier(np.Origin, treaty.DID(np.DID))
	if err != nil {
		return provenance.Checkpoint{}, err
	}
	return provenance.OpenCheckpoint(raw, np.Origin, v)
}

// cosignedBy reports whether node i's latest checkpoint is larger than
// after and cosigned by every node in by.
func (n *netnsNet) cosignedBy(ctx context.Context, i int, after uint64, by []int) bool {
	cp, err := n.latestCheckpoint(ctx, i)
	if err != nil || cp.Size <= after {
		return false
	}
	for _, w := range by {
		if !bytes.Contains(cp.Note, []byte("\n— aurora-witness/"+n.st.Nodes[w].PeerID+" ")) {
			return false
		}
	}
	return true
}

// propose has node from propose a bilateral treaty to node to and
// returns its CID.
func (n *netnsNet) propose(ctx context.Context, from, to int) (string, error) {
	body, _ := json.Marshal(map[string]string{"template": treaty.TemplateBilateral, "peer": n.st.Nodes[to].DID})
	var v struct{ CID string }
	if err := n.apis[from].Do(ctx, http.MethodPost, "/v1/treaties", "application/json", body, &v); err != nil {
		return "", fmt.Errorf("node%d proposes to node%d: %w", from, to, err)
	}
	return v.CID, nil
}

// activateAndRevoke has node a propose a treaty to node b, b countersign
// it and a revoke it: treaty traffic on one side of a partition.
func (n *netnsNet) activateAndRevoke(ctx context.Context, a, b int) error {
	c, err := n.propose(ctx, a, b)
	if err != nil {
		return err
	}
	if err := waitUntil(ctx, 30*time.Second, func() bool {
		return n.apis[b].Do(ctx, http.MethodGet, "/v1/treaties/"+c, "", nil, nil) == nil
	}); err != nil {
		return fmt.Errorf("the proposal never reached node%d: %w", b, err)
	}
	var signed struct{ CID string }
	if err := n.apis[b].Do(ctx, http.MethodPost, "/v1/treaties/"+c+"/sign", "application/json", nil, &signed); err != nil {
		return fmt.Errorf("node%d countersigns: %w", b, err)
	}
	if err := waitUntil(ctx, 30*time.Second, func() bool {
		var v struct{ State string }
		return n.apis[a].Do(ctx, http.MethodGet, "/v1/treaties/"+signed.CID, "", nil, &v) == nil && v.State == "active"
	}); err != nil {
		return fmt.Errorf("the treaty never became active on node%d: %w", a, err)
	}
	body, _ := json.Marshal(map[string]string{"reason": "chaos"})
	if err := n.apis[a].Do(ctx, http.MethodPost, "/v1/treaties/"+signed.CID+"/revoke", "application/json", body, nil); err != nil {
		return fmt.Errorf("node%d revokes: %w", a, err)
	}
	return nil
}

// TestChaosPartition partitions node0 (in turn: unreachable routes, its
// bridge port down — a black hole —, its interface down) for each of
// -chaos-partitions while every node forwards orders across the cut and
// treaties are proposed, activated and revoked on both sides, heals it,
// and measures how long after the heal every treaty pair through the cut
// is directly connected again (budget 10 s), the treaty books agree
// (budget one sync interval + 2 s), and each side's next checkpoint is
// cosigned by the other side's witnesses again (the witness state, which
// checks each checkpoint against the last one it cosigned).
func TestChaosPartition(t *testing.T) {
	var lens []time.Duration
	var total time.Duration
	for _, s := range strings.Split(*chaosPartitions, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			t.Fatalf("-chaos-partitions: %v", err)
		}
		lens, total = append(lens, d), total+d
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute+2*total)
	defer cancel()
	n := chaosNet(t, ctx)
	lctx, stopLoad := context.WithCancel(ctx)
	var st loadStats
	wg := n.load(lctx, []int{0, 1, 2}, 2, 0, &st)
	defer func() { stopLoad(); wg.Wait() }()

	modes := []string{"reject", "cut", "unplug"}
	pairs := [][2]int{{0, 1}, {0, 2}}
	for k, d := range lens {
		mode := modes[k%len(modes)]
		h := n.lab[0]
		cut := map[string]func(context.Context) error{"cut": h.Cut, "unplug": h.Unplug, "reject": h.Reject}[mode]
		before := st.acks.Load()
		if err := cut(ctx); err != nil {
			t.Fatal(err)
		}
		cutAt := time.Now()
		// Treaty traffic on both sides: node1 and node2 make and revoke a
		// treaty; node0 proposes one to node1, who hears of it after the heal.
		if err := n.activateAndRevoke(ctx, 1, 2); err != nil {
			t.Fatalf("partition %v: %v", d, err)
		}
		if _, err := n.propose(ctx, 0, 1); err != nil {
			t.Fatalf("partition %v: %v", d, err)
		}
		sizes := make([]uint64, 3)
		for i := range sizes {
			if cp, err := n.latestCheckpoint(ctx, i); err == nil {
				sizes[i] = cp.Size
			}
		}
		if rest := d - time.Since(cutAt); rest > 0 {
			select { // the partition is the scenario: it lasts d, under load
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(rest):
			}
		}
		// Whether the partition outlasted the connections (keep-alives
		// and idle timeouts end them after some 30 s of silence).
		var dropped []string
		for _, p := range pairs {
			if c, err := connected(ctx, n.apis[p[1]]); err == nil && !c[n.st.Nodes[0].PeerID] {
				dropped = append(dropped, fmt.Sprintf("node%d–node%d", p[0], p[1]))
			}
		}
		if err := h.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		healed := time.Now()
		t.Logf("chaos: partition %v (%s): connections dropped by the heal: %v", d, mode, dropped)

		type figure struct {
			what string
			took time.Duration
			err  error
		}
		figs := make(chan figure, 4)
		go func() {
			got, err := n.waitPairs(ctx, pairs, healed, 2*time.Minute)
			var worst time.Duration
			for _, r := range got {
				worst = max(worst, r)
			}
			figs <- figure{"every treaty pair through the cut directly reconnected", worst, err}
		}()
		go func() {
			var why string
			err := waitUntil(ctx, 2*time.Minute, func() bool {
				ok, w := n.booksAgree(ctx)
				why = w
				return ok
			})
			if err != nil {
				err = fmt.Errorf("%w: %s", err, why)
			}
			figs <- figure{"treaty books agree", time.Since(healed), err}
		}()
		go func() {
			err := waitUntil(ctx, 2*time.Minute, func() bool { return n.cosignedBy(ctx, 0, sizes[0], []int{1, 2}) })
			figs <- figure{"node0's checkpoint cosigned by node1 and node2", time.Since(healed), err}
		}()
		go func() {
			err := waitUntil(ctx, 2*time.Minute, func() bool {
				return n.cosignedBy(ctx, 1, sizes[1], []int{0}) && n.cosignedBy(ctx, 2, sizes[2], []int{0})
			})
			figs <- figure{"node1's and node2's checkpoints cosigned by node0", time.Since(healed), err}
		}()
		for range 4 {
			f := <-figs
			t.Logf("chaos: partition %v (%s): %s %v after the heal", d, mode, f.what, f.took.Round(10*time.Millisecond))
			switch {
			case f.err != nil:
				t.Errorf("partition %v (%s): %s: %v", d, mode, f.what, f.err)
			case strings.HasPrefix(f.what, "every treaty pair") && f.took > chaosReconnect:
				t.Errorf("partition %v (%s): reconnected %v after the heal, budget %v", d, mode, f.took, chaosReconnect)
			case strings.HasPrefix(f.what, "treaty books") && f.took > chaosConverge:
				t.Errorf("partition %v (%s): books agreed %v after the heal, budget %v (sync interval %v + 2 s)", d, mode, f.took, chaosConverge, chaosSync)
			}
		}
		t.Logf("chaos: partition %v (%s): %d acks during it and the reconnect; \"rate limit exceeded\" in the logs so far: %v",
			d, mode, st.acks.Load()-before, n.grepLogs("rate limit exceeded"))
	}
	t.Logf("chaos: partition load: %d acks, %d denials, %d errors", st.acks.Load(), st.denials.Load(), st.errs.Load())
}

// TestChaosChurn kills a random node with SIGKILL at a random moment under
// load, -chaos-rounds times, and restarts it on the same home. Each round
// the node must be ready again, reconnected to its treaty partners within
// the reconnect budget, its log consistent with the checkpoint it had
// before the kill (a consistency proof that verifies), and taking orders
// (nothing wedged). At the end every order any node acked is present on
// that node, and every acked job was launched by exactly one node of the
// federation.
func TestChaosChurn(t *testing.T) {
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 18))
	t.Logf("chaos: churn seed %d (-chaos-seed), %d rounds", seed, *chaosRounds)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute+time.Duration(*chaosRounds)*90*time.Second)
	defer cancel()
	n := chaosNet(t, ctx)
	lctx, stopLoad := context.WithCancel(ctx)
	var st loadStats
	wg := n.load(lctx, []int{0, 1, 2}, 2, 0, &st)
	loadStopped := false
	defer func() {
		if !loadStopped {
			stopLoad()
			wg.Wait()
		}
	}()

	var worstReady, worstReconnect time.Duration
	for r := range *chaosRounds {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Second + time.Duration(rng.Int64N(int64(3*time.Second)))):
		}
		v := rng.IntN(len(n.st.Nodes))
		np := &n.st.Nodes[v]
		before, err := n.latestCheckpoint(ctx, v)
		if err != nil {
			t.Fatalf("round %d: node%d checkpoint: %v", r, v, err)
		}
		if err := np.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("round %d: kill node%d: %v", r, v, err)
		}
		if err := waitUntil(ctx, 10*time.Second, func() bool { return !np.Alive() }); err != nil {
			t.Fatalf("round %d: node%d survived SIGKILL", r, v)
		}
		killed := time.Now()
		time.Sleep(time.Duration(rng.Int64N(int64(2 * time.Second))))
		if err := n.st.RestartNode(v); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		if err := waitUntil(ctx, 90*time.Second, func() bool {
			return n.apis[v].Do(ctx, http.MethodGet, "/readyz", "", nil, nil) == nil
		}); err != nil {
			t.Fatalf("round %d: node%d not ready after restart: %v", r, v, err)
		}
		ready := time.Now()
		worstReady = max(worstReady, ready.Sub(killed))
		var pairs [][2]int
		for j := range n.st.Nodes {
			if j != v {
				pairs = append(pairs, [2]int{v, j})
			}
		}
		got, err := n.waitPairs(ctx, pairs, ready, chaosReconnect)
		if err != nil {
			t.Errorf("round %d: node%d after restart: %v", r, v, err)
		}
		for _, d := range got {
			worstReconnect = max(worstReconnect, d)
		}
		// The log grew from what it had signed before the kill.
		if err := n.checkConsistent(ctx, v, before); err != nil {
			t.Errorf("round %d: node%d: %v", r, v, err)
		}
		// Not wedged: it acks a fresh order.
		if err := n.acksOne(ctx, v); err != nil {
			t.Errorf("round %d: node%d after restart: %v", r, v, err)
		}
		t.Logf("chaos: churn round %d: node%d killed at checkpoint %d, ready %v after the kill, partners %v after ready",
			r, v, before.Size, ready.Sub(killed).Round(10*time.Millisecond), got)
	}
	stopLoad()
	wg.Wait()
	loadStopped = true
	t.Logf("chaos: churn: %d rounds, worst kill → ready %v, worst ready → partners reconnected %v; load %d acks, %d denials, %d errors",
		*chaosRounds, worstReady.Round(10*time.Millisecond), worstReconnect.Round(10*time.Millisecond), st.acks.Load(), st.denials.Load(), st.errs.Load())
	if st.acks.Load() == 0 {
		t.Fatal("no order was acked: the churn ran without load")
	}
	n.checkExactlyOnce(t, ctx, &st)
}

// checkConsistent verifies node i's consistency proof from before to its
// latest checkpoint.
func (n *netnsNet) checkConsistent(ctx context.Context, i int, before provenance.Checkpoint) error {
	var after provenance.Checkpoint
	if err := waitUntil(ctx, 30*time.Second, func() bool {
		cp, err := n.latestCheckpoint(ctx, i)
		after = cp
		return err == nil && cp.Size >= before.Size
	}); err != nil {
		return fmt.Errorf("no checkpoint at least as large as %d after the restart (latest %d): %w", before.Size, after.Size, err)
	}
	var v node.ConsistencyView
	if err := n.apis[i].Do(ctx, http.MethodGet, fmt.Sprintf("/v1/log/consistency?first=%d&second=%d", before.Size, after.Size), "", nil, &v); err != nil {
		return err
	}
	if err := provenance.VerifyConsistency(before.Size, after.Size, v.Proof, before.Root, after.Root); err != nil {
		return fmt.Errorf("checkpoint %d before the kill and %d after are not consistent: %w", before.Size, after.Size, err)
	}
	return nil
}

// acksOne submits orders to node i until one is acked, for at most 30 s.
func (n *netnsNet) acksOne(ctx context.Context, i int) error {
	var last error
	err := waitUntil(ctx, 30*time.Second, func() bool {
		o, err := client.BuildOrder(n.ck, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "5/h", Regions: testnet.NodeRegions(i)}, time.Now())
		if err != nil {
			last = err
			return false
		}
		r, err := n.apis[i].Submit(ctx, o)
		if err != nil {
			last = err
			return false
		}
		last = fmt.Errorf("answered %s", r.Result)
		return r.Result == "ack"
	})
	if err != nil {
		return fmt.Errorf("no order acked within 30 s (last: %v)", last)
	}
	return nil
}

// checkExactlyOnce wants every acked order's job on the node that acked
// it, and launched (a job whose route is a provider) by exactly one node.
func (n *netnsNet) checkExactlyOnce(t *testing.T, ctx context.Context, st *loadStats) {
	t.Helper()
	launched := map[string][]int{}
	present := make([]map[string]bool, len(n.apis))
	for i, api := range n.apis {
		present[i] = map[string]bool{}
		for off := 0; ; off += 1000 {
			var v struct {
				Jobs []struct {
					Job    string          `json:"job"`
					Record json.RawMessage `json:"record"`
				} `json:"jobs"`
			}
			if err := api.Do(ctx, http.MethodGet, fmt.Sprintf("/v1/jobs?limit=1000&offset=%d", off), "", nil, &v); err != nil {
				t.Fatalf("node%d: list jobs: %v", i, err)
			}
			for _, j := range v.Jobs {
				present[i][j.Job] = true
				var rec struct {
					Route struct {
						Kind string `json:"kind"`
					} `json:"route"`
				}
				if err := json.Unmarshal(j.Record, &rec); err != nil {
					t.Fatalf("node%d: job %s record: %v", i, j.Job, err)
				}
				if rec.Route.Kind == treaty.RouteProvider {
					launched[j.Job] = append(launched[j.Job], i)
				}
			}
			if len(v.Jobs) < 1000 {
				break
			}
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var missing, twice, never []string
	for _, a := range st.acked {
		if !present[a.node][a.job] {
			missing = append(missing, fmt.Sprintf("%s on node%d", a.job, a.node))
		}
		switch l := launched[a.job]; {
		case len(l) == 0:
			never = append(never, a.job)
		case len(l) > 1:
			twice = append(twice, fmt.Sprintf("%s on nodes %v", a.job, l))
		}
	}
	t.Logf("chaos: churn: %d acked orders checked: %d missing, %d launched by more than one node, %d launched by none",
		len(st.acked), len(missing), len(twice), len(never))
	for _, list := range []struct {
		what string
		l    []string
	}{{"acked orders missing from the node that acked them", missing}, {"jobs launched by more than one node", twice}, {"acked jobs launched by no node", never}} {
		if len(list.l) > 0 {
			t.Errorf("%d %s: %s", len(list.l), list.what, strings.Join(list.l[:min(len(list.l), 10)], ", "))
		}
	}
}

// TestChaosBandwidth limits node0's link to -chaos-rate bit/s (tc tbf)
// under load and measures how long treaties proposed on either side take
// to reach every node by gossip (budget: the books agree within one sync
// interval + 2 s); then lifts the limit.
func TestChaosBandwidth(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	n := chaosNet(t, ctx)
	if err := n.lab[0].Shape(ctx, testnet.Shape{Rate: *chaosRate}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := n.lab[0].Unshape(context.WithoutCancel(ctx)); err != nil {
			t.Errorf("unshape: %v", err)
		}
	}()
	lctx, stopLoad := context.WithCancel(ctx)
	var st loadStats
	wg := n.load(lctx, []int{0, 1, 2}, 1, 0, &st)
	defer func() { stopLoad(); wg.Wait() }()
	// Witnessing over the limited link: node0's next checkpoint cosigned
	// by both partners.
	var cp provenance.Checkpoint
	if err := waitUntil(ctx, time.Minute, func() bool {
		var err error
		cp, err = n.latestCheckpoint(ctx, 0)
		return err == nil
	}); err != nil {
		t.Fatalf("node0 signs no checkpoint over the limited link: %v", err)
	}
	start := time.Now()
	if err := waitUntil(ctx, time.Minute, func() bool { return n.cosignedBy(ctx, 0, cp.Size, []int{1, 2}) }); err != nil {
		t.Errorf("node0's checkpoints are not cosigned over the limited link: %v", err)
	}
	t.Logf("chaos: %d bit/s on node0: its next checkpoint after size %d cosigned by node1 and node2 in %v", *chaosRate, cp.Size, time.Since(start).Round(10*time.Millisecond))
	var worst time.Duration
	for k, p := range [][2]int{{0, 1}, {1, 2}, {2, 0}, {0, 2}} {
		start := time.Now()
		c, err := n.propose(ctx, p[0], p[1])
		if err != nil {
			t.Fatal(err)
		}
		reached := map[int]time.Duration{}
		err = waitUntil(ctx, time.Minute, func() bool {
			for i, api := range n.apis {
				if _, ok := reached[i]; !ok && api.Do(ctx, http.MethodGet, "/v1/treaties/"+c, "", nil, nil) == nil {
					reached[i] = time.Since(start)
				}
			}
			return len(reached) == len(n.apis)
		})
		if err != nil {
			t.Fatalf("proposal %d (node%d → node%d) reached only %v: %v", k, p[0], p[1], reached, err)
		}
		var slowest time.Duration
		for _, d := range reached {
			slowest = max(slowest, d)
		}
		worst = max(worst, slowest)
		t.Logf("chaos: %d bit/s on node0: proposal node%d → node%d on every node after %v", *chaosRate, p[0], p[1], slowest.Round(10*time.Millisecond))
		if slowest > chaosConverge {
			t.Errorf("proposal node%d → node%d took %v to reach every node over a %d bit/s link, budget %v", p[0], p[1], slowest, *chaosRate, chaosConverge)
		}
	}
	if err := waitUntil(ctx, chaosConverge, func() bool { ok, _ := n.booksAgree(ctx); return ok }); err != nil {
		_, why := n.booksAgree(ctx)
		t.Errorf("books do not agree over the limited link: %s", why)
	}
	t.Logf("chaos: %d bit/s on node0: worst proposal spread %v; load %d acks, %d denials, %d errors", *chaosRate, worst.Round(10*time.Millisecond),
		st.acks.Load(), st.denials.Load(), st.errs.Load())
	if st.acks.Load() == 0 {
		t.Error("no order was acked over the limited link")
	}
}

// TestChaosNAT puts node2 behind its own NAT router (nftables masquerade):
// its partners cannot dial it, it dials them. Its treaty partners are
// connected directly (by its own dials) once the testnet is up; it is cut
// off for -chaos-nat-partition under load, and after the heal every pair
// with it is directly connected again within the reconnect budget — only
// its side can dial, and its partners accept it from its router's address
// — and orders are forwarded to it and from it again.
func TestChaosNAT(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute+2*(*chaosNATPartition))
	defer cancel()
	n := upNetns(t, ctx, testnet.UpOptions{Nodes: 3, NAT: 1, Epoch: chaosEpoch, SimFailure: 0.0001})
	if !n.st.Nodes[2].NAT {
		t.Fatal("node2 is not behind NAT")
	}
	lctx, stopLoad := context.WithCancel(ctx)
	var st loadStats
	wg := n.load(lctx, []int{0, 1, 2}, 2, 0, &st)
	defer func() { stopLoad(); wg.Wait() }()
	if err := n.lab[2].Cut(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(*chaosNATPartition):
	}
	pairs := [][2]int{{2, 0}, {2, 1}}
	var dropped []string
	for _, p := range pairs {
		if c, err := connected(ctx, n.apis[p[1]]); err == nil && !c[n.st.Nodes[2].PeerID] {
			dropped = append(dropped, fmt.Sprintf("node%d–node%d", p[0], p[1]))
		}
	}
	if err := n.lab[2].Heal(ctx); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	got, err := n.waitPairs(ctx, pairs, healed, 2*time.Minute)
	var worst time.Duration
	for _, d := range got {
		worst = max(worst, d)
	}
	t.Logf("chaos: NAT: node2 behind NAT cut for %v (connections dropped: %v): its treaty pairs directly reconnected %v after the heal",
		*chaosNATPartition, dropped, worst.Round(10*time.Millisecond))
	switch {
	case err != nil:
		t.Fatalf("NAT: %v", err)
	case worst > chaosReconnect:
		t.Errorf("NAT: reconnected %v after the heal, budget %v", worst, chaosReconnect)
	}
	for _, p := range [][2]int{{0, 2}, {2, 0}, {1, 2}} {
		if err := n.acksVia(ctx, p[0], p[1]); err != nil {
			t.Errorf("NAT: after the heal, node%d's order for node%d's region: %v", p[0], p[1], err)
		}
	}
	t.Logf("chaos: NAT: load %d acks, %d denials, %d errors; \"rate limit exceeded\" in the logs: %v", st.acks.Load(), st.denials.Load(), st.errs.Load(),
		n.grepLogs("rate limit exceeded"))
}

// acksVia submits orders to node from for a region only node to serves
// until one is acked with a route through a peer, for at most 30 s.
func (n *netnsNet) acksVia(ctx context.Context, from, to int) error {
	var last error
	err := waitUntil(ctx, 30*time.Second, func() bool {
		o, err := client.BuildOrder(n.ck, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "5/h", Regions: testnet.NodeRegions(to)}, time.Now())
		if err != nil {
			last = err
			return false
		}
		r, err := n.apis[from].Submit(ctx, o)
		if err != nil {
			last = err
			return false
		}
		var ack treaty.Ack
		if r.Result != "ack" || treaty.DecodeJSON(r.Record, &ack) != nil {
			last = fmt.Errorf("answered %s", r.Result)
			return false
		}
		if ack.Route.Kind != treaty.RoutePeer {
			last = fmt.Errorf("acked with route %s %s, not through a peer", ack.Route.Kind, ack.Route.Name)
			return false
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("not acked through a peer within 30 s (last: %v)", last)
	}
	return nil
}

// TestChaosNATForward puts node2 behind NAT with a port forward on its
// router (TCP 4001) and p2p.announce naming the router's public address:
// its partners learn that address, can dial it through the forward, and
// after a cut of -chaos-nat-partition every pair with node2 is directly
// connected again within the reconnect budget.
func TestChaosNATForward(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute+2*(*chaosNATPartition))
	defer cancel()
	n := upNetns(t, ctx, testnet.UpOptions{Nodes: 3, NAT: 1, NATForward: true, Epoch: chaosEpoch, SimFailure: 0.0001})
	h := n.lab[2]
	public := "/ip4/" + h.Public.String() + "/tcp/4001"
	// node0 knows node2 by the announced address.
	var v struct {
		Peers []struct {
			PeerID string   `json:"peer_id"`
			Addrs  []string `json:"addrs"`
		} `json:"peers"`
	}
	if err := n.apis[0].Do(ctx, http.MethodGet, "/v1/peers", "", nil, &v); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, p := range v.Peers {
		if p.PeerID == n.st.Nodes[2].PeerID {
			addrs = p.Addrs
		}
	}
	if !slices.Contains(addrs, public) {
		t.Fatalf("node0 knows node2 (behind NAT, announcing %s) by %v", public, addrs)
	}
	// The forward reaches node2 from node0's namespace.
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	c, err := n.lab[0].DialContext(dctx, "tcp", h.Public.String()+":4001")
	dcancel()
	if err != nil {
		t.Fatalf("node0 cannot dial node2's port forward %s: %v", public, err)
	}
	c.Close()

	lctx, stopLoad := context.WithCancel(ctx)
	var st loadStats
	wg := n.load(lctx, []int{0, 1, 2}, 2, 0, &st)
	defer func() { stopLoad(); wg.Wait() }()
	if err := h.Cut(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(*chaosNATPartition):
	}
	if err := h.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	got, err := n.waitPairs(ctx, [][2]int{{2, 0}, {2, 1}}, healed, 2*time.Minute)
	var worst time.Duration
	for _, d := range got {
		worst = max(worst, d)
	}
	t.Logf("chaos: NAT with a port forward: node0 knows node2 by %s; after a %v cut its treaty pairs directly reconnected %v after the heal",
		public, *chaosNATPartition, worst.Round(10*time.Millisecond))
	switch {
	case err != nil:
		t.Fatalf("NAT forward: %v", err)
	case worst > chaosReconnect:
		t.Errorf("NAT forward: reconnected %v after the heal, budget %v", worst, chaosReconnect)
	}
	if err := n.acksVia(ctx, 0, 2); err != nil {
		t.Errorf("NAT forward: node0's order for node2's region: %v", err)
	}
}
