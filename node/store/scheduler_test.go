package store

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is a settable clock for SchedulerConfig.Now.
type fakeClock struct {
	mu  sync.Mutex // protects now
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// successes collects OnSuccess calls.
type successes struct {
	mu sync.Mutex // protects at
	at []time.Time
}

func (s *successes) record(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = append(s.at, at)
}

func (s *successes) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.at)
}

func newScheduler(t *testing.T, db *DB, cfg SchedulerConfig) *Scheduler {
	t.Helper()
	s, err := NewScheduler(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestSchedulerChain(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, Config{})
	ledger := db.Namespace("ledger")
	dir := filepath.Join(t.TempDir(), "backups")
	clock := &fakeClock{now: t0}
	var ok successes
	cfg := SchedulerConfig{Dir: dir, Interval: time.Hour, Now: clock.Now, OnSuccess: ok.record}

	put(t, ledger, "/a", "A")
	s := newScheduler(t, db, cfg)
	waitFor(t, "the first backup", func() bool { return ok.count() == 1 })
	if got := s.LastSuccess(); !got.Equal(t0) {
		t.Errorf("LastSuccess = %v, want %v", got, t0)
	}
	files, err := ListBackups(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || !files[0].Manifest.Full() || !strings.HasSuffix(files[0].Path, "-full.backup") {
		t.Fatalf("after the first backup: %+v, want one full backup", files)
	}
	fullVersion := files[0].Manifest.Version

	clock.Advance(15 * time.Minute)
	put(t, ledger, "/b", "B")
	path, m, err := s.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if path == "" || m.Since != fullVersion || m.Version <= fullVersion || !strings.HasSuffix(path, "-incr.backup") {
		t.Fatalf("second backup: path %q, manifest %+v; want an incremental since %d", path, m, fullVersion)
	}

	clock.Advance(15 * time.Minute)
	path, m2, err := s.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if path != "" || m2.Version != m.Version {
		t.Errorf("backup with nothing new: path %q, version %d; want no file, version %d", path, m2.Version, m.Version)
	}
	if got := s.LastSuccess(); !got.Equal(t0.Add(30 * time.Minute)) {
		t.Errorf("LastSuccess after an empty incremental = %v, want %v", got, t0.Add(30*time.Minute))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A restarted scheduler continues the chain.
	clock.Advance(15 * time.Minute)
	put(t, ledger, "/c", "C")
	var ok2 successes
	cfg.OnSuccess = ok2.record
	newScheduler(t, db, cfg)
	waitFor(t, "the first backup after restart", func() bool { return ok2.count() == 1 })
	files, err = ListBackups(dir)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := LatestChain(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 3 || len(files) != 3 {
		t.Fatalf("after restart: %d files, chain of %d; want 3 and 3", len(files), len(chain))
	}

	// Once the full backup is older than FullInterval, a new chain starts.
	clock.Advance(DefaultFullBackupInterval)
	put(t, ledger, "/d", "D")
	s3 := newScheduler(t, db, cfg)
	waitFor(t, "the backup after a day", func() bool { return ok2.count() == 2 })
	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
	files, err = ListBackups(dir)
	if err != nil {
		t.Fatal(err)
	}
	chain, err = LatestChain(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 1 || !strings.HasSuffix(chain[0].Path, "-full.backup") {
		t.Fatalf("latest chain = %+v, want a single new full backup", chain)
	}

	restored := openDB(t, Config{})
	if _, err := restored.RestoreDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"/a": "A", "/b": "B", "/c": "C", "/d": "D"}
	if diff := cmp.Diff(want, snapshot(t, restored.Namespace("ledger"))); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
}

func TestSchedulerTicks(t *testing.T) {
	db := openDB(t, Config{})
	var ok successes
	newScheduler(t, db, SchedulerConfig{Dir: t.TempDir(), Interval: time.Millisecond, OnSuccess: ok.record})
	waitFor(t, "three scheduled backups", func() bool { return ok.count() >= 3 })
}

func TestSchedulerStartsFullForAnOlderDB(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	old := openDB(t, Config{})
	for i := range 20 {
		put(t, old.Datastore(), "/k", string(rune('a'+i)))
	}
	oldFull := filepath.Join(dir, "old.backup")
	if _, err := old.BackupToFile(ctx, oldFull, 0); err != nil {
		t.Fatal(err)
	}
	// A wiped DB: its versions restart below the chain's. BackupToFile
	// stamps the wall clock; the scheduler's clock runs a minute ahead.
	clock := &fakeClock{now: time.Now().Add(time.Minute)}
	fresh := openDB(t, Config{})
	put(t, fresh.Datastore(), "/new", "N")
	var ok successes
	newScheduler(t, fresh, SchedulerConfig{Dir: dir, Interval: time.Hour, Now: clock.Now, OnSuccess: ok.record})
	waitFor(t, "the first backup", func() bool { return ok.count() == 1 })
	files, err := ListBackups(dir)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := LatestChain(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || len(chain) != 1 || chain[0].Path == oldFull || !chain[0].Manifest.Full() {
		t.Fatalf("files %+v, latest chain %+v; want a new full backup heading the latest chain", files, chain)
	}
	restored := openDB(t, Config{InMemory: true})
	if _, err := restored.RestoreDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"/new": "N"}, snapshot(t, restored.Datastore())); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
}

func TestSchedulerConfigValidate(t *testing.T) {
	db := openDB(t, Config{InMemory: true})
	for _, cfg := range []SchedulerConfig{{}, {Dir: t.TempDir(), Interval: -1}, {Dir: t.TempDir(), FullInterval: -1}} {
		if s, err := NewScheduler(db, cfg); err == nil {
			_ = s.Close()
			t.Errorf("NewScheduler(%+v) succeeded", cfg)
		}
	}
}

func TestSchedulerCloseCancelsBackup(t *testing.T) {
	db := openDB(t, Config{})
	s := newScheduler(t, db, SchedulerConfig{Dir: t.TempDir(), Interval: time.Hour})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := s.RunOnce(ctx); err == nil {
		t.Error("RunOnce with a cancelled context succeeded")
	}
}
