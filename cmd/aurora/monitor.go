package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/cmd/internal/verifycmd"
	"github.com/aurora-federation/aurora/provenance/c2sphttp"
	"github.com/aurora-federation/aurora/provenance/monitor"
	"github.com/aurora-federation/aurora/treaty"
)

// Exit codes of aurora monitor.
const (
	monitorExitFinding = 1 // something is wrong with a log
	monitorExitError   = 2 // a log could not be reached or read (no finding)
)

func newMonitorCmd() *cobra.Command {
	var (
		policyFile, metricsAddr, evidenceDir, stateDir string
		follow, verbose                                bool
		interval                                       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Follow the logs of a trust policy over C2SP tiles and report what is wrong",
		Long: `Follow every log of a trust-policy file over its C2SP tlog-tiles URL (the
policy's log lines must carry one; logs without are skipped): verify each
checkpoint's signature and the witness cosignatures against the policy's
quorum, clone the entries, recompute the tree and require the checkpoint's
root, check each checkpoint extends the last one, and decode the job records.

It reports equivocation (writing the evidence, which anyone can check with the
log's key, to --evidence-dir), rollbacks, missing or wrong tiles, bad
signatures and unmet quorums. Without --follow it checks each log once; with
--state DIR it keeps each log's last verified checkpoint there, so the next
run requires the log to extend it (rollbacks and forks between runs) and
clones only the new entries. It
exits 1 if it found anything, 2 if a log could not be reached, else 0.
With --metrics ADDR it serves Prometheus metrics on ADDR/metrics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if policyFile == "" {
				return errors.New("monitor: --policy FILE is required")
			}
			if interval <= 0 {
				return errors.New("monitor: --interval must be positive")
			}
			pol, _, err := verifycmd.LoadPolicy(policyFile)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			reg := prometheus.NewRegistry()
			metrics, err := monitor.NewMetrics(reg)
			if err != nil {
				return err
			}
			var followers []*monitor.Follower
			hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second}}
			for _, l := range pol.Logs {
				if l.URL == "" {
					fmt.Fprintf(out, "skip     %s: no tiles URL in the policy\n", l.Origin)
					continue
				}
				c, err := c2sphttp.NewClient(l.URL, hc)
				if err != nil {
					return err
				}
				c.UserAgent = "aurora-monitor"
				cfg := monitor.Config{Origin: l.Origin, Verifier: l.Verifier, Fetcher: c, WitnessKeys: pol.WitnessKeys(), Quorum: pol.Quorum(), Metrics: metrics}
				if verbose {
					cfg.OnEntry = func(i uint64, _ []byte, e *treaty.LogEntry) {
						if e != nil && e.Job != nil && len(e.Job.Transitions) > 0 {
							fmt.Fprintf(out, "job      %s #%d %s %s\n", l.Origin, i, e.Job.Job, e.Job.Transitions[len(e.Job.Transitions)-1].Status)
						}
					}
				}
				f, err := monitor.New(cfg)
				if err != nil {
					return err
				}
				if stateDir != "" {
					saved, err := os.ReadFile(statePath(stateDir, l.Origin))
					switch {
					case err == nil:
						if err := f.Resume(saved); err != nil {
							return fmt.Errorf("monitor: --state: %w", err)
						}
					case !errors.Is(err, os.ErrNotExist):
						return fmt.Errorf("monitor: --state: %w", err)
					}
				}
				followers = append(followers, f)
			}
			if len(followers) == 0 {
				return errors.New("monitor: no log in the policy has a tiles URL")
			}
			ctx := cmd.Context()
			if metricsAddr != "" {
				stop, err := serveMetrics(ctx, metricsAddr, reg, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				defer stop()
			}
			var findings, failures int
			round := func() {
				for _, f := range followers {
					u, err := f.Poll(ctx)
					var fd *monitor.Finding
					switch {
					case errors.As(err, &fd):
						findings++
						fmt.Fprintf(out, "FINDING  %s %s: %s\n", fd.Kind, fd.Origin, strings.TrimPrefix(fd.Error(), "monitor: "+fd.Origin+": "+fd.Kind+": "))
						if fd.Evidence != nil {
							if path, werr := writeEvidence(evidenceDir, fd); werr != nil {
								fmt.Fprintf(out, "FINDING  %s %s: cannot write the evidence: %v\n", fd.Kind, fd.Origin, werr)
							} else {
								fmt.Fprintf(out, "evidence %s\n", path)
							}
						}
					case err != nil && ctx.Err() == nil:
						failures++
						fmt.Fprintf(out, "ERROR    %v\n", err)
					case err == nil:
						if stateDir != "" {
							if cp, ok := f.Checkpoint(); ok {
								err := os.MkdirAll(stateDir, 0o755)
								if err == nil {
									err = writeFileAtomic(statePath(stateDir, u.Origin), cp.Note)
								}
								if err != nil {
									failures++
									fmt.Fprintf(out, "ERROR    %s: saving the state: %v\n", u.Origin, err)
								}
							}
						}
						c := f.Counts()
						if u.FirstUpdate || u.To != u.From || !follow {
							fmt.Fprintf(out, "ok       %s size %d (+%d; %d jobs, %d anchors, %d tsa, %d undecodable in total), %d cosignatures\n",
								u.Origin, u.To, u.NewEntries, c["job"], c["anchor"], c["tsa"], c["undecodable"], len(u.Cosigned))
						}
					}
				}
			}
			round()
			for follow && ctx.Err() == nil {
				t := time.NewTimer(interval)
				select {
				case <-ctx.Done():
					t.Stop()
				case <-t.C:
					round()
				}
			}
			switch {
			case findings > 0:
				return &exitError{code: monitorExitFinding, err: fmt.Errorf("monitor: %d findings", findings)}
			case failures > 0:
				return &exitError{code: monitorExitError, err: fmt.Errorf("monitor: %d logs could not be checked", failures)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&policyFile, "policy", "", "trust-policy file whose logs (with tiles URLs) to follow (required)")
	f.BoolVar(&follow, "follow", false, "keep following, polling every --interval, until interrupted")
	f.DurationVar(&interval, "interval", 30*time.Second, "time between polls with --follow")
	f.StringVar(&metricsAddr, "metrics", "", "serve Prometheus metrics at ADDR/metrics (e.g. 127.0.0.1:9464)")
	f.StringVar(&evidenceDir, "evidence-dir", ".", "directory to write equivocation evidence to")
	f.StringVar(&stateDir, "state", "", "directory keeping each log's last verified checkpoint between runs")
	f.BoolVarP(&verbose, "verbose", "v", false, "print every job record as it is cloned")
	return cmd
}

// statePath is where --state keeps a log's last verified checkpoint.
func statePath(dir, origin string) string {
	sum := sha256.Sum256([]byte(origin))
	return filepath.Join(dir, fmt.Sprintf("%x.checkpoint", sum[:12]))
}

// writeEvidence writes a finding's evidence (dag-cbor, docs/PROVENANCE.md
// §6) as equivocation-<sha256 prefix>.evidence and returns the path.
func writeEvidence(dir string, fd *monitor.Finding) (string, error) {
	b, err := fd.Evidence.Marshal()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	path := filepath.Join(dir, fmt.Sprintf("equivocation-%x.evidence", sum[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return path, writeFileAtomic(path, b)
}

// serveMetrics serves reg at addr/metrics until stop is called or ctx ends.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, errOut io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("monitor: --metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(errOut, "aurora: monitor: metrics: %v\n", err)
		}
	}()
	fmt.Fprintf(errOut, "metrics on http://%s/metrics\n", ln.Addr())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}, nil
}
