// Package verifycmd is the offline proof verifier as the cobra command
// `aurora proof verify`: cmd/internal/proofverify's flags and Run, which the
// small `aurora-verify` binary uses without cobra (it starts in a few
// milliseconds because it links only provenance/c2sp, the trust policy and
// the RFC 3161 verifier: no libp2p, boxo, wazero, storage or metrics). This
// command also checks the job record against the treaty schema
// (provenance.CheckLeaf), and accepts release leaves (`aurora release log`).
package verifycmd

import (
	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/cmd/internal/proofverify"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/trust"
)

// NewerFetcher is proofverify.NewerFetcher.
type NewerFetcher = proofverify.NewerFetcher

// PartialError is proofverify.PartialError.
type PartialError = proofverify.PartialError

// New returns the `proof verify` command. It verifies offline: --newer
// takes a file.
func New(use string) *cobra.Command { return NewOnline(use, nil) }

// NewOnline is New with --newer also taking a node's API URL, from which
// fetch gets the newer checkpoint and the consistency proof.
func NewOnline(use string, fetch NewerFetcher) *cobra.Command {
	v := proofverify.New(fetch)
	v.Record = provenance.CheckLeaf
	cmd := &cobra.Command{
		Use:   use,
		Short: proofverify.Short,
		Long:  proofverify.Long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return v.Run(cmd.Context(), cmd.OutOrStdout(), cmd.Flags(), args[0])
		},
	}
	v.AddFlags(cmd.Flags())
	return cmd
}

// LoadPolicy is proofverify.LoadPolicy, for the other commands (aurora
// monitor).
func LoadPolicy(path string) (*trust.Policy, []byte, error) { return proofverify.LoadPolicy(path) }
