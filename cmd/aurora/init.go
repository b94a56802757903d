package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/node"
)

func newInitCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a node home: key, config.toml and API token",
		Long: `Create a node home (--home, $AURORA_HOME or ~/.aurora) with a new Ed25519 key
(key.pem, mode 0600), a strict config.toml and an API token (api.token, 0600).
Prints the operator DID and libp2p peer ID, which come from the same key.
Refuses to overwrite an existing home unless --force is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := homeDir(cmd)
			if err != nil {
				return err
			}
			cfg := node.DefaultConfig()
			if err := applySetFlags(cmd, &cfg); err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			id, err := node.InitHome(home, cfg, force, nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "home:    %s\n", home)
			fmt.Fprintf(out, "did:     %s\n", id.DID)
			fmt.Fprintf(out, "peer id: %s\n", id.PeerID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing home's key, token and config")
	addSetFlag(cmd)
	return cmd
}

func newKeyCmd() *cobra.Command {
	key := &cobra.Command{Use: "key", Short: "Manage client keys"}
	var out string
	var force bool
	newCmd := &cobra.Command{
		Use:   "new",
		Short: "Create a client (tenant) key and print its DID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			k, err := node.WriteClientKey(out, force, nil)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.DID())
			return nil
		},
	}
	newCmd.Flags().StringVarP(&out, "out", "o", "", "key file to write (mode 0600)")
	newCmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	key.AddCommand(newCmd)
	return key
}

func newIDCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "id",
		Short: "Print this node's DID and peer ID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := existingHome(cmd)
			if err != nil {
				return err
			}
			k, err := node.LoadKey(home + string(os.PathSeparator) + node.KeyFile)
			if err != nil {
				return err
			}
			id, err := node.IdentityOf(k)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "did:     %s\npeer id: %s\n", id.DID, id.PeerID)
			return nil
		},
	}
}

func newConfigCmd() *cobra.Command {
	cfg := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration (flags > AURORA_* env > file > defaults), secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := existingHome(cmd)
			if err != nil {
				return err
			}
			c, err := loadConfig(cmd, home)
			if err != nil {
				return err
			}
			text, err := c.TOML()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "# home: %s\n# key: %s/%s (REDACTED)\n# api token: %s/%s (REDACTED)\n\n", home, home, node.KeyFile, home, node.TokenFile)
			_, err = out.Write(text)
			return err
		},
	}
	addSetFlag(show)
	cfg.AddCommand(show)
	return cfg
}
