//go:build !linux

package testnet

import (
	"context"
	"fmt"
	"net"
	"runtime"
)

// DialIn returns a dial function whose connections start inside network
// namespace ns ("" = this process's own network). Namespaces exist on
// Linux only: elsewhere any other ns fails with ErrNetnsUnavailable.
func DialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if ns == "" {
		return (&net.Dialer{}).DialContext
	}
	return func(context.Context, string, string) (net.Conn, error) {
		return nil, fmt.Errorf("%w on %s", ErrNetnsUnavailable, runtime.GOOS)
	}
}
