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
	"sort"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/treaty"
)

// Epoch defaults and bounds.
const (
	DefaultEpochInterval = 60 * time.Second
	DefaultStepTimeout   = 10 * time.Second
	DefaultTSARetry      = time.Second
	maxTSARetry          = time.Minute
	DefaultPinTimeout    = 2 * time.Minute
	DefaultPinRetry      = time.Second
	maxPinRetry          = 5 * time.Minute
	DefaultHeartbeat     = time.Hour
	// pinErrorAfter is how many consecutive failures of an epoch's pin are
	// logged at WARN before they are logged at ERROR.
	pinErrorAfter = 5
	// MaxPendingTSAEpochs bounds the epochs waiting for RFC 3161 tokens per
	// TSA; when a TSA is down longer, the oldest epochs are given up (they
	// stay unattested) so memory and retries stay bounded.
	MaxPendingTSAEpochs = 64
)

// WitnessRequest asks peers to cosign an epoch's checkpoint.
type WitnessRequest struct {
	// Checkpoint is the log-signed checkpoint to cosign.
	Checkpoint Checkpoint
	// PrevSize is the size of the previous epoch's checkpoint: what a
	// witness that cosigned it has stored.
	PrevSize uint64
	// Body returns the add-checkpoint body for a witness that stored size
	// old (PrevSize first; after a 409, the size the witness returned).
	Body func(ctx context.Context, old uint64) ([]byte, error)
}

// EpochInfo is what Pin receives to build and pin the epoch root block.
type EpochInfo struct {
	Epoch      uint64
	Origin     string
	Start, End uint64 // this epoch's leaves are [Start, End)
	Checkpoint []byte // cosigned checkpoint note
	// Leaves calls fn with each leaf Start..End-1 (LogEntry dag-cbor) in
	// order, read from the log one at a time, so that an epoch of any size
	// is handled in bounded memory. It stops at fn's first error.
	Leaves func(ctx context.Context, fn func(index uint64, leaf []byte) error) error
	Prev   string // previous epoch's root CID, "" for the first
	// PrevTokens are the RFC 3161 tokens of the previous epoch's checkpoint
	// that had arrived when this epoch closed (tokens are asynchronous).
	PrevTokens [][]byte
}

// EpochsConfig configures NewEpochs. Only Log is required; a nil hook skips
// its step (the epoch then never counts as attested).
type EpochsConfig struct {
	// Log is the node's log. Epoch records live in its datastore under
	// /epoch/. Required.
	Log *Log
	// Interval between epochs for Run. Default 60 s (testnet: 10 s).
	Interval time.Duration
	// StepTimeout bounds each call to Witnesses and Announce. Default 10 s.
	StepTimeout time.Duration
	// PinTimeout bounds each call to Pin, whose work is linear in the
	// epoch's leaves. Default 2 min.
	PinTimeout time.Duration
	// PinRetry is the first delay before retrying a failed pin in the
	// background (doubling up to 5 min). A failed pin never blocks the next
	// checkpoint: later epochs are pinned in order once it succeeds, and
	// are announced without a root meanwhile. Default 1 s.
	PinRetry time.Duration
	// Heartbeat is how often an unchanged log's latest checkpoint is
	// witnessed again, so witnesses can tell a frozen log from a dead one.
	// An idle log closes no epoch and calls no TSA. Default 1 h; negative
	// disables.
	Heartbeat time.Duration
	// Witnesses asks treaty peers to cosign (the mesh provides it over
	// /aurora/witness/1.0.0) and returns their responses: signature lines.
	Witnesses func(ctx context.Context, req WitnessRequest) [][]byte
	// WitnessKeys are the witnesses whose cosignatures are merged into the
	// checkpoint; lines by other keys, or that do not verify, are dropped.
	WitnessKeys []*CosignatureVerifier
	// WitnessKeysFunc, if set, is called at each witness round instead of
	// reading WitnessKeys: a node's witnesses are its current treaty peers.
	WitnessKeysFunc func() []*CosignatureVerifier
	// Timestampers are the two independent RFC 3161 TSAs. Each epoch's
	// SHA-256(checkpoint body) is sent to both asynchronously, with
	// retries; the digests of the tokens go into a tsa leaf next epoch.
	Timestampers [2]Timestamper
	// TSAVerifier, if set, checks each token before it is accepted.
	TSAVerifier TokenVerifier
	// TSARetry is the first retry delay after a TSA failure (doubling up to
	// a minute). Default 1 s.
	TSARetry time.Duration
	// Pin writes and pins the epoch root block and returns its CID
	// (provenance/ipfs provides it). It must be idempotent: after a crash
	// the same epoch may be pinned again.
	Pin func(ctx context.Context, e EpochInfo) (rootCID string, err error)
	// Announce gossips the cosigned checkpoint and root CID (the mesh
	// provides it).
	Announce func(ctx context.Context, a *treaty.Anchor) error
	// Clock timestamps tsa leaves and measures epochs; nil means the
	// system clock.
	Clock Clock
	// Logger receives the loop's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives aurora_epoch_duration_seconds,
	// aurora_provenance_records_total,
	// aurora_provenance_records_attested_total,
	// aurora_epoch_step_failures_total{step} and aurora_epoch_pin_backlog;
	// nil registers nothing.
	Registerer prometheus.Registerer
}

func (c EpochsConfig) validate() (EpochsConfig, error) {
	if c.Log == nil {
		return c, errors.New("provenance: epochs config: Log is required")
	}
	if c.Interval < 0 || c.StepTimeout < 0 || c.TSARetry < 0 || c.PinTimeout < 0 || c.PinRetry < 0 {
		return c, errors.New("provenance: epochs config: durations must not be negative")
	}
	if c.Interval == 0 {
		c.Interval = DefaultEpochInterval
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = DefaultStepTimeout
	}
	if c.TSARetry == 0 {
		c.TSARetry = DefaultTSARetry
	}
	if c.PinTimeout == 0 {
		c.PinTimeout = DefaultPinTimeout
	}
	if c.PinRetry == 0 {
		c.PinRetry = DefaultPinRetry
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// epochRecord is the persisted state of one epoch (dag-cbor under
// /epoch/e/<epoch>). Phases complete in order: signed (record exists),
// witnessed, pinned, announced; tokens arrive asynchronously.
type epochRecord struct {
	V         int64    `cbor:"v"`
	Epoch     uint64   `cbor:"epoch"`
	Start     uint64   `cbor:"start"`
	End       uint64   `cbor:"end"`
	Jobs      uint64   `cbor:"jobs"`
	Note      []byte   `cbor:"note"`
	Cosigs    uint64   `cbor:"cosigs"`
	Witnessed bool     `cbor:"witnessed"`
	Pinned    bool     `cbor:"pinned"`
	Root      string   `cbor:"root"`
	Announced bool     `cbor:"announced"`
	Tokens    [][]byte `cbor:"tokens"` // one slot per timestamper; empty until obtained
	Attested  bool     `cbor:"attested"`
	TSALogged bool     `cbor:"tsa_logged"`
	ClosedAt  int64    `cbor:"closed_at"`
	// WitnessedAt is when the checkpoint was last sent to witnesses (unix
	// seconds; 0 in records written before heartbeats: ClosedAt counts).
	WitnessedAt int64 `cbor:"witnessed_at,omitempty"`
	// JobsTotal is the number of job leaves in the log up to End; nil in
	// records written before it was kept (the epoch's leaves are then
	// counted).
	JobsTotal *uint64 `cbor:"jobs_total,omitempty"`
}

func (r *epochRecord) tokensDone() bool {
	for _, t := range r.Tokens {
		if len(t) == 0 {
			return false
		}
	}
	return true
}

func (r *epochRecord) attestedNow() bool {
	return r.Witnessed && r.Cosigs >= 1 && r.Pinned && r.tokensDone()
}

const keyEpochLatest = "/epoch/latest"

func epochKey(n uint64) datastore.Key {
	return datastore.RawKey("/epoch/e/" + hex.EncodeToString(binary.BigEndian.AppendUint64(nil, n)))
}

// EpochStatus is the state of one epoch, for the node's API and tests.
type EpochStatus struct {
	Epoch      uint64
	Start, End uint64
	Jobs       uint64
	Checkpoint []byte // cosigned note
	Cosigs     int
	Witnessed  bool
	Pinned     bool
	Root       string
	Announced  bool
	Tokens     [][]byte // obtained RFC 3161 tokens, by TSA slot (nil if missing)
	Attested   bool     // signed, witnessed (≥ 1 cosignature), pinned and dual-timestamped
	ClosedAt   time.Time
}

func (r *epochRecord) status() EpochStatus {
	s := EpochStatus{Epoch: r.Epoch, Start: r.Start, End: r.End, Jobs: r.Jobs, Checkpoint: r.Note,
		Cosigs: int(r.Cosigs), Witnessed: r.Witnessed, Pinned: r.Pinned, Root: r.Root, Announced: r.Announced,
		Attested: r.attestedNow(), ClosedAt: time.Unix(r.ClosedAt, 0).UTC()}
	for _, t := range r.Tokens {
		if len(t) == 0 {
			s.Tokens = append(s.Tokens, nil)
		} else {
			s.Tokens = append(s.Tokens, t)
		}
	}
	return s
}

// Epochs closes the log's epochs: every Interval it signs a checkpoint, asks
// witnesses to cosign it, pins the epoch root, gossips the anchor, and
// timestamps the checkpoint with two TSAs in the background. State is
// persisted per phase, so after a crash NewEpochs' consistency check passes
// and the next close finishes the interrupted phases first. Epochs is safe
// for concurrent use; Close stops its goroutines and waits for them.
type Epochs struct {
	cfg  EpochsConfig
	log  *Log
	life context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	closeMu sync.Mutex // serializes CloseEpoch (and catch-up)

	recMu sync.Mutex // serializes record read-modify-write
	kick  [2]chan struct{}

	pendMu  sync.Mutex             // protects pending
	pending [2]map[uint64][32]byte // epochs lacking a token from TSA i → digest

	pinMu    sync.Mutex // serializes pins, which go in epoch order; protects following
	pinnedTo uint64     // every epoch ≤ pinnedTo is pinned
	pinFails int        // consecutive failed pins of epoch pinnedTo+1
	pinKick  chan struct{}

	duration prometheus.Histogram
	records  prometheus.Counter
	attested prometheus.Counter
	failures *prometheus.CounterVec
	backlog  prometheus.Gauge

	closeOnce sync.Once
}

// NewEpochs checks the persisted epoch state against the log (see Check),
// adopts a checkpoint signed just before a crash, and starts the TSA
// workers. The caller must call Close.
func NewEpochs(ctx context.Context, cfg EpochsConfig) (*Epochs, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	e := &Epochs{cfg: cfg, log: cfg.Log}
	e.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "aurora_epoch_duration_seconds",
		Help:    "Time to close an epoch: checkpoint, witness round, pin and gossip (TSAs are asynchronous).",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	})
	e.records = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aurora_provenance_records_total",
		Help: "Job records in closed epochs.",
	})
	e.attested = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aurora_provenance_records_attested_total",
		Help: "Job records in epochs that are signed, witnessed (at least one cosignature), dual-timestamped and pinned.",
	})
	e.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aurora_epoch_step_failures_total",
		Help: "Failed epoch steps (witness, pin, announce); a failed pin is retried in the background.",
	}, []string{"step"})
	for _, step := range []string{stepWitness, stepPin, stepAnnounce} {
		e.failures.WithLabelValues(step)
	}
	e.backlog = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "aurora_epoch_pin_backlog",
		Help: "Closed epochs not pinned yet (their pins are retried in order).",
	})
	e.pinKick = make(chan struct{}, 1)
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{e.duration, e.records, e.attested, e.failures, e.backlog} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("provenance: epochs metrics: %w", err)
			}
		}
	}
	for i := range e.pending {
		e.pending[i] = make(map[uint64][32]byte)
		e.kick[i] = make(chan struct{}, 1)
	}
	if err := e.recover(ctx); err != nil {
		return nil, err
	}
	e.life, e.stop = context.WithCancel(context.Background())
	if cfg.Pin != nil {
		e.wg.Add(1)
		go e.pinWorker()
	}
	for i, ts := range cfg.Timestampers {
		if ts != nil {
			e.wg.Add(1)
			go e.tsaWorker(i, ts)
		}
	}
	return e, nil
}

// Close stops Run and the TSA workers and waits for them. Pending TSA work
// resumes at the next NewEpochs.
func (e *Epochs) Close() error {
	e.closeOnce.Do(func() {
		e.stop()
		e.wg.Wait()
	})
	return nil
}

// Run closes an epoch every Interval until ctx is done or Close is called.
// It first finishes an epoch a crash interrupted. Errors are logged; the
// next tick retries.
func (e *Epochs) Run(ctx context.Context) error {
	if e.life.Err() != nil {
		return nil
	}
	e.wg.Add(1)
	defer e.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.life, cancel)()
	if err := e.catchUp(ctx); err != nil && ctx.Err() == nil {
		e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "provenance: epoch catch-up", slog.Any("error", err))
	}
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := e.CloseEpoch(ctx); err != nil && !errors.Is(err, ErrNoNewLeaves) && ctx.Err() == nil {
				e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "provenance: close epoch", slog.Any("error", err))
			}
		}
	}
}

// ErrNoNewLeaves is returned by CloseEpoch when the log has not grown since
// the last epoch (and no tsa leaf was due): no epoch is created.
var ErrNoNewLeaves = errors.New("provenance: no new leaves since the last epoch")

// StateError reports persisted state that contradicts the log: what the
// startup consistency check found.
type StateError struct {
	Epoch  uint64
	Reason string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("provenance: epoch state inconsistent at epoch %d: %s", e.Epoch, e.Reason)
}

// load reads epoch n (ErrNotFound if absent).
func (e *Epochs) load(ctx context.Context, n uint64) (*epochRecord, error) {
	v, ok, err := get(ctx, e.log.ds, epochKey(n))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: epoch %d", ErrNotFound, n)
	}
	var r epochRecord
	if err := evDecMode.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("provenance: epoch %d record: %w", n, err)
	}
	return &r, nil
}

func (e *Epochs) latestNum(ctx context.Context) (uint64, error) {
	v, ok, err := get(ctx, e.log.ds, datastore.RawKey(keyEpochLatest))
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("provenance: latest epoch record is %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func (e *Epochs) putRecord(ctx context.Context, w datastore.Write, r *epochRecord) error {
	b, err := evEncMode.Marshal(r)
	if err != nil {
		return err
	}
	return w.Put(ctx, epochKey(r.Epoch), b)
}

// update applies fn to epoch n's record under recMu and stores it.
func (e *Epochs) update(ctx context.Context, n uint64, fn func(r *epochRecord)) (*epochRecord, error) {
	e.recMu.Lock()
	defer e.recMu.Unlock()
	r, err := e.load(ctx, n)
	if err != nil {
		return nil, err
	}
	wasAttested := r.Attested
	fn(r)
	newlyAttested := !wasAttested && r.attestedNow()
	if newlyAttested {
		r.Attested = true
	}
	if err := e.putRecord(ctx, e.log.ds, r); err != nil {
		return nil, fmt.Errorf("provenance: store epoch %d: %w", n, err)
	}
	if newlyAttested {
		e.attested.Add(float64(r.Jobs))
		e.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "provenance: epoch attested", slog.Uint64("epoch", n), slog.Uint64("jobs", r.Jobs))
	}
	return r, nil
}

// Check is the startup consistency check: the latest epoch record opens
// with the log's key, its size is within the log and its root is the log's
// root at that size, epochs are contiguous, and the log's latest checkpoint
// is that epoch's or (after a crash between signing and recording) newer.
func (e *Epochs) Check(ctx context.Context) error {
	n, err := e.latestNum(ctx)
	if err != nil {
		return err
	}
	cp, cpErr := e.log.LatestCheckpoint(ctx)
	if cpErr != nil && !errors.Is(cpErr, ErrNotFound) {
		return cpErr
	}
	if n == 0 {
		return nil
	}
	r, err := e.load(ctx, n)
	if err != nil {
		return &StateError{Epoch: n, Reason: err.Error()}
	}
	if r.Epoch != n {
		return &StateError{Epoch: n, Reason: fmt.Sprintf("record says epoch %d", r.Epoch)}
	}
	if r.End > e.log.Size() {
		return &StateError{Epoch: n, Reason: fmt.Sprintf("epoch ends at %d but the log has %d leaves: leaves were lost", r.End, e.log.Size())}
	}
	rc, err := OpenCheckpoint(r.Note, e.log.Origin(), e.log.Verifier())
	if err != nil {
		return &StateError{Epoch: n, Reason: "checkpoint: " + err.Error()}
	}
	root, err := e.log.RootAt(ctx, r.End)
	if err != nil {
		return &StateError{Epoch: n, Reason: err.Error()}
	}
	if rc.Size != r.End || rc.Root != root {
		return &StateError{Epoch: n, Reason: fmt.Sprintf("checkpoint (size %d) does not match the log's tree at %d", rc.Size, r.End)}
	}
	if n > 1 {
		p, err := e.load(ctx, n-1)
		if err != nil {
			return &StateError{Epoch: n, Reason: "previous epoch: " + err.Error()}
		}
		if p.End != r.Start {
			return &StateError{Epoch: n, Reason: fmt.Sprintf("starts at %d, previous epoch ends at %d", r.Start, p.End)}
		}
	}
	if r.Pinned && r.Root != "" {
		if _, err := parseRootCID(r.Root); err != nil {
			return &StateError{Epoch: n, Reason: "pinned root: " + err.Error()}
		}
	}
	if cpErr == nil && cp.Size < r.End {
		return &StateError{Epoch: n, Reason: fmt.Sprintf("log's latest checkpoint (size %d) is older than the epoch's", cp.Size)}
	}
	return nil
}

// recover runs Check, adopts a checkpoint signed but not yet recorded, and
// queues TSA work for recent epochs that lack tokens.
func (e *Epochs) recover(ctx context.Context) error {
	if err := e.Check(ctx); err != nil {
		return err
	}
	n, err := e.latestNum(ctx)
	if err != nil {
		return err
	}
	cp, err := e.log.LatestCheckpoint(ctx)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	default:
		var start uint64
		var prev *epochRecord
		if n > 0 {
			r, err := e.load(ctx, n)
			if err != nil {
				return err
			}
			start, prev = r.End, r
			if cp.Size == r.End && !bytes.Equal(cp.Note, r.Note) {
				// Crash after merging cosignatures into the log's
				// checkpoint, before recording them.
				if _, err := e.update(ctx, n, func(r *epochRecord) { r.Note = cp.Note }); err != nil {
					return err
				}
			}
		}
		if cp.Size > start {
			// The log may have grown after that checkpoint: count.
			if _, err := e.record(ctx, n+1, start, cp, nil, prev); err != nil {
				return err
			}
			e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "provenance: adopted checkpoint signed before a crash",
				slog.Uint64("epoch", n+1), slog.Uint64("size", cp.Size))
			n++
		}
	}
	for k := n; k > 0 && n-k < MaxPendingTSAEpochs; k-- {
		r, err := e.load(ctx, k)
		if err != nil {
			return err
		}
		e.queueTSA(r)
	}
	// Pins go in epoch order, so the unpinned epochs are the latest ones:
	// the backlog a failing pin left.
	k := n
	for ; k > 0; k-- {
		r, err := e.load(ctx, k)
		if err != nil {
			return err
		}
		if r.Pinned {
			break
		}
	}
	e.pinMu.Lock()
	e.pinnedTo = k
	e.backlog.Set(float64(n - k))
	e.pinMu.Unlock()
	return nil
}

// record creates the record of epoch n covering [start, cp.Size). Its job
// leaves are the difference of the log's job counts (jobsTotal, at
// cp.Size, and the previous epoch's); without both, it counts them as it
// streams the leaves.
func (e *Epochs) record(ctx context.Context, n, start uint64, cp Checkpoint, jobsTotal *uint64, prev *epochRecord) (*epochRecord, error) {
	var jobs uint64
	switch {
	case jobsTotal != nil && prev == nil:
		jobs = *jobsTotal
	case jobsTotal != nil && prev.JobsTotal != nil && *jobsTotal >= *prev.JobsTotal:
		jobs = *jobsTotal - *prev.JobsTotal
	default:
		err := e.log.ReadLeaves(ctx, start, cp.Size, func(_ uint64, lf []byte) error {
			if isJobLeaf(lf) {
				jobs++
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if prev != nil && prev.JobsTotal != nil {
			t := *prev.JobsTotal + jobs
			jobsTotal = &t
		}
	}
	r := &epochRecord{V: 1, Epoch: n, Start: start, End: cp.Size, Jobs: jobs, JobsTotal: jobsTotal, Note: cp.Note,
		Tokens: make([][]byte, len(e.cfg.Timestampers)), ClosedAt: e.cfg.Clock.Now().Unix()}
	for i := range r.Tokens {
		r.Tokens[i] = []byte{}
	}
	e.recMu.Lock()
	defer e.recMu.Unlock()
	err := write(ctx, e.log.ds, func(w datastore.Write) error {
		if err := e.putRecord(ctx, w, r); err != nil {
			return err
		}
		return w.Put(ctx, datastore.RawKey(keyEpochLatest), binary.BigEndian.AppendUint64(nil, n))
	})
	if err != nil {
		return nil, fmt.Errorf("provenance: record epoch %d: %w", n, err)
	}
	e.records.Add(float64(jobs))
	return r, nil
}

// jobPrefix starts the canonical dag-cbor of LogEntry{Job: …}: a map of one
// entry whose key is the 3-byte text "job".
var jobPrefix = []byte{0xa1, 0x63, 'j', 'o', 'b'}

func isJobLeaf(b []byte) bool { return bytes.HasPrefix(b, jobPrefix) }

// CloseEpoch closes an epoch now. It first finishes any phase of the
// previous epoch a crash interrupted. If the log did not grow, it creates
// no epoch and calls no TSA (ErrNoNewLeaves), but every Heartbeat it asks
// the witnesses to cosign the unchanged checkpoint again. Otherwise it
// appends a tsa leaf for epochs whose tokens arrived, signs a checkpoint,
// asks witnesses to cosign it, pins the epoch root and gossips the anchor,
// persisting each phase, and queues the checkpoint for timestamping.
//
// A failed pin does not fail the epoch: it is counted
// (aurora_epoch_step_failures_total{step="pin"}), logged and retried in the
// background with backoff, later epochs are pinned in order after it, and
// epochs closed meanwhile are announced without a root. A failed announce
// is counted and logged, and retried at the next close only while its
// epoch is the latest.
func (e *Epochs) CloseEpoch(ctx context.Context) (EpochStatus, error) {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	start := e.cfg.Clock.Now()
	if err := e.catchUpLocked(ctx); err != nil {
		return EpochStatus{}, err
	}
	n, err := e.latestNum(ctx)
	if err != nil {
		return EpochStatus{}, err
	}
	var prev *epochRecord
	if n > 0 {
		if prev, err = e.load(ctx, n); err != nil {
			return EpochStatus{}, err
		}
	}
	var startLeaf uint64
	if prev != nil {
		startLeaf = prev.End
	}
	if e.log.Size() == startLeaf {
		// Idle: tsa leaves alone would make an epoch, whose tokens would
		// make another tsa leaf, forever.
		if prev != nil {
			if err := e.heartbeat(ctx, prev); err != nil {
				return EpochStatus{}, err
			}
		}
		return EpochStatus{}, ErrNoNewLeaves
	}
	if err := e.appendTSALeaves(ctx, n); err != nil {
		return EpochStatus{}, err
	}
	cp, jobsTotal, err := e.log.checkpointJobs(ctx)
	if err != nil {
		return EpochStatus{}, err
	}
	r, err := e.record(ctx, n+1, startLeaf, cp, &jobsTotal, prev)
	if err != nil {
		return EpochStatus{}, err
	}
	r, err = e.finish(ctx, r)
	if err == nil {
		e.duration.Observe(e.cfg.Clock.Now().Sub(start).Seconds())
	}
	if r == nil {
		return EpochStatus{}, err
	}
	return r.status(), err
}

func (e *Epochs) catchUp(ctx context.Context) error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	return e.catchUpLocked(ctx)
}

// catchUpLocked finishes the phases of the latest epoch.
func (e *Epochs) catchUpLocked(ctx context.Context) error {
	n, err := e.latestNum(ctx)
	if err != nil || n == 0 {
		return err
	}
	r, err := e.load(ctx, n)
	if err != nil {
		return err
	}
	if r.Witnessed && r.Announced {
		if !r.Pinned {
			e.kickPins() // pins go in order: the latest unpinned means a backlog
		}
		return nil
	}
	e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "provenance: finishing interrupted epoch", slog.Uint64("epoch", n),
		slog.Bool("witnessed", r.Witnessed), slog.Bool("pinned", r.Pinned), slog.Bool("announced", r.Announced))
	_, err = e.finish(ctx, r)
	return err
}

// Step names, the step label of aurora_epoch_step_failures_total.
const (
	stepWitness  = "witness"
	stepPin      = "pin"
	stepAnnounce = "announce"
)

// finish queues TSA work and runs the phases r has not completed: witness
// round, pin (in epoch order; a failure is left to the background
// retries), announce (a failure is logged and counted).
func (e *Epochs) finish(ctx context.Context, r *epochRecord) (*epochRecord, error) {
	e.queueTSA(r)
	if !r.Witnessed {
		prevSize, err := e.prevSize(ctx, r)
		if err != nil {
			return r, err
		}
		if r, err = e.witness(ctx, r, prevSize); err != nil {
			e.failures.WithLabelValues(stepWitness).Inc()
			return r, err
		}
	}
	if !r.Pinned {
		r = e.pinInline(ctx, r)
	}
	if !r.Announced {
		ar, err := e.announce(ctx, r)
		if err != nil {
			e.failures.WithLabelValues(stepAnnounce).Inc()
			e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "provenance: announce failed, retried at the next close if still the latest epoch",
				slog.Uint64("epoch", r.Epoch), slog.Any("error", err))
			return r, nil
		}
		r = ar
	}
	return r, nil
}

// prevSize is the size of the epoch before r's: what a witness that
// cosigned it has stored.
func (e *Epochs) prevSize(ctx context.Context, r *epochRecord) (uint64, error) {
	if r.Epoch <= 1 {
		return 0, nil
	}
	p, err := e.load(ctx, r.Epoch-1)
	if err != nil {
		return 0, err
	}
	return p.End, nil
}

// heartbeat witnesses the unchanged latest checkpoint again when the last
// witness round is Heartbeat old.
func (e *Epochs) heartbeat(ctx context.Context, r *epochRecord) error {
	if e.cfg.Heartbeat < 0 || e.cfg.Witnesses == nil || !r.Witnessed {
		return nil
	}
	last := r.WitnessedAt
	if last == 0 {
		last = r.ClosedAt
	}
	if e.cfg.Clock.Now().Sub(time.Unix(last, 0)) < e.cfg.Heartbeat {
		return nil
	}
	nr, err := e.witness(ctx, r, r.End)
	if err != nil {
		e.failures.WithLabelValues(stepWitness).Inc()
		return err
	}
	e.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "provenance: heartbeat: unchanged checkpoint witnessed again",
		slog.Uint64("epoch", r.Epoch), slog.Uint64("size", r.End), slog.Uint64("cosigs", nr.Cosigs))
	return nil
}

// witness asks the witnesses to cosign r's checkpoint; prevSize is the
// size they are expected to have stored.
func (e *Epochs) witness(ctx context.Context, r *epochRecord, prevSize uint64) (*epochRecord, error) {
	note := r.Note
	var cosigs uint64
	if e.cfg.Witnesses != nil {
		cp, err := OpenCheckpoint(r.Note, e.log.Origin(), e.log.Verifier())
		if err != nil {
			return r, err
		}
		req := WitnessRequest{Checkpoint: cp, PrevSize: prevSize, Body: func(ctx context.Context, old uint64) ([]byte, error) {
			if old > cp.Size {
				return nil, fmt.Errorf("%w: old %d, checkpoint %d", ErrOldSizeTooLarge, old, cp.Size)
			}
			p, err := e.log.ConsistencyProof(ctx, old, cp.Size)
			if err != nil {
				return nil, err
			}
			return CosignRequest(old, p, cp.Note), nil
		}}
		sctx, cancel := context.WithTimeout(ctx, e.cfg.StepTimeout)
		responses := e.cfg.Witnesses(sctx, req)
		cancel()
		note, cosigs = e.mergeCosignatures(ctx, cp, responses)
		if cosigs > 0 {
			if _, err := e.log.UpdateCosigned(ctx, note); err != nil {
				return r, err
			}
		}
	}
	at := e.cfg.Clock.Now().Unix()
	return e.update(ctx, r.Epoch, func(r *epochRecord) {
		if r.Witnessed && cosigs == 0 {
			r.WitnessedAt = at // a heartbeat nobody answered keeps the earlier cosignatures
			return
		}
		r.Note, r.Cosigs, r.Witnessed, r.WitnessedAt = note, cosigs, true, at
	})
}

// mergeCosignatures merges the responses' signature lines that verify under
// WitnessKeys into cp's note, within MaxNoteSignatures, and returns the
// merged note and the number of trusted cosignatures on it.
func (e *Epochs) mergeCosignatures(ctx context.Context, cp Checkpoint, responses [][]byte) ([]byte, uint64) {
	merged := cp.Note
	body := cp.Body()
	for _, resp := range responses {
		sigs, err := parseSigLines(resp)
		if err != nil {
			e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "provenance: bad witness response", slog.Any("error", err))
			continue
		}
		for _, s := range sigs {
			v := e.witnessKey(s)
			if v == nil {
				e.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "provenance: cosignature by unknown witness dropped", slog.String("witness", s.Name))
				continue
			}
			if !v.Verify(body, s.Sig) {
				e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "provenance: invalid cosignature dropped", slog.String("witness", s.Name))
				continue
			}
			m, err := MergeCosignatures(merged, []byte(s.Line()))
			if err != nil {
				e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "provenance: cosignature not merged", slog.String("witness", s.Name), slog.Any("error", err))
				continue
			}
			merged = m
		}
	}
	cos, err := VerifyCosignatures(Checkpoint{Note: merged}, e.witnessKeys())
	if err != nil {
		// Cannot happen: every merged line verified. Fall back to the
		// log-signed note rather than publish a bad one.
		e.cfg.Logger.LogAttrs(ctx, slog.LevelError, "provenance: merged note does not verify", slog.Any("error", err))
		return cp.Note, 0
	}
	return merged, uint64(len(cos))
}

func (e *Epochs) witnessKeys() []*CosignatureVerifier {
	if e.cfg.WitnessKeysFunc != nil {
		return e.cfg.WitnessKeysFunc()
	}
	return e.cfg.WitnessKeys
}

func (e *Epochs) witnessKey(s NoteSignature) *CosignatureVerifier {
	for _, v := range e.witnessKeys() {
		if v != nil && v.Name() == s.Name && v.KeyHash() == s.KeyHash {
			return v
		}
	}
	return nil
}

// pinInline pins r now if it is next in line, no earlier failure is being
// retried and the background worker is not pinning; otherwise (or if the
// pin fails) the worker pins it in order. It never waits for the worker, so
// a slow or failing pin cannot hold up a checkpoint. It returns r as
// stored.
func (e *Epochs) pinInline(ctx context.Context, r *epochRecord) *epochRecord {
	if !e.pinMu.TryLock() {
		e.kickPins()
		return r
	}
	defer e.pinMu.Unlock()
	e.backlog.Set(float64(r.Epoch - e.pinnedTo))
	if r.Epoch != e.pinnedTo+1 || e.pinFails > 0 {
		e.kickPins()
		return r
	}
	nr, err := e.pinNextLocked(ctx)
	if err != nil {
		e.kickPins()
		return r
	}
	return nr
}

func (e *Epochs) kickPins() {
	select {
	case e.pinKick <- struct{}{}:
	default:
	}
}

// pinNextLocked pins epoch pinnedTo+1, counting and logging a failure.
func (e *Epochs) pinNextLocked(ctx context.Context) (*epochRecord, error) {
	k := e.pinnedTo + 1
	r, err := e.load(ctx, k)
	if err != nil {
		return nil, err
	}
	nr, err := e.pin(ctx, r)
	if err != nil {
		e.pinFails++
		e.failures.WithLabelValues(stepPin).Inc()
		level := slog.LevelWarn
		if e.pinFails >= pinErrorAfter {
			level = slog.LevelError
		}
		e.cfg.Logger.LogAttrs(ctx, level, "provenance: pin failed, retrying in the background",
			slog.Uint64("epoch", k), slog.Int("attempts", e.pinFails), slog.Any("error", err))
		return nil, err
	}
	if e.pinFails > 0 {
		e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "provenance: pin succeeded after retries",
			slog.Uint64("epoch", k), slog.Int("failed_attempts", e.pinFails))
	}
	e.pinFails = 0
	e.pinnedTo = k
	if latest, err := e.latestNum(ctx); err == nil {
		e.backlog.Set(float64(latest - k))
	}
	return nr, nil
}

// pinWorker pins the backlog of epochs in order, waiting PinRetry (doubling
// up to 5 min) after each failure, until Close.
func (e *Epochs) pinWorker() {
	defer e.wg.Done()
	ctx := e.life
	for {
		e.pinMu.Lock()
		fails := e.pinFails
		e.pinMu.Unlock()
		if fails > 0 {
			delay := e.cfg.PinRetry
			for i := 1; i < fails && delay < maxPinRetry; i++ {
				delay *= 2
			}
			t := time.NewTimer(min(delay, maxPinRetry))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		} else {
			select {
			case <-ctx.Done():
				return
			case <-e.pinKick:
			}
		}
		for ctx.Err() == nil && e.pinOne(ctx) {
		}
	}
}

// pinOne pins the next epoch of the backlog if it is ready (witnessed; the
// close path witnesses before pinning) and reports whether it did.
func (e *Epochs) pinOne(ctx context.Context) bool {
	e.pinMu.Lock()
	defer e.pinMu.Unlock()
	latest, err := e.latestNum(ctx)
	if err != nil || e.pinnedTo >= latest {
		return false
	}
	r, err := e.load(ctx, e.pinnedTo+1)
	if err != nil || !r.Witnessed {
		return false
	}
	if r.Pinned { // pinned before a crash; the record says so
		e.pinnedTo++
		return true
	}
	_, err = e.pinNextLocked(ctx)
	return err == nil
}

// pin builds and pins epoch r's root (the previous epoch is pinned: pins go
// in order) and records it.
func (e *Epochs) pin(ctx context.Context, r *epochRecord) (*epochRecord, error) {
	var root string
	if e.cfg.Pin != nil {
		info := EpochInfo{Epoch: r.Epoch, Origin: e.log.Origin(), Start: r.Start, End: r.End, Checkpoint: r.Note,
			Leaves: func(ctx context.Context, fn func(uint64, []byte) error) error {
				return e.log.ReadLeaves(ctx, r.Start, r.End, fn)
			}}
		if r.Epoch > 1 {
			p, err := e.load(ctx, r.Epoch-1)
			if err != nil {
				return r, err
			}
			info.Prev = p.Root
			for _, t := range p.Tokens {
				if len(t) > 0 {
					info.PrevTokens = append(info.PrevTokens, t)
				}
			}
		}
		sctx, cancel := context.WithTimeout(ctx, e.cfg.PinTimeout)
		c, err := e.cfg.Pin(sctx, info)
		cancel()
		if err != nil {
			return r, fmt.Errorf("provenance: pin epoch %d: %w", r.Epoch, err)
		}
		if _, err := parseRootCID(c); err != nil {
			return r, fmt.Errorf("provenance: pin epoch %d: %w", r.Epoch, err)
		}
		root = c
	}
	return e.update(ctx, r.Epoch, func(r *epochRecord) { r.Pinned, r.Root = true, root })
}

func (e *Epochs) announce(ctx context.Context, r *epochRecord) (*epochRecord, error) {
	if e.cfg.Announce != nil {
		cp, err := OpenCheckpoint(r.Note, e.log.Origin(), e.log.Verifier())
		if err != nil {
			return r, err
		}
		var tokens [][]byte
		for _, t := range r.Tokens {
			if len(t) > 0 {
				tokens = append(tokens, t)
			}
		}
		a, err := NewAnchor(cp, r.Root, tokens)
		if err != nil {
			return r, err
		}
		sctx, cancel := context.WithTimeout(ctx, e.cfg.StepTimeout)
		err = e.cfg.Announce(sctx, a)
		cancel()
		if err != nil {
			return r, fmt.Errorf("provenance: announce epoch %d: %w", r.Epoch, err)
		}
	}
	return e.update(ctx, r.Epoch, func(r *epochRecord) { r.Announced = true })
}

// appendTSALeaves appends a tsa leaf for every recent epoch whose tokens
// are all in and not yet logged, marking them in the same transaction.
func (e *Epochs) appendTSALeaves(ctx context.Context, latest uint64) error {
	e.recMu.Lock()
	defer e.recMu.Unlock()
	var due []*epochRecord
	for k := latest; k > 0 && latest-k < MaxPendingTSAEpochs; k-- {
		r, err := e.load(ctx, k)
		if err != nil {
			return err
		}
		if !r.TSALogged && len(r.Tokens) > 0 && r.tokensDone() {
			due = append(due, r)
		}
	}
	if len(due) == 0 {
		return nil
	}
	sort.Slice(due, func(i, j int) bool { return due[i].Epoch < due[j].Epoch })
	leaves := make([][]byte, 0, len(due))
	for _, r := range due {
		cp, err := ParseCheckpointBody(noteText(r.Note))
		if err != nil {
			return err
		}
		d := cp.Digest()
		ent := &treaty.TSAEntry{Size: int64(r.End), CheckpointSHA256: d[:], At: e.cfg.Clock.Now().Unix()}
		for _, t := range r.Tokens {
			s := sha256.Sum256(t)
			ent.TokensSHA256 = append(ent.TokensSHA256, s[:])
		}
		lf, err := treaty.Encode(&treaty.LogEntry{TSA: ent})
		if err != nil {
			return err
		}
		leaves = append(leaves, lf)
		r.TSALogged = true
	}
	_, err := e.log.appendWith(ctx, leaves, func(_ uint64, w datastore.Write) error {
		for _, r := range due {
			if err := e.putRecord(ctx, w, r); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// noteText returns the text part of a signed note (before the blank line).
func noteText(signed []byte) []byte {
	if i := bytes.LastIndex(signed, []byte("\n\n")); i >= 0 {
		return signed[:i+1]
	}
	return signed
}

// queueTSA adds r to the pending set of every TSA whose token it lacks.
func (e *Epochs) queueTSA(r *epochRecord) {
	cp, err := ParseCheckpointBody(noteText(r.Note))
	if err != nil {
		return
	}
	d := cp.Digest()
	e.pendMu.Lock()
	defer e.pendMu.Unlock()
	for i, ts := range e.cfg.Timestampers {
		if ts == nil || i >= len(r.Tokens) || len(r.Tokens[i]) > 0 {
			continue
		}
		p := e.pending[i]
		if _, ok := p[r.Epoch]; ok {
			continue
		}
		p[r.Epoch] = d
		if len(p) > MaxPendingTSAEpochs {
			oldest := r.Epoch
			for k := range p {
				oldest = min(oldest, k)
			}
			delete(p, oldest)
			e.cfg.Logger.LogAttrs(context.Background(), slog.LevelWarn, "provenance: TSA backlog full, epoch left unattested",
				slog.Int("tsa", i), slog.Uint64("epoch", oldest))
		}
		select {
		case e.kick[i] <- struct{}{}:
		default:
		}
	}
}

// nextPending returns the newest epoch waiting for TSA i.
func (e *Epochs) nextPending(i int) (uint64, [32]byte, bool) {
	e.pendMu.Lock()
	defer e.pendMu.Unlock()
	var best uint64
	var d [32]byte
	for k, v := range e.pending[i] {
		if k > best {
			best, d = k, v
		}
	}
	return best, d, best > 0
}

func (e *Epochs) donePending(i int, epoch uint64) {
	e.pendMu.Lock()
	defer e.pendMu.Unlock()
	delete(e.pending[i], epoch)
}

// tsaWorker obtains tokens from TSA i for pending epochs, newest first,
// retrying failures with exponential backoff until Close.
func (e *Epochs) tsaWorker(i int, ts Timestamper) {
	defer e.wg.Done()
	ctx := e.life
	backoff := e.cfg.TSARetry
	for {
		epoch, digest, ok := e.nextPending(i)
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-e.kick[i]:
				continue
			}
		}
		err := e.timestamp(ctx, i, ts, epoch, digest)
		if err == nil {
			e.donePending(i, epoch)
			backoff = e.cfg.TSARetry
			continue
		}
		if ctx.Err() != nil {
			return
		}
		e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "provenance: timestamp failed, will retry",
			slog.Int("tsa", i), slog.Uint64("epoch", epoch), slog.Duration("retry_in", backoff), slog.Any("error", err))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxTSARetry)
	}
}

func (e *Epochs) timestamp(ctx context.Context, i int, ts Timestamper, epoch uint64, digest [32]byte) error {
	sctx, cancel := context.WithTimeout(ctx, e.cfg.StepTimeout)
	tok, err := ts.Timestamp(sctx, digest)
	cancel()
	if err != nil {
		return err
	}
	if len(tok) == 0 || len(tok) > MaxTSATokenSize {
		return fmt.Errorf("provenance: TSA %d returned a %d-byte token, want 1 to %d", i, len(tok), MaxTSATokenSize)
	}
	if e.cfg.TSAVerifier != nil {
		if _, err := e.cfg.TSAVerifier.VerifyToken(tok, digest); err != nil {
			return fmt.Errorf("provenance: TSA %d token does not verify: %w", i, err)
		}
	}
	_, err = e.update(ctx, epoch, func(r *epochRecord) {
		if i < len(r.Tokens) && len(r.Tokens[i]) == 0 {
			r.Tokens[i] = tok
		}
	})
	return err
}

// Latest returns the status of the latest epoch (ErrNotFound before the
// first).
func (e *Epochs) Latest(ctx context.Context) (EpochStatus, error) {
	n, err := e.latestNum(ctx)
	if err != nil {
		return EpochStatus{}, err
	}
	if n == 0 {
		return EpochStatus{}, fmt.Errorf("%w: no epoch yet", ErrNotFound)
	}
	return e.Epoch(ctx, n)
}

// Epoch returns the status of epoch n.
func (e *Epochs) Epoch(ctx context.Context, n uint64) (EpochStatus, error) {
	r, err := e.load(ctx, n)
	if err != nil {
		return EpochStatus{}, err
	}
	return r.status(), nil
}

// bundleSearch bounds how many later epochs Bundle looks through for an
// attested checkpoint.
const bundleSearch = 16

// Bundle builds the proof bundle of leaf index with the checkpoint, TSA
// tokens and root CID of an epoch that covers it: the first attested epoch
// at or after the leaf's own (within 16 epochs), else the latest epoch.
func (e *Epochs) Bundle(ctx context.Context, index uint64) (*Bundle, error) {
	latest, err := e.latestNum(ctx)
	if err != nil {
		return nil, err
	}
	if latest == 0 {
		return nil, fmt.Errorf("%w: no epoch yet", ErrNotFound)
	}
	// Binary search the epoch whose range holds index.
	lo, hi := uint64(1), latest
	last, err := e.load(ctx, latest)
	if err != nil {
		return nil, err
	}
	if index >= last.End {
		return nil, fmt.Errorf("%w: leaf %d is not in a closed epoch yet", ErrNotFound, index)
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		r, err := e.load(ctx, mid)
		if err != nil {
			return nil, err
		}
		if r.End <= index {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	chosen := last
	for k := lo; k <= latest && k < lo+bundleSearch; k++ {
		r, err := e.load(ctx, k)
		if err != nil {
			return nil, err
		}
		if r.Attested {
			chosen = r
			break
		}
	}
	cp, err := OpenCheckpoint(chosen.Note, e.log.Origin(), e.log.Verifier())
	if err != nil {
		return nil, err
	}
	b, err := e.log.bundleAt(ctx, index, cp)
	if err != nil {
		return nil, err
	}
	b.Root = chosen.Root
	for _, t := range chosen.Tokens {
		if len(t) > 0 {
			b.TSA = append(b.TSA, t)
		}
	}
	return b, nil
}
