package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/node"
)

func newRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the node daemon (HTTP API, order pipeline, mesh) until SIGINT/SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := existingHome(cmd)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(cmd, home)
			if err != nil {
				return err
			}
			if v, _ := cmd.Flags().GetString("api-listen"); v != "" {
				cfg.API.Listen = v
			}
			if v, _ := cmd.Flags().GetStringArray("p2p-listen"); len(v) > 0 {
				cfg.P2P.Listen = v
			}
			if v, _ := cmd.Flags().GetStringArray("bootstrap"); len(v) > 0 {
				cfg.P2P.Bootstrap = v
			}
			log := newLogger(cmd, cfg.Log.Level)
			n, err := node.New(cmd.Context(), node.Options{Home: home, Config: cfg, Logger: log})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "aurora: ready did=%s peer=%s api=http://%s\n", n.Identity().DID, n.Identity().PeerID, n.APIAddr())
			return n.Run(cmd.Context())
		},
	}
	cmd.Flags().String("api-listen", "", "HTTP API address (overrides api.listen)")
	cmd.Flags().StringArray("p2p-listen", nil, "libp2p listen multiaddr (repeatable; overrides p2p.listen)")
	cmd.Flags().StringArray("bootstrap", nil, "bootstrap peer multiaddr with /p2p/ID (repeatable)")
	addSetFlag(cmd)
	return cmd
}

// newLogger returns slog JSON on stderr at level.
func newLogger(cmd *cobra.Command, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	w := cmd.ErrOrStderr()
	if w == nil {
		w = os.Stderr
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
