package node_test

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/node"
)

// TestMetricsListed: every metric family a node registers (mesh, external
// witnesses, policy engine, reputation, epoch loop, order core and all) is
// in ops/metrics.txt, which the dashboard and the alert rules are checked
// against, and every listed family is one the node registers. A family
// added without the ops side, or one dropped from the code while the
// dashboard still charts it, fails here.
func TestMetricsListed(t *testing.T) {
	cfg := newConfig()
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.P2P.MDNS = false
	cfg.Provenance.ExternalWitnesses = []node.ExternalWitnessConfig{
		{Name: "ext", URL: "http://127.0.0.1:1/witness", Key: mustVKey(t, "witness.example/ext")},
	}
	tn := startNode(t, cfg)
	registered := map[string]bool{}
	for _, f := range tn.n.Metrics().Registry.Families() {
		if strings.HasPrefix(f, "aurora_") {
			registered[f] = true
		}
	}
	if len(registered) < 30 {
		t.Fatalf("only %d aurora_ families registered: %v", len(registered), registered)
	}
	fh, err := os.Open("../ops/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if name := strings.TrimSpace(sc.Text()); name != "" && !strings.HasPrefix(name, "#") {
			listed[name] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for f := range registered {
		if !listed[f] {
			t.Errorf("%s is registered by the node but not in ops/metrics.txt (nor, so, on the dashboard)", f)
		}
	}
	for f := range listed {
		if !registered[f] {
			t.Errorf("ops/metrics.txt lists %s, which the node does not register", f)
		}
	}
}
