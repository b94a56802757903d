package order_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/clock"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/sim"
	"github.com/aurora-federation/aurora/treaty"
)

var start = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func key(t testing.TB, name string) *treaty.PrivateKey {
	t.Helper()
	sum := sha256.Sum256([]byte("aurora/order-test/" + name))
	k, err := treaty.NewKeyFromSeed(sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// countingProvider wraps a sim provider and counts Offers calls.
type countingProvider struct {
	*sim.Provider
	offers atomic.Int64
}

func (p *countingProvider) Offers(ctx context.Context, q providers.Query) ([]providers.Offer, error) {
	p.offers.Add(1)
	return p.Provider.Offers(ctx, q)
}

// tnode is one operator: a core over a MemStore on the shared virtual
// clock, a router over one sim provider.
type tnode struct {
	t      testing.TB
	name   string
	key    *treaty.PrivateKey
	clk    *clock.Virtual
	store  *order.MemStore
	ledger *order.Ledger
	prov   *countingProvider
	router *providers.Router
	rep    *providers.Reputation
	core   *order.Core
	cfg    order.Config
	judged atomic.Int64
}

type nodeOpts struct {
	gpu        string        // the provider's GPU model ("" = none offered)
	latency    time.Duration // launch to running
	failAfter  bool          // leases fail at their ready time
	slots      int
	judge      order.Judge
	peersFirst bool
}

func newNode(t testing.TB, clk *clock.Virtual, name string, o nodeOpts) *tnode {
	t.Helper()
	n := &tnode{t: t, name: name, key: key(t, name), clk: clk, store: order.NewMemStore(clk)}
	scfg := sim.Config{Name: "sim-" + name, Seed: 7, Clock: clk, LaunchLatency: sim.Latency{Min: o.latency}}
	if o.gpu != "" {
		scfg.GPUs = []sim.GPU{{Model: o.gpu, Count: 1, VRAMMiB: 80 << 10, PricePerHour: 1_000_000}}
	} else {
		scfg.GPUs = []sim.GPU{{Model: "NONE-GPU", Count: 1, VRAMMiB: 1, PricePerHour: 1_000_000}}
	}
	if o.failAfter {
		scfg.FailureRate, scfg.FailMode = 1, sim.FailAfterLatency
	}
	sp, err := sim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	n.prov = &countingProvider{Provider: sp}
	n.rep, err = providers.NewReputation(providers.ReputationConfig{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	rcfg := providers.RouterConfig{Providers: []providers.Provider{n.prov}, Reputation: n.rep, Clock: clk, LaunchTimeout: -1, FetchParallelism: 1}
	if o.peersFirst {
		rcfg.Strategy = providers.StrategyFunc(func(e providers.Estimate) float64 {
			if e.Peer {
				return 0
			}
			return 1
		})
	}
	n.router, err = providers.NewRouter(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	judge := o.judge
	if judge == nil {
		judge = order.JudgeFunc(func(context.Context, *order.JudgeInput) (order.Verdict, error) {
			return order.Verdict{Module: "test"}, nil
		})
	}
	counted := order.JudgeFunc(func(ctx context.Context, in *order.JudgeInput) (order.Verdict, error) {
		n.judged.Add(1)
		return judge.Judge(ctx, in)
	})
	n.ledger = order.NewLedger(order.LedgerConfig{Store: n.store})
	n.cfg = order.Config{Key: n.key, Clock: clk, Ledger: n.ledger, Judge: counted, Router: n.router, Reputation: n.rep,
		Providers: map[string]providers.Provider{n.prov.Name(): n.prov}, Slots: o.slots}
	n.start()
	return n
}

func (n *tnode) start() {
	n.t.Helper()
	var err error
	if n.core, err = order.New(n.cfg); err != nil {
		n.t.Fatal(err)
	}
}

// restart is a crash and restart: a new core on the same store.
func (n *tnode) restart(ctx context.Context) {
	n.core.Close()
	n.ledger = order.NewLedger(order.LedgerConfig{Store: n.store})
	n.cfg.Ledger = n.ledger
	n.start()
	if _, _, err := n.core.Resume(ctx); err != nil {
		n.t.Fatal(err)
	}
}

func (n *tnode) launched() int64 { return n.prov.Stats().Launched }

// run advances the clock to t, running every step that falls due on the way.
func run(ctx context.Context, clk *clock.Virtual, until time.Time, nodes ...*tnode) {
	for {
		for _, n := range nodes {
			n.core.Drain(ctx)
		}
		next, ok := clk.Next()
		if !ok || next.After(until) {
			clk.AdvanceTo(until)
			for _, n := range nodes {
				n.core.Drain(ctx)
			}
			return
		}
		clk.AdvanceTo(next)
	}
}

var nonceSeq atomic.Uint64

func newOrder(t testing.TB, client *treaty.PrivateKey, gpu string, now time.Time) *treaty.Order {
	t.Helper()
	nonce := make([]byte, 16)
	binary.BigEndian.PutUint64(nonce, nonceSeq.Add(1))
	o := &treaty.Order{V: treaty.Version, Client: client.DID(), Nonce: nonce, Created: now.Unix(), Expires: now.Add(10 * time.Minute).Unix(),
		Workload:    treaty.Workload{Image: "x:1", Cmd: []string{}, Env: []treaty.EnvVar{}, Ports: []int64{}, Duration: 3600, GPU: &treaty.GPU{Model: gpu, Count: 1}},
		Constraints: treaty.Constraints{Regions: []string{}, Providers: []string{}, MaxPricePerHour: 5_000_000}}
	if err := treaty.Sign(o, client); err != nil {
		t.Fatal(err)
	}
	return o
}

// --- forwarding between test nodes, with faults ---

type fault int

const (
	faultNone       fault = iota
	faultLostBefore       // the stream breaks before the peer reads the order
	faultLostAfter        // the peer commits; its answer is lost
	faultSlow             // the peer commits after the origin's timeout
	faultCrashAfter       // the peer commits, its answer is lost, it crashes and restarts
	faultReplay           // an old peer answers our resend with "replay"
	faultNeverSent        // the stream never opened: a refusal
)

type refusedError struct{ error }

func (refusedError) Refused() bool { return true }

type link struct {
	from    *tnode
	to      *tnode
	treaty  treaty.Link
	fault   fault
	queries int
	queryUp bool // queries reach the peer
	mu      sync.Mutex
}

func (l *link) Forward(ctx context.Context, peer treaty.DID, tl treaty.Link, ob []byte) ([]byte, error) {
	l.mu.Lock()
	f := l.fault
	l.mu.Unlock()
	submit := func() ([]byte, error) {
		r, err := l.to.core.SubmitForwarded(ctx, l.from.key.DID(), tl, ob)
		if err != nil {
			return nil, err
		}
		return r.Bytes, nil
	}
	switch f {
	case faultLostBefore:
		return nil, errors.New("stream reset before the request was read")
	case faultNeverSent:
		return nil, refusedError{errors.New("no stream opened")}
	case faultLostAfter:
		submit()
		return nil, errors.New("stream reset before the answer")
	case faultSlow:
		submit()
		return nil, context.DeadlineExceeded
	case faultCrashAfter:
		submit()
		l.to.restart(context.WithoutCancel(ctx))
		return nil, errors.New("connection closed")
	case faultReplay:
		submit()
		return nil, errors.New("peer error replay: nonce already used")
	}
	return submit()
}

func (l *link) Query(ctx context.Context, peer treaty.DID, tl treaty.Link, ocid cid.Cid) ([]byte, error) {
	l.mu.Lock()
	l.queries++
	up := l.queryUp
	l.mu.Unlock()
	if !up {
		return nil, errors.New("peer unreachable")
	}
	return l.to.core.Held(ctx, l.from.key.DID(), tl, ocid)
}

func (l *link) PeersFor(*treaty.Order) []providers.PeerOption {
	return []providers.PeerOption{{DID: l.to.key.DID(), Treaty: l.treaty, PricePerHour: 500_000}}
}

// lanes accepts forwards from one origin under any alias of one treaty.
type lanes struct {
	from      treaty.DID
	aliases   []treaty.Link
	canonical treaty.Link
	lane      treaty.Lane
	credit    treaty.Credit
	// maxPerGPUHour is the treaty's max_price_per_gpu_hour (0 = none).
	maxPerGPUHour int64
}

func (ls *lanes) Lane(_ context.Context, tl treaty.Link, from treaty.DID) (order.LaneInfo, error) {
	for _, a := range ls.aliases {
		if a.Equals(tl.Cid) && from == ls.from {
			t := &treaty.Treaty{Parties: []treaty.DID{ls.from, ls.lane.To}, Lanes: []treaty.Lane{ls.lane}, Credit: ls.credit, MaxPricePerGPUHour: ls.maxPerGPUHour}
			return order.LaneInfo{Treaty: t, Lane: ls.lane, Canonical: ls.canonical}, nil
		}
	}
	return order.LaneInfo{}, errors.New("no lane")
}

func linkOf(s string) treaty.Link { return treaty.LinkTo(treaty.CIDOf([]byte(s))) }

// pair wires origin a → peer b under one treaty.
func pair(a, b *tnode, f fault) *link {
	tl := linkOf("treaty " + a.name + b.name)
	l := &link{from: a, to: b, treaty: tl, fault: f, queryUp: true}
	a.cfg.Peers, a.cfg.Forward = l, l
	a.start()
	b.cfg.Lanes = &lanes{from: a.key.DID(), aliases: []treaty.Link{tl}, canonical: tl, lane: treaty.Lane{From: a.key.DID(), To: b.key.DID()}}
	b.start()
	return l
}
