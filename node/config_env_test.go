package node_test

import (
	"errors"
	"testing"

	"github.com/aurora-federation/aurora/node"
)

// TestApplyEnv: AURORA_<SECTION>_<KEY> sets a key; a variable naming a
// section with no such key is an error naming it; other AURORA_* variables
// (a wrapper script's AURORA_BIN) are not the node's and leave it alone.
func TestApplyEnv(t *testing.T) {
	for _, tt := range []struct {
		name    string
		env     []string
		wantErr string // ConfigError key, "" for none
		check   func(node.Config) bool
	}{
		{name: "key", env: []string{"AURORA_API_LISTEN=127.0.0.1:9"}, check: func(c node.Config) bool { return c.API.Listen == "127.0.0.1:9" }},
		{name: "launch", env: []string{"AURORA_LAUNCH_WORKERS=8", "AURORA_LAUNCH_QUEUE=100"}, check: func(c node.Config) bool { return c.Launch.Workers == 8 && c.Launch.Queue == 100 }},
		{name: "wrapper variables", env: []string{"AURORA_BIN=/usr/bin/aurora", "AURORA_HOME=/x", "AURORA_TESTNET_DIR=/tmp/tn"}, check: func(c node.Config) bool { return c.API.Listen == node.DefaultConfig().API.Listen }},
		{name: "typo in a section", env: []string{"AURORA_API_LISTN=x"}, wantErr: "AURORA_API_LISTN"},
		{name: "bad value", env: []string{"AURORA_LAUNCH_WORKERS=many"}, wantErr: "launch.workers"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := node.DefaultConfig()
			err := node.ApplyEnv(&cfg, tt.env)
			var ce *node.ConfigError
			switch {
			case tt.wantErr != "":
				if !errors.As(err, &ce) || ce.Key != tt.wantErr {
					t.Fatalf("got %v, want a ConfigError on %s", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !tt.check(cfg):
				t.Errorf("config after %v: %+v", tt.env, cfg)
			}
		})
	}
}
