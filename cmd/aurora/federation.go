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
	var out, quorum, extQuorum string
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Write a trust-policy file from the node's log, treaty partners and TSA roots",
		Long: `Write a trust-policy file (C2SP tlog-policy syntax plus Aurora's tsa lines,
docs/PROVENANCE.md) from what the node serves at GET /v1/trust: its log
(origin, key, tiles URL), its active treaty partners' logs and witnesses, the
witnesses outside the federation it asks to cosign (provenance.external_witnesses,
with their add-checkpoint URLs), and its TSA roots inline. The quorum is
--quorum of the partners' witnesses and --external-quorum of the external ones
("any", "all" or a number; "none" leaves that side out of the quorum), both
when both are required.

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
			text, err := policyFromTrust(v, strings.TrimSuffix(c.Base, "/"), quorum, extQuorum)
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
	cmd.Flags().StringVar(&extQuorum, "external-quorum", "any", `how many external witnesses (provenance.external_witnesses) must cosign: "any", "all", a number, or "none"`)
	return cmd
}

// policyFromTrust writes the policy text and checks it parses. The
// partners' witnesses form the group "partners" (quorum q), the external
// witnesses the group "external" (quorum extQ); when both are required the
// quorum is the group "witnesses", all of the two.
func policyFromTrust(v node.TrustView, base, q, extQ string) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Aurora trust policy written by `aurora federation policy` from %s\n", base)
	fmt.Fprintf(&b, "# This node's log, then its treaty partners' (their tiles URLs are not known here).\n")
	fmt.Fprintf(&b, "log %s %s%s\n", v.LogKey, base, v.Tiles)
	for _, p := range v.Partners {
		fmt.Fprintf(&b, "log %s\n", p.LogKey)
	}
	var partners, external []string
	for _, p := range v.Partners {
		name := "w-" + p.Origin[max(0, len(p.Origin)-8):]
		partners = append(partners, name)
		fmt.Fprintf(&b, "witness %s %s\n", name, p.Witness.Key)
	}
	if len(v.ExternalWitnesses) > 0 {
		b.WriteString("# Witnesses outside the federation the node asks to cosign (provenance.external_witnesses).\n")
	}
	for _, w := range v.ExternalWitnesses {
		name := "ext-" + w.Name
		external = append(external, name)
		fmt.Fprintf(&b, "witness %s %s %s\n", name, w.Key, w.URL)
	}
	var required []string
	if q != trust.None && len(partners) > 0 {
		fmt.Fprintf(&b, "group partners %s %s\n", q, strings.Join(partners, " "))
		required = append(required, "partners")
	}
	if extQ != trust.None && len(external) > 0 {
		fmt.Fprintf(&b, "group external %s %s\n", extQ, strings.Join(external, " "))
		required = append(required, "external")
	}
	switch len(required) {
	case 0:
		if q != trust.None && extQ != trust.None {
			b.WriteString("# no treaty partners or external witnesses: no witnesses to require\n")
		}
		b.WriteString("quorum none\n")
	case 1:
		fmt.Fprintf(&b, "quorum %s\n", required[0])
	default:
		b.WriteString("group witnesses all partners external\nquorum witnesses\n")
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
