package main

import (
	"fmt"
	"strings"
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
	tn.AddCommand(fake)
	return tn
}
