package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aurora-federation/aurora/node"
)

// TestBackupStreamIdleTimeoutKey: backup.stream_idle_timeout defaults to
// 1m (also when 0), is read from the environment, and must be 1s to 1h.
func TestBackupStreamIdleTimeoutKey(t *testing.T) {
	if got := node.DefaultConfig().Backup.StreamIdleTimeout.Std(); got != time.Minute {
		t.Errorf("default %v, want 1m", got)
	}
	for _, tt := range []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{value: "0s", want: time.Minute},
		{value: "999ms", wantErr: true},
		{value: "1s", want: time.Second},
		{value: "5s", want: 5 * time.Second},
		{value: "1h", want: time.Hour},
		{value: "1h0m0.001s", wantErr: true},
		{value: "-1s", wantErr: true},
		{value: "soon", wantErr: true},
	} {
		t.Run(tt.value, func(t *testing.T) {
			cfg := node.DefaultConfig()
			err := node.ApplyEnv(&cfg, []string{"AURORA_BACKUP_STREAM_IDLE_TIMEOUT=" + tt.value})
			if err == nil {
				err = cfg.Validate()
			}
			var ce *node.ConfigError
			switch {
			case tt.wantErr:
				if !errors.As(err, &ce) || ce.Key != "backup.stream_idle_timeout" {
					t.Fatalf("got %v, want a ConfigError on backup.stream_idle_timeout", err)
				}
			case err != nil:
				t.Fatal(err)
			case cfg.Backup.StreamIdleTimeout.Std() != tt.want:
				t.Errorf("got %v, want %v", cfg.Backup.StreamIdleTimeout.Std(), tt.want)
			}
		})
	}
}

// TestNodeBackupStreamIdleTimeout: a real node applies
// backup.stream_idle_timeout to its backup stream (not its API's 30 s write
// timeout): a client that stops reading is cut off after it.
func TestNodeBackupStreamIdleTimeout(t *testing.T) {
	cfg := newConfig()
	cfg.Backup.StreamIdleTimeout = node.Duration(time.Second)
	tn := startNode(t, cfg)
	// 12 MB: more than the loopback socket buffers take from a stream
	// nobody reads.
	s := tn.n.Store().Namespace("scratch")
	val := bytes.Repeat([]byte{0x5a}, 4<<10)
	for i := 0; i < 3000; i += 100 {
		b, err := s.Batch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for j := i; j < i+100; j++ {
			val[0], val[1] = byte(j), byte(j>>8) // not one value 3000 times over
			if err := b.Put(t.Context(), ds.NewKey(fmt.Sprint("/k", j)), bytes.Clone(val)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+tn.n.APIAddr()+"/v1/ledger/backup", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tn.token)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	failed := tn.n.Metrics().BackupStreams.WithLabelValues("failed")
	for testutil.ToFloat64(failed) == 0 {
		if time.Since(start) > 15*time.Second {
			t.Fatal("the stalled stream is still open after 15 s: backup.stream_idle_timeout (1s) is not applied")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("cut after %v, before the 1 s idle timeout", el)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.Trailer.Get(node.BackupVersionTrailer) != "" {
		t.Error("a stream cut by the idle timeout has its version trailer")
	}
}
