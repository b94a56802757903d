// Package policybuild builds a Go policy (a main package registering an
// sdk.Policy) into a fedpolicy/1 module, reproducibly: the stock toolchain
// as a WASI reactor with fixed flags, then the manifest embedded. It runs
// the go command, so it lives apart from the pure policy package.
package policybuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/sdk"
)

// GoBuildArgs are the exact arguments after `go build`; the output path and
// the package follow.
var goBuildArgs = []string{"-buildmode=c-shared", "-trimpath", "-ldflags=-s -w -buildid="}

// Command returns the build command line for documentation and errors.
func Command(pkg string) string {
	return "GOOS=wasip1 GOARCH=wasm GOWASM= GOEXPERIMENT= CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build " +
		strings.Join([]string{goBuildArgs[0], goBuildArgs[1], "'" + goBuildArgs[2] + "'"}, " ") + " -o OUT " + pkg
}

// Build compiles the main package in dir and returns the module (manifest
// embedded), its manifest and CID. goCmd is the go binary ("" = "go" on
// PATH). The environment is the caller's with the target, flags and
// experiments pinned, so the bytes depend only on the sources and the
// toolchain version.
func Build(ctx context.Context, dir, goCmd string) ([]byte, *sdk.Manifest, error) {
	if goCmd == "" {
		goCmd = "go"
	}
	tmp, err := os.MkdirTemp("", "fpbuild-")
	if err != nil {
		return nil, nil, fmt.Errorf("policybuild: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "raw.wasm")
	args := append([]string{"build"}, goBuildArgs...)
	args = append(args, "-o", out, ".")
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	cmd.Env = buildEnv(os.Environ())
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("policybuild: %s in %s: %w\n%s", Command("."), dir, err, msg)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, nil, fmt.Errorf("policybuild: %w", err)
	}
	wasm, mf, err := policy.EmbedManifest(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	return wasm, mf, nil
}

func buildEnv(env []string) []string {
	pinned := map[string]string{
		"GOOS": "wasip1", "GOARCH": "wasm", "GOWASM": "", "GOEXPERIMENT": "",
		"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false",
	}
	out := make([]string, 0, len(env)+len(pinned))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := pinned[k]; !ok {
			out = append(out, kv)
		}
	}
	for _, k := range []string{"GOOS", "GOARCH", "GOWASM", "GOEXPERIMENT", "CGO_ENABLED", "GOFLAGS"} {
		out = append(out, k+"="+pinned[k])
	}
	return out
}
