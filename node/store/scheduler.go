package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for [SchedulerConfig].
const (
	DefaultBackupInterval     = 15 * time.Minute
	DefaultFullBackupInterval = 24 * time.Hour
)

// SchedulerConfig configures [NewScheduler]. The zero value works except Dir.
type SchedulerConfig struct {
	// Dir is the directory backups are written to; created (mode 0700) if
	// missing. Required. Backups only meet an RPO once copied off the node.
	Dir string

	// Interval is the time between backups. Default 15 minutes.
	Interval time.Duration

	// FullInterval is the age of the current chain's full backup after
	// which the next backup is a new full one. Default 24 hours.
	FullInterval time.Duration

	// Logger receives one line per backup. Default: discard.
	Logger *slog.Logger

	// OnSuccess, if set, is called after each successful backup with the
	// time the backup's snapshot was taken (for
	// aurora_backup_last_success_timestamp_seconds). It runs on the
	// goroutine that ran the backup and must not block.
	OnSuccess func(at time.Time)

	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

func (c SchedulerConfig) validate() (SchedulerConfig, error) {
	switch {
	case c.Dir == "":
		return c, errors.New("store: scheduler: Dir is required")
	case c.Interval < 0:
		return c, fmt.Errorf("store: scheduler: Interval must not be negative, got %v", c.Interval)
	case c.FullInterval < 0:
		return c, fmt.Errorf("store: scheduler: FullInterval must not be negative, got %v", c.FullInterval)
	}
	if c.Interval == 0 {
		c.Interval = DefaultBackupInterval
	}
	if c.FullInterval == 0 {
		c.FullInterval = DefaultFullBackupInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Scheduler takes a backup into a directory right away and then every
// interval: a full backup when the directory holds no chain for this DB or
// the chain's full backup is older than FullInterval, otherwise an
// incremental backup since the previous backup's version. An incremental
// backup with nothing new writes no file but counts as a success. The
// chain continues across restarts from the manifests in the directory.
// Pruning old chains is left to the operator.
//
// A Scheduler owns one goroutine, stopped by Close. Its methods are safe for
// concurrent use.
type Scheduler struct {
	db  *DB
	cfg SchedulerConfig

	cancel context.CancelFunc
	done   chan struct{}

	lastSuccess atomic.Int64 // unix nanoseconds; 0 = never

	mu sync.Mutex // protects following; held during a backup
	// haveChain reports whether a full backup of this DB starts the chain.
	haveChain bool
	lastFull  time.Time
	version   uint64
}

// NewScheduler scans cfg.Dir for the current chain and starts the backup
// goroutine; the first backup starts immediately. The caller must Close the
// Scheduler before closing db.
func NewScheduler(db *DB, cfg SchedulerConfig) (*Scheduler, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: scheduler: %w", err)
	}
	files, err := ListBackups(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("store: scheduler: %w", err)
	}
	s := &Scheduler{db: db, cfg: cfg, done: make(chan struct{})}
	if chain, err := LatestChain(files); err == nil {
		last := chain[len(chain)-1].Manifest
		// A DB older than the chain (wiped, or another node's) must not
		// continue it: its new versions could be below the chain's.
		if db.bdb.MaxVersion() >= last.Version {
			s.haveChain = true
			s.lastFull = chain[0].Manifest.Created
			s.version = last.Version
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.run(ctx)
	return s, nil
}

func (s *Scheduler) run(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		// Errors are logged by RunOnce; the next tick retries.
		_, _, _ = s.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce takes one backup now (full or incremental, as the schedule
// would) and returns its file path and manifest. The path is empty when an
// incremental backup found nothing new and wrote no file.
func (s *Scheduler) RunOnce(ctx context.Context) (string, Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	since := uint64(0)
	if s.haveChain && now.Sub(s.lastFull) < s.cfg.FullInterval {
		since = s.version
	}
	kind := "incr"
	if since == 0 {
		kind = "full"
	}
	path := filepath.Join(s.cfg.Dir, fmt.Sprintf("aurora-%s-%s.backup", now.UTC().Format("20060102T150405.000000000Z"), kind))
	start := time.Now()
	m, written, err := s.db.backupToFile(ctx, path, since, now, since != 0)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Logger.LogAttrs(ctx, slog.LevelError, "store: backup failed",
				slog.String("kind", kind), slog.Uint64("since", since), slog.Any("error", err))
		}
		return "", Manifest{}, err
	}
	if since == 0 {
		s.haveChain, s.lastFull = true, now
	}
	s.version = m.Version
	s.lastSuccess.Store(now.UnixNano())
	if !written {
		path = ""
	}
	s.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "store: backup done",
		slog.String("kind", kind), slog.String("path", path), slog.Uint64("since", since),
		slog.Uint64("version", m.Version), slog.Int64("bytes", m.Size), slog.Duration("took", time.Since(start)))
	if s.cfg.OnSuccess != nil {
		s.cfg.OnSuccess(now)
	}
	return path, m, nil
}

// LastSuccess returns when the snapshot of the last successful backup was
// taken, or the zero time if none succeeded since NewScheduler.
func (s *Scheduler) LastSuccess() time.Time {
	ns := s.lastSuccess.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Close stops the schedule, cancelling a running backup, and waits for the
// goroutine to return.
func (s *Scheduler) Close() error {
	s.cancel()
	<-s.done
	return nil
}
