package providers

import (
	"context"
	"fmt"
)

// Log limits: what one Logs call returns at most.
const (
	// MaxLogBytes bounds the log text one call returns; a longer log is
	// cut to its last MaxLogBytes (LogResult.Truncated).
	MaxLogBytes = 1 << 20
	// MaxLogTail bounds the lines one call asks for.
	MaxLogTail = 10000
)

// LogResult is a workload's recent log, as the network keeps it.
type LogResult struct {
	Text      []byte // whole lines, oldest first, at most MaxLogBytes
	Truncated bool   // the network had more than MaxLogBytes
}

// LogReader is the optional capability of adapters whose network serves a
// workload's container log through its API. Check it with Logs.
type LogReader interface {
	// Logs returns the last tail lines (1 to MaxLogTail) of lease id's
	// container log.
	Logs(ctx context.Context, id string, tail int) (LogResult, error)
}

// NoLogs is implemented by adapters that cannot read logs, to say why
// (with the published material it rests on).
type NoLogs interface {
	NoLogsReason() string
}

// Logs reads the last tail lines of a lease's log through p, or returns an
// error wrapping ErrNotSupported that says why p cannot.
func Logs(ctx context.Context, p Provider, id string, tail int) (LogResult, error) {
	if tail < 1 || tail > MaxLogTail {
		return LogResult{}, fmt.Errorf("providers: logs: tail %d, want 1 to %d", tail, MaxLogTail)
	}
	if lr, ok := p.(LogReader); ok {
		return lr.Logs(ctx, id, tail)
	}
	why := "the adapter reads no logs"
	if n, ok := p.(NoLogs); ok {
		why = n.NoLogsReason()
	}
	return LogResult{}, fmt.Errorf("%s: logs: %w: %s", p.Name(), ErrNotSupported, why)
}

// LogsSupported reports whether p reads logs and, when not, why.
func LogsSupported(p Provider) (bool, string) {
	if _, ok := p.(LogReader); ok {
		return true, ""
	}
	if n, ok := p.(NoLogs); ok {
		return false, n.NoLogsReason()
	}
	return false, "the adapter reads no logs"
}
