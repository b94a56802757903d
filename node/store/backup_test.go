package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// snapshot returns every key and value of a view.
func snapshot(t *testing.T, s *Datastore) map[string]string {
	t.Helper()
	res, err := s.Query(t.Context(), dsq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		out[e.Key] = string(e.Value)
	}
	return out
}

func put(t *testing.T, s *Datastore, kv ...string) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		if err := s.Put(t.Context(), ds.NewKey(kv[i]), []byte(kv[i+1])); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBackupRestoreFullAndIncremental(t *testing.T) {
	ctx := t.Context()
	src := openDB(t, Config{})
	s := src.Namespace("ledger")
	dir := t.TempDir()

	put(t, s, "/a1", "A1", "/a2", "A2", "/gone", "x")
	fullPath := filepath.Join(dir, "full.backup")
	full, err := src.BackupToFile(ctx, fullPath, 0)
	if err != nil {
		t.Fatal(err)
	}
	if full.Since != 0 || full.Version == 0 || !full.Full() {
		t.Fatalf("full manifest = %+v", full)
	}

	// The first write after the full backup has version full.Version+1:
	// the documented "+1" would lose exactly this key.
	put(t, s, "/b1", "B1")
	put(t, s, "/a1", "A1'", "/b2", "B2")
	if err := s.Delete(ctx, ds.NewKey("/gone")); err != nil {
		t.Fatal(err)
	}
	incrPath := filepath.Join(dir, "incr.backup")
	incr, err := src.BackupToFile(ctx, incrPath, full.Version)
	if err != nil {
		t.Fatal(err)
	}
	if incr.Since != full.Version || incr.Version <= full.Version {
		t.Fatalf("incremental manifest = %+v after full version %d", incr, full.Version)
	}
	want := map[string]string{"/a1": "A1'", "/a2": "A2", "/b1": "B1", "/b2": "B2"}
	if diff := cmp.Diff(want, snapshot(t, s)); diff != "" {
		t.Fatalf("source (-want +got):\n%s", diff)
	}

	for _, f := range []string{fullPath, incrPath} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}

	t.Run("RestoreFile", func(t *testing.T) {
		dst := openDB(t, Config{})
		for _, f := range []string{fullPath, incrPath} {
			if _, err := dst.RestoreFile(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff(want, snapshot(t, dst.Namespace("ledger"))); diff != "" {
			t.Errorf("restored (-want +got):\n%s", diff)
		}
		// The restored DB keeps working and its versions continue.
		put(t, dst.Namespace("ledger"), "/c", "C")
		if v, err := dst.Backup(ctx, &bytes.Buffer{}, incr.Version); err != nil || v <= incr.Version {
			t.Errorf("backup of the restored DB since %d = %d, %v", incr.Version, v, err)
		}
	})

	t.Run("full only", func(t *testing.T) {
		dst := openDB(t, Config{InMemory: true})
		if _, err := dst.RestoreFile(ctx, fullPath); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"/a1": "A1", "/a2": "A2", "/gone": "x"}, snapshot(t, dst.Namespace("ledger"))); diff != "" {
			t.Errorf("restored (-want +got):\n%s", diff)
		}
	})

	t.Run("RestoreDir", func(t *testing.T) {
		dst := openDB(t, Config{})
		chain, err := dst.RestoreDir(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(chain) != 2 || chain[0].Path != fullPath || chain[1].Path != incrPath {
			t.Errorf("chain = %+v, want full then incremental", chain)
		}
		if diff := cmp.Diff(want, snapshot(t, dst.Namespace("ledger"))); diff != "" {
			t.Errorf("restored (-want +got):\n%s", diff)
		}
	})
}

func TestBackupStreamRoundTrip(t *testing.T) {
	ctx := t.Context()
	src := openDB(t, Config{InMemory: true})
	put(t, src.Datastore(), "/k1", "v1", "/k2", "v2")
	var full bytes.Buffer
	v1, err := src.Backup(ctx, &full, 0)
	if err != nil {
		t.Fatal(err)
	}
	var empty bytes.Buffer
	if v, err := src.Backup(ctx, &empty, v1); err != nil || v != v1 {
		t.Fatalf("incremental with nothing new = %d, %v; want %d", v, err, v1)
	}
	put(t, src.Datastore(), "/k3", "v3")
	var incr bytes.Buffer
	if _, err := src.Backup(ctx, &incr, v1); err != nil {
		t.Fatal(err)
	}
	dst := openDB(t, Config{InMemory: true})
	for _, b := range []*bytes.Buffer{&full, &empty, &incr} {
		if err := dst.Restore(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(map[string]string{"/k1": "v1", "/k2": "v2", "/k3": "v3"}, snapshot(t, dst.Datastore())); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
}

func TestRestoreFileRejectsTampering(t *testing.T) {
	ctx := t.Context()
	src := openDB(t, Config{})
	put(t, src.Namespace("ledger"), "/secret", "original")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.backup")
	if _, err := src.BackupToFile(ctx, good, 0); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(good + ManifestSuffix)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data, manifest []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if manifest != nil {
			if err := os.WriteFile(p+ManifestSuffix, manifest, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	flipped := bytes.Clone(data)
	i := bytes.Index(flipped, []byte("original"))
	if i < 0 {
		t.Fatal("value not found in the backup file")
	}
	flipped[i] = 'O'

	tests := []struct {
		name         string
		path         string
		wantChecksum bool
		wantErr      error
	}{
		{name: "flipped byte", path: write("flipped.backup", flipped, manifest), wantChecksum: true},
		{name: "truncated", path: write("truncated.backup", data[:len(data)-1], manifest), wantChecksum: true},
		{name: "appended", path: write("appended.backup", append(bytes.Clone(data), 0), manifest), wantChecksum: true},
		{name: "manifest with unknown field", path: write("unknown.backup", data, bytes.Replace(manifest, []byte(`"since"`), []byte(`"sinse"`), 1)), wantErr: ErrBadManifest},
		{name: "no manifest", path: write("orphan.backup", data, nil), wantErr: os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := openDB(t, Config{InMemory: true})
			_, err := dst.RestoreFile(ctx, tt.path)
			var ce *ChecksumError
			switch {
			case tt.wantChecksum && !errors.As(err, &ce):
				t.Fatalf("RestoreFile = %v, want a *ChecksumError", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("RestoreFile = %v, want %v", err, tt.wantErr)
			}
			if ce != nil && ce.Path != tt.path {
				t.Errorf("ChecksumError.Path = %q, want %q", ce.Path, tt.path)
			}
			if got := snapshot(t, dst.Datastore()); len(got) != 0 {
				t.Errorf("rejected backup loaded %v", got)
			}
		})
	}
}

func TestRestoreRejectsBadFraming(t *testing.T) {
	ctx := t.Context()
	huge := binary.LittleEndian.AppendUint64(nil, 1<<40)
	short := append(binary.LittleEndian.AppendUint64(nil, 100), make([]byte, 10)...)
	for name, stream := range map[string][]byte{
		"huge frame":       huge,
		"truncated frame":  short,
		"truncated header": {1, 2, 3},
	} {
		t.Run(name, func(t *testing.T) {
			db := openDB(t, Config{InMemory: true})
			if err := db.Restore(ctx, bytes.NewReader(stream)); err == nil {
				t.Fatal("Restore accepted a malformed stream")
			}
		})
	}
	db := openDB(t, Config{InMemory: true})
	if err := db.Restore(ctx, bytes.NewReader(nil)); err != nil {
		t.Fatalf("Restore(empty stream) = %v", err)
	}
}

func TestBackupCancelled(t *testing.T) {
	db := openDB(t, Config{InMemory: true})
	put(t, db.Datastore(), "/k", "v")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := db.Backup(ctx, &bytes.Buffer{}, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Backup with a cancelled context = %v", err)
	}
	if _, err := db.BackupToFile(ctx, filepath.Join(t.TempDir(), "b"), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("BackupToFile with a cancelled context = %v", err)
	}
	if err := db.Restore(ctx, bytes.NewReader(nil)); !errors.Is(err, context.Canceled) {
		t.Errorf("Restore with a cancelled context = %v", err)
	}
}

// TestBackupIsConsistentUnderWrites restores backups taken while a writer
// commits pairs of keys in single transactions. A backup made by several
// stream readers, each with its own read transaction, can hold one key of a
// pair without the other (OPS §4.3); with NumGo=8 this test catches that in
// most runs.
func TestBackupIsConsistentUnderWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: many backups under concurrent writes")
	}
	ctx := t.Context()
	src := openDB(t, Config{})
	s := src.Datastore()
	// Enough keys between "/a" and "/z" for badger to split the stream
	// into several key ranges.
	b, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12000 {
		if err := b.Put(ctx, ds.NewKey(fmt.Sprintf("/m/%06d", i)), []byte("filler")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rounds := 8
	if raceEnabled {
		rounds = 2 // about ten times slower; the race detector is the point then
	}
	next := 0 // the writer's next pair; only one writer runs at a time
	for round := range rounds {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Bounded, so that the backup's iterator, which must step over
			// every key committed after its snapshot, is not left chasing
			// the writer.
			for end := next + 3000; next < end; next++ {
				select {
				case <-stop:
					return
				default:
				}
				txn, err := s.NewTransaction(ctx, false)
				if err != nil {
					t.Error(err)
					return
				}
				_ = txn.Put(ctx, ds.NewKey(fmt.Sprintf("/a/%08d", next)), nil)
				_ = txn.Put(ctx, ds.NewKey(fmt.Sprintf("/z/%08d", next)), nil)
				if err := txn.Commit(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		var buf bytes.Buffer
		_, err := src.Backup(ctx, &buf, 0)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		dst := openDB(t, Config{InMemory: true})
		if err := dst.Restore(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(snapshot(t, dst.Namespace("a")), snapshot(t, dst.Namespace("z"))); diff != "" {
			t.Fatalf("round %d: torn transaction in backup (a -, z +):\n%s", round, diff)
		}
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if next == 0 {
		t.Fatal("writer committed nothing")
	}
}

func TestLatestChain(t *testing.T) {
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	f := func(name string, since, version uint64, created time.Time) BackupFile {
		return BackupFile{Path: name, Manifest: Manifest{Format: 1, Since: since, Version: version, Created: created}}
	}
	tests := []struct {
		name    string
		files   []BackupFile
		want    []string
		wantErr string
	}{
		{name: "empty", wantErr: "no full backup"},
		{name: "incrementals only", files: []BackupFile{f("i", 5, 9, at(1))}, wantErr: "no full backup"},
		{
			name:  "newest chain",
			files: []BackupFile{f("f1", 0, 5, at(0)), f("i1", 5, 9, at(1)), f("f2", 0, 12, at(2)), f("i2", 12, 15, at(3)), f("i3", 15, 20, at(4))},
			want:  []string{"f2", "i2", "i3"},
		},
		{
			name:  "empty incrementals skipped",
			files: []BackupFile{f("f", 0, 5, at(0)), f("e1", 5, 5, at(1)), f("e2", 5, 5, at(2)), f("i", 5, 8, at(3))},
			want:  []string{"f", "i"},
		},
		{
			name:  "stops at a gap",
			files: []BackupFile{f("f", 0, 5, at(0)), f("i", 5, 8, at(1)), f("late", 9, 12, at(2))},
			want:  []string{"f", "i"},
		},
		{
			name:  "newest full by time, not by version",
			files: []BackupFile{f("old-db", 0, 500, at(0)), f("old-i", 500, 600, at(1)), f("wiped-db", 0, 3, at(2)), f("wiped-i", 3, 9, at(3))},
			want:  []string{"wiped-db", "wiped-i"},
		},
		{
			name:  "incrementals older than the full ignored",
			files: []BackupFile{f("stale", 5, 8, at(0)), f("f", 0, 5, at(1))},
			want:  []string{"f"},
		},
		{
			name:    "ambiguous",
			files:   []BackupFile{f("f", 0, 5, at(0)), f("i1", 5, 8, at(1)), f("i2", 5, 9, at(2))},
			wantErr: "ambiguous",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain, err := LatestChain(tt.files)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LatestChain error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range chain {
				got = append(got, c.Path)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("chain (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWriteManifestForStreamedBackup follows `aurora ledger backup`: the
// stream comes from DB.Backup (over the API), the manifest from
// WriteManifest, and RestoreFile accepts the pair.
func TestWriteManifestForStreamedBackup(t *testing.T) {
	ctx := t.Context()
	src := openDB(t, Config{InMemory: true})
	put(t, src.Datastore(), "/k", "v")
	var buf bytes.Buffer
	version, err := src.Backup(ctx, &buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "streamed.backup")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	m := Manifest{Format: ManifestFormat, Version: version, SHA256: hex.EncodeToString(sum[:]), Size: int64(buf.Len()), Created: t0}
	if err := WriteManifest(path, Manifest{Format: ManifestFormat}); !errors.Is(err, ErrBadManifest) {
		t.Fatalf("WriteManifest(invalid) = %v, want ErrBadManifest", err)
	}
	if err := WriteManifest(path, m); err != nil {
		t.Fatal(err)
	}
	dst := openDB(t, Config{InMemory: true})
	got, err := dst.RestoreFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("manifest (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"/k": "v"}, snapshot(t, dst.Datastore())); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
}
