package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// peerView is one entry of GET /v1/peers.
type peerView struct {
	DID       string   `json:"did"`
	PeerID    string   `json:"peer_id"`
	Addrs     []string `json:"addrs"`
	Connected bool     `json:"connected"`
	Treaties  []string `json:"treaties"`
}

func newPeersCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List connected peers and treaty partners",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := apiClient(cmd).Raw(cmd.Context(), "GET", "/v1/peers", "", nil)
			if err != nil {
				return err
			}
			if asJSON {
				return writeIndented(cmd.OutOrStdout(), raw)
			}
			var resp struct {
				Peers []peerView `json:"peers"`
			}
			if err := json.Unmarshal(raw, &resp); err != nil {
				return fmt.Errorf("GET /v1/peers: decode answer: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DID\tPEER ID\tCONNECTED\tTREATIES\tADDRESS")
			for _, p := range resp.Peers {
				conn := "no"
				if p.Connected {
					conn = "yes"
				}
				addr := "-"
				if len(p.Addrs) > 0 {
					addr = p.Addrs[0]
					if len(p.Addrs) > 1 {
						addr += fmt.Sprintf(" (+%d)", len(p.Addrs)-1)
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.DID, p.PeerID, conn, dash(strings.Join(p.Treaties, ",")), addr)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	addAPIFlag(cmd)
	return cmd
}
