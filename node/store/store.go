package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Defaults for [Config] fields left at their zero value.
const (
	DefaultBlockCacheSize   = 64 << 20
	DefaultIndexCacheSize   = 32 << 20
	DefaultMemTableSize     = 32 << 20
	DefaultNumMemtables     = 3
	DefaultNumCompactors    = 2
	DefaultValueLogFileSize = 256 << 20
	DefaultGCInterval       = 5 * time.Minute
	DefaultGCDiscardRatio   = 0.5
)

// minMemTableSize keeps badger's maximum batch size (15 % of a memtable)
// above its 1 MiB value threshold, which badger requires at Open.
const minMemTableSize = 8 << 20

// ErrClosed is returned by operations on a [DB] (or a view of it) after
// [DB.Close].
var ErrClosed = errors.New("store: db closed")

// Config configures [Open]. The zero value works except that Dir is required
// unless InMemory is set.
type Config struct {
	// Dir is the directory holding the database files; it is created if
	// missing. Required unless InMemory.
	Dir string

	// InMemory keeps the whole database in memory (for tests). Dir must then
	// be empty. Value-log GC does not run in memory. Default false.
	InMemory bool

	// Logger receives badger's logs (with subsystem=badger) and this
	// package's. Default: discard.
	Logger *slog.Logger

	// SyncWrites fsyncs the write-ahead log on every commit. Default false:
	// a committed write survives a process crash but not an OS crash or power
	// loss until the next Sync or Close (see the package doc).
	SyncWrites bool

	// BlockCacheSize bounds badger's block cache in bytes. Default 64 MiB.
	BlockCacheSize int64

	// IndexCacheSize bounds badger's table index and bloom filter cache in
	// bytes. Default 32 MiB.
	IndexCacheSize int64

	// MemTableSize is the size of one memtable in bytes. Default 32 MiB;
	// values below 8 MiB are rejected.
	MemTableSize int64

	// NumMemtables is how many memtables badger keeps in memory before it
	// stalls writes. Default 3.
	NumMemtables int

	// NumCompactors is the number of compaction goroutines. Default 2, which
	// is also the minimum: badger dedicates one to level 0.
	NumCompactors int

	// ValueLogFileSize is the maximum size of one value-log file in bytes;
	// smaller files are cheaper to garbage collect. Default 256 MiB; must be
	// in [1 MiB, 2 GiB).
	ValueLogFileSize int64

	// GCInterval is how often value-log GC runs. Default 5 minutes; a
	// negative value disables the periodic GC ([DB.CollectGarbage] still
	// works).
	GCInterval time.Duration

	// GCDiscardRatio is the fraction of stale data a value-log file must hold
	// before GC rewrites it. Default 0.5; must be in (0, 1).
	GCDiscardRatio float64

	// MetricsEnabled turns on badger's expvar metrics. They are process-wide
	// and keyed by directory, so several nodes in one process share them.
	// Default false.
	MetricsEnabled bool
}

// validate rejects an invalid Config and returns a copy with defaults filled
// in.
func (c Config) validate() (Config, error) {
	switch {
	case c.InMemory && c.Dir != "":
		return c, errors.New("store: config: Dir must be empty when InMemory is set")
	case !c.InMemory && c.Dir == "":
		return c, errors.New("store: config: Dir is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	fill64 := func(name string, v *int64, def int64) error {
		if *v < 0 {
			return fmt.Errorf("store: config: %s must not be negative, got %d", name, *v)
		}
		if *v == 0 {
			*v = def
		}
		return nil
	}
	fillInt := func(name string, v *int, def int) error {
		if *v < 0 {
			return fmt.Errorf("store: config: %s must not be negative, got %d", name, *v)
		}
		if *v == 0 {
			*v = def
		}
		return nil
	}
	for _, err := range []error{
		fill64("BlockCacheSize", &c.BlockCacheSize, DefaultBlockCacheSize),
		fill64("IndexCacheSize", &c.IndexCacheSize, DefaultIndexCacheSize),
		fill64("MemTableSize", &c.MemTableSize, DefaultMemTableSize),
		fill64("ValueLogFileSize", &c.ValueLogFileSize, DefaultValueLogFileSize),
		fillInt("NumMemtables", &c.NumMemtables, DefaultNumMemtables),
		fillInt("NumCompactors", &c.NumCompactors, DefaultNumCompactors),
	} {
		if err != nil {
			return c, err
		}
	}
	if c.MemTableSize < minMemTableSize {
		return c, fmt.Errorf("store: config: MemTableSize must be at least %d, got %d", minMemTableSize, c.MemTableSize)
	}
	if c.ValueLogFileSize < 1<<20 || c.ValueLogFileSize >= 2<<30 {
		return c, fmt.Errorf("store: config: ValueLogFileSize must be in [1 MiB, 2 GiB), got %d", c.ValueLogFileSize)
	}
	if c.NumCompactors < 2 {
		return c, fmt.Errorf("store: config: NumCompactors must be at least 2, got %d", c.NumCompactors)
	}
	if c.GCInterval == 0 {
		c.GCInterval = DefaultGCInterval
	}
	if c.GCDiscardRatio == 0 {
		c.GCDiscardRatio = DefaultGCDiscardRatio
	}
	if !(c.GCDiscardRatio > 0 && c.GCDiscardRatio < 1) {
		return c, fmt.Errorf("store: config: GCDiscardRatio must be in (0, 1), got %v", c.GCDiscardRatio)
	}
	return c, nil
}

func (c Config) badgerOptions() badger.Options {
	opts := badger.DefaultOptions(c.Dir).
		WithInMemory(c.InMemory).
		WithLogger(badgerLogger{l: c.Logger.With(slog.String("subsystem", "badger"))}).
		WithSyncWrites(c.SyncWrites).
		WithNumCompactors(c.NumCompactors).
		WithNumGoroutines(2).
		WithNumMemtables(c.NumMemtables).
		WithMemTableSize(c.MemTableSize).
		WithBlockCacheSize(c.BlockCacheSize).
		WithIndexCacheSize(c.IndexCacheSize).
		WithValueLogFileSize(c.ValueLogFileSize).
		WithMetricsEnabled(c.MetricsEnabled).
		WithDetectConflicts(true)
	if c.InMemory {
		opts = opts.WithDir("").WithValueDir("")
	}
	return opts
}

// DB is the node's badger database. Its methods are safe for concurrent use,
// except that [DB.Restore] and [DB.RestoreFile] must not run concurrently with
// writers, and nothing may use the DB (or views and guards built on it) once
// [DB.Close] has been called.
type DB struct {
	bdb *badger.DB
	cfg Config
	log *slog.Logger
	// valueThreshold is badger's effective value threshold: values at least
	// this long go to the value log.
	valueThreshold int64

	// life is cancelled by Close; backups and GC derive their contexts from
	// it so that Close does not wait for a long backup to finish.
	life       context.Context
	cancelLife context.CancelFunc
	closed     atomic.Bool

	// backupFrame, when set, replaces backupBatchSize (tests).
	backupFrame int

	// maintMu serializes value-log GC, backups and restores: on two cores
	// they should not compete (OPS §4.5), and Load must run alone.
	maintMu sync.Mutex

	gcDone chan struct{} // closed when the GC goroutine returns; nil if none

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the badger database described by cfg and
// starts its value-log GC goroutine. The caller must call [DB.Close].
func Open(cfg Config) (*DB, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	bdb, err := badger.Open(cfg.badgerOptions())
	if err != nil {
		return nil, fmt.Errorf("store: open %q: %w", cfg.Dir, err)
	}
	life, cancel := context.WithCancel(context.Background())
	d := &DB{
		bdb:            bdb,
		cfg:            cfg,
		log:            cfg.Logger,
		valueThreshold: bdb.Opts().ValueThreshold,
		life:           life,
		cancelLife:     cancel,
	}
	if !cfg.InMemory && cfg.GCInterval > 0 {
		d.gcDone = make(chan struct{})
		go d.gcLoop(cfg.GCInterval)
	}
	d.log.LogAttrs(context.Background(), slog.LevelDebug, "store: opened",
		slog.String("dir", cfg.Dir), slog.Bool("in_memory", cfg.InMemory), slog.Bool("sync_writes", cfg.SyncWrites))
	return d, nil
}

// Badger returns the underlying badger database for components that need raw
// access. The DB keeps ownership: do not close it. Raw keys should not start
// with '/', which is the datastore views' key space.
func (d *DB) Badger() *badger.DB { return d.bdb }

// Sync flushes badger's write-ahead log and value log to stable storage.
func (d *DB) Sync() error {
	if d.closed.Load() {
		return ErrClosed
	}
	if err := d.bdb.Sync(); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	return nil
}

// Close stops the GC goroutine, cancels a running backup, waits for
// maintenance to finish and closes badger (which fsyncs its logs). It is safe
// to call more than once; later calls return the first result.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		d.cancelLife()
		if d.gcDone != nil {
			<-d.gcDone
		}
		d.maintMu.Lock()
		defer d.maintMu.Unlock()
		if err := d.bdb.Close(); err != nil {
			d.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return d.closeErr
}

// CollectGarbage runs badger's value-log GC until no file is worth
// rewriting. It waits for a running backup or restore. It is a no-op for an
// in-memory DB.
func (d *DB) CollectGarbage(ctx context.Context) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if d.cfg.InMemory {
		return nil
	}
	ctx, cancel := d.withLife(ctx)
	defer cancel()
	d.maintMu.Lock()
	defer d.maintMu.Unlock()
	return d.collectGarbageLocked(ctx)
}

func (d *DB) collectGarbageLocked(ctx context.Context) error {
	start := time.Now()
	rewrites := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := d.bdb.RunValueLogGC(d.cfg.GCDiscardRatio)
		switch {
		case err == nil:
			rewrites++
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			// ErrRejected: another GC is running or badger is closing.
			d.log.LogAttrs(ctx, slog.LevelDebug, "store: value log gc done",
				slog.Int("rewrites", rewrites), slog.Duration("took", time.Since(start)))
			return nil
		default:
			return fmt.Errorf("store: value log gc: %w", err)
		}
	}
}

func (d *DB) gcLoop(interval time.Duration) {
	defer close(d.gcDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-d.life.Done():
			return
		case <-t.C:
		}
		// Skip this round rather than queue behind a backup or restore.
		if !d.maintMu.TryLock() {
			continue
		}
		err := d.collectGarbageLocked(d.life)
		d.maintMu.Unlock()
		if err != nil && !errors.Is(err, context.Canceled) {
			d.log.LogAttrs(d.life, slog.LevelWarn, "store: value log gc failed", slog.Any("error", err))
		}
	}
}

// withLife returns a context cancelled when either ctx is done or the DB is
// closed.
func (d *DB) withLife(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.life, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// DiskUsage returns the bytes allocated on disk by the database files (0 for
// an in-memory DB).
func (d *DB) DiskUsage() (uint64, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	if d.cfg.InMemory {
		return 0, nil
	}
	var total uint64
	err := filepath.WalkDir(d.cfg.Dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed by compaction while walking
			}
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		total += allocatedSize(fi)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: disk usage: %w", err)
	}
	return total, nil
}

// badgerLogger routes badger's printf-style logs to slog.
type badgerLogger struct{ l *slog.Logger }

var _ badger.Logger = badgerLogger{}

func (b badgerLogger) Errorf(f string, a ...any)   { b.log(slog.LevelError, f, a) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a) }
func (b badgerLogger) Infof(f string, a ...any)    { b.log(slog.LevelInfo, f, a) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.log(slog.LevelDebug, f, a) }

func (b badgerLogger) log(level slog.Level, f string, a []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	b.l.LogAttrs(ctx, level, strings.TrimSpace(fmt.Sprintf(f, a...)))
}
