package ipfs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/aurora-federation/aurora/provenance/ipfs"
	"github.com/aurora-federation/aurora/treaty"
)

// newHost starts a libp2p host on a random loopback TCP port, closed at
// cleanup (after the nodes on it, which register their cleanups later).
func newHost(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableRelay(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func connect(t testing.TB, a, b host.Host) {
	t.Helper()
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// members is a mutable allow-list.
type members struct {
	mu  sync.Mutex
	ids map[peer.ID]bool
}

func newMembers(hs ...host.Host) *members {
	m := &members{ids: map[peer.ID]bool{}}
	for _, h := range hs {
		m.ids[h.ID()] = true
	}
	return m
}

func (m *members) Allow(p peer.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ids[p]
}

func (m *members) Add(p peer.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids[p] = true
}

func newNode(t testing.TB, h host.Host, allow func(peer.ID) bool) *ipfs.Node {
	t.Helper()
	return newNodeOn(t, h, dssync.MutexWrap(datastore.NewMapDatastore()), allow)
}

func newNodeOn(t testing.TB, h host.Host, ds datastore.Batching, allow func(peer.ID) bool) *ipfs.Node {
	t.Helper()
	n, err := ipfs.New(context.Background(), ipfs.Config{Host: h, Datastore: ds, Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})
	return n
}

// record is a small dag-cbor record block standing in for a log leaf.
func record(t testing.TB, origin string, epoch, i int) []byte {
	t.Helper()
	em, err := cbor.EncOptions{Sort: cbor.SortLengthFirst}.EncMode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := em.Marshal(map[string]any{"origin": origin, "epoch": epoch, "i": i})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeEpoch stores k records and an EpochRoot linking them and prev, and
// returns the root and the record CIDs.
func writeEpoch(t testing.TB, n *ipfs.Node, origin string, epoch, k int, prev cid.Cid) (cid.Cid, []cid.Cid) {
	t.Helper()
	ctx := context.Background()
	r := &ipfs.EpochRoot{
		V:          ipfs.EpochRootVersion,
		Origin:     origin,
		Epoch:      uint64(epoch),
		Checkpoint: fmt.Sprintf("%s\n%d\nAAAA\n\n— %s sig\n", origin, epoch, origin),
		TSA:        [][]byte{[]byte("token-a"), []byte("token-b")},
	}
	var recs []cid.Cid
	for i := range k {
		c, err := n.Put(ctx, record(t, origin, epoch, i), cid.DagCBOR)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, c)
		r.Records = append(r.Records, treaty.LinkTo(c))
	}
	r.Count = uint64(k)
	if prev.Defined() {
		l := treaty.LinkTo(prev)
		r.Prev = &l
	}
	root, err := n.PutEpochRoot(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	return root, recs
}

func newMapDatastore() datastore.Batching { return dssync.MutexWrap(datastore.NewMapDatastore()) }

// linkBlock is a dag-cbor block {"l": link}.
func linkBlock(t testing.TB, l cid.Cid) []byte {
	t.Helper()
	tl, err := treaty.LinkTo(l).MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	// map(1) text(1)"l" <tag 42 link>
	return append([]byte{0xa1, 0x61, 'l'}, tl...)
}

// mustHash returns a multihash with the given code over a 20-byte zero
// digest: only its prefix matters to the CID checks.
func mustHash(t testing.TB, code uint64) multihash.Multihash {
	t.Helper()
	mh, err := multihash.Encode(make([]byte, 20), code)
	if err != nil {
		t.Fatal(err)
	}
	return mh
}

// sliceLeaves is an EpochInfo.Leaves reader over leaves, the first at index
// start.
func sliceLeaves(start uint64, leaves [][]byte) func(context.Context, func(uint64, []byte) error) error {
	return func(ctx context.Context, fn func(uint64, []byte) error) error {
		for i, lf := range leaves {
			if err := fn(start+uint64(i), lf); err != nil {
				return err
			}
		}
		return nil
	}
}
