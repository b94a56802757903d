package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowedDeps are the only packages outside the standard library that
// aurora-verify may link: each one's init and pages cost start-up time, and
// the binary must start within 5 ms of the machine's exec floor (issue 15).
// Adding one is a decision to make here, with a fresh hyperfine measurement
// (docs/PROVENANCE.md §5).
var allowedDeps = []string{
	"github.com/aurora-federation/aurora/cmd/aurora-verify",
	"github.com/aurora-federation/aurora/cmd/internal/proofverify",
	"github.com/aurora-federation/aurora/internal/boundedio",
	"github.com/aurora-federation/aurora/provenance/c2sp",
	"github.com/aurora-federation/aurora/provenance/rfc3161",
	"github.com/aurora-federation/aurora/provenance/trust",
	"github.com/fxamacker/cbor/v2",
	"github.com/x448/float16", // fxamacker/cbor's
	"github.com/mr-tron/base58",
	"github.com/spf13/pflag",
	"github.com/transparency-dev/merkle",
	"github.com/transparency-dev/merkle/compact",
	"github.com/transparency-dev/merkle/proof",
	"github.com/transparency-dev/merkle/rfc6962",
	"golang.org/x/mod/sumdb/note",
}

// forbiddenStd are standard packages that must not come back: net/http
// (with crypto/tls, http2 and mime) was pulled in by the RFC 3161 client.
var forbiddenStd = []string{"net/http", "crypto/tls", "os/exec", "text/template", "html/template", "database/sql", "runtime/pprof"}

// TestDeps guards aurora-verify's import set: `go list -deps` of the
// command holds no package outside allowedDeps and the standard library,
// none of forbiddenStd, and none of the heavy modules by name (libp2p,
// boxo, badger, wazero, prometheus, the datastore, IPLD, cobra), so the
// start-up budget cannot regress silently.
func TestDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the dependencies: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{else}}std:{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var std, nonStd []string
	for _, p := range strings.Fields(string(out)) {
		if s, ok := strings.CutPrefix(p, "std:"); ok {
			std = append(std, s)
		} else {
			nonStd = append(nonStd, p)
		}
	}
	if len(std) < 10 || !slices.Contains(nonStd, "github.com/aurora-federation/aurora/provenance/c2sp") {
		t.Fatalf("implausible package list: %d standard, %v", len(std), nonStd)
	}
	heavy := []string{"libp2p", "boxo", "badger", "wazero", "prometheus", "go-datastore", "go-ipld", "go-cid", "multiformats", "cobra",
		"aurora/treaty", "aurora/node", "aurora/mesh", "aurora/provenance/tsa", "digitorus", "protobuf"}
	for _, p := range nonStd {
		for _, h := range heavy {
			if strings.Contains(p, h) {
				t.Errorf("aurora-verify links %s (%s)", p, h)
			}
		}
		if !slices.Contains(allowedDeps, p) {
			t.Errorf("aurora-verify links %s, which is not in allowedDeps", p)
		}
	}
	if p := "github.com/aurora-federation/aurora/provenance"; slices.Contains(nonStd, p) {
		t.Errorf("aurora-verify links %s (its log, witness and epochs bring storage and metrics)", p)
	}
	for _, p := range forbiddenStd {
		if slices.Contains(std, p) {
			t.Errorf("aurora-verify links %s", p)
		}
	}
}
