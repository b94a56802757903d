package ipfs

// This file is the only one that imports boxo. Upstream maintenance ended on
// 2026-09-30; to replace boxo, reimplement localBlocks, exchange and pinSet
// (node.go) on another block protocol and pin index.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ipfs/boxo/bitswap"
	bsmsg "github.com/ipfs/boxo/bitswap/message"
	bsnetwork "github.com/ipfs/boxo/bitswap/network"
	"github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	pin "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// pinName labels the pins this package makes in boxo's pin index.
const pinName = "aurora"

func newBoxo(ctx context.Context, cfg Config) (localBlocks, exchange, exchange, pinSet, error) {
	bs := blockstore.NewBlockstore(cfg.Datastore)
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	mnet := &memberNetwork{BitSwapNetwork: bsnet.NewFromIpfsHost(cfg.Host), allow: cfg.Allow, log: cfg.Logger, connected: map[peer.ID]bool{}}
	swap := bitswap.New(life, mnet, nil, bs,
		// Belt and braces: the member network already drops non-members'
		// messages before the server sees them.
		bitswap.WithPeerBlockRequestFilter(func(p peer.ID, _ cid.Cid) bool { return cfg.Allow(p) }),
		bitswap.SetSendDontHaves(true),
	)
	online := &boxoExchange{bserv: blockservice.New(bs, swap), bulk: blockservice.New(blockstore.NewBlockstore(cfg.Datastore, blockstore.WriteThrough(true)), swap, blockservice.WriteThrough(true)),
		swap: swap, mnet: mnet, host: cfg.Host, cancel: cancel}
	offline := &boxoExchange{bserv: blockservice.New(bs, nil)}
	offline.bulk = offline.bserv
	// The pinner walks DAGs (indirect IsPinned) through an offline DAG
	// service: nothing it does may reach the network.
	dag := merkledag.NewDAGService(offline.bserv)
	p, err := dspinner.New(ctx, cfg.Datastore, dag)
	if err != nil {
		_ = online.Close()
		return nil, nil, nil, nil, fmt.Errorf("ipfs: pinner: %w", err)
	}
	return boxoBlocks{bs}, online, offline, boxoPins{p}, nil
}

type boxoBlocks struct{ bs blockstore.Blockstore }

func (b boxoBlocks) Has(ctx context.Context, c cid.Cid) (bool, error) { return b.bs.Has(ctx, c) }

func (b boxoBlocks) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	blk, err := b.bs.Get(ctx, c)
	if ipld.IsNotFound(err) {
		return nil, errBlockNotFound
	}
	if err != nil {
		return nil, err
	}
	return blk.RawData(), nil
}

func (b boxoBlocks) Delete(ctx context.Context, c cid.Cid) error { return b.bs.DeleteBlock(ctx, c) }

// boxoExchange is a blockservice: local first, then bitswap when online.
type boxoExchange struct {
	bserv blockservice.BlockService
	// bulk writes without checking first which blocks are stored (one
	// datastore read per block saved): AddMany's epochs of blocks.
	bulk   blockservice.BlockService
	swap   *bitswap.Bitswap // nil offline
	mnet   *memberNetwork   // nil offline
	host   interface{ RemoveStreamHandler(protocol.ID) }
	cancel context.CancelFunc
}

func (x *boxoExchange) Add(ctx context.Context, c cid.Cid, data []byte) error {
	blk, err := blocks.NewBlockWithCid(data, c)
	if err != nil {
		return err
	}
	return x.bserv.AddBlock(ctx, blk)
}

func (x *boxoExchange) AddMany(ctx context.Context, cs []cid.Cid, data [][]byte) error {
	blks := make([]blocks.Block, len(cs))
	for i, c := range cs {
		b, err := blocks.NewBlockWithCid(data[i], c)
		if err != nil {
			return err
		}
		blks[i] = b
	}
	return x.bulk.AddBlocks(ctx, blks)
}

func (x *boxoExchange) GetMany(ctx context.Context, cs []cid.Cid, found func(cid.Cid, []byte) error) error {
	// Blocks are keyed by multihash: a block may come back under another
	// codec than asked for, so match on the hash.
	want := make(map[string][]cid.Cid, len(cs))
	for _, c := range cs {
		want[string(c.Hash())] = append(want[string(c.Hash())], c)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ferr error
	// The channel closes when blockservice's goroutine ends; draining it
	// means that goroutine has ended when GetMany returns.
	for b := range x.bserv.GetBlocks(ctx, cs) {
		if ferr != nil {
			continue
		}
		for _, c := range want[string(b.Cid().Hash())] {
			if ferr = found(c, b.RawData()); ferr != nil {
				cancel()
				break
			}
		}
		delete(want, string(b.Cid().Hash()))
		if len(want) == 0 {
			cancel()
		}
	}
	if ferr != nil {
		return ferr
	}
	if len(want) == 0 {
		return nil
	}
	return ctx.Err()
}

func (x *boxoExchange) MembershipChanged() {
	if x.mnet != nil {
		x.mnet.refresh()
	}
}

func (x *boxoExchange) Close() error {
	if x.swap == nil {
		return nil
	}
	// bsnet.Stop leaves its stream handlers on the host; remove them so a
	// closed node answers no bitswap streams.
	for _, p := range []protocol.ID{bsnet.ProtocolBitswap, bsnet.ProtocolBitswapOneOne, bsnet.ProtocolBitswapOneZero, bsnet.ProtocolBitswapNoVers} {
		x.host.RemoveStreamHandler(p)
	}
	err := x.swap.Close()
	x.cancel()
	return err
}

type boxoPins struct{ p pin.Pinner }

func (b boxoPins) Pin(ctx context.Context, c cid.Cid) error {
	return b.p.PinWithMode(ctx, c, pin.Recursive, pinName)
}

func (b boxoPins) Unpin(ctx context.Context, c cid.Cid) error {
	err := b.p.Unpin(ctx, c, true)
	if errors.Is(err, pin.ErrNotPinned) {
		return fmt.Errorf("%w: %s", ErrNotPinned, c)
	}
	return err
}

func (b boxoPins) HasPin(ctx context.Context, c cid.Cid) (bool, error) {
	_, ok, err := b.p.IsPinnedWithType(ctx, c, pin.Recursive)
	return ok, err
}

func (b boxoPins) IsPinned(ctx context.Context, c cid.Cid) (bool, error) {
	_, ok, err := b.p.IsPinned(ctx, c)
	return ok, err
}

func (b boxoPins) Close() error { return b.p.Close() }

// memberNetwork confines bitswap to federation members. Peers that are not
// members are never announced to bitswap (so no wants are sent to them and
// no ledger is kept for them), messages from them are dropped before the
// server or client sees them, and sending to them is refused. Membership is
// re-evaluated on refresh.
type memberNetwork struct {
	bsnetwork.BitSwapNetwork
	allow func(peer.ID) bool
	log   *slog.Logger

	// evMu serializes the connection events delivered to the receivers, so
	// that a refresh and a connect or disconnect cannot reorder them.
	evMu      sync.Mutex
	receivers []bsnetwork.Receiver
	connected map[peer.ID]bool // connected peers → announced to receivers
}

var errNotMember = errors.New("ipfs: peer is not a federation member")

func (n *memberNetwork) Start(rs ...bsnetwork.Receiver) {
	n.evMu.Lock()
	n.receivers = rs
	n.evMu.Unlock()
	n.BitSwapNetwork.Start(memberReceiver{n})
}

func (n *memberNetwork) SendMessage(ctx context.Context, p peer.ID, m bsmsg.BitSwapMessage) error {
	if !n.allow(p) {
		return errNotMember
	}
	return n.BitSwapNetwork.SendMessage(ctx, p, m)
}

func (n *memberNetwork) NewMessageSender(ctx context.Context, p peer.ID, opts *bsnetwork.MessageSenderOpts) (bsnetwork.MessageSender, error) {
	if !n.allow(p) {
		return nil, errNotMember
	}
	return n.BitSwapNetwork.NewMessageSender(ctx, p, opts)
}

func (n *memberNetwork) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if !n.allow(ai.ID) {
		return errNotMember
	}
	return n.BitSwapNetwork.Connect(ctx, ai)
}

// refresh announces connected peers that became members and withdraws
// those that stopped being members.
func (n *memberNetwork) refresh() {
	n.evMu.Lock()
	defer n.evMu.Unlock()
	for p, announced := range n.connected {
		switch allowed := n.allow(p); {
		case allowed && !announced:
			n.connected[p] = true
			for _, r := range n.receivers {
				r.PeerConnected(p)
			}
		case !allowed && announced:
			n.connected[p] = false
			for _, r := range n.receivers {
				r.PeerDisconnected(p)
			}
		}
	}
}

// memberReceiver sits between bsnet and bitswap's receivers.
type memberReceiver struct{ n *memberNetwork }

func (r memberReceiver) ReceiveMessage(ctx context.Context, p peer.ID, m bsmsg.BitSwapMessage) {
	if !r.n.allow(p) {
		r.n.log.LogAttrs(ctx, slog.LevelDebug, "bitswap message from non-member dropped", slog.String("peer", p.String()))
		return
	}
	r.n.evMu.Lock()
	rs := r.n.receivers
	r.n.evMu.Unlock()
	for _, rc := range rs {
		rc.ReceiveMessage(ctx, p, m)
	}
}

func (r memberReceiver) ReceiveError(err error) {
	r.n.evMu.Lock()
	rs := r.n.receivers
	r.n.evMu.Unlock()
	for _, rc := range rs {
		rc.ReceiveError(err)
	}
}

func (r memberReceiver) PeerConnected(p peer.ID) {
	r.n.evMu.Lock()
	defer r.n.evMu.Unlock()
	announce := r.n.allow(p)
	if r.n.connected[p] && announce {
		return // already announced
	}
	r.n.connected[p] = announce
	if announce {
		for _, rc := range r.n.receivers {
			rc.PeerConnected(p)
		}
	}
}

func (r memberReceiver) PeerDisconnected(p peer.ID) {
	r.n.evMu.Lock()
	defer r.n.evMu.Unlock()
	announced, ok := r.n.connected[p]
	if !ok {
		return
	}
	delete(r.n.connected, p)
	if announced {
		for _, rc := range r.n.receivers {
			rc.PeerDisconnected(p)
		}
	}
}
