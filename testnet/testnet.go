// Package testnet runs a local Aurora federation on loopback: N real nodes
// (badger, wazero, libp2p, boxo, HTTP API) with their own homes, provider
// fakes that speak the networks' documented wire formats, two dev TSAs and a
// client key. Tests use it in-process; `aurora testnet up` and `aurora demo`
// build on it.
package testnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.opentelemetry.io/otel/trace"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/treaty"
)

// Config shapes a testnet. The zero value is the demo's: 3 nodes, the
// Vast.ai, Salad and Akash fakes plus sim providers, 1 s epochs.
type Config struct {
	// Nodes is the number of nodes. Default 3.
	Nodes int
	// Dir holds every node home and the client key. Default: a new temp dir
	// removed by Close.
	Dir string
	// Federation name. Default "testnet".
	Federation string
	// Fakes are the provider networks to fake. Default vastai, salad, akash.
	Fakes []string
	// Epoch is the provenance epoch. Default 1s.
	Epoch time.Duration
	// SimFailure is the launch failure rate of each node's sim provider.
	// Default 0.2.
	SimFailure float64
	// PolicyCacheDir is shared by every node (compile the std policy once).
	// Default <Dir>/policy-cache.
	PolicyCacheDir string
	// Logger receives every node's logs. Default: discard.
	Logger *slog.Logger
	// TracerProvider, if set, records every node's spans (tests use an
	// in-memory recorder to follow one trace across nodes).
	TracerProvider trace.TracerProvider
	// Configure, if set, adjusts node i's configuration before it starts
	// (tests lower limits with it).
	Configure func(i int, cfg *node.Config)
	// OrderFault, if set, is node i's node.Options.OrderFault (fault
	// injection on forwarded orders' answers).
	OrderFault func(i int) func(ctx context.Context, from treaty.DID, reply []byte, err error) error
}

// Node is one testnet node.
type Node struct {
	*node.Node
	Home string
	// API is a client with the node's operator token.
	API *client.Client
	// Regions are where this node's own providers place work.
	Regions []string
}

// Testnet is a running federation.
type Testnet struct {
	Nodes  []*Node
	Fakes  []*Fake
	TSAs   []*DevTSA
	Client *treaty.PrivateKey
	Dir    string

	cfg     Config
	tempDir bool
}

// regionPlan gives each node its own regions so orders for a region only a
// peer serves are forwarded: node 0 eu-west, node 1 us-east, node 2
// eu-central, then round robin.
var regionPlan = [][]string{{"eu-west"}, {"us-east"}, {"eu-central"}, {"ap-southeast"}}

// Start builds and starts a testnet. Close stops it.
func Start(ctx context.Context, cfg Config) (_ *Testnet, err error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Federation == "" {
		cfg.Federation = "testnet"
	}
	if cfg.Fakes == nil {
		cfg.Fakes = []string{"vastai", "salad", "akash"}
	}
	if cfg.Epoch == 0 {
		cfg.Epoch = time.Second
	}
	if cfg.SimFailure == 0 {
		cfg.SimFailure = 0.2
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tn := &Testnet{cfg: cfg, Dir: cfg.Dir}
	if tn.Dir == "" {
		if tn.Dir, err = os.MkdirTemp("", "aurora-testnet-"); err != nil {
			return nil, err
		}
		tn.tempDir = true
	}
	defer func() {
		if err != nil {
			tn.Close()
		}
	}()
	if cfg.PolicyCacheDir == "" {
		cfg.PolicyCacheDir = filepath.Join(tn.Dir, "policy-cache")
	}
	for _, kind := range cfg.Fakes {
		f, err := StartFake(kind, "127.0.0.1:0", 100*time.Millisecond)
		if err != nil {
			return nil, err
		}
		tn.Fakes = append(tn.Fakes, f)
	}
	for i := range 2 {
		t, err := StartDevTSA(filepath.Join(tn.Dir, fmt.Sprintf("tsa%d", i)))
		if err != nil {
			return nil, err
		}
		tn.TSAs = append(tn.TSAs, t)
	}
	if err := writeRoots(tn.TSARootsPath(), tn.TSAs); err != nil {
		return nil, err
	}
	if tn.Client, err = node.WriteClientKey(filepath.Join(tn.Dir, "client.key"), true, nil); err != nil {
		return nil, err
	}
	for i := range cfg.Nodes {
		n, err := tn.startNode(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("testnet: node %d: %w", i, err)
		}
		tn.Nodes = append(tn.Nodes, n)
	}
	// Every node dials every earlier one (without the DHT a node cannot
	// find a treaty partner it has never been connected to).
	for i, n := range tn.Nodes {
		for _, m := range tn.Nodes[:i] {
			ai := peer.AddrInfo{ID: m.Identity().PeerID, Addrs: m.Mesh().Host().Addrs()}
			if err := n.Mesh().Connect(ctx, ai); err != nil {
				return nil, fmt.Errorf("testnet: connect node%d to %s: %w", i, m.Identity().PeerID, err)
			}
		}
	}
	return tn, nil
}

// TreatyEvent reports one step of ExchangeTreaties.
type TreatyEvent struct {
	From, To int
	CID      string
	Step     string // "proposed", "countersigned", "active everywhere"
	Elapsed  time.Duration
}

// ExchangeTreaties has node i propose a bilateral treaty to node i+1 (a
// ring) through the operators' HTTP API; the proposal travels by gossip,
// node i+1 countersigns it through its API, and the call returns once every
// treaty is active on every node.
func (tn *Testnet) ExchangeTreaties(ctx context.Context, template string, report func(TreatyEvent)) error {
	if report == nil {
		report = func(TreatyEvent) {}
	}
	if len(tn.Nodes) < 2 {
		return nil
	}
	start := time.Now()
	type pending struct {
		from, to int
		cid      string
	}
	var all []pending
	pairs := len(tn.Nodes)
	if pairs == 2 {
		pairs = 1
	}
	for i := range pairs {
		j := (i + 1) % len(tn.Nodes)
		var view struct{ CID string }
		body := fmt.Sprintf(`{"template":%q,"peer":%q}`, template, tn.Nodes[j].Identity().DID)
		if err := tn.Nodes[i].API.Do(ctx, "POST", "/v1/treaties", "application/json", []byte(body), &view); err != nil {
			return fmt.Errorf("testnet: node%d proposes to node%d: %w", i, j, err)
		}
		report(TreatyEvent{From: i, To: j, CID: view.CID, Step: "proposed", Elapsed: time.Since(start)})
		all = append(all, pending{i, j, view.CID})
	}
	for _, p := range all {
		// Wait for the proposal to arrive by gossip, then countersign.
		if err := waitFor(ctx, func() bool {
			return tn.Nodes[p.to].API.Do(ctx, "GET", "/v1/treaties/"+p.cid, "", nil, nil) == nil
		}); err != nil {
			return fmt.Errorf("testnet: treaty %s never reached node%d: %w", p.cid, p.to, err)
		}
		var signed struct{ CID string }
		if err := tn.Nodes[p.to].API.Do(ctx, "POST", "/v1/treaties/"+p.cid+"/sign", "application/json", nil, &signed); err != nil {
			return fmt.Errorf("testnet: node%d countersigns: %w", p.to, err)
		}
		report(TreatyEvent{From: p.from, To: p.to, CID: signed.CID, Step: "countersigned", Elapsed: time.Since(start)})
	}
	// A treaty's CID changes as parties sign: a node that first hears of it
	// complete (by sync) knows only the final CID, so wait on that one.
	for i := range all {
		var v struct{ CID string }
		if err := tn.Nodes[all[i].to].API.Do(ctx, "GET", "/v1/treaties/"+all[i].cid, "", nil, &v); err != nil {
			return err
		}
		all[i].cid = v.CID
	}
	for _, p := range all {
		for k, n := range tn.Nodes {
			if err := waitFor(ctx, func() bool {
				var v struct{ State string }
				return n.API.Do(ctx, "GET", "/v1/treaties/"+p.cid, "", nil, &v) == nil && v.State == "active"
			}); err != nil {
				return fmt.Errorf("testnet: treaty %s not active on node%d: %w", p.cid, k, err)
			}
		}
		report(TreatyEvent{From: p.from, To: p.to, CID: p.cid, Step: "active everywhere", Elapsed: time.Since(start)})
	}
	return nil
}

// waitFor polls cond until it holds or ctx ends (30s at most).
func waitFor(ctx context.Context, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func (tn *Testnet) startNode(ctx context.Context, i int) (*Node, error) {
	home := filepath.Join(tn.Dir, fmt.Sprintf("node%d", i))
	regions := regionPlan[i%len(regionPlan)]
	cfg := node.DefaultConfig()
	cfg.Federation = tn.cfg.Federation
	cfg.API.Listen = "127.0.0.1:0"
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.P2P.MDNS = false
	cfg.Provenance.Epoch = node.Duration(tn.cfg.Epoch)
	cfg.Provenance.TSA = []string{tn.TSAs[0].URL, tn.TSAs[1].URL}
	cfg.Provenance.TSARoots = tn.TSARootsPath()
	cfg.Backup.Interval = 0
	// A testnet is small: refuse orders only when its disk is nearly full.
	cfg.Store = node.StoreConfig{ReserveBytes: 64 << 20, CheckInterval: node.Duration(time.Second)}
	cfg.Providers = []node.ProviderConfig{{
		Kind: "sim", Name: "sim-" + regions[0], Regions: regions,
		Options: map[string]string{"seed": fmt.Sprint(i + 1), "fail": fmt.Sprint(tn.cfg.SimFailure), "price": "1400000"},
	}, {
		Kind: "sim", Name: "sim-" + regions[0] + "-b", Regions: regions,
		Options: map[string]string{"seed": fmt.Sprint(100 + i), "fail": fmt.Sprint(tn.cfg.SimFailure), "price": "1900000"},
	}}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	if tn.cfg.Configure != nil {
		tn.cfg.Configure(i, &cfg)
	}
	for _, f := range tn.Fakes {
		pc, err := f.ProviderConfig(home, f.Kind, regions)
		if err != nil {
			return nil, err
		}
		cfg.Providers = append(cfg.Providers, pc)
	}
	if _, err := node.InitHome(home, cfg, true, nil); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	opts := node.Options{Home: home, Config: cfg, APIListener: ln, PolicyCacheDir: tn.cfg.PolicyCacheDir, TracerProvider: tn.cfg.TracerProvider,
		Logger: tn.cfg.Logger.With("testnet_node", i)}
	if tn.cfg.OrderFault != nil {
		opts.OrderFault = tn.cfg.OrderFault(i)
	}
	n, err := node.New(ctx, opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	tok, err := node.LoadToken(home)
	if err != nil {
		n.Close(context.Background())
		return nil, err
	}
	return &Node{Node: n, Home: home, API: client.New("http://"+n.APIAddr(), string(tok)), Regions: regions}, nil
}

// Close stops every node and fake and removes a temp Dir.
func (tn *Testnet) Close() error {
	var errs []error
	for _, n := range tn.Nodes {
		errs = append(errs, n.Close(context.Background()))
	}
	for _, f := range tn.Fakes {
		errs = append(errs, f.Close())
	}
	for _, t := range tn.TSAs {
		errs = append(errs, t.Close())
	}
	if tn.tempDir {
		errs = append(errs, os.RemoveAll(tn.Dir))
	}
	return errors.Join(errs...)
}
