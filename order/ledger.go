package order

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/treaty"
)

// Ledger limits. A group commit appends at most MaxCommitLeaves leaves and
// MaxCommitLeafBytes leaf bytes to the log (the provenance log's per-append
// limits, provenance.MaxAppendLeaves and MaxAppendBytes, are larger or
// equal) and writes at most MaxCommitBytes to the store (within one badger
// transaction even at the smallest memtable the store allows, 8 MiB, whose
// batch limit is 15 %); one leaf above MaxLeafBytes (provenance.MaxLeafSize)
// is refused alone.
const (
	MaxCommitLeaves    = 512
	MaxCommitLeafBytes = 1 << 20
	MaxCommitBytes     = 1 << 20
	MaxLeafBytes       = treaty.MaxRecordSize
)

// ErrLeafTooLarge is a job record whose leaf exceeds MaxLeafBytes: refused
// alone, it never fails another order's commit.
var ErrLeafTooLarge = errors.New("order: job record leaf too large")

// AtomicLog appends leaves to the provenance log and applies the ops that
// ops returns, given the first leaf's index, in one atomic write: both or
// neither. It calls ops exactly once, and returns the first leaf's index.
type AtomicLog interface {
	AppendApply(ctx context.Context, leaves [][]byte, ops func(first uint64) []Op) (uint64, error)
}

// Appender appends leaves to the provenance log and returns the index of
// the first (provenance.Log).
type Appender interface {
	Append(ctx context.Context, leaves ...[]byte) (first uint64, err error)
}

// Job is the ledger entry of one job: the JobRecord (the provenance leaf
// content) and what the node needs to resume and prove it.
type Job struct {
	Record treaty.JobRecord `cbor:"record"`
	// Order and Ack (signed dag-cbor) live under their own keys, written
	// once: a status change rewrites only the small job entry.
	Order []byte `cbor:"-"`
	Ack   []byte `cbor:"-"`
	// Leaves are the log indices of this job's leaves, in order.
	Leaves []uint64 `cbor:"leaves"`
	// Lane is the quota key the job counts against.
	Lane string `cbor:"lane"`
	// Key is the idempotency key launches carry.
	Key string `cbor:"key"`
	// From is the treaty peer that forwarded the order ("" for our own
	// clients).
	From treaty.DID `cbor:"from,omitempty"`

	stored bool // Order and Ack are already written
}

// Status returns the job's latest status.
func (j *Job) Status() string {
	t := j.Record.Transitions
	if len(t) == 0 {
		return ""
	}
	return t[len(t)-1].Status
}

// Settled reports whether the job needs no more launch work.
func (j *Job) Settled() bool {
	switch j.Status() {
	case treaty.StatusRunning, treaty.StatusSucceeded, treaty.StatusFailed, treaty.StatusTerminated, treaty.StatusForwarded, treaty.StatusCanceled:
		return true
	}
	return false
}

// ErrJobNotFound is returned for unknown job IDs, and for IDs that are not
// the canonical text of a CID (a job ID is its order's CID).
var ErrJobNotFound = errors.New("order: job not found")

// Answer kinds in the ledger.
const (
	answerAck     = "ack"
	answerDenial  = "denial"
	answerPending = "pending" // forwarded, outcome unknown
)

// answer is the ledger's record of what an order got, under its CID.
type answer struct {
	Kind  string     `cbor:"k"`
	Reply []byte     `cbor:"r,omitempty"` // a Denial's bytes (an Ack is the job's)
	From  treaty.DID `cbor:"f,omitempty"` // the forwarding peer, "" for our clients
}

// pending is a forward whose outcome is unknown: enough to ask the peer and,
// when it refuses, to go on with the order.
type pending struct {
	Order  []byte       `cbor:"order"`
	Peer   treaty.DID   `cbor:"peer"`
	Treaty []byte       `cbor:"treaty"` // CID bytes
	Tried  []treaty.DID `cbor:"tried"`  // peers that refused it
	Since  int64        `cbor:"since"`
	Lane   string       `cbor:"lane"`
}

var ledgerCodec = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err) // static options
	}
	return em
}()

func marshal(v any) []byte {
	b, err := ledgerCodec.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("order: encode %T: %v", v, err)) // plain structs: cannot fail
	}
	return b
}

// Ledger keys.
const (
	prefixJobs    = "/jobs/"
	prefixOrders  = "/orders/"
	prefixAcks    = "/acks/"
	prefixAnswers = "/answers/"
	prefixPending = "/pending/"
	prefixNonces  = "/nonces/"
	// prefixDecisions holds each judged order's decision log entry, kept
	// as long as its answer.
	prefixDecisions = "/decisions/"
)

func jobKey(id string) string        { return prefixJobs + id }
func orderKey(id string) string      { return prefixOrders + id }
func ackKey(id string) string        { return prefixAcks + id }
func answerKey(ocid cid.Cid) string  { return prefixAnswers + ocid.String() }
func pendingKey(ocid cid.Cid) string { return prefixPending + ocid.String() }

func decisionKey(ocid cid.Cid) string { return prefixDecisions + ocid.String() }

// nonceKey is "/nonces/<base64url(client)>/<hex(nonce)>": neither encoding
// has '/', so distinct pairs never share a key.
func nonceKey(client treaty.DID, nonce []byte) string {
	return prefixNonces + base64.RawURLEncoding.EncodeToString([]byte(client)) + "/" + hex.EncodeToString(nonce)
}

// LedgerConfig configures a Ledger.
type LedgerConfig struct {
	Store Store
	// Log receives job leaves; nil keeps no provenance log (tests).
	Log Appender
	// Atomic, when set, replaces Log and Store.Apply for every commit that
	// appends leaves: the leaves and the ledger's ops in one atomic write,
	// so a crash never leaves a job's leaf without the job, nor the job
	// without its leaf (the node's log and ledger share one badger). It
	// also halves a group commit's latency.
	Atomic AtomicLog
	// Group commits concurrent writes together on a goroutine the Ledger
	// owns (Close stops it). Off, every commit is applied inline: the
	// simulator's deterministic mode.
	Group bool
}

// Ledger is the durable record of orders and jobs. Safe for concurrent use.
type Ledger struct {
	cfg LedgerConfig

	inline sync.Mutex // serializes inline commits (Group off)

	mu    sync.Mutex // protects queue
	queue []*write
	kick  chan struct{}
	done  chan struct{}
	stop  context.CancelFunc
}

// write is one commit: an optional job with its leaf (and the leaves of
// records logged with it, pre: a Cancel), plus other ops.
type write struct {
	job  *Job
	pre  [][]byte // appended just before leaf, with leaf: only with a job
	leaf []byte
	ops  []Op
	err  chan error
}

// leaves returns the write's leaves in log order.
func (w *write) leaves() [][]byte {
	if w.leaf == nil {
		return nil
	}
	return append(w.pre[:len(w.pre):len(w.pre)], w.leaf)
}

func (w *write) size() int {
	n := len(w.leaf)
	for _, p := range w.pre {
		n += len(p)
	}
	for _, op := range w.ops {
		n += len(op.Key) + len(op.Value)
	}
	if w.job != nil {
		n += 512 + len(w.job.Order) + len(w.job.Ack)
	}
	return n
}

// NewLedger returns a ledger; with cfg.Group it starts its committer.
func NewLedger(cfg LedgerConfig) *Ledger {
	l := &Ledger{cfg: cfg, kick: make(chan struct{}, 1), done: make(chan struct{})}
	if cfg.Group {
		ctx, cancel := context.WithCancel(context.Background())
		l.stop = cancel
		go l.run(ctx)
	} else {
		close(l.done)
	}
	return l
}

// Close drains pending commits and stops the committer.
func (l *Ledger) Close() {
	if l.stop != nil {
		l.stop()
	}
	<-l.done
}

// commit makes w durable: the job's leaf appended to the log (its index
// recorded in the job), then the job and ops in one atomic store write.
func (l *Ledger) commit(ctx context.Context, w *write) error {
	for _, leaf := range w.leaves() {
		if len(leaf) > MaxLeafBytes {
			return fmt.Errorf("%w: %d bytes, limit %d", ErrLeafTooLarge, len(leaf), MaxLeafBytes)
		}
	}
	if !l.cfg.Group {
		l.inline.Lock()
		defer l.inline.Unlock()
		return l.apply(ctx, []*write{w})
	}
	w.err = make(chan error, 1)
	l.mu.Lock()
	l.queue = append(l.queue, w)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-w.err:
		return err
	case <-ctx.Done():
		// The write may still land: callers treat this as unknown.
		return ctx.Err()
	}
}

func (l *Ledger) run(ctx context.Context) {
	defer close(l.done)
	for {
		select {
		case <-l.kick:
			l.flush(context.WithoutCancel(ctx))
		case <-ctx.Done():
			l.flush(context.WithoutCancel(ctx))
			return
		}
	}
}

// flush commits the queue in batches bounded by count and bytes.
func (l *Ledger) flush(ctx context.Context) {
	for {
		l.mu.Lock()
		n, leaves, leafBytes, bytes := 0, 0, 0, 0
		for n < len(l.queue) {
			w := l.queue[n]
			wl := w.leaves()
			lb, wb := 0, w.size()
			for _, leaf := range wl {
				lb += len(leaf)
			}
			if n > 0 && (leaves+len(wl) > MaxCommitLeaves || leafBytes+lb > MaxCommitLeafBytes || bytes+wb > MaxCommitBytes) {
				break
			}
			n++
			leaves += len(wl)
			leafBytes += lb
			bytes += wb
		}
		batch := l.queue[:n:n]
		l.queue = l.queue[n:]
		l.mu.Unlock()
		if n == 0 {
			return
		}
		err := l.apply(ctx, batch)
		for _, w := range batch {
			w.err <- err
		}
	}
}

func (l *Ledger) apply(ctx context.Context, batch []*write) error {
	var leaves [][]byte
	for _, w := range batch {
		leaves = append(leaves, w.leaves()...)
	}
	// Each job's Leaves grow by its new leaf's index; when an atomic
	// commit fails they are cut back, as no leaf was appended. (Without
	// Atomic, leaves appended before a failed store write are in the log,
	// and the job keeps their indices.)
	marks := make([]int, len(batch))
	for i, w := range batch {
		if w.job != nil {
			marks[i] = len(w.job.Leaves)
		}
	}
	index := func(first uint64) {
		for _, w := range batch {
			for range w.leaves() {
				w.job.Leaves = append(w.job.Leaves, first)
				first++
			}
		}
	}
	var err error
	switch {
	case len(leaves) > 0 && l.cfg.Atomic != nil:
		_, err = l.cfg.Atomic.AppendApply(ctx, leaves, func(first uint64) []Op {
			index(first)
			return opsOf(batch)
		})
		if err != nil {
			for i, w := range batch {
				if w.job != nil {
					w.job.Leaves = w.job.Leaves[:marks[i]]
				}
			}
			return fmt.Errorf("order: commit: %w", err)
		}
	default:
		if len(leaves) > 0 && l.cfg.Log != nil {
			first, aerr := l.cfg.Log.Append(ctx, leaves...)
			if aerr != nil {
				return fmt.Errorf("order: append leaves: %w", aerr)
			}
			index(first)
		}
		if err = l.cfg.Store.Apply(ctx, opsOf(batch)); err != nil {
			return fmt.Errorf("order: commit: %w", err)
		}
	}
	for _, w := range batch {
		if w.job != nil {
			w.job.stored = true
		}
	}
	return nil
}

// opsOf returns the store writes of a batch: each write's ops, then each
// job's entry (with its order and Ack the first time).
func opsOf(batch []*write) []Op {
	var ops []Op
	for _, w := range batch {
		ops = append(ops, w.ops...)
		if j := w.job; j != nil {
			id := j.Record.Job
			if !j.stored {
				ops = append(ops, Op{Key: orderKey(id), Value: j.Order}, Op{Key: ackKey(id), Value: j.Ack})
			}
			ops = append(ops, Op{Key: jobKey(id), Value: marshal(j)})
		}
	}
	return ops
}

// Job returns a job by ID. The ID must be the canonical text of a CID.
func (l *Ledger) Job(ctx context.Context, id string) (*Job, error) {
	if !canonicalCID(id) {
		return nil, ErrJobNotFound
	}
	b, err := l.cfg.Store.Get(ctx, jobKey(id))
	if errors.Is(err, ErrNotFound) {
		return nil, ErrJobNotFound
	}
	if err != nil {
		return nil, err
	}
	return l.decodeJob(ctx, b)
}

// canonicalCID reports whether s is a CID in its canonical string form, so
// that no other spelling (or a path) reaches a store key.
func canonicalCID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	c, err := cid.Decode(s)
	return err == nil && c.String() == s
}

func (l *Ledger) decodeJob(ctx context.Context, b []byte) (*Job, error) {
	var j Job
	if err := cbor.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("order: job entry: %w", err)
	}
	id := j.Record.Job
	var err error
	if j.Order, err = l.cfg.Store.Get(ctx, orderKey(id)); err != nil {
		return nil, fmt.Errorf("order: job %s order: %w", id, err)
	}
	if j.Ack, err = l.cfg.Store.Get(ctx, ackKey(id)); err != nil {
		return nil, fmt.Errorf("order: job %s ack: %w", id, err)
	}
	j.stored = true
	return &j, nil
}

// List calls fn for jobs in ID order, skipping offset, reading at most
// limit (0 = all), until fn returns false.
func (l *Ledger) List(ctx context.Context, offset, limit int, fn func(*Job) bool) error {
	var ferr error
	err := l.cfg.Store.Scan(ctx, prefixJobs, offset, limit, func(_ string, v []byte) bool {
		j, err := l.decodeJob(ctx, v)
		if err != nil {
			ferr = err
			return false
		}
		return fn(j)
	})
	return errors.Join(err, ferr)
}

// answerOf returns what the order ocid got, if anything.
func (l *Ledger) answerOf(ctx context.Context, ocid cid.Cid) (answer, bool, error) {
	b, err := l.cfg.Store.Get(ctx, answerKey(ocid))
	if errors.Is(err, ErrNotFound) {
		return answer{}, false, nil
	}
	if err != nil {
		return answer{}, false, err
	}
	var a answer
	if err := cbor.Unmarshal(b, &a); err != nil {
		return answer{}, false, fmt.Errorf("order: answer entry %s: %w", ocid, err)
	}
	return a, true, nil
}

// nonceOf returns the order CID that used (client, nonce), if any.
func (l *Ledger) nonceOf(ctx context.Context, client treaty.DID, nonce []byte) (cid.Cid, bool, error) {
	b, err := l.cfg.Store.Get(ctx, nonceKey(client, nonce))
	if errors.Is(err, ErrNotFound) {
		return cid.Undef, false, nil
	}
	if err != nil {
		return cid.Undef, false, err
	}
	c, err := cid.Cast(b)
	if err != nil {
		return cid.Undef, false, fmt.Errorf("order: nonce entry: %w", err)
	}
	return c, true, nil
}

// pendingOf reads a pending forward.
func (l *Ledger) pendingOf(ctx context.Context, ocid cid.Cid) (*pending, error) {
	b, err := l.cfg.Store.Get(ctx, pendingKey(ocid))
	if err != nil {
		return nil, err
	}
	var p pending
	if err := cbor.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("order: pending entry %s: %w", ocid, err)
	}
	return &p, nil
}

// pendingAll lists every pending forward (start-up).
func (l *Ledger) pendingAll(ctx context.Context, fn func(ocid cid.Cid, p *pending)) error {
	var ferr error
	err := l.cfg.Store.Scan(ctx, prefixPending, 0, 0, func(k string, v []byte) bool {
		c, err := cid.Decode(k[len(prefixPending):])
		if err != nil {
			ferr = fmt.Errorf("order: pending key %q: %w", k, err)
			return false
		}
		var p pending
		if err := cbor.Unmarshal(v, &p); err != nil {
			ferr = fmt.Errorf("order: pending entry %s: %w", c, err)
			return false
		}
		fn(c, &p)
		return true
	})
	return errors.Join(err, ferr)
}

// Ops that record an order's answer with its nonce.

func nonceOp(o *treaty.Order, ocid cid.Cid, now time.Time) Op {
	return Op{Key: nonceKey(o.Client, o.Nonce), Value: ocid.Bytes(), TTL: nonceTTL(o.Expires, now)}
}

// nonceTTL keeps a nonce until its order can no longer be valid anywhere:
// expiry plus the clock skew verifiers allow.
func nonceTTL(expires int64, now time.Time) time.Duration {
	return max(time.Unix(expires, 0).Add(treaty.MaxClockSkew).Sub(now), time.Second) + time.Second
}

func answerOp(ocid cid.Cid, a answer, ttl time.Duration) Op {
	return Op{Key: answerKey(ocid), Value: marshal(&a), TTL: ttl}
}

func decisionOp(ocid cid.Cid, entry []byte, ttl time.Duration) Op {
	return Op{Key: decisionKey(ocid), Value: entry, TTL: ttl}
}

// Decision returns the log entry of the policy decision on order ocid (a
// policy.LogEntry's dag-cbor, as the judge gave it), stored with the
// order's answer and kept as long as it; ErrNotFound when the order was
// not judged here, or its judge logs no entries. The caller owns the
// slice.
func (l *Ledger) Decision(ctx context.Context, ocid cid.Cid) ([]byte, error) {
	return l.cfg.Store.Get(ctx, decisionKey(ocid))
}

// NewTestCommitter returns a function that commits a job with its leaf
// (nil for none) through l's group commit, for tests of Store and
// AtomicLog implementations.
func NewTestCommitter(l *Ledger) func(ctx context.Context, j *Job, leaf []byte) error {
	return func(ctx context.Context, j *Job, leaf []byte) error { return l.commit(ctx, &write{job: j, leaf: leaf}) }
}

// restoredKey records when the ledger was last restored from a backup.
const restoredKey = "/restored"

// MarkRestored records that the ledger was restored from a backup at t:
// nonces and answers after the backup are gone, so orders created before t
// are refused until they can no longer be valid (Config.RestoredAt).
func (l *Ledger) MarkRestored(ctx context.Context, t time.Time) error {
	return l.cfg.Store.Apply(ctx, []Op{{Key: restoredKey, Value: []byte(t.UTC().Format(time.RFC3339Nano))}})
}

// RestoredAt returns when the ledger was last restored (zero if never).
func (l *Ledger) RestoredAt(ctx context.Context) (time.Time, error) {
	b, err := l.cfg.Store.Get(ctx, restoredKey)
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, fmt.Errorf("order: restore marker: %w", err)
	}
	return t, nil
}
