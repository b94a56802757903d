// Command aurora-verify verifies an Aurora proof bundle offline. It is the
// same check as `aurora proof verify` (cmd/internal/proofverify), in a
// binary that links only what verification needs — provenance/c2sp, the
// trust policy, the RFC 3161 verifier and pflag; no cobra, storage,
// metrics, libp2p, boxo or wazero (deps_test.go guards it) — so it starts
// within a few milliseconds of the machine's exec floor.
//
//	aurora-verify job.proof --origin aurora/<federation>/<peer ID> --log-key did:key:… \
//	    --witness-key aurora-witness/<peer ID>+did:key:… --min-witnesses 1 --tsa-roots roots.pem
//	aurora-verify job.proof --policy trust.policy   # logs, witnesses, quorum and TSA roots in one file
//
// It exits 0 only when every check passed and the witness and TSA checks
// ran; with --partial-ok a verification that skipped them prints
// "partially verified" and exits 0 too. Errors are one line on stderr and
// exit 1; a usage error exits 2.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/aurora-federation/aurora/cmd/internal/proofverify"
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

// run is the command: flags, one bundle file, the report on stdout; it
// returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("aurora-verify", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	v := proofverify.New(nil)
	v.AddFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nUsage:\n  aurora-verify FILE [flags]\n\nFlags:\n%s", proofverify.Long, fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "aurora-verify: %v\n", err)
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "aurora-verify: want one bundle FILE, got %d arguments (see --help)\n", fs.NArg())
		return 2
	}
	if err := v.Run(ctx, stdout, fs, fs.Arg(0)); err != nil {
		fmt.Fprintf(stderr, "aurora-verify: %v\n", err)
		return 1
	}
	return 0
}
