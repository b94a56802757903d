// Command fpbuild builds a Go policy into a fedpolicy/1 module without the
// rest of the node: `go run ./policy/cmd/fpbuild -o OUT.wasm DIR`. It is
// what policy/std/build.sh runs; `aurora policy build` does the same.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/policybuild"
)

func main() {
	out := flag.String("o", "", "output .wasm file")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: fpbuild -o OUT.wasm DIR")
		os.Exit(2)
	}
	wasm, mf, err := policybuild.Build(context.Background(), flag.Arg(0), "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, wasm, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s %s %s@%s %d bytes\n", policy.ModuleCID(wasm), *out, mf.Name, mf.Version, len(wasm))
}
