package ipfs

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/aurora-federation/aurora/treaty"
)

// An epoch's records hang under its EpochRoot in a fan-out tree, so that no
// block grows with the epoch and an epoch of any size is written, pinned
// and fetched with memory bounded by the fan-out.
//
// The tree is fully determined by the record count n and Fanout F. A link
// of height 0 is a record; a link of height k ≥ 1 is a chunk, a dag-cbor
// list of links of height k-1. A link of height k covers F^k records, except
// the last of its list, which covers the rest. The root's records list holds
// the links of height h, the smallest h ≥ 0 with n ≤ F^(h+1): ceil(n / F^h)
// of them. So record i (0-based, in log order) is reached by writing i in
// base F with h+1 digits d_h … d_0: ROOT/records/d_h/…/d_0.

// Fanout is the most links an EpochRoot's records list or a chunk holds.
const Fanout = 1024

// MaxTreeHeight bounds EpochRoot.height: Fanout^(MaxTreeHeight+1) = 2^50
// records exceeds any log (provenance.MaxTreeSize is 2^48).
const MaxTreeHeight = 4

// MaxEpochRecords bounds EpochRoot.count (provenance.MaxTreeSize).
const MaxEpochRecords = 1 << 48

// span returns F^h, the records one link at height h covers (saturating
// above MaxEpochRecords).
func span(fanout int, h int) uint64 {
	s := uint64(1)
	for range h {
		if s > MaxEpochRecords {
			return s
		}
		s *= uint64(fanout)
	}
	return s
}

// treeHeight returns the height of the tree of n records.
func treeHeight(fanout int, n uint64) int {
	h := 0
	for n > span(fanout, h+1) {
		h++
	}
	return h
}

// ceilDiv returns ceil(a / b).
func ceilDiv(a, b uint64) uint64 { return (a + b - 1) / b }

// encodeChunk returns the canonical dag-cbor of a list of links.
func encodeChunk(links []cid.Cid) ([]byte, error) {
	n := len(links)
	b := make([]byte, 0, 3+n*40)
	switch {
	case n < 24:
		b = append(b, 0x80|byte(n))
	case n < 256:
		b = append(b, 0x98, byte(n))
	default:
		b = append(b, 0x99, byte(n>>8), byte(n))
	}
	for _, c := range links {
		l, err := treaty.LinkTo(c).MarshalCBOR()
		if err != nil {
			return nil, err
		}
		b = append(b, l...)
	}
	return b, nil
}

// decodeChunk parses a chunk block: a dag-cbor list of 1..fanout links of
// acceptable CIDs.
func decodeChunk(c cid.Cid, data []byte, fanout int) ([]cid.Cid, error) {
	if c.Prefix().Codec != cid.DagCBOR {
		return nil, &BlockError{CID: c, Rule: "a chunk is dag-cbor"}
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(data)); err != nil {
		return nil, &BlockError{CID: c, Rule: "chunk is not strict dag-cbor", Err: err}
	}
	nd := nb.Build()
	if nd.Kind() != datamodel.Kind_List {
		return nil, &BlockError{CID: c, Rule: fmt.Sprintf("chunk is a %s, want a list of links", nd.Kind())}
	}
	n := nd.Length()
	if n < 1 || n > int64(fanout) {
		return nil, &BlockError{CID: c, Rule: fmt.Sprintf("chunk has %d links, want 1..%d", n, fanout)}
	}
	out := make([]cid.Cid, 0, n)
	for it := nd.ListIterator(); !it.Done(); {
		i, v, err := it.Next()
		if err != nil {
			return nil, &BlockError{CID: c, Rule: "chunk", Err: err}
		}
		l, err := v.AsLink()
		if err != nil {
			return nil, &BlockError{CID: c, Rule: fmt.Sprintf("chunk entry %d is not a link", i)}
		}
		cl, ok := l.(cidlink.Link)
		if !ok {
			return nil, &BlockError{CID: c, Rule: fmt.Sprintf("chunk entry %d is not a CID", i)}
		}
		if err := checkCID(cl.Cid); err != nil {
			return nil, &BlockError{CID: c, Rule: fmt.Sprintf("chunk entry %d (%s): %v", i, cl.Cid, err)}
		}
		out = append(out, cl.Cid)
	}
	return out, nil
}

// treeBuilder builds the fan-out tree of n records streamed in order. It
// holds at most Fanout links per level: memory is bounded by the fan-out
// times the height.
type treeBuilder struct {
	fanout int
	height int
	levels [][]cid.Cid // levels[k]: pending links of height k
	put    func(data []byte) (cid.Cid, error)
	count  uint64
	want   uint64
}

func newTreeBuilder(fanout int, n uint64, put func([]byte) (cid.Cid, error)) *treeBuilder {
	h := treeHeight(fanout, n)
	return &treeBuilder{fanout: fanout, height: h, levels: make([][]cid.Cid, h+1), put: put, want: n}
}

// add appends the next record's CID.
func (b *treeBuilder) add(c cid.Cid) error {
	b.count++
	if b.count > b.want {
		return fmt.Errorf("ipfs: epoch tree: more than the %d records announced", b.want)
	}
	return b.push(0, c)
}

func (b *treeBuilder) push(k int, c cid.Cid) error {
	b.levels[k] = append(b.levels[k], c)
	if k < b.height && len(b.levels[k]) == b.fanout {
		return b.flush(k)
	}
	return nil
}

// flush turns the pending links of height k into a chunk of height k and
// pushes its CID one level up.
func (b *treeBuilder) flush(k int) error {
	data, err := encodeChunk(b.levels[k])
	if err != nil {
		return err
	}
	c, err := b.put(data)
	if err != nil {
		return err
	}
	b.levels[k] = b.levels[k][:0]
	return b.push(k+1, c)
}

// finish flushes the partial chunks and returns the root's records list
// and the height.
func (b *treeBuilder) finish() ([]cid.Cid, int, error) {
	if b.count != b.want {
		return nil, 0, fmt.Errorf("ipfs: epoch tree: %d records, %d announced", b.count, b.want)
	}
	for k := 0; k < b.height; k++ {
		if len(b.levels[k]) > 0 {
			if err := b.flush(k); err != nil {
				return nil, 0, err
			}
		}
	}
	return b.levels[b.height], b.height, nil
}

// treeWalker visits the records of an epoch tree in order, fetching chunks
// through get, group chunks at a time (a bounded frontier: at most
// group·fanout links per level are held).
type treeWalker struct {
	fanout int
	group  int
	// get returns the blocks cs (all of them, or an error).
	get func(ctx context.Context, cs []cid.Cid) (map[cid.Cid][]byte, error)
	// records receives the record CIDs in order, in batches of at most
	// group·fanout.
	records func(ctx context.Context, cs []cid.Cid) error
	// chunks counts the chunk blocks visited.
	chunks int
}

// walk visits the subtrees links of height h covering total records.
func (w *treeWalker) walk(ctx context.Context, links []cid.Cid, h int, total uint64) error {
	sp := span(w.fanout, h)
	if uint64(len(links)) != ceilDiv(total, sp) {
		return &EpochRootError{Field: "records", Rule: fmt.Sprintf("%d links at height %d for %d records, want %d", len(links), h, total, ceilDiv(total, sp))}
	}
	if h == 0 {
		return w.records(ctx, links)
	}
	var batch []cid.Cid // records gathered from chunks of height 0
	for i := 0; i < len(links); i += w.group {
		group := links[i:min(i+w.group, len(links))]
		got, err := w.get(ctx, group)
		if err != nil {
			return err
		}
		w.chunks += len(group)
		for j, c := range group {
			cover := sp
			if last := uint64(i+j) == uint64(len(links)-1); last {
				cover = total - uint64(len(links)-1)*sp
			}
			children, err := decodeChunk(c, got[c], w.fanout)
			if err != nil {
				return err
			}
			if h == 1 {
				if uint64(len(children)) != cover {
					return &BlockError{CID: c, Rule: fmt.Sprintf("chunk has %d links, the tree's shape says %d", len(children), cover)}
				}
				batch = append(batch, children...)
				continue
			}
			if err := w.walk(ctx, children, h-1, cover); err != nil {
				return err
			}
		}
		if len(batch) > 0 {
			if err := w.records(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}
