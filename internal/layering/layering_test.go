// Package layering holds the one test that enforces the module's one-way
// imports (STYLE.md): cmd → node → {mesh, order, providers, provenance,
// policy} → treaty, with the pure packages free of transports and files.
package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/aurora-federation/aurora"

// rule constrains one package: nothing in its import graph under a
// forbidden prefix, and none of the forbidden direct imports.
type rule struct {
	pkg    string
	graph  []string // forbidden prefixes in the transitive (non-test) import graph
	direct []string // forbidden direct imports
}

var upper = []string{mod + "/node", mod + "/mesh", mod + "/testnet", mod + "/cmd"}

var rules = []rule{
	{pkg: "treaty", graph: []string{mod + "/policy", mod + "/provenance", mod + "/providers", mod + "/order", mod + "/clock", mod + "/node", mod + "/mesh"}, direct: []string{"net/http", "os"}},
	{pkg: "clock", graph: []string{mod + "/"}, direct: []string{"net/http", "os"}},
	{pkg: "policy", graph: append([]string{mod + "/provenance", mod + "/providers", mod + "/order"}, upper...), direct: []string{"net/http"}},
	{pkg: "provenance", graph: append([]string{mod + "/policy", mod + "/providers", mod + "/order", mod + "/provenance/ipfs", mod + "/provenance/tsa"}, upper...), direct: []string{"net/http", "os"}},
	// The C2SP pieces: tiles, trust policies and the monitor are pure; only
	// c2sphttp speaks HTTP, and none of them reaches the node or the mesh.
	{pkg: "provenance/tiles", graph: append([]string{mod + "/policy", mod + "/providers", mod + "/order", mod + "/provenance/ipfs", mod + "/provenance/tsa", mod + "/provenance/c2sphttp"}, upper...), direct: []string{"net/http", "os"}},
	{pkg: "provenance/trust", graph: append([]string{mod + "/policy", mod + "/providers", mod + "/order", mod + "/provenance/ipfs", mod + "/provenance/tsa", mod + "/provenance/c2sphttp"}, upper...), direct: []string{"net/http", "os"}},
	{pkg: "provenance/monitor", graph: append([]string{mod + "/policy", mod + "/providers", mod + "/order", mod + "/provenance/ipfs", mod + "/provenance/tsa", mod + "/provenance/c2sphttp"}, upper...), direct: []string{"net/http", "os"}},
	{pkg: "provenance/c2sphttp", graph: append([]string{mod + "/policy", mod + "/providers", mod + "/order", mod + "/provenance/ipfs"}, upper...), direct: []string{"os"}},
	// The light verifier's core (what cmd/aurora-verify links) and the
	// browser page's Go package reach nothing of Aurora but a bounded file
	// read, and no transport.
	{pkg: "provenance/c2sp", graph: []string{mod + "/"}, direct: []string{"net/http", "net", "os"}},
	{pkg: "provenance/rfc3161", graph: []string{mod + "/treaty", mod + "/provenance/c2sp", mod + "/provenance/tsa", mod + "/provenance/ipfs", mod + "/clock", mod + "/policy", mod + "/order", mod + "/providers", mod + "/node", mod + "/mesh", mod + "/testnet", mod + "/cmd"}, direct: []string{"net/http", "net"}},
	{pkg: "web/verify", graph: []string{mod + "/"}, direct: []string{"net/http", "os"}},
	// The SLO report reads Prometheus, nothing of Aurora.
	{pkg: "slo", graph: []string{mod + "/"}},
	// Credit accounting is pure arithmetic over records.
	{pkg: "credit", graph: []string{mod + "/policy", mod + "/provenance", mod + "/providers", mod + "/order", mod + "/clock", mod + "/judge", mod + "/node", mod + "/mesh", mod + "/testnet", mod + "/cmd"}, direct: []string{"net/http", "os", "time"}},
	{pkg: "order", graph: append([]string{mod + "/policy", mod + "/provenance"}, upper...), direct: []string{"net/http", "os"}},
	{pkg: "providers", graph: append([]string{mod + "/order", mod + "/provenance", mod + "/policy"}, upper...), direct: []string{"net/http"}}, // credentials come from env and files
	{pkg: "providers/simulate", graph: upper},
	// The release bundle builder and verifier: files, OpenPGP and the log's
	// formats, no transport, node or mesh.
	{pkg: "release", graph: append([]string{mod + "/policy", mod + "/providers", mod + "/order", mod + "/provenance/ipfs", mod + "/provenance/tsa", mod + "/provenance/c2sphttp"}, upper...), direct: []string{"net/http"}},
	{pkg: "mesh", graph: []string{mod + "/node", mod + "/order", mod + "/testnet", mod + "/cmd"}},
}

// goList runs go list in the module root; a failure fails the test (a
// layering check that cannot look must not pass).
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %v: %v %s", args, err, stderr)
	}
	return strings.Fields(string(out))
}

func TestLayering(t *testing.T) {
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			path := mod + "/" + r.pkg
			deps := goList(t, "-deps", "./"+r.pkg)
			if len(deps) == 0 {
				t.Fatalf("go list found nothing for %s", path)
			}
			for _, d := range deps {
				if d == path {
					continue
				}
				for _, bad := range r.graph {
					if d == bad || strings.HasPrefix(d, strings.TrimSuffix(bad, "/")+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(d, bad)) {
						t.Errorf("%s imports %s (forbidden: %s)", path, d, bad)
					}
				}
			}
			direct := goList(t, "-f", `{{join .Imports " "}}`, "./"+r.pkg)
			for _, d := range direct {
				for _, bad := range r.direct {
					if d == bad {
						t.Errorf("%s imports %s directly: transports and files belong to mesh, node and cmd", path, d)
					}
				}
			}
		})
	}
}

// TestRulesBite: the check finds a real forbidden import (node imports
// mesh), so a rule that could never fire would show here.
func TestRulesBite(t *testing.T) {
	found := false
	for _, d := range goList(t, "-deps", "./node") {
		if d == mod+"/mesh" {
			found = true
		}
	}
	if !found {
		t.Fatal("go list -deps ./node does not list the mesh: the layering check reads nothing")
	}
}
