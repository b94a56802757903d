package sdk

import "runtime"

func toolchain() string { return runtime.Version() }
