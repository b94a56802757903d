package ipfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

// Errors callers act on.
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("ipfs: node closed")
	// ErrNotPinned is returned by Unpin for a CID that is not pinned
	// recursively.
	ErrNotPinned = errors.New("ipfs: not pinned")
)

// MissingBlocksError reports blocks of a DAG that could not be found locally
// (PinRecursive, PinEpoch) or fetched from members before the deadline
// (FetchDAG, FetchEpoch, Get).
type MissingBlocksError struct {
	Root    cid.Cid   // the DAG's root
	Missing []cid.Cid // the blocks not obtained (at most 16 are listed)
	Count   int       // how many were missing in all
	Err     error     // the context error, if fetching gave up
}

func (e *MissingBlocksError) Error() string {
	msg := fmt.Sprintf("ipfs: DAG %s: %d blocks missing (first %s)", e.Root, e.Count, e.Missing[0])
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *MissingBlocksError) Unwrap() error { return e.Err }

// BlockError says why a block or a link is unacceptable: the CID and the
// rule, e.g. an unsupported codec or hash, a size over MaxBlockSize or
// bytes that are not dag-cbor.
type BlockError struct {
	CID  cid.Cid // cid.Undef when the block was never addressed
	Rule string
	Err  error
}

func (e *BlockError) Error() string {
	msg := "ipfs: block"
	if e.CID.Defined() {
		msg += " " + e.CID.String()
	}
	msg += ": " + e.Rule
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *BlockError) Unwrap() error { return e.Err }

// Config configures a Node. Zero values take the documented defaults.
type Config struct {
	// Host is the node's libp2p host; bitswap runs on it. Required. The
	// Node does not close it.
	Host host.Host
	// Datastore holds blocks (under /blocks) and pins (under /pins). The
	// node passes a namespaced view of its badger DB. Required. The Node
	// does not close it.
	Datastore datastore.Batching
	// Allow says whether a peer is a federation member. Bitswap exchanges
	// messages with members only: their wants are served, ours are sent to
	// them, and messages from anyone else are dropped. Nil admits no peer:
	// the node then works offline. Call MembershipChanged when its answers
	// change.
	Allow func(peer.ID) bool
	// FetchTimeout bounds Get, FetchDAG and FetchEpoch when the context has
	// no deadline: a block nobody has would otherwise be waited for
	// forever. Default 30s.
	FetchTimeout time.Duration
	// MaxDAGBlocks bounds the blocks one walk (pin or fetch) visits, so a
	// hostile root cannot make us fetch without end; it is also
	// FetchEpoch's default limit on records and blocks per fetch. Default
	// 1<<20.
	MaxDAGBlocks int
	// Logger receives the node's logs. Nil discards.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.Host == nil {
		return errors.New("ipfs: Config.Host is required")
	}
	if c.Datastore == nil {
		return errors.New("ipfs: Config.Datastore is required")
	}
	if c.FetchTimeout < 0 || c.MaxDAGBlocks < 0 {
		return errors.New("ipfs: negative FetchTimeout or MaxDAGBlocks")
	}
	if c.Allow == nil {
		c.Allow = func(peer.ID) bool { return false }
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = 30 * time.Second
	}
	if c.MaxDAGBlocks == 0 {
		c.MaxDAGBlocks = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// The seams between this package and boxo (whose upstream maintenance ended
// on 2026-09-30): everything else here is our code, so replacing boxo means
// reimplementing these three small interfaces (boxo.go).
type (
	// localBlocks is the local block store.
	localBlocks interface {
		Has(ctx context.Context, c cid.Cid) (bool, error)
		// Get returns errBlockNotFound when the block is not stored.
		Get(ctx context.Context, c cid.Cid) ([]byte, error)
		// Delete removes a block (a no-op when it is not stored).
		Delete(ctx context.Context, c cid.Cid) error
	}
	// exchange stores blocks, announcing them to members that want them,
	// and gets blocks locally or from members; fetched blocks are checked
	// against their CID and stored.
	exchange interface {
		Add(ctx context.Context, c cid.Cid, data []byte) error
		// AddMany stores several blocks in one datastore batch.
		AddMany(ctx context.Context, cs []cid.Cid, data [][]byte) error
		// GetMany calls found for each block of cs it obtains before ctx
		// ends, in any order, from one goroutine.
		GetMany(ctx context.Context, cs []cid.Cid, found func(cid.Cid, []byte) error) error
		// MembershipChanged re-evaluates Allow for connected peers.
		MembershipChanged()
		Close() error
	}
	// pinSet records recursive pins. Pin records intent only: it never
	// walks or fetches.
	pinSet interface {
		Pin(ctx context.Context, c cid.Cid) error
		// Unpin returns ErrNotPinned if c is not pinned recursively.
		Unpin(ctx context.Context, c cid.Cid) error
		// HasPin reports whether c is pinned recursively (an index lookup).
		HasPin(ctx context.Context, c cid.Cid) (bool, error)
		// IsPinned reports whether c is pinned directly, recursively or
		// through a recursive pin (a walk of every pinned DAG).
		IsPinned(ctx context.Context, c cid.Cid) (bool, error)
		Close() error
	}
)

var errBlockNotFound = errors.New("ipfs: block not found")

// Node stores, pins and exchanges Aurora's IPFS blocks: dag-cbor records and
// epoch roots. Blocks are served over bitswap to federation members only.
// A Node is safe for concurrent use; Close releases it.
type Node struct {
	cfg    Config
	log    *slog.Logger
	local  localBlocks
	online exchange // local first, then members
	offln  exchange // local only
	pins   pinSet

	pinMu  sync.Mutex // serializes pin changes, so PinEpoch's pin-then-unpin is atomic to other callers
	closed atomic.Bool
	once   sync.Once
	cerr   error
}

// New starts a Node on cfg.Host and cfg.Datastore: a blockstore on the
// datastore, bitswap (client and server) on the host restricted to
// cfg.Allow, and a pin set on the same datastore, loaded from it.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger}
	var err error
	n.local, n.online, n.offln, n.pins, err = newBoxo(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Close stops bitswap and the pin set. It does not close the host or the
// datastore. It is idempotent; later calls to other methods return
// ErrClosed.
func (n *Node) Close() error {
	n.once.Do(func() {
		n.closed.Store(true)
		n.pinMu.Lock()
		defer n.pinMu.Unlock()
		n.cerr = errors.Join(n.online.Close(), n.pins.Close())
	})
	return n.cerr
}

// MembershipChanged makes the node re-evaluate Config.Allow for the peers
// it is connected to: new members start exchanging blocks, former members
// stop. Call it when the federation's treaties change.
func (n *Node) MembershipChanged() {
	if n.closed.Load() {
		return
	}
	n.online.MembershipChanged()
}

// checkCID accepts the CIDs of Aurora's blocks: CIDv1, dag-cbor or raw,
// sha2-256.
func checkCID(c cid.Cid) error {
	if !c.Defined() {
		return errors.New("undefined CID")
	}
	p := c.Prefix()
	switch {
	case p.Version != 1:
		return fmt.Errorf("CIDv%d, want CIDv1", p.Version)
	case p.Codec != cid.DagCBOR && p.Codec != cid.Raw:
		return fmt.Errorf("codec %#x, want dag-cbor (0x71) or raw (0x55)", p.Codec)
	case p.MhType != multihash.SHA2_256 || p.MhLength != 32:
		return fmt.Errorf("multihash %#x/%d, want sha2-256", p.MhType, p.MhLength)
	}
	return nil
}

// Put stores a copy of block and returns its CIDv1 (codec, sha2-256). codec is
// cid.DagCBOR, whose bytes must be canonical dag-cbor (so that one value
// has one CID) with acceptable links, or cid.Raw. Members that asked for the block are sent it.
func (n *Node) Put(ctx context.Context, block []byte, codec uint64) (cid.Cid, error) {
	if n.closed.Load() {
		return cid.Undef, ErrClosed
	}
	if codec != cid.DagCBOR && codec != cid.Raw {
		return cid.Undef, &BlockError{Rule: fmt.Sprintf("codec %#x, want dag-cbor (0x71) or raw (0x55)", codec)}
	}
	c, err := cid.Prefix{Version: 1, Codec: codec, MhType: multihash.SHA2_256, MhLength: -1}.Sum(block)
	if err != nil {
		return cid.Undef, fmt.Errorf("ipfs: %w", err)
	}
	if _, err := canonicalLinks(c, block); err != nil {
		return cid.Undef, err
	}
	// The datastore may keep the slice it is given: store a copy.
	if err := n.online.Add(ctx, c, bytes.Clone(block)); err != nil {
		return cid.Undef, fmt.Errorf("ipfs: put %s: %w", c, err)
	}
	return c, nil
}

// Get returns the block c from the local store or, failing that, from
// members over bitswap, waiting until ctx's deadline (or FetchTimeout if it
// has none). A fetched block is verified against c and stored. The caller
// owns the returned slice.
func (n *Node) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if n.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkCID(c); err != nil {
		return nil, &BlockError{CID: c, Rule: err.Error()}
	}
	ctx, cancel := n.fetchContext(ctx)
	defer cancel()
	got, err := n.getMany(ctx, n.online, c, []cid.Cid{c})
	if err != nil {
		return nil, err
	}
	// The datastore may hand out its own slice: return a copy.
	return bytes.Clone(got[c]), nil
}

func (n *Node) fetchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, n.cfg.FetchTimeout)
}

// maxWants bounds the blocks asked of members at once. A boxo bitswap
// server keeps at most 1,024 queued wants per peer
// (MaxQueuedWantlistEntriesPerPeer) and silently drops the rest, which the
// client never asks for again: a bigger request hangs until its deadline.
// getMany keeps wantRequests requests of maxWants/wantRequests blocks in
// flight, so that members serve some while others' round trips complete.
const (
	maxWants     = 1024
	wantRequests = 4
)

// getMany gets blocks through x, at most maxWants in flight, and checks
// their size; it returns a *MissingBlocksError naming those not obtained.
func (n *Node) getMany(ctx context.Context, x exchange, root cid.Cid, cs []cid.Cid) (map[cid.Cid][]byte, error) {
	got := make(map[cid.Cid][]byte, len(cs))
	var (
		mu   sync.Mutex // protects got and err
		err  error
		next int
		wg   sync.WaitGroup
	)
	per := maxWants / wantRequests
	take := func() []cid.Cid {
		mu.Lock()
		defer mu.Unlock()
		if err != nil || next >= len(cs) {
			return nil
		}
		part := cs[next:min(next+per, len(cs))]
		next += len(part)
		return part
	}
	for range min(wantRequests, (len(cs)+per-1)/per) {
		wg.Go(func() {
			for part := take(); part != nil; part = take() {
				e := x.GetMany(ctx, part, func(c cid.Cid, data []byte) error {
					if len(data) > MaxBlockSize {
						return &BlockError{CID: c, Rule: fmt.Sprintf("%d bytes, limit %d", len(data), MaxBlockSize)}
					}
					mu.Lock()
					got[c] = data
					mu.Unlock()
					return nil
				})
				if e != nil {
					mu.Lock()
					if err == nil {
						err = e
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	if len(got) == len(cs) {
		return got, nil
	}
	me := &MissingBlocksError{Root: root, Err: ctx.Err()}
	for _, c := range cs {
		if _, ok := got[c]; !ok {
			me.Count++
			if len(me.Missing) < 16 {
				me.Missing = append(me.Missing, c)
			}
		}
	}
	return nil, me
}

// walk visits the DAG under root breadth first, through x (local only, or
// local then members), not descending into CIDs for which stop returns
// true. Every block's CID and links are checked. It returns the number of
// blocks visited.
func (n *Node) walk(ctx context.Context, x exchange, root cid.Cid, stop func(cid.Cid) bool) (int, error) {
	if err := checkCID(root); err != nil {
		return 0, &BlockError{CID: root, Rule: err.Error()}
	}
	seen := map[cid.Cid]struct{}{root: {}}
	frontier := []cid.Cid{root}
	visited := 0
	for len(frontier) > 0 {
		if visited += len(frontier); visited > n.cfg.MaxDAGBlocks {
			return visited, &BlockError{CID: root, Rule: fmt.Sprintf("DAG has more than %d blocks", n.cfg.MaxDAGBlocks)}
		}
		got, err := n.getMany(ctx, x, root, frontier)
		if err != nil {
			return visited, err
		}
		var next []cid.Cid
		for _, c := range frontier {
			links, err := linksOf(c, got[c])
			if err != nil {
				return visited, err
			}
			for _, l := range links {
				if _, dup := seen[l]; dup || stop(l) {
					continue
				}
				seen[l] = struct{}{}
				next = append(next, l)
			}
		}
		frontier = next
	}
	return visited, nil
}

func never(cid.Cid) bool { return false }

// PinRecursive pins root and everything it links to. Every block must
// already be stored locally: it never fetches (use FetchDAG for that), so a
// dangling link fails at once with a *MissingBlocksError instead of
// waiting on the network.
func (n *Node) PinRecursive(ctx context.Context, root cid.Cid) error {
	if n.closed.Load() {
		return ErrClosed
	}
	if _, err := n.walk(ctx, n.offln, root, never); err != nil {
		return err
	}
	n.pinMu.Lock()
	defer n.pinMu.Unlock()
	return n.pins.Pin(ctx, root)
}

// FetchDAG fetches every block reachable from root that is not stored
// locally from members, verifying each against its CID, then pins root
// recursively. On an epoch root it follows prev and every anchored peer's
// root through all their history (up to MaxDAGBlocks for the whole walk):
// for a peer's epoch use FetchEpoch, whose cost is constant in history. It gives up at ctx's deadline (or FetchTimeout) with a
// *MissingBlocksError.
func (n *Node) FetchDAG(ctx context.Context, root cid.Cid) error {
	if n.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := n.fetchContext(ctx)
	defer cancel()
	if _, err := n.walk(ctx, n.online, root, never); err != nil {
		return err
	}
	n.pinMu.Lock()
	defer n.pinMu.Unlock()
	return n.pins.Pin(ctx, root)
}

// Unpin removes the recursive pin on root. Blocks stay stored: there is no
// garbage collector.
func (n *Node) Unpin(ctx context.Context, root cid.Cid) error {
	if n.closed.Load() {
		return ErrClosed
	}
	n.pinMu.Lock()
	defer n.pinMu.Unlock()
	return n.pins.Unpin(ctx, root)
}

// IsPinned reports whether c is pinned, directly or as part of a
// recursively pinned DAG. The indirect case walks every pinned DAG: keep it
// off hot paths.
func (n *Node) IsPinned(ctx context.Context, c cid.Cid) (bool, error) {
	if n.closed.Load() {
		return false, ErrClosed
	}
	return n.pins.IsPinned(ctx, c)
}
