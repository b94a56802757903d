package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/cmd/internal/verifycmd"
	"github.com/aurora-federation/aurora/provenance"
)

// Limits on the files `aurora proof` reads.
const (
	proofGetTimeout = 30 * time.Second
)

func newProofCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proof",
		Short: "Fetch and verify a job's provenance proof bundle",
	}
	cmd.AddCommand(newProofVerifyCmd(), newProofGetCmd())
	return cmd
}

func newProofVerifyCmd() *cobra.Command { return verifycmd.New("verify FILE") }

func newProofGetCmd() *cobra.Command {
	var api, out string
	cmd := &cobra.Command{
		Use:   "get JOB",
		Short: "Fetch a job's proof bundle from the node's API",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), proofGetTimeout)
			defer cancel()
			data, err := fetchProof(ctx, api, args[0])
			if err != nil {
				return err
			}
			if _, err := provenance.ParseBundle(data); err != nil {
				return fmt.Errorf("proof get: the node returned an invalid bundle: %w", err)
			}
			if out == "" || out == "-" {
				_, err := cmd.OutOrStdout().Write(data)
				return err
			}
			if err := writeFileAtomic(out, data); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d bytes)\n", out, len(data))
			return nil
		},
	}
	cmd.Flags().StringVar(&api, "api", "http://127.0.0.1:7070", "the node's HTTP API base URL")
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write the bundle to (default stdout)")
	return cmd
}

// fetchProof GETs <api>/v1/jobs/{id}/proof.
func fetchProof(ctx context.Context, api, job string) ([]byte, error) {
	base, err := url.Parse(api)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("proof get: --api %q is not an http(s) URL", api)
	}
	u := base.JoinPath("v1", "jobs", job, "proof")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("proof get: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, provenance.MaxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("proof get: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("proof get: %s: %s", resp.Status, strings.TrimSpace(string(data[:min(len(data), 512)])))
	}
	if len(data) > provenance.MaxBundleSize {
		return nil, fmt.Errorf("proof get: bundle larger than %d bytes", provenance.MaxBundleSize)
	}
	return data, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".proof-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
