package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/node"
)

// homeDir resolves the node home: --home, then $AURORA_HOME, then ~/.aurora.
func homeDir(cmd *cobra.Command) (string, error) {
	if h, _ := cmd.Flags().GetString("home"); h != "" {
		return h, nil
	}
	if h := os.Getenv("AURORA_HOME"); h != "" {
		return h, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --home given and no user home: %w", err)
	}
	return filepath.Join(u, ".aurora"), nil
}

// existingHome resolves the home and checks it was initialized.
func existingHome(cmd *cobra.Command) (string, error) {
	h, err := homeDir(cmd)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(h, node.KeyFile)); errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("home %s is not initialized (run: aurora init --home %s)", h, h)
	}
	return h, nil
}

// loadConfig reads the effective config of a home: file, AURORA_* env, then
// the --set flags of cmd (if it has them).
func loadConfig(cmd *cobra.Command, home string) (node.Config, error) {
	cfg, err := node.LoadConfig(home, os.Environ())
	if err != nil {
		return cfg, err
	}
	if err := applySetFlags(cmd, &cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// addSetFlag adds the repeated --set key=value override flag.
func addSetFlag(cmd *cobra.Command) {
	cmd.Flags().StringArray("set", nil, "override a config key: --set api.listen=127.0.0.1:7071 (repeatable)")
}

func applySetFlags(cmd *cobra.Command, cfg *node.Config) error {
	if cmd.Flags().Lookup("set") == nil {
		return nil
	}
	sets, _ := cmd.Flags().GetStringArray("set")
	for _, kv := range sets {
		k, v, ok := cutEq(kv)
		if !ok {
			return fmt.Errorf("--set %q: want key=value", kv)
		}
		if err := cfg.Set(k, v); err != nil {
			return err
		}
	}
	return nil
}

func cutEq(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return s[:i], s[i+1:], i > 0
		}
	}
	return "", "", false
}
