package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/testnet"
	"github.com/aurora-federation/aurora/treaty"
)

// netnsNet is a multi-process testnet on network namespaces, driven from
// the test.
type netnsNet struct {
	st   *testnet.ProcessState
	lab  []*testnet.LabHost // by node index
	apis []*client.Client   // operator clients, dialing inside each node's namespace
	ck   *treaty.PrivateKey
	bin  string
}

// upNetns starts a testnet of o.Nodes processes on namespaces of a lab
// slot of its own (prefix "aue<slot>-"), and tears it down when the test
// ends, failed or not: processes, namespaces and their links. It skips
// the test, saying why, only when namespaces cannot be created here.
func upNetns(t *testing.T, ctx context.Context, o testnet.UpOptions) *netnsNet {
	t.Helper()
	bin := mustBin(t)
	if err := testnet.NetnsAvailable(ctx, "aueprobe"); err != nil {
		t.Skipf("network namespaces cannot be created here (run as root with iproute2 and nftables): %v", err)
	}
	prefix, release, err := testnet.LockLabPrefix("aue", 32)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	o.Bin, o.Netns, o.LabPrefix, o.LabSubnet = bin, true, prefix, testnet.LabSlotSubnet(prefix)
	if o.Dir == "" {
		o.Dir = filepath.Join(t.TempDir(), "tn")
	}
	if o.Fakes == nil {
		o.Fakes = []string{}
	}
	var out strings.Builder
	o.Out = &out
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, o.Dir)
		}
		if d := os.Getenv("DEBUG_KEEP_LOGS"); d != "" { // TEMP
			exec.Command("sh", "-c", "rm -rf "+d+"; mkdir -p "+d+"; for n in "+o.Dir+"/node*; do cp $n/node.log "+d+"/$(basename $n).log; done").Run()
		}
		if err := testnet.Down(o.Dir, 10*time.Second, nil); err != nil && !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "no testnet") {
			t.Errorf("cleanup: down: %v", err)
		}
		// Whatever up or down left: the slot's namespaces and processes.
		if err := testnet.SweepNetns(context.Background(), prefix); err != nil {
			t.Errorf("cleanup: sweep %s: %v", prefix, err)
		}
	})
	st, err := testnet.Up(ctx, o)
	if err != nil {
		t.Fatalf("up --netns: %v\n%s", err, out.String())
	}
	n := &netnsNet{st: st, bin: bin}
	if n.ck, err = node.LoadKey(st.ClientKey); err != nil {
		t.Fatal(err)
	}
	byNS := map[string]*testnet.LabHost{}
	lab := labOf(st)
	for _, h := range lab {
		byNS[h.NS] = h
	}
	for _, np := range st.Nodes {
		tok, err := node.LoadToken(np.Home)
		if err != nil {
			t.Fatal(err)
		}
		api := client.New(np.API, string(tok))
		api.HTTP = testnet.HTTPClientIn(np.Netns, 15*time.Second)
		n.apis = append(n.apis, api)
		n.lab = append(n.lab, byNS[np.Netns])
	}
	return n
}

// labOf rebuilds the lab hosts of a netns testnet from its state.
func labOf(st *testnet.ProcessState) []*testnet.LabHost {
	hosts, _ := testnet.LabHostsOf(st)
	return hosts
}

// connected returns the peer IDs api's node has a live connection to.
func connected(ctx context.Context, api *client.Client) (map[string]bool, error) {
	var v struct {
		Peers []struct {
			PeerID    string `json:"peer_id"`
			Connected bool   `json:"connected"`
		} `json:"peers"`
	}
	if err := api.Do(ctx, http.MethodGet, "/v1/peers", "", nil, &v); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, p := range v.Peers {
		if p.Connected {
			out[p.PeerID] = true
		}
	}
	return out, nil
}

// waitPairs waits until both nodes of every pair see each other
// connected, and returns, per pair, how long it took from start (the
// later of the two sides).
func (n *netnsNet) waitPairs(ctx context.Context, pairs [][2]int, start time.Time, within time.Duration) (map[[2]int]time.Duration, error) {
	got := map[[2]int]time.Duration{}
	seen := map[[2]int][2]bool{}
	deadline := start.Add(within)
	for {
		for _, p := range pairs {
			if _, ok := got[p]; ok {
				continue
			}
			s := seen[p]
			for side, k := range []int{p[0], p[1]} {
				other := p[1-side]
				if c, err := connected(ctx, n.apis[k]); err == nil && c[n.st.Nodes[other].PeerID] {
					s[side] = true
				}
			}
			seen[p] = s
			if s[0] && s[1] {
				got[p] = time.Since(start)
			}
		}
		if len(got) == len(pairs) {
			return got, nil
		}
		if time.Now().After(deadline) {
			var missing []string
			for _, p := range pairs {
				if _, ok := got[p]; !ok {
					missing = append(missing, fmt.Sprintf("node%d–node%d (sides %v)", p[0], p[1], seen[p]))
				}
			}
			return got, fmt.Errorf("not reconnected within %v: %s", within, strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// loadStats counts a load generator's answers.
type loadStats struct {
	acks, denials, errs atomic.Int64
	mu                  sync.Mutex // protects acked
	acked               map[string]ackedOrder
}

type ackedOrder struct {
	node int    // the node that acked it
	job  string // its job there
	cid  string // the order's CID
}

// load submits orders from workers goroutines per node in from, each for a
// region only a peer serves (so each is forwarded across the lab), until
// ctx ends. Every Ack is remembered.
func (n *netnsNet) load(ctx context.Context, from []int, workers int, pause time.Duration, st *loadStats) *sync.WaitGroup {
	var wg sync.WaitGroup
	if st.acked == nil {
		st.acked = map[string]ackedOrder{}
	}
	for _, i := range from {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; ctx.Err() == nil; k++ {
					peer := (i + 1 + (w+k)%(len(n.st.Nodes)-1)) % len(n.st.Nodes)
					o, err := client.BuildOrder(n.ck, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "5/h",
						Regions: testnet.NodeRegions(peer)}, time.Now())
					if err != nil {
						st.errs.Add(1)
						return
					}
					r, err := n.apis[i].Submit(ctx, o)
					switch {
					case err != nil:
						st.errs.Add(1)
						// A node that is down refuses at once: do not spin.
						select {
						case <-ctx.Done():
						case <-time.After(50 * time.Millisecond):
						}
					case r.Result == "ack":
						st.acks.Add(1)
						st.mu.Lock()
						st.acked[r.CID] = ackedOrder{node: i, job: r.Job, cid: r.CID}
						st.mu.Unlock()
					default:
						st.denials.Add(1)
					}
					if pause > 0 {
						select {
						case <-ctx.Done():
						case <-time.After(pause):
						}
					}
				}
			}()
		}
	}
	return &wg
}

// grepLogs counts the lines of every node log that contain s.
func (n *netnsNet) grepLogs(s string) map[string]int {
	out := map[string]int{}
	for _, np := range n.st.Nodes {
		data, _ := os.ReadFile(np.Log)
		out[np.Name()] = strings.Count(string(data), s)
	}
	return out
}
