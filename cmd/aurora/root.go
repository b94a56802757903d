package main

import (
	"io"

	"github.com/spf13/cobra"
)

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "aurora",
		Short:         "Aurora: a node of a sovereign compute federation",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().String("home", "", "node home directory (default $AURORA_HOME or ~/.aurora)")
	// One line per command group; each group lives in its own file.
	root.AddCommand(
		newVersionCmd(),
		newProofCmd(),
		newInitCmd(),
		newKeyCmd(),
		newIDCmd(),
		newConfigCmd(),
		newRunCmd(),
		newOrderCmd(),
		newTreatyCmd(),
		newPeersCmd(),
		newLedgerCmd(),
		newHealthCmd(),
		newTestnetCmd(),
		newDemoCmd(),
		newTSACmd(),
		newSimCmd(),
		newPolicyCmd(),
		newFederationCmd(),
		newMonitorCmd(),
		newSLOCmd(),
		newReleaseCmd(),
	)
	return root
}
