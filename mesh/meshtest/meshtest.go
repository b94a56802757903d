// Package meshtest starts real Aurora meshes on 127.0.0.1 for tests: test
// federations of N nodes, deterministic keys, signed orders and treaties,
// an order handler that stands in for the node's pipeline, metric readers
// and the goleak options that libp2p needs.
//
// Everything here uses real hosts (TCP and QUIC on loopback), never
// mocknet. Helpers fail the test on error and register cleanups.
package meshtest

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// Timeouts for a heavily shared 2-core machine: generous, because a
// condition that holds is seen at once and only failures wait this long.
const (
	// Wait bounds WaitFor calls of the helpers.
	Wait = 60 * time.Second
	// StreamTimeout is the meshes' stream deadline.
	StreamTimeout = 20 * time.Second
)

// Key returns a deterministic test key for index i.
func Key(tb testing.TB, i int) *treaty.PrivateKey {
	tb.Helper()
	seed := sha256.Sum256(fmt.Appendf(nil, "meshtest key %d", i))
	k, err := treaty.NewKeyFromSeed(seed[:])
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// RandomKey returns a fresh random key (clients, strangers).
func RandomKey(tb testing.TB) *treaty.PrivateKey {
	tb.Helper()
	k, err := treaty.GenerateKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// LoopbackConfig is a mesh config for tests: TCP and QUIC on 127.0.0.1 with
// random ports, no mDNS, short sync and reconnect intervals.
func LoopbackConfig(key *treaty.PrivateKey, federation string) mesh.Config {
	return mesh.Config{
		Key:               key,
		Federation:        federation,
		ListenAddrs:       []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		SyncInterval:      2 * time.Second,
		ReconnectInterval: time.Second,
		StreamTimeout:     StreamTimeout,
		DialTimeout:       10 * time.Second,
	}
}

// Node is one mesh of a test federation.
type Node struct {
	*mesh.Mesh
	Index    int
	Key      *treaty.PrivateKey
	Registry *prometheus.Registry
	// Acker answers forwarded orders (Config.OnOrder) unless Options
	// replaced OnOrder.
	Acker *Acker
	// Config is the configuration the mesh was started with (restart a
	// node with it and a fresh Registerer).
	Config mesh.Config
}

// Options configures Start.
type Options struct {
	// Federation defaults to "testfed".
	Federation string
	// KeyOffset shifts the key indexes (two federations in one test).
	KeyOffset int
	// Configure adjusts node i's config before the mesh starts.
	Configure func(i int, c *mesh.Config)
	// NoConnect leaves the nodes unconnected.
	NoConnect bool
}

// StartNode starts node i. The mesh is closed at cleanup.
func StartNode(tb testing.TB, i int, opts Options) *Node {
	tb.Helper()
	if opts.Federation == "" {
		opts.Federation = "testfed"
	}
	key := Key(tb, i+opts.KeyOffset)
	n := &Node{Index: i, Key: key, Registry: prometheus.NewRegistry(), Acker: &Acker{Key: key}}
	cfg := LoopbackConfig(key, opts.Federation)
	cfg.Registerer = n.Registry
	cfg.OnOrder = n.Acker.OnOrder
	if opts.Configure != nil {
		opts.Configure(i, &cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	m, err := mesh.New(ctx, cfg)
	if err != nil {
		tb.Fatalf("meshtest: node %d: %v", i, err)
	}
	tb.Cleanup(func() { m.Close() })
	n.Mesh, n.Config = m, cfg
	n.Acker.SetLanes(m)
	return n
}

// Start starts n nodes and, unless NoConnect, connects them: up to four
// nodes fully, more as a sparse random connected graph (each node dials
// three distinct earlier nodes chosen by a seeded generator, so the graph
// is the same every run and its diameter is logarithmic). Connections are
// made one at a time (concurrent dials between the same hosts make
// handshakes flaky).
func Start(tb testing.TB, n int, opts Options) []*Node {
	tb.Helper()
	nodes := make([]*Node, n)
	for i := range nodes {
		nodes[i] = StartNode(tb, i, opts)
	}
	if opts.NoConnect {
		return nodes
	}
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	for i := 1; i < n; i++ {
		peers := rng.Perm(i)
		if n > 4 && len(peers) > 3 {
			peers = peers[:3]
		}
		for _, j := range peers {
			Connect(tb, nodes[i].Mesh, nodes[j].Mesh)
		}
	}
	return nodes
}

// AddrInfo returns a mesh's peer ID and listen addresses.
func AddrInfo(m *mesh.Mesh) peer.AddrInfo {
	return peer.AddrInfo{ID: m.ID(), Addrs: m.Host().Addrs()}
}

// Connect dials b from a.
func Connect(tb testing.TB, a, b *mesh.Mesh) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := a.Connect(ctx, AddrInfo(b)); err != nil {
		tb.Fatalf("meshtest: connect: %v", err)
	}
}

// WaitFor polls cond until it holds or timeout passes, then fails the test
// naming what it waited for.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	pause := 5 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("meshtest: timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// Order returns the dag-cbor of a fresh signed order by client.
func Order(tb testing.TB, client *treaty.PrivateKey, now time.Time) []byte {
	tb.Helper()
	nonce := make([]byte, treaty.MinNonceLen)
	if _, err := crand.Read(nonce); err != nil {
		tb.Fatal(err)
	}
	o := &treaty.Order{
		V: treaty.Version, Client: client.DID(), Nonce: nonce, Created: now.Unix(), Expires: now.Add(10 * time.Minute).Unix(),
		Workload:    treaty.Workload{Image: "ghcr.io/aurora/echo:1", Cmd: []string{}, Env: []treaty.EnvVar{}, CPU: 500, Memory: 256, Duration: 60, Ports: []int64{}},
		Constraints: treaty.Constraints{Regions: []string{}, MaxPricePerHour: 2_000_000, Providers: []string{}},
	}
	if err := treaty.Sign(o, client); err != nil {
		tb.Fatal(err)
	}
	b, err := treaty.Encode(o)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Bilateral returns an unsigned bilateral treaty between a and b, valid
// from a minute ago, in federation fed.
func Bilateral(tb testing.TB, fed string, a, b treaty.DID, set map[string]string) *treaty.Treaty {
	tb.Helper()
	t, err := treaty.FromTemplate(treaty.Proposal{Template: treaty.TemplateBilateral, Federation: fed, Proposer: a, Peer: b, Now: time.Now().Add(-time.Minute), Set: set})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// Activate has a propose a bilateral treaty with b, waits for b to see it,
// has b countersign, and waits until both see it active. It returns the
// treaty's final CID.
func Activate(tb testing.TB, fed string, a, b *Node) treaty.Link {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	id, err := a.Propose(ctx, Bilateral(tb, fed, a.DID(), b.DID(), nil))
	if err != nil {
		tb.Fatalf("meshtest: propose: %v", err)
	}
	WaitFor(tb, Wait, "the proposal to reach the peer", func() bool { _, err := b.Get(id); return err == nil })
	if err := b.Countersign(ctx, id); err != nil {
		tb.Fatalf("meshtest: countersign: %v", err)
	}
	var final treaty.Link
	WaitFor(tb, Wait, "the treaty to be active on both", func() bool {
		ia, err1 := a.Get(id)
		ib, err2 := b.Get(id)
		final = ia.CID
		return err1 == nil && err2 == nil && ia.State == treaty.StateActive && ib.State == treaty.StateActive
	})
	return final
}

// Origin returns the log origin of key's node in federation fed:
// aurora/<fed>/<peer ID>.
func Origin(tb testing.TB, fed string, key *treaty.PrivateKey) string {
	tb.Helper()
	id, err := mesh.PeerIDOf(key.DID())
	if err != nil {
		tb.Fatal(err)
	}
	return "aurora/" + fed + "/" + id.String()
}

// SignedCheckpoint returns a C2SP checkpoint note of origin at size with
// root, signed by key as that log (no tree need exist: two of these at one
// size with different roots are an equivocation).
func SignedCheckpoint(tb testing.TB, key *treaty.PrivateKey, origin string, size uint64, root [32]byte) []byte {
	tb.Helper()
	signer, err := provenance.NewLogSigner(origin, key)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := note.Sign(&note.Note{Text: string(provenance.Checkpoint{Origin: origin, Size: size, Root: root}.Body())}, signer)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// CodeError is an order refusal with a code, like the node's RejectError.
type CodeError struct {
	Code, Message string
}

func (e *CodeError) Error() string     { return e.Message }
func (e *CodeError) ErrorCode() string { return e.Code }

// Acker stands in for the node's order pipeline on the receiving side: it
// decodes and verifies the order, checks the lane, emulates the replay
// guard (a nonce is accepted once) and signs an Ack (or a Denial when the
// SetDeny hook says so) with Key. It is safe for concurrent use.
type Acker struct {
	Key *treaty.PrivateKey
	// Price is the Ack's price, micro-USD per hour.
	Price int64

	calls atomic.Int64
	mu    sync.Mutex // protects following
	lanes interface {
		Lane(ctx context.Context, treatyCID treaty.Link, from treaty.DID) (*treaty.Treaty, treaty.Lane, error)
	}
	seen   map[string]bool
	before func(ctx context.Context, from treaty.DID) error
	deny   func(o *treaty.Order) []string
}

// SetBefore sets a hook that runs first for every order; its error is
// returned as is (tests use it to block, fail or observe the context).
func (a *Acker) SetBefore(f func(ctx context.Context, from treaty.DID) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.before = f
}

// SetDeny sets a hook that runs after the replay check and returns reasons
// to deny an order (nil: acknowledge).
func (a *Acker) SetDeny(f func(o *treaty.Order) []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.deny = f
}

// SetLanes sets the lane check (the mesh itself, in StartNode).
func (a *Acker) SetLanes(l interface {
	Lane(ctx context.Context, treatyCID treaty.Link, from treaty.DID) (*treaty.Treaty, treaty.Lane, error)
}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lanes = l
}

// Calls is how many orders reached OnOrder.
func (a *Acker) Calls() int64 { return a.calls.Load() }

// OnOrder is a mesh.OrderHandler.
func (a *Acker) OnOrder(ctx context.Context, from treaty.DID, treatyCID treaty.Link, order []byte) ([]byte, error) {
	a.calls.Add(1)
	a.mu.Lock()
	before, deny := a.before, a.deny
	a.mu.Unlock()
	if before != nil {
		if err := before(ctx, from); err != nil {
			return nil, err
		}
	}
	var o treaty.Order
	if err := treaty.Decode(order, &o); err != nil {
		return nil, &CodeError{Code: "bad_record", Message: err.Error()}
	}
	if err := treaty.Verify(&o); err != nil {
		return nil, &CodeError{Code: "bad_signature", Message: err.Error()}
	}
	a.mu.Lock()
	lanes := a.lanes
	a.mu.Unlock()
	if lanes != nil {
		if _, _, err := lanes.Lane(ctx, treatyCID, from); err != nil {
			return nil, err
		}
	}
	key := string(o.Client) + "/" + string(o.Nonce)
	a.mu.Lock()
	if a.seen == nil {
		a.seen = map[string]bool{}
	}
	replay := a.seen[key]
	a.seen[key] = true
	a.mu.Unlock()
	if replay {
		return nil, &CodeError{Code: "replay", Message: "nonce already used by " + o.Client.Short()}
	}
	ocid := treaty.CIDOf(order)
	now := time.Now().Unix()
	if deny != nil {
		if reasons := deny(&o); reasons != nil {
			d := &treaty.Denial{V: treaty.Version, Order: treaty.LinkTo(ocid), Operator: a.Key.DID(), Reasons: reasons, Policy: "", At: now}
			if err := treaty.Sign(d, a.Key); err != nil {
				return nil, err
			}
			return treaty.Encode(d)
		}
	}
	ack := &treaty.Ack{V: treaty.Version, Order: treaty.LinkTo(ocid), Job: ocid.String(), Operator: a.Key.DID(), Via: []treaty.Hop{},
		Route: treaty.Route{Kind: treaty.RouteProvider, Name: "sim"}, Price: a.Price, At: now}
	if err := treaty.Sign(ack, a.Key); err != nil {
		return nil, err
	}
	return treaty.Encode(ack)
}

// Metric returns the value of a counter or gauge in reg whose labels
// include labels (nil: any), summed over matching series; 0 if absent.
func Metric(tb testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !matches(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// GoleakOptions ignores the goroutines go-libp2p's dependencies leave
// behind by design once every host is closed. There is one: the
// go-flow-metrics sweeper, a process-wide singleton started on the first
// use of a flow meter (libp2p's bandwidth counter, on hosts that keep
// libp2p metrics; other packages' hosts, e.g. bitswap's, may) and never
// stopped. Meshes disable libp2p metrics, and the mesh's own tests pass
// with no ignore at all; a goroutine of a mesh is never ignored.
func GoleakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/libp2p/go-flow-metrics.(*sweeper).run"),
	}
}
