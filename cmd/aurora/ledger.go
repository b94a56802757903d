package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/internal/boundedio"
	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/treaty"
)

func newLedgerCmd() *cobra.Command {
	ledger := &cobra.Command{Use: "ledger", Short: "Back up, restore and snapshot the node's database"}
	var out string
	var since uint64
	var resume bool
	backup := &cobra.Command{
		Use:   "backup -o FILE [--since VERSION] [--resume]",
		Short: "Write a transaction-consistent backup (full, or incremental since a version) with a manifest",
		Long: `Streams a backup from the running node (POST /v1/ledger/backup, operator token) into
FILE.partial, then fsyncs it, renames it to FILE and writes FILE.manifest.json
(since, version, sha256). Pass the previous manifest's version as --since for an
incremental backup: it holds every version greater than since (do not add 1).

The stream has no overall time limit: the node only requires that each 64 KiB
is taken within its backup.stream_idle_timeout. Progress goes to stderr. If the
stream is cut short, FILE.partial and FILE.partial.json stay: --resume keeps
the whole frames received and fetches only the rest (what the node has changed
meanwhile included), so FILE is the same backup an uncut stream would have made.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("-o FILE is required")
			}
			b := &backupRun{c: apiClient(cmd), path: out, since: since, sinceSet: cmd.Flags().Changed("since"), stderr: cmd.ErrOrStderr(), now: time.Now}
			var m store.Manifest
			var err error
			if resume {
				m, err = b.resume(cmd.Context())
			} else {
				m, err = b.start(cmd.Context())
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes, since %d, version %d, sha256 %s)\nnext incremental: aurora ledger backup --since %d -o FILE\n",
				out, m.Size, m.Since, m.Version, m.SHA256, m.Version)
			return nil
		},
	}
	backup.Flags().StringVarP(&out, "out", "o", "", "backup file to write")
	backup.Flags().Uint64Var(&since, "since", 0, "incremental from this version (the previous manifest's version); 0 = full")
	backup.Flags().BoolVar(&resume, "resume", false, "continue the interrupted backup in FILE.partial")
	addAPIFlag(backup)

	restore := &cobra.Command{
		Use:   "restore FILE...",
		Short: "Restore backups (full first, then incrementals in order) into a stopped node's database",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			home, err := homeDir(cmd)
			if err != nil {
				return err
			}
			db, err := store.Open(store.Config{Dir: filepath.Join(home, node.DataDir)})
			if err != nil {
				return fmt.Errorf("open %s: %w (stop the node first)", filepath.Join(home, node.DataDir), err)
			}
			defer db.Close()
			for _, f := range files {
				m, err := db.RestoreFile(cmd.Context(), f)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "restored %s (since %d, version %d)\n", f, m.Since, m.Version)
			}
			// Nonces used after the backup are gone: orders created before
			// now are refused until they expire, so none can be replayed.
			now := time.Now()
			if err := node.LedgerOf(db).MarkRestored(cmd.Context(), now); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "orders created before %s are refused until %s (their nonces may have been used after the backup)\n",
				now.UTC().Format(time.RFC3339), now.Add(treaty.MaxOrderLifetime+treaty.MaxClockSkew).UTC().Format(time.RFC3339))
			return nil
		},
	}
	ledger.AddCommand(backup, restore, newLedgerSnapshotCmd())
	return ledger
}

// Files of a backup in progress, beside FILE.
const (
	partialSuffix      = ".partial"      // the stream as received
	partialStateSuffix = ".partial.json" // what it is a backup of
	maxPartialState    = 4 << 10
	progressInterval   = 10 * time.Second
)

// partialState is FILE.partial.json: what the stream in FILE.partial is, so
// that --resume asks for the same backup.
type partialState struct {
	Since   uint64    `json:"since"`
	API     string    `json:"api"`
	Started time.Time `json:"started"`
}

// backupRun streams one backup into FILE.partial and, once the stream is
// complete (it ends with the version trailer), makes it FILE with its
// manifest.
type backupRun struct {
	c        *client.Client
	path     string
	since    uint64
	sinceSet bool
	stderr   io.Writer
	now      func() time.Time
}

// start begins a new backup; it refuses to overwrite an interrupted one.
func (b *backupRun) start(ctx context.Context) (store.Manifest, error) {
	part := b.path + partialSuffix
	if _, err := os.Stat(part); err == nil {
		return store.Manifest{}, fmt.Errorf("backup: %s holds an interrupted backup: continue it with --resume, or delete %s and %s", part, part, b.path+partialStateSuffix)
	}
	st, err := json.Marshal(partialState{Since: b.since, API: b.c.Base, Started: b.now().UTC()})
	if err != nil {
		return store.Manifest{}, err
	}
	if err := writeFileAtomic(b.path+partialStateSuffix, append(st, '\n')); err != nil {
		return store.Manifest{}, fmt.Errorf("backup: %w", err)
	}
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	m, err := b.stream(ctx, f, sha256.New(), 0, store.BackupCursor{})
	if fi, serr := f.Stat(); err != nil && serr == nil && fi.Size() == 0 {
		// Nothing arrived (refused, unreachable): nothing to resume.
		f.Close()
		os.Remove(part)
		os.Remove(b.path + partialStateSuffix)
	}
	return m, err
}

// resume keeps the whole frames of FILE.partial and streams the rest.
func (b *backupRun) resume(ctx context.Context) (store.Manifest, error) {
	part := b.path + partialSuffix
	raw, err := boundedio.ReadFile(b.path+partialStateSuffix, maxPartialState)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("backup --resume: %w (no interrupted backup of %s?)", err, b.path)
	}
	var st partialState
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return store.Manifest{}, fmt.Errorf("backup --resume: %s: %w", b.path+partialStateSuffix, err)
	}
	if b.sinceSet && b.since != st.Since {
		return store.Manifest{}, fmt.Errorf("backup --resume: %s is a backup since %d, not --since %d", part, st.Since, b.since)
	}
	b.since = st.Since
	f, err := os.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("backup --resume: %w", err)
	}
	defer f.Close()
	scan, err := store.ScanBackup(ctx, bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return store.Manifest{}, fmt.Errorf("backup --resume: %s: %w", part, err)
	}
	// Drop the frame that was cut, and hash what is kept.
	if err := f.Truncate(scan.Size); err != nil {
		return store.Manifest{}, fmt.Errorf("backup --resume: %w", err)
	}
	h := sha256.New()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return store.Manifest{}, err
	}
	if _, err := io.Copy(h, io.LimitReader(f, scan.Size)); err != nil {
		return store.Manifest{}, fmt.Errorf("backup --resume: %w", err)
	}
	fmt.Fprintf(b.stderr, "resuming %s (started %s from %s): %d bytes kept (%d whole frames, up to version %d)\n",
		part, st.Started.Format(time.RFC3339), st.API, scan.Size, scan.Frames, scan.Cursor.Version)
	return b.stream(ctx, f, h, scan.Size, scan.Cursor)
}

// stream appends the node's stream to f (positioned at kept bytes, whose
// hash is h) and completes the backup.
func (b *backupRun) stream(ctx context.Context, f *os.File, h hash.Hash, kept int64, cur store.BackupCursor) (store.Manifest, error) {
	q := url.Values{"since": {strconv.FormatUint(b.since, 10)}}
	if !cur.IsZero() {
		q.Set("after_key", base64.RawURLEncoding.EncodeToString(cur.Key))
		q.Set("after_version", strconv.FormatUint(cur.Version, 10))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.c.Base+"/v1/ledger/backup?"+q.Encode(), nil)
	if err != nil {
		return store.Manifest{}, err
	}
	req.Header.Set("Authorization", "Bearer "+b.c.Token)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("node API: %w (is the node running? a stopped node's data dir can be copied as is)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return store.Manifest{}, fmt.Errorf("backup: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	start := b.now()
	pw := &progressWriter{w: io.MultiWriter(f, h), out: b.stderr, now: b.now, start: start, last: start}
	bw := bufio.NewWriterSize(pw, 1<<20)
	n, err := io.Copy(bw, resp.Body)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if serr := f.Sync(); err == nil {
		err = serr
	}
	vs := resp.Trailer.Get(node.BackupVersionTrailer)
	version, perr := strconv.ParseUint(vs, 10, 64)
	if err == nil && (vs == "" || perr != nil) {
		err = errors.New("the stream ended without its version trailer")
	}
	if err != nil && kept+n == 0 {
		return store.Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if err != nil {
		return store.Manifest{}, fmt.Errorf("backup interrupted after %d bytes (%d kept before): %w\ncontinue it: aurora ledger backup -o %s --resume", n, kept, err, b.path)
	}
	if err := f.Close(); err != nil {
		return store.Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(f.Name(), b.path); err != nil {
		return store.Manifest{}, fmt.Errorf("backup: %w", err)
	}
	m := store.Manifest{Format: store.ManifestFormat, Since: b.since, Version: version, SHA256: hex.EncodeToString(h.Sum(nil)), Size: kept + n, Created: b.now().UTC()}
	if err := store.WriteManifest(b.path, m); err != nil {
		return store.Manifest{}, err
	}
	if err := os.Remove(b.path + partialStateSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return store.Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if el := b.now().Sub(start); el >= progressInterval {
		fmt.Fprintf(b.stderr, "received %d bytes in %s (%.1f MB/s)\n", n, el.Round(time.Second), float64(n)/1e6/el.Seconds())
	}
	return m, nil
}

// progressWriter reports the bytes received every progressInterval.
type progressWriter struct {
	w           io.Writer
	out         io.Writer
	now         func() time.Time
	start, last time.Time
	n           int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if t := p.now(); t.Sub(p.last) >= progressInterval {
		p.last = t
		el := t.Sub(p.start)
		fmt.Fprintf(p.out, "backup: %d MiB received in %s (%.1f MB/s)\n", p.n>>20, el.Round(time.Second), float64(p.n)/1e6/el.Seconds())
	}
	return n, err
}

func newHealthCmd() *cobra.Command {
	var path string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 if the node answers 200 on a health endpoint (container health checks)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, _ := cmd.Flags().GetString("api")
			if base == "" {
				base = "http://127.0.0.1:7070"
			}
			hc := &http.Client{Timeout: timeout}
			resp, err := hc.Get(base + path)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s%s: %s", base, path, resp.Status)
			}
			return nil
		},
	}
	cmd.Flags().String("api", "", "node API base URL (default http://127.0.0.1:7070)")
	cmd.Flags().StringVar(&path, "path", "/healthz", "endpoint to check: /healthz or /readyz")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}
