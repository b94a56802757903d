package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/internal/boundedio"
	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/treaty"
)

// treatyView is a treaty as GET /v1/treaties and GET /v1/treaties/{cid}
// return it; Treaty (dag-json) only in the latter and in POST answers.
type treatyView struct {
	CID      string          `json:"cid"`
	State    string          `json:"state"`
	Template string          `json:"template"`
	Parties  []string        `json:"parties"`
	Signed   []string        `json:"signed"`
	Seq      int64           `json:"seq"`
	NotAfter int64           `json:"not_after"`
	Treaty   json.RawMessage `json:"treaty,omitempty"`
}

func newTreatyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "treaty",
		Short: "Propose, sign, list, show and revoke peering treaties",
		Long: `Treaties are signed peering agreements between operators: lanes with quotas,
regions, price caps and the policy that judges forwarded orders. A treaty is
proposed from a template, becomes active once every party signed it, and
ends when it expires, is superseded by a higher seq or a party revokes it.`,
	}
	cmd.AddCommand(newTreatyNewCmd(), newTreatySignCmd(), newTreatyListCmd(), newTreatyShowCmd(), newTreatyRevokeCmd())
	return cmd
}

// operatorClient is apiClient for mutating calls: they need the home's
// operator token.
func operatorClient(cmd *cobra.Command) (*client.Client, error) {
	c := apiClient(cmd)
	if c.Token == "" {
		home, _ := homeDir(cmd)
		return nil, fmt.Errorf("no operator token: %s is missing or unreadable (run aurora init, or pass --home)", filepath.Join(home, node.TokenFile))
	}
	return c, nil
}

func newTreatyNewCmd() *cobra.Command {
	var (
		template, peer               string
		sets                         []string
		policyModule, policyParamsIn string
	)
	cmd := &cobra.Command{
		Use:   "new --template NAME --peer DID [--set key=value ...] [--policy-module CID [--policy-params FILE]]",
		Short: "Propose a treaty with a peer from a template (signed by this node)",
		Long: "New proposes a treaty from a template, signed by this node. Orders on its lanes are judged by the\n" +
			"standard law under the treaty's own fields, or, with --policy-module, by the module of that CID\n" +
			"(`aurora policy add FILE.wasm` prints it and publishes the module to partners) under the params in\n" +
			"--policy-params (canonical CBOR, e.g. from `aurora policy params`).",
		Example: `  aurora treaty new --template bilateral --peer did:key:z6Mk...
  aurora treaty new --template sovereign-eu --peer did:key:z6Mk... --set validity_days=30 --set max_inflight=16
  aurora treaty new --template gpu-inference --peer did:key:z6Mk... --policy-module bafkrei... --policy-params gpulimit.cbor`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(treaty.Templates(), template) {
				return fmt.Errorf("--template %q: want one of %s", template, strings.Join(treaty.Templates(), ", "))
			}
			if _, err := treaty.ParseDID(peer); err != nil {
				return fmt.Errorf("--peer %q: %w", peer, err)
			}
			set := map[string]string{}
			for _, kv := range sets {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--set %q: want key=value", kv)
				}
				if !slices.Contains(treaty.TemplateKeys(), k) {
					return fmt.Errorf("--set %q: unknown key (have %s)", kv, strings.Join(treaty.TemplateKeys(), ", "))
				}
				set[k] = v
			}
			if policyModule != "" {
				set["policy_module"] = policyModule
			}
			if policyParamsIn != "" {
				b, err := boundedio.ReadFile(policyParamsIn, treaty.MaxParamsLen)
				if err != nil {
					return fmt.Errorf("--policy-params: %w", err)
				}
				set["policy_params"] = base64.StdEncoding.EncodeToString(b)
			}
			// The node builds the treaty; checking here too names the flag.
			if err := checkTemplateSet(template, set); err != nil {
				return err
			}
			c, err := operatorClient(cmd)
			if err != nil {
				return err
			}
			body, err := json.Marshal(map[string]any{"template": template, "peer": peer, "set": set})
			if err != nil {
				return err
			}
			var v treatyView
			if err := c.Do(cmd.Context(), "POST", "/v1/treaties", "application/json", body, &v); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cid:   %s\nstate: %s\n", v.CID, v.State)
			fmt.Fprintf(cmd.OutOrStdout(), "the peer countersigns with: aurora treaty sign %s\n", v.CID)
			return nil
		},
	}
	cmd.Flags().StringVar(&template, "template", "", "template: "+strings.Join(treaty.Templates(), ", "))
	cmd.Flags().StringVar(&peer, "peer", "", "the counterparty's operator DID (did:key:z6Mk...)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a template value, key=value (repeatable): "+strings.Join(treaty.TemplateKeys(), ", "))
	cmd.Flags().StringVar(&policyModule, "policy-module", "", "the CID of the policy module that judges the treaty's lanes (default: the standard law)")
	cmd.Flags().StringVar(&policyParamsIn, "policy-params", "", "a file of the module's params, canonical CBOR (`aurora policy params -o FILE` for the standard law)")
	cmd.MarkFlagRequired("template")
	cmd.MarkFlagRequired("peer")
	addAPIFlag(cmd)
	return cmd
}

// checkTemplateSet builds the treaty between two throw-away DIDs so that a
// bad value is reported before anything is sent.
func checkTemplateSet(template string, set map[string]string) error {
	a, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		return err
	}
	b, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	if err != nil {
		return err
	}
	if _, err := treaty.FromTemplate(treaty.Proposal{Template: template, Federation: "check", Proposer: a.DID(), Peer: b.DID(), Now: time.Now(), Set: set}); err != nil {
		if k, ok := set["policy_module"]; ok && strings.Contains(err.Error(), "policy_module") {
			return fmt.Errorf("--policy-module %q: %w", k, err)
		}
		return err
	}
	return nil
}

func newTreatySignCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sign CID",
		Short: "Countersign a proposed treaty this node is party to",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := cidArg(args[0])
			if err != nil {
				return err
			}
			c, err := operatorClient(cmd)
			if err != nil {
				return err
			}
			var v treatyView
			if err := c.Do(cmd.Context(), "POST", "/v1/treaties/"+id+"/sign", "", nil, &v); err != nil {
				return err
			}
			printSigned(cmd.OutOrStdout(), "signed", id, v)
			return nil
		},
	}
	addAPIFlag(cmd)
	return cmd
}

func newTreatyRevokeCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke CID --reason TEXT",
		Short: "Revoke a treaty this node is party to (signed, gossiped, effective now)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := cidArg(args[0])
			if err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return errors.New("--reason is required")
			}
			c, err := operatorClient(cmd)
			if err != nil {
				return err
			}
			body, err := json.Marshal(map[string]string{"reason": reason})
			if err != nil {
				return err
			}
			var v treatyView
			if err := c.Do(cmd.Context(), "POST", "/v1/treaties/"+id+"/revoke", "application/json", body, &v); err != nil {
				return err
			}
			printSigned(cmd.OutOrStdout(), "revoked", id, v)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the signed revocation)")
	addAPIFlag(cmd)
	return cmd
}

// printSigned reports a sign or revoke, with the treaty's new CID and state
// when the node answered with them.
func printSigned(w io.Writer, verb, id string, v treatyView) {
	switch {
	case v.CID != "" && v.CID != id:
		fmt.Fprintf(w, "%s %s (now %s, %s)\n", verb, id, v.CID, v.State)
	case v.State != "":
		fmt.Fprintf(w, "%s %s (%s)\n", verb, id, v.State)
	default:
		fmt.Fprintf(w, "%s %s\n", verb, id)
	}
}

func newTreatyListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the treaties this node knows (every treaty gossiped in the federation)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := apiClient(cmd).Raw(cmd.Context(), "GET", "/v1/treaties", "", nil)
			if err != nil {
				return err
			}
			if asJSON {
				return writeIndented(cmd.OutOrStdout(), raw)
			}
			var resp struct {
				Treaties []treatyView `json:"treaties"`
			}
			if err := json.Unmarshal(raw, &resp); err != nil {
				return fmt.Errorf("GET /v1/treaties: decode answer: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CID\tSTATE\tTEMPLATE\tSEQ\tSIGNED\tPARTIES\tNOT AFTER")
			for _, v := range resp.Treaties {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d/%d\t%s\t%s\n", v.CID, v.State, dash(v.Template), v.Seq, len(v.Signed), len(v.Parties),
					shortDIDs(v.Parties), date(v.NotAfter))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	addAPIFlag(cmd)
	return cmd
}

func newTreatyShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show CID",
		Short: "Show one treaty: state, parties, signatures and the record (dag-json)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := cidArg(args[0])
			if err != nil {
				return err
			}
			raw, err := apiClient(cmd).Raw(cmd.Context(), "GET", "/v1/treaties/"+id, "", nil)
			if err != nil {
				return err
			}
			if asJSON {
				return writeIndented(cmd.OutOrStdout(), raw)
			}
			var v treatyView
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("GET /v1/treaties/%s: decode answer: %w", id, err)
			}
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "cid:\t%s\nstate:\t%s\ntemplate:\t%s\nseq:\t%d\nnot after:\t%s\n", v.CID, v.State, dash(v.Template), v.Seq, date(v.NotAfter))
			for i, p := range v.Parties {
				label := ""
				if i == 0 {
					label = "parties:"
				}
				mark := "not signed"
				if slices.Contains(v.Signed, p) {
					mark = "signed"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", label, p, mark)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(v.Treaty) > 0 {
				fmt.Fprintln(out, "record:")
				return writeIndented(out, v.Treaty)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	addAPIFlag(cmd)
	return cmd
}

// cidArg checks that s looks like a CID (the node checks it for real) and
// escapes it for a URL path.
func cidArg(s string) (string, error) {
	if s == "" || len(s) > 128 || strings.ContainsAny(s, "/?# \t\n") {
		return "", fmt.Errorf("%q is not a treaty CID", s)
	}
	return url.PathEscape(s), nil
}

func writeIndented(w io.Writer, raw []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		_, err = w.Write(raw)
		return err
	}
	b.WriteByte('\n')
	_, err := b.WriteTo(w)
	return err
}

func shortDIDs(ds []string) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = treaty.DID(d).Short()
	}
	return strings.Join(out, ",")
}

func date(unix int64) string {
	if unix == 0 {
		return "-"
	}
	return time.Unix(unix, 0).UTC().Format(time.DateOnly)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
