package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/treaty"
)

func newLedgerCmd() *cobra.Command {
	ledger := &cobra.Command{Use: "ledger", Short: "Back up and restore the node's database"}
	var out string
	var since uint64
	backup := &cobra.Command{
		Use:   "backup -o FILE [--since VERSION]",
		Short: "Write a transaction-consistent backup (full, or incremental since a version) with a manifest",
		Long: `Streams a backup from the running node (POST /v1/ledger/backup, operator token) and
writes FILE (temp file + fsync + rename) and FILE.manifest.json (since, version,
sha256). Pass the previous manifest's version as --since for an incremental
backup: it holds every version greater than since (do not add 1).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("-o FILE is required")
			}
			c := apiClient(cmd)
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, c.Base+"/v1/ledger/backup?since="+strconv.FormatUint(since, 10), nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+c.Token)
			resp, err := (&http.Client{}).Do(req)
			if err != nil {
				return fmt.Errorf("node API: %w (is the node running? a stopped node's data dir can be copied as is)", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				return fmt.Errorf("backup: %s: %s", resp.Status, b)
			}
			m, err := writeBackup(out, since, resp)
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
	ledger.AddCommand(backup, restore)
	return ledger
}

// writeBackup writes the streamed backup to path atomically, then its
// manifest, checking the version trailer that marks a complete stream.
func writeBackup(path string, since uint64, resp *http.Response) (store.Manifest, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return store.Manifest{}, err
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	n, err := io.Copy(bw, resp.Body)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return store.Manifest{}, fmt.Errorf("backup: %w", err)
	}
	vs := resp.Trailer.Get(node.BackupVersionTrailer)
	version, perr := strconv.ParseUint(vs, 10, 64)
	if vs == "" || perr != nil {
		return store.Manifest{}, errors.New("backup: stream ended without its version trailer: the backup is incomplete")
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return store.Manifest{}, err
	}
	m := store.Manifest{Format: store.ManifestFormat, Since: since, Version: version, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, Created: time.Now().UTC()}
	return m, store.WriteManifest(path, m)
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
