package store

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openDB opens a DB on a fresh temporary directory (unless cfg says
// otherwise) and closes it when the test ends.
func openDB(t testing.TB, cfg Config) *DB {
	t.Helper()
	if cfg.Dir == "" && !cfg.InMemory {
		cfg.Dir = t.TempDir()
	}
	db, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu      sync.Mutex // protects following
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

func (r *recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recorderView{r: r, attrs: attrs}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

// find returns the first record matching pred.
func (r *recorder) find(pred func(slog.Record) bool) (slog.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		if pred(rec) {
			return rec, true
		}
	}
	return slog.Record{}, false
}

// recorderView adds attributes to the records it passes to its recorder.
type recorderView struct {
	r     *recorder
	attrs []slog.Attr
}

func (v *recorderView) Enabled(context.Context, slog.Level) bool { return true }

func (v *recorderView) Handle(ctx context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(v.attrs...)
	return v.r.Handle(ctx, rec)
}

func (v *recorderView) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recorderView{r: v.r, attrs: append(append([]slog.Attr(nil), v.attrs...), attrs...)}
}

func (v *recorderView) WithGroup(string) slog.Handler { return v }

func attrValue(rec slog.Record, key string) (string, bool) {
	var val string
	found := false
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			val, found = a.Value.String(), true
			return false
		}
		return true
	})
	return val, found
}

// waitFor polls cond until it holds or the deadline passes. It does not
// assert anything about time: the deadline only bounds a hung test.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
