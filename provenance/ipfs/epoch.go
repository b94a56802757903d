package ipfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// walkGroup is how many chunks an epoch walk fetches at once: with Fanout
// links each, a walk holds at most walkGroup·Fanout record CIDs per level
// and asks members for up to that many blocks in one round.
const walkGroup = 8

// LimitError reports an epoch over a per-fetch limit (FetchOptions): the
// walk stops before fetching more.
type LimitError struct {
	Root  cid.Cid
	What  string // "records" or "blocks"
	Got   uint64 // what the root announces, or the blocks visited so far
	Limit uint64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("ipfs: epoch %s: more than %d %s (%d)", e.Root, e.Limit, e.What, e.Got)
}

// PinEpochInfo is the provenance loop's Pin hook
// (provenance.EpochsConfig.Pin). It streams the epoch's leaves from the log
// and stores each as a dag-cbor block, in batches of Fanout, building the
// records tree as it goes (tree.go), then writes the EpochRoot (the
// cosigned note split into the log-signed checkpoint and the witness
// cosignature lines; the previous epoch's tokens as tsa), pins it without a
// walk (every block of the epoch was just stored here, and each record's
// own links were checked to be stored) and unpins the previous root. Time
// is linear in the epoch and memory bounded by the fan-out, whatever the
// epoch's size. It is idempotent: the same EpochInfo yields the same root.
func (n *Node) PinEpochInfo(ctx context.Context, e provenance.EpochInfo) (string, error) {
	if n.closed.Load() {
		return "", ErrClosed
	}
	prev := cid.Undef
	if e.Prev != "" {
		var err error
		if prev, err = cid.Decode(e.Prev); err != nil {
			return "", fmt.Errorf("ipfs: previous root %q: %w", e.Prev, err)
		}
	}
	if e.End < e.Start || e.End-e.Start > MaxEpochRecords {
		return "", &EpochRootError{Field: "count", Rule: fmt.Sprintf("epoch %d covers [%d, %d)", e.Epoch, e.Start, e.End)}
	}
	if e.Leaves == nil && e.End > e.Start {
		return "", fmt.Errorf("ipfs: epoch %d: no leaf reader", e.Epoch)
	}
	count := e.End - e.Start
	tb := newTreeBuilder(Fanout, count, func(data []byte) (cid.Cid, error) { return n.Put(ctx, data, cid.DagCBOR) })
	bw := &batchWriter{n: n, epoch: e.Epoch, tb: tb}
	if count > 0 {
		next := e.Start
		err := e.Leaves(ctx, func(i uint64, leaf []byte) error {
			if i != next {
				return fmt.Errorf("ipfs: epoch %d: leaf %d read, want %d", e.Epoch, i, next)
			}
			next++
			return bw.add(ctx, i, leaf)
		})
		if err != nil {
			return "", err
		}
		if err := bw.flush(ctx); err != nil {
			return "", err
		}
	}
	top, height, err := tb.finish()
	if err != nil {
		return "", err
	}
	checkpoint, cosigs := SplitNote(string(e.Checkpoint), e.Origin)
	r := &EpochRoot{
		V:            EpochRootVersion,
		Origin:       e.Origin,
		Epoch:        e.Epoch,
		Checkpoint:   checkpoint,
		Cosignatures: cosigs,
		TSA:          e.PrevTokens,
		Count:        count,
		Height:       uint64(height),
		Records:      make([]treaty.Link, len(top)),
	}
	for i, c := range top {
		r.Records[i] = treaty.LinkTo(c)
	}
	if prev.Defined() {
		l := treaty.LinkTo(prev)
		r.Prev = &l
	}
	root, err := n.PutEpochRoot(ctx, r)
	if err != nil {
		return "", err
	}
	n.pinMu.Lock()
	defer n.pinMu.Unlock()
	if n.closed.Load() {
		return "", ErrClosed
	}
	if err := n.pins.Pin(ctx, root); err != nil {
		return "", err
	}
	if err := n.unpinPrevLocked(ctx, root, prev); err != nil {
		return "", err
	}
	n.log.LogAttrs(ctx, slog.LevelDebug, "epoch pinned", slog.String("origin", r.Origin), slog.Uint64("epoch", r.Epoch),
		slog.String("root", root.String()), slog.Uint64("records", count), slog.Int("chunks", bw.chunks(tb)))
	return root.String(), nil
}

// batchWriter stores an epoch's leaves as blocks, Fanout at a time: each
// batch is validated (canonical dag-cbor, acceptable links), its records'
// links are checked to be stored locally, and it is written in one
// datastore batch.
type batchWriter struct {
	n     *Node
	epoch uint64
	tb    *treeBuilder
	first uint64 // log index of the batch's first leaf
	cs    []cid.Cid
	data  [][]byte
}

func (w *batchWriter) add(ctx context.Context, i uint64, leaf []byte) error {
	if len(w.cs) == 0 {
		w.first = i
	}
	c, err := blockCID(leaf)
	if err != nil {
		return err
	}
	w.cs = append(w.cs, c)
	w.data = append(w.data, leaf)
	if len(w.cs) == Fanout {
		return w.flush(ctx)
	}
	return nil
}

func (w *batchWriter) flush(ctx context.Context) error {
	if len(w.cs) == 0 {
		return nil
	}
	inBatch := make(map[cid.Cid]struct{}, len(w.cs))
	for _, c := range w.cs {
		inBatch[c] = struct{}{}
	}
	checked := map[cid.Cid]struct{}{}
	for k, c := range w.cs {
		links, err := canonicalLinks(c, w.data[k])
		if err != nil {
			return fmt.Errorf("ipfs: epoch %d leaf %d: %w", w.epoch, w.first+uint64(k), err)
		}
		for _, l := range links {
			if _, ok := inBatch[l]; ok {
				continue
			}
			if _, ok := checked[l]; ok {
				continue
			}
			has, err := w.n.local.Has(ctx, l)
			if err != nil {
				return err
			}
			if !has {
				return fmt.Errorf("ipfs: epoch %d leaf %d: %w", w.epoch, w.first+uint64(k),
					&MissingBlocksError{Root: c, Missing: []cid.Cid{l}, Count: 1})
			}
			checked[l] = struct{}{}
		}
	}
	// The datastore may keep the slices it is given: store copies.
	cp := make([][]byte, len(w.data))
	for k, d := range w.data {
		cp[k] = append([]byte(nil), d...)
	}
	if err := w.n.online.AddMany(ctx, w.cs, cp); err != nil {
		return fmt.Errorf("ipfs: epoch %d: store leaves %d..%d: %w", w.epoch, w.first, w.first+uint64(len(w.cs))-1, err)
	}
	for _, c := range w.cs {
		if err := w.tb.add(c); err != nil {
			return err
		}
	}
	w.cs, w.data = w.cs[:0], w.data[:0]
	return nil
}

func (w *batchWriter) chunks(tb *treeBuilder) int {
	if tb.height == 0 {
		return 0
	}
	c := 0
	for k := 1; k <= tb.height; k++ {
		c += int(ceilDiv(tb.count, span(Fanout, k)))
	}
	return c
}

// blockCID is the CIDv1 dag-cbor sha2-256 of a block.
func blockCID(data []byte) (cid.Cid, error) {
	if len(data) > MaxBlockSize {
		return cid.Undef, &BlockError{Rule: fmt.Sprintf("%d bytes, limit %d", len(data), MaxBlockSize)}
	}
	return treaty.CIDOf(data), nil
}

// PutEpochRoot encodes r canonically, stores it and returns its CID.
func (n *Node) PutEpochRoot(ctx context.Context, r *EpochRoot) (cid.Cid, error) {
	_, b, err := EncodeEpochRoot(r)
	if err != nil {
		return cid.Undef, err
	}
	return n.Put(ctx, b, cid.DagCBOR)
}

// GetEpochRoot gets (locally or from members) and decodes an EpochRoot.
func (n *Node) GetEpochRoot(ctx context.Context, c cid.Cid) (*EpochRoot, error) {
	b, err := n.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	return DecodeEpochRoot(b)
}

// PinEpoch pins this node's new epoch root, after checking that the
// epoch's blocks are stored locally, and unpins the previous one (cid.Undef
// for the first epoch). root must be an EpochRoot whose prev link is prev.
// The check covers the epoch alone (EpochBlocks): the root, its records
// tree, the records and the blocks the records link to, never the prev
// chain. So the cost per epoch depends on the epoch's size, not on the
// history's, unlike re-pinning the head or pinner.Update, which walk the
// whole chain. PinEpoch is idempotent. PinEpochInfo, which writes the epoch
// itself, needs no check.
func (n *Node) PinEpoch(ctx context.Context, root, prev cid.Cid) error {
	if n.closed.Load() {
		return ErrClosed
	}
	er, err := n.epochRoot(ctx, n.offln, root)
	if err != nil {
		return err
	}
	if er.PrevCID() != prev {
		return &EpochRootError{Field: "prev", Rule: fmt.Sprintf("links %v, want %v", er.PrevCID(), prev)}
	}
	_, err = n.pinEpoch(ctx, n.offln, root, er, prev, n.cfg.MaxDAGBlocks)
	return err
}

// FetchOptions are the per-fetch settings of FetchEpoch.
type FetchOptions struct {
	// Prev is the root of the same origin this node pinned before (its
	// latest fetched epoch), unpinned once root is pinned; cid.Undef for
	// none. It need not be root's prev link: epochs in between may have
	// been missed.
	Prev cid.Cid
	// Origin, if set, must be the root's origin.
	Origin string
	// MaxRecords bounds the records the root may announce. Default
	// Config.MaxDAGBlocks.
	MaxRecords uint64
	// MaxBlocks bounds the blocks the walk visits. Default
	// Config.MaxDAGBlocks.
	MaxBlocks int
}

// FetchEpoch fetches one epoch of a peer's chain from members and pins it:
// the root, its records tree, the records and the blocks the records link
// directly to (order and ack blocks, anchored roots), never the prev chain
// or the anchored peers' histories. Its cost is linear in the epoch and
// constant in the length of every history involved; memory is bounded by
// the fan-out. Blocks already stored are not fetched again. It gives up at
// ctx's deadline (or Config.FetchTimeout) with a *MissingBlocksError, and
// before fetching past a limit with a *LimitError. It returns the decoded
// root, for the caller to check its checkpoint against what it verified.
func (n *Node) FetchEpoch(ctx context.Context, root cid.Cid, opts FetchOptions) (*EpochRoot, error) {
	if n.closed.Load() {
		return nil, ErrClosed
	}
	if opts.MaxBlocks <= 0 {
		opts.MaxBlocks = n.cfg.MaxDAGBlocks
	}
	if opts.MaxRecords == 0 {
		opts.MaxRecords = uint64(n.cfg.MaxDAGBlocks)
	}
	ctx, cancel := n.fetchContext(ctx)
	defer cancel()
	er, err := n.epochRoot(ctx, n.online, root)
	if err != nil {
		return nil, err
	}
	if opts.Origin != "" && er.Origin != opts.Origin {
		return nil, &EpochRootError{Field: "origin", Rule: fmt.Sprintf("%q, want %q", er.Origin, opts.Origin)}
	}
	if er.Count > opts.MaxRecords {
		return nil, &LimitError{Root: root, What: "records", Got: er.Count, Limit: opts.MaxRecords}
	}
	if _, err := n.pinEpoch(ctx, n.online, root, er, opts.Prev, opts.MaxBlocks); err != nil {
		return nil, err
	}
	return er, nil
}

func (n *Node) epochRoot(ctx context.Context, x exchange, root cid.Cid) (*EpochRoot, error) {
	if err := checkCID(root); err != nil {
		return nil, &BlockError{CID: root, Rule: err.Error()}
	}
	got, err := n.getMany(ctx, x, root, []cid.Cid{root})
	if err != nil {
		return nil, err
	}
	return DecodeEpochRoot(got[root])
}

// pinEpoch walks the epoch under root through x unless root is pinned
// already, then pins it and unpins prev. The walk runs without pinMu, so a
// slow fetch does not hold up this node's own pins.
func (n *Node) pinEpoch(ctx context.Context, x exchange, root cid.Cid, er *EpochRoot, prev cid.Cid, maxBlocks int) (int, error) {
	pinned, err := n.hasPin(ctx, root)
	if err != nil {
		return 0, err
	}
	visited := 0
	if !pinned {
		if visited, err = n.walkEpoch(ctx, x, root, er, maxBlocks); err != nil {
			return visited, err
		}
	}
	n.pinMu.Lock()
	defer n.pinMu.Unlock()
	if n.closed.Load() {
		return visited, ErrClosed
	}
	if !pinned {
		if err := n.pins.Pin(ctx, root); err != nil {
			return visited, err
		}
		n.log.LogAttrs(ctx, slog.LevelDebug, "epoch pinned", slog.String("origin", er.Origin),
			slog.Uint64("epoch", er.Epoch), slog.String("root", root.String()), slog.Int("blocks", visited))
	}
	return visited, n.unpinPrevLocked(ctx, root, prev)
}

func (n *Node) hasPin(ctx context.Context, c cid.Cid) (bool, error) {
	n.pinMu.Lock()
	defer n.pinMu.Unlock()
	if n.closed.Load() {
		return false, ErrClosed
	}
	return n.pins.HasPin(ctx, c)
}

// walkEpoch checks (through x: local only, or local then members) every
// block of the epoch under root: the root, the records tree, the records
// and the records' direct links. It returns the blocks visited; more than
// maxBlocks is a *LimitError.
func (n *Node) walkEpoch(ctx context.Context, x exchange, root cid.Cid, er *EpochRoot, maxBlocks int) (int, error) {
	visited := 1
	count := func(k int) error {
		if visited += k; visited > maxBlocks {
			return &LimitError{Root: root, What: "blocks", Got: uint64(visited), Limit: uint64(maxBlocks)}
		}
		return nil
	}
	get := func(ctx context.Context, cs []cid.Cid) (map[cid.Cid][]byte, error) {
		if err := count(len(cs)); err != nil {
			return nil, err
		}
		return n.getMany(ctx, x, root, cs)
	}
	w := &treeWalker{fanout: Fanout, group: walkGroup, get: get,
		records: func(ctx context.Context, cs []cid.Cid) error {
			got, err := get(ctx, dedupe(cs))
			if err != nil {
				return err
			}
			seen := make(map[cid.Cid]struct{}, len(got))
			for c := range got {
				seen[c] = struct{}{}
			}
			var attached []cid.Cid
			for c, data := range got {
				links, err := linksOf(c, data)
				if err != nil {
					return err
				}
				for _, l := range links {
					if _, dup := seen[l]; !dup {
						seen[l] = struct{}{}
						attached = append(attached, l)
					}
				}
			}
			if len(attached) == 0 {
				return nil
			}
			// The records' own links are checked, not followed: an anchor
			// leaf's link to a peer's root must not pull in that peer's
			// history.
			gotA, err := get(ctx, attached)
			if err != nil {
				return err
			}
			for c, data := range gotA {
				if _, err := linksOf(c, data); err != nil {
					return err
				}
			}
			return nil
		}}
	top := make([]cid.Cid, len(er.Records))
	for i, l := range er.Records {
		top[i] = l.Cid
	}
	err := w.walk(ctx, top, int(er.Height), er.Count)
	return visited, err
}

func dedupe(cs []cid.Cid) []cid.Cid {
	seen := make(map[cid.Cid]struct{}, len(cs))
	out := cs[:0:0]
	for _, c := range cs {
		if _, ok := seen[c]; !ok {
			seen[c] = struct{}{}
			out = append(out, c)
		}
	}
	return out
}

func (n *Node) unpinPrevLocked(ctx context.Context, root, prev cid.Cid) error {
	if !prev.Defined() || prev == root {
		return nil
	}
	if err := n.pins.Unpin(ctx, prev); err != nil && !errors.Is(err, ErrNotPinned) {
		return err
	}
	return nil
}

// SplitNote splits a cosigned signed note (C2SP signed-note: text, a blank
// line, signature lines "— <name> <base64>") into the note with the
// signatures of key name origin (the log's) and the other signature lines
// (the witnesses' cosignatures). A note without a signature block is
// returned whole. Note reassembles them.
func SplitNote(note, origin string) (checkpoint string, cosignatures []string) {
	i := strings.LastIndex(note, "\n\n")
	if i < 0 {
		return note, nil
	}
	head, sigs := note[:i+2], note[i+2:]
	var own []string
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		rest, isSig := strings.CutPrefix(line, "— ")
		name, _, _ := strings.Cut(rest, " ")
		if isSig && name != origin {
			cosignatures = append(cosignatures, line)
		} else {
			own = append(own, line)
		}
	}
	if len(own) == 0 {
		return head, cosignatures
	}
	return head + strings.Join(own, "\n") + "\n", cosignatures
}

// Note returns the cosigned note: the checkpoint followed by the
// cosignature lines.
func (r *EpochRoot) Note() string {
	var b strings.Builder
	b.WriteString(r.Checkpoint)
	for _, l := range r.Cosignatures {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}
