package node_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/store"
)

const backupTestToken = "backup-test-token"

// backupServer serves the API's backup endpoint for a real badger DB on
// disk through a real HTTP server whose timeouts are those of the node's
// server, scaled down: the stream must not depend on them.
type backupServer struct {
	logs    *backupLogBuffer // the API's log, JSON lines
	db      *store.DB
	metrics *node.Metrics
	url     string
	srv     *http.Server
	timeout time.Duration // the server's ReadTimeout and WriteTimeout
}

func newBackupServer(t testing.TB, idle, timeout time.Duration) *backupServer {
	t.Helper()
	db, err := store.Open(store.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	bs := &backupServer{db: db, metrics: node.NewMetrics(), timeout: timeout, logs: &backupLogBuffer{}}
	h := node.NewAPIHandler(node.APIHandlerConfig{Token: backupTestToken, Metrics: bs.metrics, Backup: db.BackupFrom, BackupIdleTimeout: idle,
		BackupProgressEvery: 1 << 20, Logger: slog.New(slog.NewJSONHandler(bs.logs, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs.srv = &http.Server{Handler: h, ReadHeaderTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() { defer close(done); bs.srv.Serve(ln) }()
	t.Cleanup(func() { bs.srv.Close(); <-done })
	bs.url = "http://" + ln.Addr().String() + "/v1/ledger/backup"
	return bs
}

// backupLogBuffer is a bytes.Buffer safe for a logger and a test to share.
type backupLogBuffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (s *backupLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// records returns the logged records whose msg is msg.
func (s *backupLogBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n")) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// fill writes n keys of size random (incompressible) bytes each, in
// batches, and returns their total size.
func (bs *backupServer) fill(t testing.TB, n, size int) int64 {
	t.Helper()
	ctx := t.Context()
	s := bs.db.Namespace("ledger")
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, size)
	for i := 0; i < n; {
		b, err := s.Batch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for end := min(n, i+128); i < end; i++ {
			for j := range buf {
				buf[j] = byte(rng.Uint32())
			}
			if err := b.Put(ctx, ds.NewKey(fmt.Sprintf("/job/%06d", (i*7919)%n)), bytes.Clone(buf)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return int64(n * size)
}

func (bs *backupServer) request(t testing.TB, query string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, bs.url+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+backupTestToken)
	return req
}

// contents is every key and value of the DB's ledger view.
func contents(t *testing.T, db *store.DB) map[string][]byte {
	t.Helper()
	res, err := db.Namespace("ledger").Query(t.Context(), dsq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range es {
		out[e.Key] = e.Value
	}
	return out
}

func restoreInto(t *testing.T, streams ...[]byte) *store.DB {
	t.Helper()
	db, err := store.Open(store.Config{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, s := range streams {
		if err := db.Restore(t.Context(), bytes.NewReader(s)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func sameContents(t *testing.T, want, got map[string][]byte) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("restored %d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("key %s: restored %d bytes, want %d", k, len(got[k]), len(v))
		}
	}
}

// slowReader reads at most chunk bytes every pause.
type slowReader struct {
	r     io.Reader
	chunk int
	pause time.Duration
}

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), s.chunk)])
}

// TestBackupOutlastsServerTimeouts streams a backup to a client that reads
// so slowly that the stream takes many times the server's read and write
// timeouts (which the node sets to 15 s and 30 s): it completes with its
// trailers, restores to the source, and is counted.
func TestBackupOutlastsServerTimeouts(t *testing.T) {
	const timeout = 250 * time.Millisecond
	bs := newBackupServer(t, 2*time.Second, timeout)
	size := bs.fill(t, 3000, 4<<10) // 12 MB: more than the loopback socket buffers hold
	want := contents(t, bs.db)

	start := time.Now()
	resp, err := http.DefaultClient.Do(bs.request(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	// 12 MB at about 16 MB/s: under a second of streaming, or more with the
	// race detector; pauses of 4 ms, far below the 2 s idle timeout.
	body, err := io.ReadAll(slowReader{r: resp.Body, chunk: 64 << 10, pause: 4 * time.Millisecond})
	if err != nil {
		t.Fatalf("stream cut after %d bytes, %v: %v", len(body), time.Since(start), err)
	}
	took := time.Since(start)
	if took < 3*timeout {
		t.Fatalf("the stream took %v, not over 3× the server timeout %v: the test proves nothing", took, timeout)
	}
	v, err := strconv.ParseUint(resp.Trailer.Get(node.BackupVersionTrailer), 10, 64)
	if err != nil || v == 0 {
		t.Fatalf("version trailer %q: %v", resp.Trailer.Get(node.BackupVersionTrailer), err)
	}
	if got := resp.Trailer.Get(node.BackupBytesTrailer); got != strconv.Itoa(len(body)) {
		t.Errorf("bytes trailer %q, received %d", got, len(body))
	}
	sameContents(t, want, contents(t, restoreInto(t, body)))
	if got := testutil.ToFloat64(bs.metrics.BackupStreamBytes); got != float64(len(body)) {
		t.Errorf("aurora_backup_stream_bytes_total = %v, want %d", got, len(body))
	}
	if got := testutil.ToFloat64(bs.metrics.BackupStreams.WithLabelValues("ok")); got != 1 {
		t.Errorf("aurora_backup_streams_total{result=ok} = %v, want 1", got)
	}
	// One progress line per MiB (BackupProgressEvery), then the total.
	if got, want := len(bs.logs.records(t, "backup progress")), len(body)>>20; got != want {
		t.Errorf("%d progress lines for %d bytes, want %d", got, len(body), want)
	}
	if done := bs.logs.records(t, "backup streamed"); len(done) != 1 || done[0]["bytes"] != float64(len(body)) || done[0]["version"] != float64(v) {
		t.Errorf("final log line %v, want bytes %d and version %d", done, len(body), v)
	}
	// Frames of whole keys, of about 1 MiB (4 KiB values).
	scan, err := store.ScanBackup(t.Context(), bytes.NewReader(body))
	if err != nil || scan.Truncated || scan.Frames < len(body)/(1<<20+8<<10) || scan.Frames > len(body)/(1<<20)+1 {
		t.Errorf("%d bytes in %d frames (%v): want frames of about 1 MiB", len(body), scan.Frames, err)
	}
	t.Logf("%d MB of data, %d-byte stream in %v (%.1f MB/s) through a server with %v timeouts", size>>20, len(body), took.Round(time.Millisecond),
		float64(len(body))/1e6/took.Seconds(), timeout)
}

// TestBackupIdleTimeout: a client that stops reading is cut off once the
// stream has waited BackupIdleTimeout for it, and the stream counts as
// failed; the server is free again.
func TestBackupIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	bs := newBackupServer(t, idle, 10*time.Second)
	bs.fill(t, 3000, 4<<10)
	start := time.Now()
	resp, err := http.DefaultClient.Do(bs.request(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	failed := bs.metrics.BackupStreams.WithLabelValues("failed")
	deadline := time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(failed) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a stalled client's backup is still streaming after 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(start); took < idle {
		t.Errorf("cut after %v, before the idle timeout %v", took, idle)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err == nil && resp.Trailer.Get(node.BackupVersionTrailer) != "" {
		t.Error("a stream cut by the idle timeout ended with its version trailer")
	}
	// The maintenance lock is free: another backup starts at once. (Only
	// its start is checked: on a loaded machine this reader, too, can
	// stall beyond the 300 ms idle timeout and be cut off, rightly.)
	resp2, err := http.DefaultClient.Do(bs.request(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(resp2.Body, first); resp2.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("the next backup: status %d, first byte: %v", resp2.StatusCode, err)
	}
}

// TestBackupResumeOverHTTP cuts a backup stream by closing the connection,
// keeps the whole frames received, writes more, and asks for the rest with
// the kept part's cursor: the two restore to the source.
func TestBackupResumeOverHTTP(t *testing.T) {
	bs := newBackupServer(t, 5*time.Second, 5*time.Second)
	total := bs.fill(t, 3000, 4<<10) // 12 MB: one whole 8 MiB frame, then the cut
	resp, err := http.DefaultClient.Do(bs.request(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	part, err := io.ReadAll(io.LimitReader(resp.Body, 9<<20+1234))
	resp.Body.Close() // the connection drops mid-frame
	if err != nil {
		t.Fatal(err)
	}
	scan, err := store.ScanBackup(t.Context(), bytes.NewReader(part))
	if err != nil || scan.Frames == 0 || !scan.Truncated {
		t.Fatalf("scan of the %d bytes received: %+v, %v", len(part), scan, err)
	}
	kept := part[:scan.Size]
	ctx := t.Context()
	s := bs.db.Namespace("ledger")
	for _, k := range []string{"/job/000000", "/job/002999", "/new"} {
		if err := s.Put(ctx, ds.NewKey(k), []byte("changed while the client was away")); err != nil {
			t.Fatal(err)
		}
	}
	q := fmt.Sprintf("?since=0&after_key=%s&after_version=%d", base64.RawURLEncoding.EncodeToString(scan.Cursor.Key), scan.Cursor.Version)
	resp, err = http.DefaultClient.Do(bs.request(t, q))
	if err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || resp.Trailer.Get(node.BackupVersionTrailer) == "" {
		t.Fatalf("resume: status %d, %v, trailers %v", resp.StatusCode, err, resp.Trailer)
	}
	if int64(len(rest)) >= total-scan.Size/2 {
		t.Errorf("the rest is %d bytes: the kept %d were sent again", len(rest), len(kept))
	}
	sameContents(t, contents(t, bs.db), contents(t, restoreInto(t, append(bytes.Clone(kept), rest...))))
}

// TestBackupQueryErrors: hostile parameters are 400 naming the parameter,
// and the limits hold at and beyond their bounds.
func TestBackupQueryErrors(t *testing.T) {
	bs := newBackupServer(t, 5*time.Second, 5*time.Second)
	bs.fill(t, 3, 10)
	keyAt := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{'k'}, store.MaxBackupCursorKey))
	keyOver := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{'k'}, store.MaxBackupCursorKey+1))
	for _, tc := range []struct {
		query string
		field string // "" for 200
	}{
		{query: ""},
		{query: "?since=0"},
		{query: "?since=18446744073709551615"},
		{query: "?since=18446744073709551616", field: "since"},
		{query: "?since=-1", field: "since"},
		{query: "?since=", field: "since"},
		{query: "?since=abc", field: "since"},
		{query: "?since=1.5", field: "since"},
		{query: "?since=0x10", field: "since"},
		{query: "?since=1e3", field: "since"},
		{query: "?since=%2B1", field: "since"},
		{query: "?since=%201", field: "since"},
		{query: "?since=01", field: "since"},
		{query: "?since=1&since=2", field: "since"},
		{query: "?sinse=1", field: "sinse"},
		{query: "?=1", field: "query"},
		{query: "?since=1&", field: ""}, // an empty pair is no parameter
		{query: "?since=1&after_key=a2V5", field: "after_version"},
		{query: "?after_version=3", field: "after_key"},
		{query: "?after_key=a2V5&after_version=x", field: "after_version"},
		{query: "?after_key=%2B%2F%2F%2F&after_version=3", field: "after_key"}, // standard base64, not URL
		{query: "?after_key=a2V5eQ%3D%3D&after_version=3", field: "after_key"}, // padded
		{query: "?after_key=&after_version=3", field: "after_key"},
		{query: "?after_key=" + keyAt + "&after_version=3"},
		{query: "?after_key=" + keyOver + "&after_version=3", field: "after_key"},
		{query: "?since=5&after_key=a2V5&after_version=4", field: "after_version"},
		{query: "?since=5&after_key=a2V5&after_version=5"},
	} {
		name := tc.query
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(bs.request(t, tc.query))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if tc.field == "" {
				if resp.StatusCode != http.StatusOK || resp.Trailer.Get(node.BackupVersionTrailer) == "" || resp.Header.Get(node.BackupVersionTrailer) != "" {
					t.Fatalf("status %d, headers %v, trailers %v: %s", resp.StatusCode, resp.Header, resp.Trailer, body)
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			if e := apiError(t, resp.StatusCode, resp.Header.Get("Content-Type"), body); e.Field != tc.field || e.Code != "bad_query" {
				t.Errorf("error %+v, want bad_query naming %q", e, tc.field)
			}
		})
	}
	t.Run("body", func(t *testing.T) {
		req := bs.request(t, "")
		req.Body, req.ContentLength = io.NopCloser(strings.NewReader("x")), 1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if e := apiError(t, resp.StatusCode, resp.Header.Get("Content-Type"), body); resp.StatusCode != 400 || e.Field != "body" {
			t.Errorf("status %d, error %+v: want 400 naming body", resp.StatusCode, e)
		}
	})
	t.Run("a failure before the first byte is an error answer", func(t *testing.T) {
		bs.db.Close()
		resp, err := http.DefaultClient.Do(bs.request(t, ""))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if e := apiError(t, resp.StatusCode, resp.Header.Get("Content-Type"), body); resp.StatusCode != 500 || e.Code != "backup_failed" || !strings.Contains(e.Message, "closed") {
			t.Errorf("status %d, error %+v: want 500 backup_failed", resp.StatusCode, e)
		}
	})
}

// BenchmarkBackupStream streams a 64 MB ledger (16,384 keys of 4 KiB)
// through the API over loopback HTTP as fast as the client takes it:
// MB/s of backup stream.
func BenchmarkBackupStream(b *testing.B) {
	bs := newBackupServer(b, time.Minute, 30*time.Second)
	bs.fill(b, 16384, 4<<10)
	var n int64
	for b.Loop() {
		resp, err := http.DefaultClient.Do(bs.request(b, ""))
		if err != nil {
			b.Fatal(err)
		}
		m, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.Trailer.Get(node.BackupVersionTrailer) == "" {
			b.Fatalf("%d bytes, %v", m, err)
		}
		n = m
	}
	b.SetBytes(n)
}
