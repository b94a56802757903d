package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/ipfs"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// federation wires the mesh to the node's components: forwarded orders into
// the pipeline, witness requests into the witness, anchors into the log
// (cross-anchoring), reputation reports into the reputation.
type federation struct {
	n       *Node
	mesh    *mesh.Mesh
	witness *provenance.Witness
	rep     *providers.Reputation
	fed     string
	log     *slog.Logger

	ipfs *ipfs.Node
	// eq keeps, gossips, counts and serves equivocation evidence.
	eq *equivocations

	mu      sync.Mutex // protects anchors
	anchors [][]byte   // verified peer checkpoints to append as anchor leaves
	// fetch carries verified peer anchors: their epoch DAG is fetched and
	// pinned before the anchor leaf joins our log, so our own epoch DAGs
	// (which link to peers' roots) never dangle.
	fetch chan pendingAnchor
}

type pendingAnchor struct {
	leaf   []byte
	root   cid.Cid // Undef when the anchor names no root
	origin string
	body   []byte // the checkpoint body the root must carry
	tries  int
}

// Anchor fetch bounds: a peer's epoch is fetched alone (never its history),
// within fetchTimeout, retried with backoff up to maxFetchTries times.
const (
	fetchTimeout   = 30 * time.Second
	maxFetchTries  = 6
	fetchRetryBase = 2 * time.Second
)

// witnessName is the key name a node's witness cosigns with.
func witnessName(id peer.ID) string { return "aurora-witness/" + id.String() }

// buildFederation builds the mesh and IPFS without listening: start makes
// them reachable once the order core their handlers call is wired.
func (n *Node) buildFederation(ctx context.Context, cfg Config, rep *providers.Reputation) (*federation, error) {
	f := &federation{n: n, rep: rep, fed: cfg.Federation, log: n.log.With("component", "federation"), fetch: make(chan pendingAnchor, 256)}
	members := make([]treaty.DID, 0, len(cfg.P2P.Members))
	for i, m := range cfg.P2P.Members {
		d, err := treaty.ParseDID(m)
		if err != nil {
			return nil, &ConfigError{Key: fmt.Sprintf("p2p.members[%d]", i), Reason: err.Error()}
		}
		members = append(members, d)
	}
	for i, a := range cfg.P2P.Announce {
		m, err := multiaddr.NewMultiaddr(a)
		if err == nil {
			if _, perr := m.ValueForProtocol(multiaddr.P_P2P); perr == nil {
				err = errors.New("want an address without /p2p/<peer ID>")
			}
		}
		if err != nil {
			return nil, &ConfigError{Key: fmt.Sprintf("p2p.announce[%d]", i), Reason: err.Error()}
		}
	}
	var psk []byte
	if cfg.P2P.PSKFile != "" {
		b, err := os.ReadFile(cfg.P2P.PSKFile)
		if err != nil {
			return nil, &ConfigError{Key: "p2p.psk_file", Reason: err.Error()}
		}
		psk = b
	}
	var err error
	// The node counts aurora_equivocations_total, by source: the witness
	// registers no metric of its own.
	if f.witness, err = provenance.NewWitness(provenance.WitnessConfig{
		Key: n.key, Name: witnessName(n.id.PeerID), Store: n.db.Namespace("witness"), Logs: f.logVerifier,
		Logger: n.log.With("component", "witness"),
	}); err != nil {
		return nil, err
	}
	if err := n.metrics.Registry.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "aurora_witness_evidence_refused_total",
		Help: "Equivocation evidence this node's witness found but did not keep: it holds its maximum (1,024 records, 4 about one log), which it never evicts.",
	}, func() float64 { return float64(f.witness.EvidenceRefused()) })); err != nil {
		return nil, fmt.Errorf("node: witness metrics: %w", err)
	}
	if f.eq, err = newEquivocations(n.metrics.Registry, rep, n.id.DID, n.log.With("component", "equivocations")); err != nil {
		return nil, err
	}
	if f.mesh, err = mesh.Build(ctx, mesh.Config{
		Key: n.key, Federation: cfg.Federation, ListenAddrs: cfg.P2P.Listen, Announce: cfg.P2P.Announce, Bootstrap: cfg.P2P.Bootstrap,
		MDNS: cfg.P2P.MDNS, DHT: cfg.P2P.DHT, PSK: psk, Members: members, Datastore: n.db.Namespace("mesh"),
		Logger: n.log.With("component", "mesh"), Registerer: n.metrics.Registry,
		OnOrder: f.onOrder,
		OnQuery: f.onQuery,
		OnCancel: func(ctx context.Context, from treaty.DID, _ treaty.Link, cancel []byte) ([]byte, error) {
			res, err := f.n.core.Cancel(ctx, cancel, from)
			if err != nil {
				return nil, err
			}
			return treaty.Encode(&res.Job.Record)
		},
		OnWitness: func(ctx context.Context, _ treaty.DID, body []byte) ([]byte, error) {
			return f.addCheckpoint(ctx, body)
		},
		OnAnchor:       f.onAnchor,
		OnReputation:   f.onReputation,
		OnEquivocation: f.eq.learned,
		PeerScore:      f.peerScore,
		Clock:          mesh.Clock(n.opts.Clock),
		SyncInterval:   syncInterval(cfg),
		OnTreaty: func(ti mesh.TreatyInfo) {
			if f.ipfs != nil {
				f.ipfs.MembershipChanged()
			}
			n.policy.treatyChanged(ti) // fetch the module a new lane into us names
		},
	}); err != nil {
		return nil, err
	}
	f.eq.mesh = f.mesh
	// IPFS on the same libp2p host: the node's blocks (epoch roots, job
	// records) served over bitswap to federation members only.
	auditors := map[peer.ID]bool{}
	for i, a := range cfg.P2P.Auditors {
		id, err := peer.Decode(a)
		if err != nil {
			return nil, &ConfigError{Key: fmt.Sprintf("p2p.auditors[%d]", i), Reason: "not a peer ID: " + err.Error()}
		}
		auditors[id] = true
	}
	if f.ipfs, err = ipfs.New(ctx, ipfs.Config{Host: f.mesh.Host(), Datastore: n.db.Namespace("ipfs"), Allow: f.member(auditors), MaxDAGBlocks: cfg.Provenance.MaxFetchBlocks,
		Logger: n.log.With("component", "ipfs")}); err != nil {
		f.mesh.Close()
		return nil, err
	}
	return f, nil
}

// member decides who bitswap serves: the trail carries order contents, so
// only parties to an active treaty with this node (all parties signed,
// within validity, not revoked or superseded: an O(1) read of the mesh's
// view, which a revocation or expiry updates at once), and the read-only
// auditors named in p2p.auditors. A proposal, a stranger or a revoked
// partner gets nothing.
func (f *federation) member(auditors map[peer.ID]bool) func(peer.ID) bool {
	return func(id peer.ID) bool {
		if auditors[id] {
			return true
		}
		did, err := mesh.DIDOf(id)
		return err == nil && f.mesh.IsPartner(did)
	}
}

// syncInterval is 30s, or two epochs on fast testnets.
func syncInterval(cfg Config) time.Duration {
	if e := 2 * cfg.Provenance.Epoch.Std(); e < 30*time.Second {
		return max(e, time.Second)
	}
	return 30 * time.Second
}

func (f *federation) close() error {
	return errors.Join(f.ipfs.Close(), f.mesh.Close())
}

// start makes the mesh listen and connect.
func (f *federation) start(ctx context.Context) error { return f.mesh.Start(ctx) }

// onOrder runs a forwarded order through our order core. The mesh calls
// it only after start, when n.core is set.
func (f *federation) onOrder(ctx context.Context, from treaty.DID, treatyCID treaty.Link, orderBytes []byte) ([]byte, error) {
	reply, err := f.n.core.SubmitForwarded(ctx, from, treatyCID, orderBytes)
	var b []byte
	if err == nil {
		b = reply.Bytes
	}
	if fault := f.n.opts.OrderFault; fault != nil {
		if ferr := fault(ctx, from, b, err); ferr != nil {
			return nil, ferr
		}
	}
	return b, err
}

// onQuery answers a peer that lost our answer to a forward.
func (f *federation) onQuery(ctx context.Context, from treaty.DID, treatyCID treaty.Link, ocid cid.Cid) ([]byte, error) {
	return f.n.core.Held(ctx, from, treatyCID, ocid)
}

// partners returns the DIDs we share an active treaty with.
func (f *federation) partners() []treaty.DID {
	me := f.n.id.DID
	seen := map[treaty.DID]bool{}
	var out []treaty.DID
	for _, ti := range f.mesh.List() {
		if ti.State != treaty.StateActive || !ti.Treaty.IsParty(me) {
			continue
		}
		for _, p := range ti.Treaty.Parties {
			if p != me && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// logVerifier: we witness the logs of our treaty partners.
func (f *federation) logVerifier(origin string) (note.Verifier, bool) {
	did, ok := f.originDID(origin)
	if !ok {
		return nil, false
	}
	for _, p := range f.partners() {
		if p == did {
			v, err := provenance.LogVerifier(origin, did)
			return v, err == nil
		}
	}
	return nil, false
}

// originDID maps "aurora/<federation>/<peer ID>" to the peer's DID.
func (f *federation) originDID(origin string) (treaty.DID, bool) {
	rest, ok := strings.CutPrefix(origin, "aurora/"+f.fed+"/")
	if !ok {
		return "", false
	}
	id, err := peer.Decode(rest)
	if err != nil {
		return "", false
	}
	did, err := mesh.DIDOf(id)
	return did, err == nil
}

// witnessKeys are our partners' witness keys: their cosignatures count.
func (f *federation) witnessKeys() []*provenance.CosignatureVerifier {
	var out []*provenance.CosignatureVerifier
	for _, p := range f.partners() {
		id, err := mesh.PeerIDOf(p)
		if err != nil {
			continue
		}
		v, err := provenance.WitnessVerifier(witnessName(id), p)
		if err == nil {
			out = append(out, v)
		}
	}
	return out
}

// cosign asks every partner to witness a checkpoint, retrying once with
// the size a witness reports it stored (409).
func (f *federation) cosign(ctx context.Context, req provenance.WitnessRequest) [][]byte {
	partners := f.partners()
	out := make([][]byte, len(partners))
	var wg sync.WaitGroup
	for i, p := range partners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			old := req.PrevSize
			for attempt := 0; attempt < 2; attempt++ {
				body, err := req.Body(ctx, old)
				if err != nil {
					return
				}
				resp, err := f.mesh.RequestCosign(ctx, p, body)
				if err == nil {
					out[i] = resp
					return
				}
				var we *mesh.WitnessError
				if !errors.As(err, &we) || we.Status != 409 {
					f.log.Debug("witness refused", "peer", p.Short(), "err", err)
					return
				}
				if old, err = provenance.ParseConflictBody(we.Body); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// onAnchor verifies a peer's checkpoint (its log key is its DID) and queues
// it as an anchor leaf in our own log: cross-anchoring.
func (f *federation) onAnchor(ctx context.Context, from treaty.DID, a *treaty.Anchor) error {
	did, ok := f.originDID(a.Origin)
	if !ok {
		return fmt.Errorf("node: anchor origin %q is not a %s log", a.Origin, f.fed)
	}
	v, err := provenance.LogVerifier(a.Origin, did)
	if err != nil {
		return err
	}
	cp, err := provenance.OpenAnchor(a, v)
	if err != nil {
		return err
	}
	if err := f.checkAnchor(ctx, from, did, cp); err != nil {
		return err
	}
	root := ""
	if a.Root != nil {
		root = a.Root.String()
	}
	leaf, err := provenance.AnchorLeaf(cp, root, a.TSA)
	if err != nil {
		return err
	}
	pa := pendingAnchor{leaf: leaf, origin: a.Origin, body: cp.Body()}
	if a.Root != nil {
		pa.root = a.Root.Cid
	}
	f.enqueueFetch(pa)
	return nil
}

// enqueueFetch queues a verified anchor for its epoch's fetch. A full queue
// drops it, counted and logged: the peer's later anchors still come.
func (f *federation) enqueueFetch(pa pendingAnchor) {
	select {
	case f.fetch <- pa:
	default:
		f.n.metrics.AnchorFetches.WithLabelValues("dropped").Inc()
		f.log.Warn("anchor fetch queue full: anchor dropped", "origin", pa.origin, "root", pa.root.String())
	}
}

func (f *federation) queueAnchor(leaf []byte) {
	f.mu.Lock()
	if len(f.anchors) < 4096 {
		f.anchors = append(f.anchors, leaf)
	}
	f.mu.Unlock()
}

// putJobBlocks stores the blocks a JobRecord links to: the order, our Ack
// and, for a forward, the treaty it ran under.
func (f *federation) putJobBlocks(ctx context.Context, ack *treaty.Ack, order, ackBytes []byte) error {
	for _, b := range [][]byte{order, ackBytes} {
		if _, err := f.ipfs.Put(ctx, b, cid.DagCBOR); err != nil {
			return err
		}
	}
	if t := ack.Route.Treaty; t != nil {
		ti, err := f.mesh.Get(*t)
		if err != nil {
			return err
		}
		b, err := treaty.Encode(ti.Treaty)
		if err != nil {
			return err
		}
		if _, err := f.ipfs.Put(ctx, b, cid.DagCBOR); err != nil {
			return err
		}
	}
	return nil
}

// flushAnchors appends queued anchor leaves to our log (once per epoch), in
// batches within the log's limits; a leaf the log refuses is dropped alone.
func (f *federation) flushAnchors(ctx context.Context) {
	f.mu.Lock()
	leaves := f.anchors
	f.anchors = nil
	f.mu.Unlock()
	if len(leaves) == 0 {
		return
	}
	res, err := f.n.plog.AppendEach(ctx, leaves)
	if err != nil {
		f.log.Error("append anchor leaves", "leaves", len(leaves), "err", err)
	}
	for i, r := range res {
		if r.Err != nil && err == nil {
			f.log.Warn("anchor leaf refused", "leaf", i, "err", r.Err)
		}
	}
}

// onReputation blends a peer's report: partners' reports weigh more.
func (f *federation) onReputation(from treaty.DID, r *treaty.ReputationReport) {
	trust := 0.0 // a stranger's report moves nothing
	if f.mesh.IsPartner(from) {
		trust = 1
	}
	f.rep.Blend(r, trust)
}

// peerScore feeds gossipsub's AppSpecificScore from the reputation
// snapshot (O(1)): 0 for the prior, negative for peers that fail to fill.
func (f *federation) peerScore(id peer.ID) float64 {
	did, err := mesh.DIDOf(id)
	if err != nil {
		return 0
	}
	s := f.rep.Snapshot()
	return float64(s.PeerScore(did)-s.Prior()) / 100
}

// fetchAnchor fetches and pins the epoch a verified anchor names (that
// epoch alone: constant in the peer's history), checks that it carries the
// anchor's checkpoint, and queues the anchor leaf. A failed fetch is
// counted, logged and retried with backoff; after maxFetchTries it is
// dropped with an error log.
func (f *federation) fetchAnchor(ctx context.Context, last map[string]cid.Cid, pa pendingAnchor) {
	m := f.n.metrics.AnchorFetches
	if pa.root.Defined() {
		fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		er, err := f.ipfs.FetchEpoch(fctx, pa.root, ipfs.FetchOptions{Prev: last[pa.origin], Origin: pa.origin})
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil && !strings.HasPrefix(er.Checkpoint, string(pa.body)) {
			m.WithLabelValues("mismatch").Inc()
			f.log.Warn("peer epoch root does not carry its anchor's checkpoint", "origin", pa.origin, "root", pa.root.String())
			return
		}
		if err != nil {
			pa.tries++
			if pa.tries >= maxFetchTries {
				m.WithLabelValues("dropped").Inc()
				f.log.Error("peer epoch fetch failed; anchor dropped", "origin", pa.origin, "root", pa.root.String(), "tries", pa.tries, "err", err)
				return
			}
			m.WithLabelValues("failed").Inc()
			f.log.Warn("peer epoch fetch failed; retrying", "origin", pa.origin, "root", pa.root.String(), "tries", pa.tries, "err", err)
			time.AfterFunc(fetchRetryBase<<(pa.tries-1), func() {
				if ctx.Err() == nil {
					f.enqueueFetch(pa)
				}
			})
			return
		}
		last[pa.origin] = pa.root
	}
	m.WithLabelValues("ok").Inc()
	f.queueAnchor(pa.leaf)
}

// loop appends verified anchors to our log and publishes our signed
// reputation report, once per epoch.
func (f *federation) loop(ctx context.Context, every time.Duration) {
	fetched := make(chan struct{})
	go func() { // fetch and pin peers' epochs, one at a time
		defer close(fetched)
		last := map[string]cid.Cid{} // the last root fetched per origin
		for {
			select {
			case <-ctx.Done():
				return
			case pa := <-f.fetch:
				f.fetchAnchor(ctx, last, pa)
			}
		}
	}()
	defer func() { <-fetched }()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f.flushAnchors(ctx)
			r := f.rep.Report(f.n.id.DID, f.fed, f.mesh.ReputationEpochOf(now), now)
			if err := treaty.Sign(r, f.n.key); err != nil {
				continue
			}
			if err := f.mesh.PublishReputation(ctx, r); err != nil && ctx.Err() == nil {
				f.log.Debug("publish reputation", "err", err)
			}
		}
	}
}
