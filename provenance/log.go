package provenance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-datastore"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/treaty"
)

// Datastore keys of the log, relative to the datastore it is given.
//
//	/log/size            tree size, 8 bytes big-endian
//	/log/l/<index>       leaf entry (index: 16 hex digits, see below)
//	/log/h/<leaf hash>   leaf index, 8 bytes (64 hex digits; only with IndexLeafHashes)
//	/log/checkpoint      latest signed checkpoint note (with cosignatures)
//	/log/jobs            job leaves in the log, 8 bytes big-endian (counted
//	                     at OpenLog for logs written before it existed)
//
// A leaf entry is n (1 byte), then n+1 hashes of 32 bytes, then the leaf:
// the leaf hash and the n perfect subtrees that leaf completes (levels 1..n,
// n = trailing one bits of the index). Every perfect subtree hash is thus
// stored exactly once, with its rightmost leaf, and an append writes one
// entry per leaf.
const (
	keySize       = "/log/size"
	keyCheckpoint = "/log/checkpoint"
	keyJobs       = "/log/jobs"
)

func leafKey(i uint64) datastore.Key {
	var b [7 + 16]byte
	copy(b[:], "/log/l/")
	hex.Encode(b[7:], binary.BigEndian.AppendUint64(nil, i))
	return datastore.RawKey(string(b[:]))
}

func hashKey(h [32]byte) datastore.Key {
	var b [7 + 64]byte
	copy(b[:], "/log/h/")
	hex.Encode(b[7:], h[:])
	return datastore.RawKey(string(b[:]))
}

// LogConfig configures OpenLog.
type LogConfig struct {
	// Origin names the log in its checkpoints and is its note key name:
	// "aurora/<federation>/<peer ID>". Required.
	Origin string
	// Key signs checkpoints: the node's key. Required.
	Key *treaty.PrivateKey
	// IndexLeafHashes keeps a leaf-hash → index map so that IndexOf works,
	// at the cost of one more write per leaf. Default false: callers keep
	// the indices Append returns (the node stores them with its jobs).
	IndexLeafHashes bool
	// Logger receives the log's logs; nil discards them.
	Logger *slog.Logger
}

func (c LogConfig) validate() (LogConfig, error) {
	if err := checkOrigin(c.Origin); err != nil {
		return c, fmt.Errorf("provenance: log config: %w", err)
	}
	if c.Key == nil {
		return c, errors.New("provenance: log config: Key is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Log is a node's append-only RFC 6962 Merkle log. Leaves, every perfect
// subtree hash and the size live in the datastore; the compact range of the
// whole tree (at most 64 hashes) lives in memory. A Log is safe for
// concurrent use: appends are serialized, reads run concurrently with them
// and see a consistent size.
type Log struct {
	ds     datastore.Batching
	cfg    LogConfig
	signer note.Signer
	verif  note.Verifier
	rf     *compact.RangeFactory

	mu sync.Mutex // serializes Append and checkpoint writes; protects following
	cr *compact.Range

	state atomic.Pointer[logState] // published after each commit
}

type logState struct {
	size uint64
	root [32]byte
	jobs uint64 // job leaves among the size
}

// hasher is RFC 6962 with SHA-256.
var hasher = rfc6962.DefaultHasher

// OpenLog opens (or creates) the log stored in ds. ds is the log's own
// namespace: the node passes a view of its badger DB (which implements
// datastore.TxnDatastore: each Append is one badger transaction). With a
// datastore that only implements Batching, each Append is one batch.
func OpenLog(ctx context.Context, ds datastore.Batching, cfg LogConfig) (*Log, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	signer, err := NewLogSigner(cfg.Origin, cfg.Key)
	if err != nil {
		return nil, err
	}
	verif, err := LogVerifier(cfg.Origin, cfg.Key.DID())
	if err != nil {
		return nil, err
	}
	l := &Log{ds: ds, cfg: cfg, signer: signer, verif: verif, rf: &compact.RangeFactory{Hash: hasher.HashChildren}}
	size, err := l.storedSize(ctx)
	if err != nil {
		return nil, err
	}
	cr, err := l.rangeAt(ctx, size)
	if err != nil {
		return nil, fmt.Errorf("provenance: open log at size %d: %w", size, err)
	}
	l.cr = cr
	root, err := rootOf(cr)
	if err != nil {
		return nil, err
	}
	jobs, err := l.storedJobs(ctx, size)
	if err != nil {
		return nil, err
	}
	l.state.Store(&logState{size: size, root: root, jobs: jobs})
	cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "provenance: log opened", slog.String("origin", cfg.Origin), slog.Uint64("size", size))
	return l, nil
}

func (l *Log) storedSize(ctx context.Context) (uint64, error) {
	v, ok, err := get(ctx, l.ds, datastore.RawKey(keySize))
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("provenance: log size record is %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// storedJobs reads the job leaf count, counting (once, and storing it) for
// a log written before the count was kept.
func (l *Log) storedJobs(ctx context.Context, size uint64) (uint64, error) {
	v, ok, err := get(ctx, l.ds, datastore.RawKey(keyJobs))
	if err != nil {
		return 0, err
	}
	if ok {
		if len(v) != 8 {
			return 0, fmt.Errorf("provenance: log jobs record is %d bytes, want 8", len(v))
		}
		return binary.BigEndian.Uint64(v), nil
	}
	var jobs uint64
	for i := uint64(0); i < size; i++ {
		v, ok, err := get(ctx, l.ds, leafKey(i))
		if err != nil {
			return 0, err
		}
		_, leaf, good := leafEntry(v)
		if !ok || !good {
			return 0, fmt.Errorf("provenance: leaf %d missing or corrupt below size %d", i, size)
		}
		if isJobLeaf(leaf) {
			jobs++
		}
	}
	if size > 0 {
		if err := l.ds.Put(ctx, datastore.RawKey(keyJobs), binary.BigEndian.AppendUint64(nil, jobs)); err != nil {
			return 0, fmt.Errorf("provenance: store job count: %w", err)
		}
	}
	return jobs, nil
}

// rangeAt loads the compact range [0, size) from the stored node hashes.
func (l *Log) rangeAt(ctx context.Context, size uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := l.node(ctx, id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return l.rf.NewRange(0, size, hashes)
}

// node reads the hash of a perfect subtree from the entry of its rightmost
// leaf.
func (l *Log) node(ctx context.Context, id compact.NodeID) ([]byte, error) {
	if id.Level > 63 {
		return nil, fmt.Errorf("provenance: log node level %d", id.Level)
	}
	v, ok, err := get(ctx, l.ds, leafKey((id.Index+1)<<id.Level-1))
	if err != nil {
		return nil, err
	}
	if !ok || len(v) < 1 || uint(v[0]) < id.Level || len(v) < 1+32*(int(v[0])+1) {
		return nil, fmt.Errorf("provenance: log node (level %d, index %d) missing or corrupt", id.Level, id.Index)
	}
	off := 1 + 32*int(id.Level)
	return v[off : off+32], nil
}

// leafEntry splits a leaf entry into its hashes and the leaf.
func leafEntry(v []byte) (hashes, leaf []byte, ok bool) {
	if len(v) < 1 {
		return nil, nil, false
	}
	n := 1 + 32*(int(v[0])+1)
	if len(v) <= n {
		return nil, nil, false
	}
	return v[1:n], v[n:], true
}

func rootOf(cr *compact.Range) ([32]byte, error) {
	var root [32]byte
	if cr.End() == 0 {
		copy(root[:], hasher.EmptyRoot())
		return root, nil
	}
	h, err := cr.GetRootHash(nil)
	if err != nil {
		return root, err
	}
	copy(root[:], h)
	return root, nil
}

// Origin returns the log's origin.
func (l *Log) Origin() string { return l.cfg.Origin }

// Verifier returns the note verifier of the log's checkpoints.
func (l *Log) Verifier() note.Verifier { return l.verif }

// Size returns the number of leaves committed.
func (l *Log) Size() uint64 { return l.state.Load().size }

// Root returns the root hash of the committed tree.
func (l *Log) Root() [32]byte { return l.state.Load().root }

// ErrBatchTooLarge reports an Append over MaxAppendLeaves or MaxAppendBytes.
var ErrBatchTooLarge = errors.New("provenance: append batch too large")

// Append adds leaves to the log in one datastore transaction (the leaf
// bytes, the new node hashes, the leaf-hash index and the new size), so a
// crash leaves either the whole batch or none of it. It returns the index of
// the first leaf. Each leaf must be 1 to MaxLeafSize bytes; the batch is
// bounded by MaxAppendLeaves and MaxAppendBytes. Append does not force the
// datastore to stable storage: Checkpoint does before signing.
func (l *Log) Append(ctx context.Context, leaves ...[]byte) (uint64, error) {
	return l.appendWith(ctx, leaves, nil)
}

// AppendWith is Append with the caller's writes in the same transaction:
// extra gets the index the first leaf will have and the transaction's
// writer (the log datastore's; a [datastore.TxnDatastore]'s transaction
// when the log has one). If extra fails, nothing is written and the log
// is unchanged. The node's order ledger commits its jobs this way, so a
// crash never leaves a job's leaf without its job or the reverse. leaves
// must not be empty.
func (l *Log) AppendWith(ctx context.Context, leaves [][]byte, extra func(first uint64, w datastore.Write) error) (uint64, error) {
	if len(leaves) == 0 {
		return 0, errors.New("provenance: AppendWith: no leaves")
	}
	return l.appendWith(ctx, leaves, extra)
}

// appendWith is Append with extra writes in the same transaction (Epochs
// marks the epochs whose tsa leaves it appends, atomically with them).
func (l *Log) appendWith(ctx context.Context, leaves [][]byte, extra func(first uint64, w datastore.Write) error) (uint64, error) {
	if len(leaves) == 0 {
		return l.Size(), nil
	}
	if len(leaves) > MaxAppendLeaves {
		return 0, fmt.Errorf("%w: %d leaves, limit %d", ErrBatchTooLarge, len(leaves), MaxAppendLeaves)
	}
	total := 0
	for i, lf := range leaves {
		if len(lf) == 0 || len(lf) > MaxLeafSize {
			return 0, &LeafSizeError{Position: i, Size: len(lf)}
		}
		total += len(lf)
	}
	if total > MaxAppendBytes {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrBatchTooLarge, total, MaxAppendBytes)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	first := l.cr.End()
	if first+uint64(len(leaves)) > MaxTreeSize {
		return 0, fmt.Errorf("provenance: append: log full at %d leaves", first)
	}
	// Work on a copy so that a failed commit leaves the in-memory range as
	// the datastore has it.
	cr, err := l.rf.NewRange(0, first, append([][]byte(nil), l.cr.Hashes()...))
	if err != nil {
		return 0, err
	}
	jobs := l.state.Load().jobs
	err = write(ctx, l.ds, func(w datastore.Write) error {
		var entry []byte // the entry being built; the visitor adds subtree hashes
		visit := func(id compact.NodeID, h []byte) { entry = append(entry, h...) }
		for i, lf := range leaves {
			idx := first + uint64(i)
			lh := leafHash(lf)
			n := bits.TrailingZeros64(^idx)
			entry = make([]byte, 1, 1+32*(n+1)+len(lf))
			entry[0] = byte(n)
			if err := cr.Append(lh[:], visit); err != nil {
				return err
			}
			if len(entry) != 1+32*(n+1) {
				return fmt.Errorf("provenance: append: leaf %d completed %d subtrees, want %d", idx, (len(entry)-1)/32-1, n)
			}
			entry = append(entry, lf...)
			if isJobLeaf(lf) {
				jobs++
			}
			if err := w.Put(ctx, leafKey(idx), entry); err != nil {
				return err
			}
			if l.cfg.IndexLeafHashes {
				if err := w.Put(ctx, hashKey(lh), binary.BigEndian.AppendUint64(nil, idx)); err != nil {
					return err
				}
			}
		}
		if extra != nil {
			if err := extra(first, w); err != nil {
				return err
			}
		}
		if err := w.Put(ctx, datastore.RawKey(keyJobs), binary.BigEndian.AppendUint64(nil, jobs)); err != nil {
			return err
		}
		return w.Put(ctx, datastore.RawKey(keySize), binary.BigEndian.AppendUint64(nil, cr.End()))
	})
	if err != nil {
		return 0, fmt.Errorf("provenance: append %d leaves at %d: %w", len(leaves), first, err)
	}
	root, err := rootOf(cr)
	if err != nil {
		return 0, err
	}
	l.cr = cr
	l.state.Store(&logState{size: cr.End(), root: root, jobs: jobs})
	return first, nil
}

// leafHash is the RFC 6962 leaf hash SHA-256(0x00 || leaf).
func leafHash(leaf []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// LeafHash returns the RFC 6962 leaf hash of leaf: SHA-256(0x00 || leaf).
func LeafHash(leaf []byte) [32]byte { return leafHash(leaf) }

// ErrNotFound reports a leaf, index or record the log does not hold.
var ErrNotFound = errors.New("provenance: not found")

// ReadLeaves reads ahead of its caller with readers goroutines, each
// taking every readers-th batch of readBatch leaves and holding at most
// readQueue batches: reading overlaps the caller's work, with bounded
// memory.
const (
	readBatch = 256
	readers   = 2
	readQueue = 2
)

// ReadLeaves calls fn with each leaf of [start, end) in order. Reader
// goroutines read ahead of fn (at most readers·readQueue·readBatch leaves),
// so memory stays bounded however long the range. It stops at fn's first
// error or ctx's end and returns it; the readers have stopped when it
// returns. The leaf slice is fn's to keep only if the datastore returns
// copies (node/store does).
func (l *Log) ReadLeaves(ctx context.Context, start, end uint64, fn func(index uint64, leaf []byte) error) error {
	if start > end || end > l.Size() {
		return fmt.Errorf("%w: leaves [%d, %d), log size %d", ErrNotFound, start, end, l.Size())
	}
	if end-start <= readBatch {
		leaves, err := l.leafRange(ctx, start, end, nil)
		if err != nil {
			return err
		}
		for n, lf := range leaves {
			if err := fn(start+uint64(n), lf); err != nil {
				return err
			}
		}
		return nil
	}
	type batch struct {
		leaves [][]byte
		err    error
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	nbatches := (end - start + readBatch - 1) / readBatch
	outs := make([]chan batch, readers)
	for w := range outs {
		outs[w] = make(chan batch, readQueue)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			defer close(outs[w])
			for k := uint64(w); k < nbatches; k += readers {
				first := start + k*readBatch
				last := min(first+readBatch, end)
				var b batch
				b.leaves, b.err = l.leafRange(ctx, first, last, make([][]byte, 0, last-first))
				select {
				case outs[w] <- b:
				case <-ctx.Done():
					return
				}
				if b.err != nil {
					return
				}
			}
		}(w)
	}
	for k := uint64(0); k < nbatches; k++ {
		b, ok := <-outs[k%readers]
		if !ok {
			return ctx.Err() // a reader stopped: ctx ended
		}
		first := start + k*readBatch
		for n, lf := range b.leaves {
			if err := fn(first+uint64(n), lf); err != nil {
				return err
			}
		}
		if b.err != nil {
			return b.err
		}
	}
	return nil
}

// RangeReader is a datastore that reads a key range in key order in one
// pass (node/store's badger view does): ReadLeaves then costs one seek per
// batch instead of a lookup per leaf.
type RangeReader interface {
	ReadRange(ctx context.Context, start, end datastore.Key, fn func(key datastore.Key, value []byte) error) error
}

// leafRange appends leaves [first, last) to out: in one pass over the key
// range when the datastore is a RangeReader, else leaf by leaf. Either way
// a leaf missing below the log's size is an error, as in Leaf (leafKey
// orders like the index: fixed-width hex of big-endian).
func (l *Log) leafRange(ctx context.Context, first, last uint64, out [][]byte) ([][]byte, error) {
	rr, ok := l.ds.(RangeReader)
	if !ok {
		for i := first; i < last; i++ {
			lf, err := l.Leaf(ctx, i)
			if err != nil {
				return out, err
			}
			out = append(out, lf)
		}
		return out, nil
	}
	next := first
	err := rr.ReadRange(ctx, leafKey(first), leafKey(last), func(k datastore.Key, v []byte) error {
		_, leaf, good := leafEntry(v)
		if k != leafKey(next) || !good {
			return fmt.Errorf("provenance: leaf %d missing or corrupt below size %d", next, l.Size())
		}
		out = append(out, leaf)
		next++
		return nil
	})
	if err == nil && next != last {
		err = fmt.Errorf("provenance: leaf %d missing or corrupt below size %d", next, l.Size())
	}
	return out, err
}

// Leaf returns the bytes of leaf i. The caller owns the returned slice
// only if the datastore returns copies (node/store does).
func (l *Log) Leaf(ctx context.Context, i uint64) ([]byte, error) {
	if i >= l.Size() {
		return nil, fmt.Errorf("%w: leaf %d, log size %d", ErrNotFound, i, l.Size())
	}
	v, ok, err := get(ctx, l.ds, leafKey(i))
	if err != nil {
		return nil, err
	}
	_, leaf, good := leafEntry(v)
	if !ok || !good {
		return nil, fmt.Errorf("provenance: leaf %d missing or corrupt below size %d", i, l.Size())
	}
	return leaf, nil
}

// ErrNoIndex reports IndexOf on a log opened without IndexLeafHashes.
var ErrNoIndex = errors.New("provenance: log keeps no leaf-hash index (LogConfig.IndexLeafHashes)")

// IndexOf returns the index of the leaf whose RFC 6962 leaf hash is
// leafHash (the latest one if identical leaves were appended). It needs
// LogConfig.IndexLeafHashes; otherwise callers keep the indices Append
// returns.
func (l *Log) IndexOf(ctx context.Context, leafHash [32]byte) (uint64, error) {
	if !l.cfg.IndexLeafHashes {
		return 0, ErrNoIndex
	}
	v, ok, err := get(ctx, l.ds, hashKey(leafHash))
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: leaf hash %x", ErrNotFound, leafHash[:8])
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("provenance: leaf index record is %d bytes, want 8", len(v))
	}
	i := binary.BigEndian.Uint64(v)
	if i >= l.Size() {
		return 0, fmt.Errorf("%w: leaf hash %x", ErrNotFound, leafHash[:8])
	}
	return i, nil
}

// InclusionProof returns the RFC 6962 inclusion proof of leaf index in the
// tree of the given size (index < size ≤ Size()).
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	if size > l.Size() || index >= size {
		return nil, fmt.Errorf("provenance: inclusion proof: index %d, size %d, log size %d", index, size, l.Size())
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return l.rehash(ctx, nodes)
}

// ConsistencyProof returns the RFC 6962 consistency proof between the trees
// of sizes from and to (from ≤ to ≤ Size()). It is empty when from is 0 or
// equals to.
func (l *Log) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	if to > l.Size() || from > to {
		return nil, fmt.Errorf("provenance: consistency proof: from %d, to %d, log size %d", from, to, l.Size())
	}
	if from == 0 || from == to {
		return [][]byte{}, nil
	}
	nodes, err := proof.Consistency(from, to)
	if err != nil {
		return nil, err
	}
	return l.rehash(ctx, nodes)
}

func (l *Log) rehash(ctx context.Context, nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		h, err := l.node(ctx, id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// RootAt returns the root hash of the tree of the given size (≤ Size()).
func (l *Log) RootAt(ctx context.Context, size uint64) ([32]byte, error) {
	if size > l.Size() {
		return [32]byte{}, fmt.Errorf("provenance: root at %d: log size %d", size, l.Size())
	}
	if st := l.state.Load(); st.size == size {
		return st.root, nil
	}
	cr, err := l.rangeAt(ctx, size)
	if err != nil {
		return [32]byte{}, err
	}
	return rootOf(cr)
}

// Checkpoint signs the current size and root as a C2SP checkpoint, stores it
// as the latest and returns it. Before signing it syncs the datastore, so a
// signed checkpoint never covers leaves an OS crash could lose (which would
// make the log sign an inconsistent checkpoint later: equivocation). If the
// latest checkpoint already has the current size it is returned unchanged,
// cosignatures included.
func (l *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	cp, _, err := l.checkpointJobs(ctx)
	return cp, err
}

// checkpointJobs is Checkpoint that also returns the number of job leaves
// in the checkpoint's tree.
func (l *Log) checkpointJobs(ctx context.Context) (Checkpoint, uint64, error) {
	cp, st, err := l.checkpointState(ctx)
	if err != nil {
		return Checkpoint{}, 0, err
	}
	return cp, st.jobs, nil
}

func (l *Log) checkpointState(ctx context.Context) (Checkpoint, *logState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.state.Load()
	latest, err := l.latestLocked(ctx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Checkpoint{}, nil, err
	}
	if err == nil {
		if latest.Size == st.size {
			if latest.Root != st.root {
				return Checkpoint{}, nil, fmt.Errorf("provenance: latest checkpoint at size %d has root %x, log has %x", st.size, latest.Root[:8], st.root[:8])
			}
			return latest, st, nil
		}
		if latest.Size > st.size {
			return Checkpoint{}, nil, fmt.Errorf("provenance: latest checkpoint has size %d beyond the log's %d", latest.Size, st.size)
		}
	}
	if err := l.ds.Sync(ctx, datastore.RawKey("/log")); err != nil {
		return Checkpoint{}, nil, fmt.Errorf("provenance: sync before checkpoint: %w", err)
	}
	cp := Checkpoint{Origin: l.cfg.Origin, Size: st.size, Root: st.root}
	signed, err := signCheckpoint(cp, l.signer)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	cp.Note = signed
	if err := l.ds.Put(ctx, datastore.RawKey(keyCheckpoint), signed); err != nil {
		return Checkpoint{}, nil, fmt.Errorf("provenance: store checkpoint: %w", err)
	}
	if err := l.ds.Sync(ctx, datastore.RawKey(keyCheckpoint)); err != nil {
		return Checkpoint{}, nil, fmt.Errorf("provenance: sync checkpoint: %w", err)
	}
	return cp, st, nil
}

// LatestCheckpoint returns the latest checkpoint the log signed, with the
// cosignatures merged into it so far. It fails with ErrNotFound before the
// first Checkpoint.
func (l *Log) LatestCheckpoint(ctx context.Context) (Checkpoint, error) {
	return l.latestLocked(ctx)
}

func (l *Log) latestLocked(ctx context.Context) (Checkpoint, error) {
	v, ok, err := get(ctx, l.ds, datastore.RawKey(keyCheckpoint))
	if err != nil {
		return Checkpoint{}, err
	}
	if !ok {
		return Checkpoint{}, fmt.Errorf("%w: no checkpoint yet", ErrNotFound)
	}
	cp, err := OpenCheckpoint(v, l.cfg.Origin, l.verif)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("provenance: stored checkpoint: %w", err)
	}
	return cp, nil
}

// UpdateCosigned replaces the latest checkpoint with signed, the same
// checkpoint carrying more cosignatures (see MergeCosignatures). signed must
// have the latest checkpoint's body and a valid log signature; the
// cosignatures are not verified here.
func (l *Log) UpdateCosigned(ctx context.Context, signed []byte) (Checkpoint, error) {
	cp, err := OpenCheckpoint(signed, l.cfg.Origin, l.verif)
	if err != nil {
		return Checkpoint{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	latest, err := l.latestLocked(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	if !bytes.Equal(latest.Body(), cp.Body()) {
		return Checkpoint{}, fmt.Errorf("provenance: cosigned checkpoint (size %d) is not the latest (size %d)", cp.Size, latest.Size)
	}
	if err := l.ds.Put(ctx, datastore.RawKey(keyCheckpoint), cp.Note); err != nil {
		return Checkpoint{}, fmt.Errorf("provenance: store checkpoint: %w", err)
	}
	return cp, nil
}

// SubtreeHash returns the hash of the perfect subtree at level (2^level
// leaves) with the given index, that is MTH(D[index·2^level :
// (index+1)·2^level]) in RFC 6962 terms; the subtree must lie within
// Size(). Tiles (C2SP tlog-tiles) are sequences of these hashes.
func (l *Log) SubtreeHash(ctx context.Context, level uint8, index uint64) ([32]byte, error) {
	var out [32]byte
	if level > 63 || index >= MaxTreeSize>>level || (index+1)<<level > l.Size() {
		return out, fmt.Errorf("%w: subtree (level %d, index %d), log size %d", ErrNotFound, level, index, l.Size())
	}
	h, err := l.node(ctx, compact.NodeID{Level: uint(level), Index: index})
	if err != nil {
		return out, err
	}
	copy(out[:], h)
	return out, nil
}
