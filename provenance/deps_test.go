package provenance

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the package pure: no mesh or node anywhere in its
// (non-test) import graph, and no direct net/http or os import
// (prometheus/client_golang, which the Registerer requires, brings net/http
// in transitively).
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	bad := map[string]string{
		"github.com/aurora-federation/aurora/mesh": "provenance must not import the mesh",
		"github.com/aurora-federation/aurora/node": "provenance must not import the node",
	}
	direct, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Split(string(out), "\n") {
		if why, ok := bad[p]; ok {
			t.Errorf("imports %s: %s", p, why)
		}
		if strings.HasPrefix(p, "github.com/aurora-federation/aurora/mesh/") || strings.HasPrefix(p, "github.com/aurora-federation/aurora/node/") {
			t.Errorf("imports %s", p)
		}
	}
	for _, p := range strings.Split(string(direct), "\n") {
		if p == "os" || p == "net/http" {
			t.Errorf("imports %s directly: transports and files belong to mesh, node and cmd", p)
		}
	}
}
