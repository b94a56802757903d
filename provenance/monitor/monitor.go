// Package monitor follows tiled provenance logs (C2SP tlog-tiles) the way a
// third party would: it fetches each signed checkpoint, verifies the log's
// signature and the witness cosignatures against a trust policy, clones the
// log's entries from its entry bundles, recomputes the tree and requires the
// checkpoint's root, checks that each checkpoint extends the previous one,
// and decodes the job records it can. What it finds wrong is a *Finding:
// equivocation (with provenance.Evidence anyone can check), a rollback, a
// missing or wrong tile, a bad signature, an unmet quorum.
//
// It is pure: the HTTP fetcher is provenance/c2sphttp.Client and the command
// is `aurora monitor`.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/aurora-federation/aurora/clock"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/tiles"
	"github.com/aurora-federation/aurora/treaty"
)

// Fetcher fetches a log resource by its tlog-tiles path ("checkpoint",
// "tile/0/000", "tile/entries/001.p/7"). A missing resource is an error
// wrapping tiles.ErrNotFound. *c2sphttp.Client is one.
type Fetcher interface {
	Fetch(ctx context.Context, path string) ([]byte, error)
}

// FetcherFunc adapts a function to Fetcher.
type FetcherFunc func(ctx context.Context, path string) ([]byte, error)

// Fetch calls f.
func (f FetcherFunc) Fetch(ctx context.Context, path string) ([]byte, error) { return f(ctx, path) }

// Kinds of Finding.
const (
	KindEquivocation  = "equivocation"   // two signed checkpoints that cannot both be honest (Evidence set)
	KindRollback      = "rollback"       // a signed checkpoint smaller than one seen before
	KindMissingTile   = "missing-tile"   // a tile or entry bundle the checkpoint requires is not served
	KindBadTile       = "bad-tile"       // served tiles or entries do not reproduce the signed root
	KindBadCheckpoint = "bad-checkpoint" // the checkpoint does not parse or is not signed by the log's key
	KindCosignature   = "cosignature"    // a trusted witness's cosignature does not verify
	KindQuorum        = "quorum"         // the cosignatures do not meet the policy's quorum
)

// Finding is something wrong with a log, as the monitor saw it. It is an
// error so that callers stop on it; Kind says what it is.
type Finding struct {
	Kind   string
	Origin string
	Detail string
	// Path is the tile at fault (missing-tile, bad-tile).
	Path string
	// Evidence proves an equivocation (KindEquivocation): provenance.
	// VerifyEvidence checks it with the log's key alone.
	Evidence *provenance.Evidence
	Err      error
}

func (f *Finding) Error() string {
	s := fmt.Sprintf("monitor: %s: %s: %s", f.Origin, f.Kind, f.Detail)
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}

func (f *Finding) Unwrap() error { return f.Err }

// Config configures a Follower for one log.
type Config struct {
	// Origin and Verifier identify the log. Required.
	Origin   string
	Verifier note.Verifier
	// Fetcher reads the log's tiles. Required.
	Fetcher Fetcher
	// WitnessKeys and Quorum are the witness policy (provenance/trust);
	// a nil Quorum requires no cosignature, but cosignatures by the keys
	// given must still verify.
	WitnessKeys []*provenance.CosignatureVerifier
	Quorum      provenance.Quorum
	// QuorumRetry is how long to wait before fetching the checkpoint again
	// when it lacks the quorum (a node serves its checkpoint before its
	// witness round completes). Default 2 s; negative does not retry.
	QuorumRetry time.Duration
	// Parallel is how many entry bundles are fetched at once. Default 8.
	Parallel int
	// OnEntry, if set, sees every leaf in log order with its decoded entry
	// (nil when the leaf is not a treaty.LogEntry).
	OnEntry func(index uint64, leaf []byte, entry *treaty.LogEntry)
	// Clock waits between retries; nil is the system clock.
	Clock clock.Clock
	// Metrics receives the follower's counters; nil counts nothing.
	Metrics *Metrics
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
}

// Follower follows one log. It is not safe for concurrent use: one
// goroutine calls Poll.
type Follower struct {
	cfg Config
	rf  *compact.RangeFactory

	cp     provenance.Checkpoint // the latest verified checkpoint (Size 0: none yet)
	have   bool
	cr     *compact.Range // the tree of the leaves cloned so far, [0, cp.Size)
	counts map[string]uint64
}

// New returns a Follower for cfg.
func New(cfg Config) (*Follower, error) {
	if cfg.Origin == "" || cfg.Verifier == nil || cfg.Fetcher == nil {
		return nil, errors.New("monitor: config: Origin, Verifier and Fetcher are required")
	}
	if cfg.Verifier.Name() != cfg.Origin {
		return nil, fmt.Errorf("monitor: config: the key is named %q, not the origin %q", cfg.Verifier.Name(), cfg.Origin)
	}
	if cfg.QuorumRetry == 0 {
		cfg.QuorumRetry = 2 * time.Second
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	return &Follower{cfg: cfg, rf: rf, cr: rf.NewEmptyRange(0), counts: map[string]uint64{}}, nil
}

// Checkpoint returns the latest checkpoint the follower verified, and
// whether there is one.
func (f *Follower) Checkpoint() (provenance.Checkpoint, bool) { return f.cp, f.have }

// Counts returns how many leaves of each kind ("job", "anchor", "tsa",
// "undecodable") the follower cloned.
func (f *Follower) Counts() map[string]uint64 {
	out := make(map[string]uint64, len(f.counts))
	for k, v := range f.counts {
		out[k] = v
	}
	return out
}

// Update is the result of a Poll.
type Update struct {
	Origin      string
	From, To    uint64 // the sizes before and after
	Cosigned    []provenance.Cosignature
	NewEntries  uint64
	FirstUpdate bool
}

// Poll fetches the log's checkpoint and verifies it against the last one:
// signature, cosignatures, size, and (for a larger one) the new entries,
// which must reproduce the new root from the old tree. It returns a
// *Finding for anything wrong with the log, another error for failures to
// reach it; on any error the follower's state is unchanged.
func (f *Follower) Poll(ctx context.Context) (Update, error) {
	u, err := f.poll(ctx)
	if m := f.cfg.Metrics; m != nil {
		var fd *Finding
		switch {
		case errors.As(err, &fd):
			m.findings.WithLabelValues(f.cfg.Origin, fd.Kind).Inc()
		case err != nil:
			m.errors.WithLabelValues(f.cfg.Origin).Inc()
		default:
			m.size.WithLabelValues(f.cfg.Origin).Set(float64(u.To))
			m.last.WithLabelValues(f.cfg.Origin).Set(float64(f.cfg.Clock.Now().Unix()))
		}
	}
	return u, err
}

func (f *Follower) finding(kind, path, format string, args ...any) *Finding {
	return &Finding{Kind: kind, Origin: f.cfg.Origin, Path: path, Detail: fmt.Sprintf(format, args...)}
}

func (f *Follower) poll(ctx context.Context) (Update, error) {
	cp, cos, err := f.fetchCheckpoint(ctx)
	if err != nil {
		return Update{}, err
	}
	u := Update{Origin: f.cfg.Origin, From: f.cp.Size, To: cp.Size, Cosigned: cos, FirstUpdate: !f.have}
	if f.have {
		switch {
		case cp.Size < f.cp.Size:
			return Update{}, f.finding(KindRollback, "", "checkpoint of size %d after one of size %d", cp.Size, f.cp.Size)
		case cp.Size == f.cp.Size:
			if err := provenance.CheckConsistency(f.cp, cp, nil); err != nil {
				return Update{}, f.equivocation(err)
			}
			f.cp = cp // maybe more cosignatures
			return u, nil
		}
	}
	// The tree's hash tiles must be served and reproduce the root.
	hr := tlog.TileHashReader(tlog.Tree{N: int64(cp.Size), Hash: tlog.Hash(cp.Root)}, &tileReader{ctx: ctx, f: f.cfg.Fetcher})
	if cp.Size > 0 {
		if _, err := tlog.TreeHash(int64(cp.Size), hr); err != nil {
			return Update{}, f.tileError(err, "the hash tiles of size %d", cp.Size)
		}
	}
	// Clone the new entries onto the tree we have.
	var cr *compact.Range
	if f.cr == nil {
		// Resumed from a stored checkpoint: take the old tree's compact
		// range from the new tree's tiles, and require the old root.
		if cr, err = f.rangeFromTiles(hr, f.cp.Size); err != nil {
			return Update{}, f.tileError(err, "the hash tiles of size %d", f.cp.Size)
		}
		if r, err := cr.GetRootHash(nil); err != nil || [32]byte(r) != f.cp.Root {
			if err := f.inconsistent(hr, cp); err != nil {
				return Update{}, err
			}
			return Update{}, f.finding(KindBadTile, "", "the tiles of size %d do not give the root of the verified checkpoint of size %d", cp.Size, f.cp.Size)
		}
	} else if cr, err = f.rf.NewRange(0, f.cr.End(), append([][]byte(nil), f.cr.Hashes()...)); err != nil {
		return Update{}, err
	}
	counts := map[string]uint64{}
	if err := f.clone(ctx, cr, cp.Size, counts); err != nil {
		return Update{}, err
	}
	root := rfc6962.DefaultHasher.EmptyRoot()
	if cr.End() > 0 {
		if root, err = cr.GetRootHash(nil); err != nil {
			return Update{}, err
		}
	}
	if [32]byte(root) != cp.Root {
		if f.have && f.cp.Size > 0 {
			if err := f.inconsistent(hr, cp); err != nil {
				return Update{}, err
			}
		}
		return Update{}, f.finding(KindBadTile, "", "the entry bundles up to %d give root %x, the checkpoint says %x", cp.Size, root[:8], cp.Root[:8])
	}
	f.cr, f.cp, f.have = cr, cp, true
	for k, v := range counts {
		f.counts[k] += v
		if f.cfg.Metrics != nil {
			f.cfg.Metrics.entries.WithLabelValues(f.cfg.Origin, k).Add(float64(v))
		}
	}
	u.NewEntries = cp.Size - u.From
	return u, nil
}

// inconsistent asks the new tree's tiles (which x/mod authenticates against
// cp's root) for the consistency proof from the last verified checkpoint:
// if it proves the log rewrote what was verified, the finding carries the
// evidence. It returns nil when the tiles cannot tell.
func (f *Follower) inconsistent(hr tlog.HashReader, cp provenance.Checkpoint) error {
	// Did the log rewrite what we saw? Ask its tiles, which the
	// library authenticates against the new root, for the
	// consistency proof.
	proof, perr := tlog.ProveTree(int64(cp.Size), int64(f.cp.Size), hr)
	if perr == nil {
		hashes := make([][]byte, len(proof))
		for i := range proof {
			hashes[i] = proof[i][:]
		}
		if err := provenance.CheckConsistency(f.cp, cp, hashes); err != nil {
			var eq *provenance.EquivocationError
			if !errors.As(err, &eq) && f.cp.Size&(f.cp.Size-1) == 0 {
				// RFC 6962 omits the first hash of a proof from a
				// power of two; evidence carries it ("seeded"):
				// the new tree's hash of its first f.cp.Size
				// leaves, which its tiles give.
				if seed, serr := tlog.TreeHash(int64(f.cp.Size), hr); serr == nil {
					ev := provenance.Evidence{Origin: f.cfg.Origin, A: f.cp.Note, B: cp.Note, Proof: append([][]byte{seed[:]}, hashes...)}
					if eq, verr := provenance.VerifyEvidence(ev, f.cfg.Verifier); verr == nil {
						err = eq
					}
				}
			}
			return f.equivocation(err)
		}
	}
	return nil
}

// rangeFromTiles reads the compact range of the tree of size m from a tile
// hash reader.
func (f *Follower) rangeFromTiles(hr tlog.HashReader, m uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, m, nil)
	idx := make([]int64, len(ids))
	for i, id := range ids {
		idx[i] = tlog.StoredHashIndex(int(id.Level), int64(id.Index))
	}
	hs, err := hr.ReadHashes(idx)
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(hs))
	for i := range hs {
		hashes[i] = hs[i][:]
	}
	return f.rf.NewRange(0, m, hashes)
}

// Resume starts the follower from a checkpoint verified earlier (a monitor's
// saved state; it is opened with the log's key here): the next Poll
// requires the log to extend it, reporting a rollback or an equivocation
// otherwise, and clones only the entries after it.
func (f *Follower) Resume(signed []byte) error {
	cp, err := provenance.OpenCheckpoint(signed, f.cfg.Origin, f.cfg.Verifier)
	if err != nil {
		return fmt.Errorf("monitor: resume %s: %w", f.cfg.Origin, err)
	}
	f.cp, f.have, f.cr = cp, true, nil
	if cp.Size == 0 {
		f.cr = f.rf.NewEmptyRange(0)
	}
	return nil
}

func (f *Follower) equivocation(err error) error {
	var eq *provenance.EquivocationError
	if errors.As(err, &eq) {
		ev := eq.Evidence
		return &Finding{Kind: KindEquivocation, Origin: f.cfg.Origin, Detail: eq.Error(), Evidence: &ev, Err: eq}
	}
	return &Finding{Kind: KindBadTile, Origin: f.cfg.Origin, Detail: "consistency proof from the tiles", Err: err}
}

// tileError maps a tile read failure to a finding (missing or wrong) or
// passes a transport error through.
func (f *Follower) tileError(err error, format string, args ...any) error {
	var te *tileErr
	if errors.As(err, &te) {
		if errors.Is(te.err, tiles.ErrNotFound) {
			return &Finding{Kind: KindMissingTile, Origin: f.cfg.Origin, Path: te.path, Detail: fmt.Sprintf(format, args...) + ": " + te.path + " is not served", Err: te.err}
		}
		return fmt.Errorf("monitor: %s: %s: %w", f.cfg.Origin, te.path, te.err)
	}
	// x/mod's own verdicts: a tile that does not hash to the root.
	return &Finding{Kind: KindBadTile, Origin: f.cfg.Origin, Detail: fmt.Sprintf(format, args...), Err: err}
}

// fetchCheckpoint fetches and verifies the checkpoint, retrying once after
// QuorumRetry when it lacks the quorum.
func (f *Follower) fetchCheckpoint(ctx context.Context) (provenance.Checkpoint, []provenance.Cosignature, error) {
	for attempt := 0; ; attempt++ {
		raw, err := f.cfg.Fetcher.Fetch(ctx, "checkpoint")
		if errors.Is(err, tiles.ErrNotFound) {
			return provenance.Checkpoint{}, nil, &Finding{Kind: KindMissingTile, Origin: f.cfg.Origin, Path: "checkpoint", Detail: "no checkpoint served", Err: err}
		}
		if err != nil {
			return provenance.Checkpoint{}, nil, err
		}
		cp, err := provenance.OpenCheckpoint(raw, f.cfg.Origin, f.cfg.Verifier)
		if err != nil {
			return provenance.Checkpoint{}, nil, &Finding{Kind: KindBadCheckpoint, Origin: f.cfg.Origin, Detail: "checkpoint", Err: err}
		}
		cos, err := provenance.VerifyCosignatures(cp, f.cfg.WitnessKeys)
		if err != nil {
			return provenance.Checkpoint{}, nil, &Finding{Kind: KindCosignature, Origin: f.cfg.Origin, Detail: fmt.Sprintf("checkpoint of size %d", cp.Size), Err: err}
		}
		if f.cfg.Quorum == nil || f.cfg.Quorum.Met(cos) {
			return cp, cos, nil
		}
		if attempt > 0 || f.cfg.QuorumRetry < 0 {
			names := make([]string, len(cos))
			for i, c := range cos {
				names[i] = c.Witness
			}
			return provenance.Checkpoint{}, nil, f.finding(KindQuorum, "", "checkpoint of size %d cosigned by [%s]: quorum %s not met", cp.Size, strings.Join(names, ", "), f.cfg.Quorum)
		}
		if err := f.cfg.Clock.Sleep(ctx, f.cfg.QuorumRetry); err != nil {
			return provenance.Checkpoint{}, nil, err
		}
	}
}

// clone fetches the entries [cr.End(), size), appends their leaf hashes to
// cr and counts their kinds. Bundles are fetched Parallel at a time and
// consumed in order.
func (f *Follower) clone(ctx context.Context, cr *compact.Range, size uint64, counts map[string]uint64) error {
	if cr.End() >= size {
		return nil
	}
	paths := tiles.For(0, cr.End(), size)
	// Workers fetch, parse, hash and decode a bundle each (the CPU work
	// runs on every core); the loop below consumes them in log order.
	type result struct {
		entries [][]byte
		hashes  [][32]byte
		decoded []*treaty.LogEntry
		err     error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan result, len(paths))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	next := make(chan int)
	for range min(f.cfg.Parallel, len(paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p := paths[i]
				p.Entries = true
				b, err := f.cfg.Fetcher.Fetch(ctx, p.String())
				var r result
				if err == nil {
					r.entries, err = tiles.ParseEntryBundle(b, p.Width)
					if err != nil {
						err = &Finding{Kind: KindBadTile, Origin: f.cfg.Origin, Path: p.String(), Detail: p.String(), Err: err}
					}
				} else if errors.Is(err, tiles.ErrNotFound) {
					err = &Finding{Kind: KindMissingTile, Origin: f.cfg.Origin, Path: p.String(), Detail: fmt.Sprintf("entry bundle %s of size %d is not served", p, size), Err: err}
				}
				r.err = err
				if err == nil {
					r.hashes = make([][32]byte, len(r.entries))
					r.decoded = make([]*treaty.LogEntry, len(r.entries))
					for k, leaf := range r.entries {
						r.hashes[k] = provenance.LeafHash(leaf)
						var e treaty.LogEntry
						if treaty.Decode(leaf, &e) == nil {
							r.decoded[k] = &e
						}
					}
				}
				results[i] <- r
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range paths {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for i, p := range paths {
		var r result
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		first := p.Index * tiles.Width
		for k, leaf := range r.entries {
			idx := first + uint64(k)
			if idx < cr.End() {
				continue // already cloned (the bundle was partial before)
			}
			if err := cr.Append(r.hashes[k][:], nil); err != nil {
				return err
			}
			e := r.decoded[k]
			kind := "undecodable"
			switch {
			case e == nil:
			case e.Job != nil:
				kind = "job"
			case e.Anchor != nil:
				kind = "anchor"
			case e.TSA != nil:
				kind = "tsa"
			}
			counts[kind]++
			if f.cfg.OnEntry != nil {
				f.cfg.OnEntry(idx, leaf, e)
			}
		}
	}
	return nil
}

// tileReader is x/mod's TileReader over a Fetcher (C2SP paths: x/mod's
// without the height element).
type tileReader struct {
	ctx context.Context
	f   Fetcher
}

type tileErr struct {
	path string
	err  error
}

func (e *tileErr) Error() string { return e.path + ": " + e.err.Error() }
func (e *tileErr) Unwrap() error { return e.err }

func (r *tileReader) Height() int { return tiles.Height }

func (r *tileReader) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		p := tiles.Path{Level: uint8(t.L), Index: uint64(t.N), Width: t.W}.String()
		b, err := r.f.Fetch(r.ctx, p)
		if err != nil {
			return nil, &tileErr{path: p, err: err}
		}
		out[i] = b
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// Metrics are the monitor's Prometheus collectors, labelled by log origin
// (bounded by the policy's logs).
type Metrics struct {
	size     *prometheus.GaugeVec
	last     *prometheus.GaugeVec
	entries  *prometheus.CounterVec
	findings *prometheus.CounterVec
	errors   *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg (nil
// registers nothing).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aurora_monitor_tree_size",
			Help: "Size of the latest checkpoint the monitor verified, per log."}, []string{"log"}),
		last: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aurora_monitor_last_verified_timestamp_seconds",
			Help: "When the monitor last verified a log's checkpoint (unix seconds)."}, []string{"log"}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aurora_monitor_entries_total",
			Help: "Log entries the monitor cloned and verified, by kind (job, anchor, tsa, undecodable)."}, []string{"log", "kind"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aurora_monitor_findings_total",
			Help: "Problems the monitor found, by kind (equivocation, rollback, missing-tile, bad-tile, bad-checkpoint, cosignature, quorum)."}, []string{"log", "kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aurora_monitor_poll_errors_total",
			Help: "Polls that failed to reach a log (not findings)."}, []string{"log"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.size, m.last, m.entries, m.findings, m.errors} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("monitor: metrics: %w", err)
			}
		}
	}
	return m, nil
}
