package testnet

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAdvertisedProtocols: the protocols a running node registers on its
// host (what identify advertises) are exactly those docs/TREATY_PROTOCOL.md
// §1.1 lists, the DHT's aside (it runs only with p2p.dht).
func TestAdvertisedProtocols(t *testing.T) {
	doc, err := os.ReadFile("../docs/TREATY_PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "### 1.1 Protocols a node advertises")
	if !ok {
		t.Fatal("docs/TREATY_PROTOCOL.md has no §1.1")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var want []string
	row := regexp.MustCompile("^\\| (`/[^|]*)\\|")
	for _, line := range strings.Split(section, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil || strings.Contains(line, "p2p.dht") {
			continue
		}
		for _, p := range regexp.MustCompile("`(/[^`]+)`").FindAllStringSubmatch(m[1], -1) {
			want = append(want, p[1])
		}
	}
	tn, err := Start(t.Context(), Config{Nodes: 1, Dir: t.TempDir(), SimFailure: 0.0001, Epoch: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	var got []string
	for _, p := range tn.Nodes[0].Mesh().Host().Mux().Protocols() {
		got = append(got, string(p))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the node advertises %q\n§1.1 lists %q", got, want)
	}
}
