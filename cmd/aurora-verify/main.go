// Command aurora-verify verifies an Aurora proof bundle offline. It is the
// same check as `aurora proof verify`, in a binary that links only the
// provenance packages, so it starts in milliseconds.
//
//	aurora-verify job.proof --origin aurora/<federation>/<peer ID> --log-key did:key:… \
//	    --witness-key aurora-witness/<peer ID>+did:key:… --min-witnesses 1 --tsa-roots roots.pem
//	aurora-verify job.proof --policy trust.policy   # logs, witnesses, quorum and TSA roots in one file
//
// It exits 0 only when every check passed and the witness and TSA checks
// ran; with --partial-ok a verification that skipped them prints
// "partially verified" and exits 0 too.
package main

import (
	"fmt"
	"os"

	"github.com/aurora-federation/aurora/cmd/internal/verifycmd"
)

func main() {
	cmd := verifycmd.New("aurora-verify FILE")
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	if err := cmd.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "aurora-verify: %v\n", err)
		os.Exit(1)
	}
}
