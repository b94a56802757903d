package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/testnet"
)

func newTestnetCmd() *cobra.Command {
	tn := &cobra.Command{Use: "testnet", Short: "Run a local federation on loopback, or its parts"}
	var kind, listen string
	var tick time.Duration
	fake := &cobra.Command{
		Use:   "fake-provider --kind KIND --listen ADDR",
		Short: "Serve a provider fake that speaks the network's documented wire format",
		Long:  "Serve a provider fake (" + strings.Join(testnet.FakeKinds(), ", ") + ") until SIGINT. Workloads advance one status step per --tick.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := testnet.StartFake(kind, listen, tick)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "fake %s serving at %s\n", kind, f.URL)
			<-cmd.Context().Done()
			return f.Close()
		},
	}
	fake.Flags().StringVar(&kind, "kind", "", "network: "+strings.Join(testnet.FakeKinds(), ", "))
	fake.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to serve on")
	fake.Flags().DurationVar(&tick, "tick", 100*time.Millisecond, "status step interval")
	tn.AddCommand(fake, newTestnetUpCmd(), newTestnetStatusCmd(), newTestnetDownCmd())
	return tn
}

func newTestnetUpCmd() *cobra.Command {
	var o testnet.UpOptions
	cmd := &cobra.Command{
		Use:   "up --dir DIR [--nodes N] [--fakes vastai,salad,akash] [--epoch 1s] [--netns [--nat 1]]",
		Short: "Start a multi-process federation on 127.0.0.1 that keeps running after this command",
		Long: `Start provider fakes (aurora testnet fake-provider), two dev TSAs (aurora tsa
serve) and N nodes (aurora init + aurora run) as background processes on free
127.0.0.1 ports, each in its own process group with its log in DIR
(nodeI/node.log, fakes/KIND.log, tsaI/tsa.log). Node 0 is everyone's bootstrap
peer; node i also dials nodes 1..i-1, so every pair is connected. Waits for
every /readyz, exchanges treaties in a ring over gossip, writes
DIR/testnet.json (pids, API URLs, peer IDs, DIDs, fake and TSA URLs, the client
key) and prints one line per endpoint.
With --netns each process runs in a network namespace of its own (nodes on
10.77.0.0/24, APIs on 127.0.0.1:7070 inside their namespace: ip netns exec
NS curl …); --nat 1 puts the last node behind a NAT. down removes the
namespaces.
Stop it with: aurora testnet down --dir DIR`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Dir == "" {
				return fmt.Errorf("--dir is required")
			}
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			o.Bin, o.Out = bin, cmd.OutOrStdout()
			_, err = testnet.Up(cmd.Context(), o)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "testnet directory (node homes, logs, client key, testnet.json)")
	f.IntVar(&o.Nodes, "nodes", 3, "number of nodes")
	f.StringSliceVar(&o.Fakes, "fakes", []string{"vastai", "salad", "akash"}, "provider fakes to run: "+strings.Join(testnet.FakeKinds(), ", "))
	f.DurationVar(&o.Epoch, "epoch", time.Second, "provenance epoch")
	f.Float64Var(&o.SimFailure, "sim-failure", 0.2, "launch failure rate of each node's sim providers")
	f.StringVar(&o.Federation, "federation", "testnet", "federation name")
	f.BoolVar(&o.Force, "force", false, "wipe a stopped testnet left in --dir")
	f.DurationVar(&o.Timeout, "timeout", 3*time.Minute, "give up (and stop everything started) after this long")
	f.BoolVar(&o.Netns, "netns", false, "run every process in a network namespace of its own on one bridge (root, iproute2; see testnet/README.md)")
	f.IntVar(&o.NAT, "nat", 0, "with --netns: put the last node behind a NAT router (nftables masquerade); 0 or 1")
	return cmd
}

func newTestnetStatusCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "status --dir DIR",
		Short: "Show each testnet process: pid, liveness and /readyz; exit 1 if any is down",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			st, err := testnet.LoadState(dir)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no testnet in %s (no %s; start one with: aurora testnet up --dir %s)", dir, testnet.StateFile, dir)
			}
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROCESS\tPID\tALIVE\tCHECK\tENDPOINT")
			down := 0
			all := st.Status(cmd.Context())
			for _, s := range all {
				alive := "yes"
				if !s.Alive {
					alive = "no"
				}
				if !s.OK {
					down++
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", s.Name, s.PID, alive, s.Check, s.Endpoint)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if !st.Ready {
				return &exitError{code: 1, err: fmt.Errorf("testnet in %s never became ready (aurora testnet up failed or is still starting)", dir)}
			}
			if down > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d testnet processes down", down, len(all))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "testnet directory")
	return cmd
}

func newTestnetDownCmd() *cobra.Command {
	var dir string
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "down --dir DIR",
		Short: "Stop every testnet process (SIGTERM, SIGKILL after --grace) and remove testnet.json",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			return testnet.Down(dir, grace, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "testnet directory")
	cmd.Flags().DurationVar(&grace, "grace", 20*time.Second, "how long to wait after SIGTERM before SIGKILL")
	return cmd
}
