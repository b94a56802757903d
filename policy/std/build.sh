#!/bin/sh
# Rebuilds std.wasm, the standard law as a fedpolicy/1 module, reproducibly.
# It runs exactly what `aurora policy build ./guest -o std.wasm` runs:
#
#   GOOS=wasip1 GOARCH=wasm GOWASM= CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
#     go build -buildmode=c-shared -trimpath -ldflags='-s -w -buildid=' ./guest
#
# then reads the manifest from the module's fp_manifest export and appends it
# as the fedpolicy.manifest custom section. The bytes depend only on the
# sources and the Go toolchain version (recorded in the manifest).
set -eu
cd "$(dirname "$0")"
exec go run ../cmd/fpbuild -o std.wasm ./guest
