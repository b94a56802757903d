package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/node/client"
)

// newLedgerSnapshotCmd is aurora ledger snapshot: the weekly ledger
// snapshot of the rollout runbook (docs/OPERATIONS.md).
func newLedgerSnapshotCmd() *cobra.Command {
	var dir string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "snapshot -o DIR [--wait-proof D]",
		Short: "Take a signed, timestamped, pinned and logged snapshot of the ledger",
		Long: `Asks the running node (POST /v1/ledger/snapshot, operator token) for a ledger
snapshot: a manifest of its latest closed epoch (the cosigned checkpoint, the
epoch's root block, job and active-treaty counts) signed with the node's key,
timestamped by its two TSAs, pinned, and recorded as a snapshot leaf in its log.

Writes DIR/manifest.cbor (the signed manifest, dag-cbor), DIR/tsa-1.tsr and
DIR/tsa-2.tsr (the RFC 3161 tokens over the manifest's SHA-256, for openssl ts
-verify -digest), and DIR/snapshot.json (the node's answer). With --wait-proof D
it waits up to D for the leaf's epoch to close and writes DIR/snapshot.proof,
which aurora proof verify checks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("ledger snapshot: -o DIR is required")
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			c := apiClient(cmd)
			s, err := c.Snapshot(cmd.Context())
			if err != nil {
				return fmt.Errorf("ledger snapshot: %w", err)
			}
			manifest, err := base64.StdEncoding.DecodeString(s.Manifest)
			if err != nil {
				return fmt.Errorf("ledger snapshot: the node's manifest: %w", err)
			}
			files := map[string][]byte{"manifest.cbor": manifest}
			for i, t := range s.Tokens {
				tok, err := base64.StdEncoding.DecodeString(t)
				if err != nil {
					return fmt.Errorf("ledger snapshot: token %d: %w", i+1, err)
				}
				files[fmt.Sprintf("tsa-%d.tsr", i+1)] = tok
			}
			js, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				return err
			}
			files["snapshot.json"] = append(js, '\n')
			for name, b := range files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "snapshot %s: leaf %d, %d TSA tokens, pinned %v, in %s\n", s.CID, s.Index, len(s.Tokens), s.Pinned, dir)
			if wait <= 0 {
				return nil
			}
			proof, err := waitSnapshotProof(cmd, c, s.Index, wait)
			if err != nil {
				return err
			}
			p := filepath.Join(dir, "snapshot.proof")
			if err := os.WriteFile(p, proof, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(out, "proof: %s\n", p)
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "output", "o", "", "directory to write the snapshot's files to (required)")
	cmd.Flags().DurationVar(&wait, "wait-proof", 0, "also wait this long for the leaf's proof bundle and write snapshot.proof")
	addAPIFlag(cmd)
	return cmd
}

func waitSnapshotProof(cmd *cobra.Command, c *client.Client, index uint64, wait time.Duration) ([]byte, error) {
	deadline := time.Now().Add(wait)
	for {
		proof, err := c.SnapshotProof(cmd.Context(), index)
		var ae *client.APIError
		switch {
		case err == nil:
			return proof, nil
		case !errors.As(err, &ae) || ae.Status != 503:
			return nil, fmt.Errorf("ledger snapshot: proof: %w", err)
		case time.Now().After(deadline):
			return nil, fmt.Errorf("ledger snapshot: no proof within %s (the leaf's epoch has not closed): %w", wait, err)
		}
		select {
		case <-cmd.Context().Done():
			return nil, cmd.Context().Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
