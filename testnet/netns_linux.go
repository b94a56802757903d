package testnet

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// DialIn returns a dial function whose connections start inside network
// namespace ns ("" = this process's own network). Each dial runs on a
// fresh OS thread that joins ns and is never handed back to the Go
// scheduler (it exits with its goroutine), so no other goroutine ever runs
// in ns; the socket stays in ns after the dial.
func DialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if ns == "" {
		return (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
			fd, err := unix.Open(netnsPath(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				ch <- result{nil, fmt.Errorf("testnet: namespace %s: %w", ns, err)}
				return
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("testnet: enter namespace %s: %w", ns, err)}
				return
			}
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}
