package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
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

func newProofVerifyCmd() *cobra.Command { return verifycmd.NewOnline("verify FILE", fetchNewer) }

// Limits on what --newer URL reads from a node.
const (
	maxConsistencyBody = 16 << 10
	maxEpochsBody      = 1 << 20
	newerEpochs        = 10 // epoch checkpoints tried when the latest is not cosigned enough
)

// fetchNewer is verifycmd.NewerFetcher over a node's API: GET
// /v1/checkpoints/latest (or, if accept refuses it, the newest of the last
// epochs' checkpoints accept takes: the latest may not be cosigned yet) and
// GET /v1/log/consistency from size to it.
func fetchNewer(ctx context.Context, out io.Writer, api, origin string, size uint64, accept func([]byte) error) ([]byte, [][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, proofGetTimeout)
	defer cancel()
	base, err := url.Parse(api)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, nil, fmt.Errorf("%q is not an http(s) URL", api)
	}
	signed, err := getBounded(ctx, base.JoinPath("v1", "checkpoints", "latest").String(), provenance.MaxNoteSize)
	if err != nil {
		return nil, nil, err
	}
	from := "the latest checkpoint"
	if aerr := accept(signed); aerr != nil {
		u := base.JoinPath("v1", "epochs")
		u.RawQuery = "limit=" + strconv.Itoa(newerEpochs)
		if raw, err := getBounded(ctx, u.String(), maxEpochsBody); err == nil {
			var list struct {
				Epochs []struct {
					Epoch      uint64 `json:"epoch"`
					Checkpoint string `json:"checkpoint"`
				} `json:"epochs"`
			}
			if json.Unmarshal(raw, &list) == nil {
				for _, e := range list.Epochs {
					if accept([]byte(e.Checkpoint)) == nil {
						signed, from = []byte(e.Checkpoint), fmt.Sprintf("epoch %d's checkpoint (the latest: %v)", e.Epoch, aerr)
						break
					}
				}
			}
		}
	}
	body, _, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		return nil, nil, fmt.Errorf("%s: not a signed note", from)
	}
	cp, err := provenance.ParseCheckpointBody(append(bytes.Clone(body), '\n'))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", from, err)
	}
	if cp.Origin != origin {
		return nil, nil, fmt.Errorf("the node at %s serves the log %q, the bundle is from %q", api, cp.Origin, origin)
	}
	if cp.Size < size {
		fmt.Fprintf(out, "fetch  %s: size %d from %s, smaller than the bundle's %d\n", from, cp.Size, api, size)
		return signed, nil, nil
	}
	u := base.JoinPath("v1", "log", "consistency")
	u.RawQuery = url.Values{"first": {strconv.FormatUint(size, 10)}, "second": {strconv.FormatUint(cp.Size, 10)}}.Encode()
	raw, err := getBounded(ctx, u.String(), maxConsistencyBody)
	if err != nil {
		return nil, nil, err
	}
	var cv struct {
		First  uint64   `json:"first"`
		Second uint64   `json:"second"`
		Proof  [][]byte `json:"proof"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cv); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", u, err)
	}
	if cv.First != size || cv.Second != cp.Size || len(cv.Proof) > provenance.MaxProofHashes {
		return nil, nil, fmt.Errorf("%s: a proof from %d to %d with %d hashes, asked from %d to %d", u, cv.First, cv.Second, len(cv.Proof), size, cp.Size)
	}
	fmt.Fprintf(out, "fetch  %s: size %d, and the consistency proof from %d (%d hashes) from %s\n", from, cp.Size, size, len(cv.Proof), api)
	return signed, cv.Proof, nil
}

// getBounded GETs u and returns a 200 body of at most limit bytes.
func getBounded(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(data[:min(len(data), 512)])))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", u, limit)
	}
	return data, nil
}

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
