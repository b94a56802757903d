package node_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/aurora-federation/aurora/node"
)

// TestProviderNames: every adapter takes its [[providers]] entry's name
// (two accounts of one network can run side by side, and an order's
// providers constraint names them as configured); an entry named after its
// kind keeps that name.
func TestProviderNames(t *testing.T) {
	cred := filepath.Join(t.TempDir(), "cred")
	// A WIF key (Flux) also serves as an opaque API key for the others.
	if err := os.WriteFile(cred, []byte("KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	options := map[string]map[string]string{
		"salad":  {"organization": "acme", "project": "infer"},
		"render": {"public_key": "pk_test"},
	}
	for _, kind := range []string{"vastai", "salad", "akash", "ionet", "render", "flux", "aethir"} {
		for _, name := range []string{kind, kind + "-eu-2"} {
			pc := node.ProviderConfig{Kind: kind, Name: name, CredentialFile: cred, Regions: []string{"eu-west"}, Options: options[kind]}
			if kind == "aethir" {
				pc.CredentialFile = ""
			}
			ps, err := node.BuildProviders([]node.ProviderConfig{pc}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatalf("%s named %s: %v", kind, name, err)
			}
			if got := ps[0].Name(); got != name {
				t.Errorf("%s configured as %q is named %q", kind, name, got)
			}
		}
	}
}
