package store

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	ds "github.com/ipfs/go-datastore"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		want    Config // compared without Logger
		wantErr string
	}{
		{
			name: "zero value with Dir gets defaults",
			cfg:  Config{Dir: "/x"},
			want: Config{
				Dir: "/x", BlockCacheSize: 64 << 20, IndexCacheSize: 32 << 20, MemTableSize: 32 << 20,
				NumMemtables: 3, NumCompactors: 2, ValueLogFileSize: 256 << 20,
				GCInterval: 5 * time.Minute, GCDiscardRatio: 0.5,
			},
		},
		{
			name: "explicit values kept",
			cfg: Config{
				InMemory: true, SyncWrites: true, BlockCacheSize: 1 << 20, IndexCacheSize: 2 << 20,
				MemTableSize: 16 << 20, NumMemtables: 2, NumCompactors: 3, ValueLogFileSize: 1 << 20,
				GCInterval: -1, GCDiscardRatio: 0.7,
			},
			want: Config{
				InMemory: true, SyncWrites: true, BlockCacheSize: 1 << 20, IndexCacheSize: 2 << 20,
				MemTableSize: 16 << 20, NumMemtables: 2, NumCompactors: 3, ValueLogFileSize: 1 << 20,
				GCInterval: -1, GCDiscardRatio: 0.7,
			},
		},
		{name: "missing Dir", cfg: Config{}, wantErr: "Dir is required"},
		{name: "Dir with InMemory", cfg: Config{Dir: "/x", InMemory: true}, wantErr: "Dir must be empty"},
		{name: "negative cache", cfg: Config{Dir: "/x", BlockCacheSize: -1}, wantErr: "BlockCacheSize must not be negative"},
		{name: "small memtable", cfg: Config{Dir: "/x", MemTableSize: 1 << 20}, wantErr: "MemTableSize must be at least"},
		{name: "one compactor", cfg: Config{Dir: "/x", NumCompactors: 1}, wantErr: "NumCompactors must be at least 2"},
		{name: "huge value log", cfg: Config{Dir: "/x", ValueLogFileSize: 2 << 30}, wantErr: "ValueLogFileSize"},
		{name: "discard ratio", cfg: Config{Dir: "/x", GCDiscardRatio: 1}, wantErr: "GCDiscardRatio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("validate() error = %v, want it to contain %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "store: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("validate() error = %v", err)
			}
			if got.Logger == nil {
				t.Error("validate() left Logger nil")
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Config{}, "Logger")); diff != "" {
				t.Errorf("validate() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Namespace("jobs").Put(ctx, ds.NewKey("/j1"), []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, Config{Dir: dir})
	got, err := db.Namespace("jobs").Get(ctx, ds.NewKey("/j1"))
	if err != nil || string(got) != "v1" {
		t.Fatalf("Get after reopen = %q, %v; want v1", got, err)
	}
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	ctx := t.Context()
	db, err := Open(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	view := db.Namespace("x")
	if err := db.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checks := map[string]error{
		"Put":            view.Put(ctx, ds.NewKey("/a"), nil),
		"Sync":           db.Sync(),
		"CollectGarbage": db.CollectGarbage(ctx),
		"Apply":          view.Apply(ctx, []Write{{Key: "/b", Value: []byte{1}}}),
		"Restore":        db.Restore(ctx, bytes.NewReader(nil)),
	}
	_, err = view.Get(ctx, ds.NewKey("/a"))
	checks["Get"] = err
	_, err = db.Backup(ctx, &bytes.Buffer{}, 0)
	checks["Backup"] = err
	for op, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op, err)
		}
	}
}

func TestBadgerLogsGoToInjectedLogger(t *testing.T) {
	rec := &recorder{}
	db := openDB(t, Config{Logger: slog.New(rec)})
	if err := db.Namespace("a").Put(t.Context(), ds.NewKey("/k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.find(func(r slog.Record) bool {
		c, _ := attrValue(r, "subsystem")
		return c == "badger" && r.Message != "" && !strings.HasSuffix(r.Message, "\n")
	}); !ok {
		t.Fatal("no badger log record with subsystem=badger reached the injected logger")
	}
}

func TestGCLoopRunsAndStopsOnClose(t *testing.T) {
	rec := &recorder{}
	db := openDB(t, Config{Logger: slog.New(rec), GCInterval: time.Millisecond})
	waitFor(t, "a value-log GC cycle", func() bool {
		_, ok := rec.find(func(r slog.Record) bool { return r.Message == "store: value log gc done" })
		return ok
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// goleak in TestMain fails the package if the GC goroutine survived.
}

func TestCollectGarbage(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, Config{GCInterval: -1, ValueLogFileSize: 8 << 20})
	s := db.Datastore()
	big := bytes.Repeat([]byte{7}, 2<<20) // above the value threshold: stored in the value log
	for i := range 4 {
		if err := s.Put(ctx, ds.NewKey("/big"), append(big, byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CollectGarbage(ctx); err != nil {
		t.Fatalf("CollectGarbage: %v", err)
	}
	got, err := s.Get(ctx, ds.NewKey("/big"))
	if err != nil || !bytes.Equal(got, append(big, 3)) {
		t.Fatalf("Get after GC: len %d, err %v", len(got), err)
	}
	mem := openDB(t, Config{InMemory: true})
	if err := mem.CollectGarbage(ctx); err != nil {
		t.Fatalf("CollectGarbage in memory: %v", err)
	}
}

func TestDiskUsage(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, Config{})
	s := db.Datastore()
	for i := range 100 {
		if err := s.Put(ctx, ds.NewKey("/k").ChildString(string(rune('a'+i%26))+strings.Repeat("x", i)), bytes.Repeat([]byte{1}, 1024)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Fatal(err)
	}
	n, err := s.DiskUsage(ctx)
	if err != nil || n == 0 {
		t.Fatalf("DiskUsage = %d, %v; want > 0", n, err)
	}
	mem := openDB(t, Config{InMemory: true})
	if n, err := mem.DiskUsage(); err != nil || n != 0 {
		t.Fatalf("in-memory DiskUsage = %d, %v; want 0", n, err)
	}
}
