package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/internal/boundedio"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/sdk"
)

// replayExitMismatch is policy replay's exit code when the re-run decision
// differs from the logged one (1 is any other failure).
const replayExitMismatch = 5

// newPolicyReplayCmd re-runs a decision a node logged: the entry from GET
// /v1/jobs/{id}/decision, the module by its CID (GET /v1/policies/{cid},
// or --module FILE, or the embedded standard law), checked against the CID,
// then evaluated locally on wazero with the entry's params and input.
func newPolicyReplayCmd() *cobra.Command {
	var module string
	cmd := &cobra.Command{
		Use:   "replay JOB [--api URL] [--module FILE.wasm]",
		Short: "Re-run the policy decision a node logged for JOB locally and say whether it matches",
		Long: "Replay fetches the node's decision log entry for JOB (module CID, params, the input record, the\n" +
			"word), obtains the module by its CID (the embedded standard law, --module FILE, or the node's\n" +
			"GET /v1/policies/{cid}), refuses bytes that do not hash to the CID, and evaluates the input under\n" +
			"the params with wazero. Exit 0: the same word; 5: a different word (the node's log is wrong);\n" +
			"1: the entry or the module could not be obtained or checked.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c := apiClient(cmd)
			d, err := c.Decision(ctx, args[0])
			if err != nil {
				return fmt.Errorf("policy replay: decision of %s: %w", args[0], err)
			}
			entry, err := policy.DecodeLogEntry(d.Entry)
			if err != nil {
				return fmt.Errorf("policy replay: the node's entry: %w", err)
			}
			e, err := newPolicyEngine("")
			if err != nil {
				return err
			}
			defer e.Close(context.Background())
			mod := entry.Module.Cid
			src := "the embedded standard law"
			switch {
			case module != "":
				wasm, err := boundedio.ReadFile(module, client.MaxModuleBytes)
				if err != nil {
					return err
				}
				if err := e.LoadExpect(ctx, mod, wasm); err != nil {
					return fmt.Errorf("policy replay: %s: %w", module, err)
				}
				src = module
			case mod == e.StdModule():
				if _, err := e.LoadStd(ctx); err != nil {
					return err
				}
			default:
				wasm, err := c.Module(ctx, mod.String())
				if err != nil {
					return fmt.Errorf("policy replay: module %s: %w", mod, err)
				}
				if err := e.LoadExpect(ctx, mod, wasm); err != nil {
					return fmt.Errorf("policy replay: module %s from %s: %w", mod, c.Base, err)
				}
				src = c.Base + "/v1/policies/" + mod.String()
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "job:     %s\nmodule:  %s (%s)\nparams:  %s\nlogged:  %s\n", args[0], mod, src, entry.Params.Cid, describeWord(uint32(entry.Word), entry.Reasons))
			got, err := e.Replay(ctx, entry, nil)
			var rm *policy.ReplayMismatchError
			switch {
			case errors.As(err, &rm):
				fmt.Fprintf(out, "re-run:  %s\nMISMATCH: the node's logged decision is not what its module decides\n", describeWord(got.Word, got.Reasons))
				return &exitError{code: replayExitMismatch, err: err}
			case err != nil:
				return fmt.Errorf("policy replay: %w", err)
			}
			fmt.Fprintf(out, "re-run:  %s\nmatch\n", describeWord(got.Word, got.Reasons))
			return nil
		},
	}
	addAPIFlag(cmd)
	cmd.Flags().StringVar(&module, "module", "", "the module's wasm from a file (checked against the entry's CID) instead of the node's copy")
	return cmd
}

func describeWord(w uint32, reasons []string) string {
	switch {
	case w == sdk.Allow:
		return fmt.Sprintf("allow (%#08x)", w)
	case w == sdk.Indeterminate:
		return fmt.Sprintf("indeterminate (%#08x)", w)
	}
	return fmt.Sprintf("deny (%#08x: %s)", w, strings.Join(reasons, ", "))
}
