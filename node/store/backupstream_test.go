package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/google/go-cmp/cmp"
	ds "github.com/ipfs/go-datastore"
)

// cutWriter keeps what is written to it until limit bytes, then fails: a
// connection that drops in the middle of a backup.
type cutWriter struct {
	buf   bytes.Buffer
	limit int
}

var errCut = errors.New("connection cut")

func (c *cutWriter) Write(p []byte) (int, error) {
	if room := c.limit - c.buf.Len(); len(p) > room {
		c.buf.Write(p[:max(room, 0)])
		return max(room, 0), errCut
	}
	return c.buf.Write(p)
}

// resumeFixture writes keys whose order is the reverse of their versions'
// (the last key written first), in values big enough for several frames.
func resumeFixture(t *testing.T) (*DB, *Datastore) {
	t.Helper()
	db := openDB(t, Config{InMemory: true})
	db.backupFrame = 4 << 10
	s := db.Namespace("ledger")
	for i := 299; i >= 0; i-- {
		put(t, s, fmt.Sprintf("/job/%04d", i), strings.Repeat("v", 100+i))
	}
	return db, s
}

// restored loads the stream into a fresh DB and returns the ledger view's
// contents.
func restored(t *testing.T, streams ...[]byte) map[string]string {
	t.Helper()
	dst := openDB(t, Config{InMemory: true})
	for _, b := range streams {
		if err := dst.Restore(t.Context(), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	return snapshot(t, dst.Namespace("ledger"))
}

// TestBackupResume cuts a full backup in the middle of a frame, changes
// the database (keys before and after the cut: updated, deleted, added),
// and resumes from the kept part's cursor: the kept part and the rest
// restore to exactly the source. Resuming with only since = the kept
// part's highest version, as an incremental backup would, loses keys: the
// stream is in key order, not version order.
func TestBackupResume(t *testing.T) {
	ctx := t.Context()
	src, s := resumeFixture(t)
	cut := &cutWriter{limit: 40 << 10}
	if _, err := src.Backup(ctx, cut, 0); !errors.Is(err, errCut) {
		t.Fatalf("Backup into a cut connection = %v, want the writer's error", err)
	}
	scan, err := ScanBackup(ctx, bytes.NewReader(cut.buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if scan.Frames < 2 || !scan.Truncated || scan.Size >= int64(cut.buf.Len()) {
		t.Fatalf("scan of the kept %d bytes = %+v, want whole frames and a cut one", cut.buf.Len(), scan)
	}
	kept := cut.buf.Bytes()[:scan.Size]
	last := string(scan.Cursor.Key)
	if !strings.HasPrefix(last, "/ledger/job/") || last >= "/ledger/job/0299" {
		t.Fatalf("cursor key %q: want a job key short of the last", last)
	}

	before, after := "/job/0003", "/job/0290" // either side of the cut
	put(t, s, before, "updated", after, "updated", "/job/0000a", "new before", "/job/9999", "new after")
	for _, k := range []string{"/job/0001", "/job/0298"} {
		if err := s.Delete(ctx, ds.NewKey(k)); err != nil {
			t.Fatal(err)
		}
	}
	want := snapshot(t, s)

	var rest bytes.Buffer
	v, err := src.BackupFrom(ctx, &rest, 0, scan.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	full, err := src.Backup(ctx, &bytes.Buffer{}, 0)
	if err != nil || v != full {
		t.Fatalf("resumed version %d, a full backup's %d (%v)", v, full, err)
	}
	if diff := cmp.Diff(want, restored(t, append(append([]byte(nil), kept...), rest.Bytes()...))); diff != "" {
		t.Errorf("kept part + resumed rest (-source +restored):\n%s", diff)
	}

	var naive bytes.Buffer
	if _, err := src.Backup(ctx, &naive, scan.Cursor.Version); err != nil {
		t.Fatal(err)
	}
	got := restored(t, kept, naive.Bytes())
	if _, ok := got["/job/0299"]; ok || len(got) >= len(want) {
		t.Errorf("an incremental since the kept part's version restored %d of %d keys (with /job/0299): this fixture does not catch a version-only resume", len(got), len(want))
	}
}

// TestBackupResumeRepeatedly cuts every stream, full and incremental, at
// random points while a writer changes the database between attempts, and
// resumes from the cursor of everything kept so far until a stream
// completes: the chain restores to the source every time.
func TestBackupResumeRepeatedly(t *testing.T) {
	ctx := t.Context()
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			src, s := resumeFixture(t)
			mutate := func() {
				for range 5 {
					k := fmt.Sprintf("/job/%04d", rng.IntN(320))
					if rng.IntN(4) == 0 {
						if err := s.Delete(ctx, ds.NewKey(k)); err != nil {
							t.Fatal(err)
						}
						continue
					}
					put(t, s, k, strings.Repeat("w", 50+rng.IntN(200)))
				}
			}
			backup := func(since uint64) ([]byte, uint64) {
				var file []byte
				for attempt := 0; ; attempt++ {
					scan, err := ScanBackup(ctx, bytes.NewReader(file))
					if err != nil {
						t.Fatal(err)
					}
					file = file[:scan.Size]
					cut := &cutWriter{limit: 1 << 30}
					if attempt < 4 {
						cut.limit = 2<<10 + rng.IntN(20<<10)
					}
					v, err := src.BackupFrom(ctx, cut, since, scan.Cursor)
					file = append(file, cut.buf.Bytes()...)
					if err == nil {
						return file, v
					}
					if !errors.Is(err, errCut) {
						t.Fatal(err)
					}
					mutate()
				}
			}
			full, v := backup(0)
			mutate()
			incr, _ := backup(v)
			if diff := cmp.Diff(snapshot(t, s), restored(t, full, incr)); diff != "" {
				t.Errorf("full + incremental, both resumed (-source +restored):\n%s", diff)
			}
		})
	}
}

func TestScanBackup(t *testing.T) {
	ctx := t.Context()
	src, _ := resumeFixture(t)
	var b bytes.Buffer
	v, err := src.Backup(ctx, &b, 0)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := ScanBackup(ctx, bytes.NewReader(b.Bytes()))
	if err != nil || whole.Truncated || whole.Size != int64(b.Len()) || whole.Entries != 300 || whole.Cursor.Version != v ||
		string(whole.Cursor.Key) != "/ledger/job/0299" {
		t.Fatalf("scan of a whole backup = %+v, %v (version %d, %d bytes)", whole, err, v, b.Len())
	}
	frame := func(n uint64, payload []byte) []byte {
		return append(binary.LittleEndian.AppendUint64(nil, n), payload...)
	}
	for _, tc := range []struct {
		name    string
		stream  []byte
		want    BackupScan
		wantErr string
	}{
		{name: "empty"},
		{name: "cut header", stream: b.Bytes()[:5], want: BackupScan{Truncated: true}},
		{name: "cut payload", stream: frame(10, []byte("abc")), want: BackupScan{Truncated: true}},
		{name: "empty frame", stream: frame(0, nil), want: BackupScan{Size: 8, Frames: 1}},
		{name: "frame at the limit, cut", stream: frame(MaxBackupFrameSize, []byte{1}), want: BackupScan{Truncated: true}},
		{name: "frame over the limit", stream: frame(MaxBackupFrameSize+1, nil), wantErr: "exceeds"},
		{name: "not a KVList", stream: frame(3, []byte{0xff, 0xff, 0xff}), wantErr: "frame 0"},
		{name: "an entry without a key", stream: frame(2, []byte{0x0a, 0x00}), wantErr: "without a key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ScanBackup(ctx, bytes.NewReader(tc.stream))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ScanBackup = %+v, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ScanBackup(cancelled, bytes.NewReader(b.Bytes())); !errors.Is(err, context.Canceled) {
		t.Errorf("ScanBackup with a cancelled context = %v", err)
	}
}

func TestBackupFromRejectsBadCursors(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, Config{InMemory: true})
	put(t, db.Datastore(), "/k", "v")
	for _, tc := range []struct {
		name    string
		since   uint64
		c       BackupCursor
		wantErr string
	}{
		{name: "key at the limit", c: BackupCursor{Key: bytes.Repeat([]byte{'k'}, MaxBackupCursorKey), Version: 1}},
		{name: "key over the limit", c: BackupCursor{Key: bytes.Repeat([]byte{'k'}, MaxBackupCursorKey+1), Version: 1}, wantErr: "exceeds"},
		{name: "version without a key", c: BackupCursor{Version: 3}, wantErr: "no key"},
		{name: "version below since", since: 5, c: BackupCursor{Key: []byte("/k"), Version: 4}, wantErr: "below since"},
		{name: "version at since", since: 5, c: BackupCursor{Key: []byte("/k"), Version: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.BackupFrom(ctx, &bytes.Buffer{}, tc.since, tc.c)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("BackupFrom = %v, want error %q", err, tc.wantErr)
			}
		})
	}
}

// TestBackupCarriesExpiryAndDiscard: an entry with a TTL keeps its expiry
// through a backup, and one written to discard earlier versions hides an
// older version restored before it.
func TestBackupCarriesExpiryAndDiscard(t *testing.T) {
	ctx := t.Context()
	src := openDB(t, Config{InMemory: true})
	s := src.Namespace("ledger")
	put(t, s, "/old", "1")
	var full bytes.Buffer
	v, err := src.Backup(ctx, &full, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWithTTL(ctx, ds.NewKey("/ttl"), []byte("t"), time.Hour); err != nil {
		t.Fatal(err)
	}
	exp, err := s.GetExpiration(ctx, ds.NewKey("/ttl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Badger().Update(func(txn *badger.Txn) error {
		return txn.SetEntry(badger.NewEntry([]byte("/ledger/old"), []byte("2")).WithDiscard())
	}); err != nil {
		t.Fatal(err)
	}
	var incr bytes.Buffer
	if _, err := src.Backup(ctx, &incr, v); err != nil {
		t.Fatal(err)
	}
	dst := openDB(t, Config{InMemory: true})
	for _, b := range []*bytes.Buffer{&full, &incr} {
		if err := dst.Restore(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	d := dst.Namespace("ledger")
	if got, err := d.GetExpiration(ctx, ds.NewKey("/ttl")); err != nil || !got.Equal(exp) {
		t.Errorf("restored expiry %v (%v), want %v", got, err, exp)
	}
	if diff := cmp.Diff(map[string]string{"/old": "2", "/ttl": "t"}, snapshot(t, d)); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
}

// backupBenchDB is a 64 MB database: 16,384 keys of 4 KiB.
func backupBenchDB(b *testing.B) *DB {
	db := openDB(b, Config{})
	s := db.Namespace("ledger")
	val := make([]byte, 4<<10)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 16384; i += 256 {
		bt, err := s.Batch(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		for j := i; j < i+256; j++ {
			for k := range val {
				val[k] = byte(rng.Uint32())
			}
			if err := bt.Put(b.Context(), ds.NewKey(fmt.Sprintf("/job/%06d", j)), bytes.Clone(val)); err != nil {
				b.Fatal(err)
			}
		}
		if err := bt.Commit(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// countingDiscard counts what it is written.
type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkBackup streams a 64 MB database with DB.Backup (one read
// transaction, key order, 1 MiB frames).
func BenchmarkBackup(b *testing.B) {
	db := backupBenchDB(b)
	var w countingDiscard
	for b.Loop() {
		w.n = 0
		if _, err := db.Backup(b.Context(), &w, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(w.n)
}

// BenchmarkBadgerStreamBackup is badger's own single-reader Stream.Backup
// of the same database, which DB.Backup replaced: the comparison.
func BenchmarkBadgerStreamBackup(b *testing.B) {
	db := backupBenchDB(b)
	var w countingDiscard
	for b.Loop() {
		w.n = 0
		st := db.Badger().NewStream()
		st.NumGo = 1
		if _, err := st.Backup(&w, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(w.n)
}

// FuzzScanBackup: on any input, ScanBackup either fails or reports whole
// frames that end at Size, with Truncated exactly when bytes follow; the
// whole frames alone scan to the same cursor.
func FuzzScanBackup(f *testing.F) {
	db, err := Open(Config{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	db.backupFrame = 64
	s := db.Namespace("ledger")
	for i := range 8 {
		if err := s.Put(f.Context(), ds.NewKey(fmt.Sprint("/k", i)), bytes.Repeat([]byte{byte(i)}, 40)); err != nil {
			f.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := db.Backup(f.Context(), &b, 0); err != nil {
		f.Fatal(err)
	}
	db.Close()
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:b.Len()-3])
	f.Add(b.Bytes()[:11])
	f.Add([]byte{})
	f.Add(binary.LittleEndian.AppendUint64(nil, MaxBackupFrameSize+1))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ScanBackup(t.Context(), bytes.NewReader(data))
		if err != nil {
			return
		}
		if s.Size > int64(len(data)) || s.Truncated != (s.Size < int64(len(data))) {
			t.Fatalf("scan %+v of %d bytes", s, len(data))
		}
		if (s.Entries > 0) != (len(s.Cursor.Key) > 0) {
			t.Fatalf("%d entries, cursor key %q", s.Entries, s.Cursor.Key)
		}
		again, err := ScanBackup(t.Context(), bytes.NewReader(data[:s.Size]))
		if err != nil || again.Truncated || again.Size != s.Size || again.Frames != s.Frames || !bytes.Equal(again.Cursor.Key, s.Cursor.Key) || again.Cursor.Version != s.Cursor.Version {
			t.Fatalf("the whole frames scan to %+v (%v), the input to %+v", again, err, s)
		}
	})
}
