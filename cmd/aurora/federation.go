package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/trust"
)

func newFederationCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "federation", Short: "What a node knows of its federation, for verifiers and monitors"}
	cmd.AddCommand(newFederationPolicyCmd())
	return cmd
}

func newFederationPolicyCmd() *cobra.Command {
	var out, quorum string
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Write a trust-policy file from the node's log, treaty partners and TSA roots",
		Long: `Write a trust-policy file (C2SP tlog-policy syntax plus Aurora's tsa lines,
docs/PROVENANCE.md) from what the node serves at GET /v1/trust: its log
(origin, key, tiles URL), its active treaty partners' logs and witnesses, and
its TSA roots inline. The quorum is --quorum of the partners' witnesses
("any", "all" or a number; "none" requires no cosignature).

aurora proof verify --policy FILE and aurora monitor --policy FILE read it.
Review it before trusting it: it says what this node believes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := apiClient(cmd)
			raw, err := c.Raw(cmd.Context(), "GET", "/v1/trust", "", nil)
			if err != nil {
				return fmt.Errorf("GET /v1/trust: %w", err)
			}
			var v node.TrustView
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("GET /v1/trust: decode answer: %w", err)
			}
			text, err := policyFromTrust(v, strings.TrimSuffix(c.Base, "/"), quorum)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err := cmd.OutOrStdout().Write(text)
				return err
			}
			if err := writeFileAtomic(out, text); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", out)
			return nil
		},
	}
	addAPIFlag(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write the policy to (default stdout)")
	cmd.Flags().StringVar(&quorum, "quorum", "any", `how many partner witnesses must cosign: "any", "all", a number, or "none"`)
	return cmd
}

// policyFromTrust writes the policy text and checks it parses.
func policyFromTrust(v node.TrustView, base, quorum string) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Aurora trust policy written by `aurora federation policy` from %s\n", base)
	fmt.Fprintf(&b, "# This node's log, then its treaty partners' (their tiles URLs are not known here).\n")
	fmt.Fprintf(&b, "log %s %s%s\n", v.LogKey, base, v.Tiles)
	for _, p := range v.Partners {
		fmt.Fprintf(&b, "log %s\n", p.LogKey)
	}
	var names []string
	for _, p := range v.Partners {
		name := "w-" + p.Origin[max(0, len(p.Origin)-8):]
		names = append(names, name)
		fmt.Fprintf(&b, "witness %s %s\n", name, p.Witness.Key)
	}
	switch {
	case quorum == trust.None || len(names) == 0:
		if quorum != trust.None {
			b.WriteString("# no treaty partners: no witnesses to require\n")
		}
		b.WriteString("quorum none\n")
	default:
		fmt.Fprintf(&b, "group partners %s %s\nquorum partners\n", quorum, strings.Join(names, " "))
	}
	for _, r := range v.TSARoots {
		fmt.Fprintf(&b, "tsa-root %s\n", r)
	}
	if len(v.TSARoots) > 0 && v.TSAMin > 0 {
		fmt.Fprintf(&b, "tsa-min %d\n", min(v.TSAMin, provenance.MaxTSATokens))
	}
	text := []byte(b.String())
	if _, err := trust.Parse(text); err != nil {
		return nil, fmt.Errorf("federation policy: the node's answer makes an invalid policy: %w", err)
	}
	return text, nil
}
