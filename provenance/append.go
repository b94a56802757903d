package provenance

import (
	"context"
	"fmt"
)

// LeafSizeError refuses a leaf that no append can take: empty or over
// MaxLeafSize. Position is the leaf's place in the caller's slice.
type LeafSizeError struct {
	Position int
	Size     int
}

func (e *LeafSizeError) Error() string {
	return fmt.Sprintf("provenance: append: leaf %d is %d bytes, want 1 to %d", e.Position, e.Size, MaxLeafSize)
}

// AppendResult is the outcome of one leaf of AppendEach: its log index, or
// why it was not appended.
type AppendResult struct {
	Index uint64
	Err   error
}

// AppendEach appends leaves in order, in as few transactions as the limits
// allow: each batch holds at most MaxAppendLeaves leaves and MaxAppendBytes
// bytes, so callers such as a group commit may pass any number of leaves.
// A leaf no append can take (a *LeafSizeError) is refused alone: the others
// are appended. It returns one result per leaf, in the caller's order. If a
// transaction fails, the leaves of that batch and of every later one get
// its error (nothing after a failed batch is appended, so the log's order
// follows the caller's), and AppendEach returns that error as well;
// per-leaf refusals alone return a nil error. Leaves of a batch that
// committed are in the log even when a later batch fails.
func (l *Log) AppendEach(ctx context.Context, leaves [][]byte) ([]AppendResult, error) {
	res := make([]AppendResult, len(leaves))
	var (
		batch []int // positions of the current batch
		bytes int
	)
	commit := func() error {
		if len(batch) == 0 {
			return nil
		}
		lv := make([][]byte, len(batch))
		for k, p := range batch {
			lv[k] = leaves[p]
		}
		first, err := l.Append(ctx, lv...)
		for k, p := range batch {
			if err != nil {
				res[p].Err = err
			} else {
				res[p].Index = first + uint64(k)
			}
		}
		batch, bytes = batch[:0], 0
		return err
	}
	for p, lf := range leaves {
		if len(lf) == 0 || len(lf) > MaxLeafSize {
			res[p].Err = &LeafSizeError{Position: p, Size: len(lf)}
			continue
		}
		if len(batch) == MaxAppendLeaves || bytes+len(lf) > MaxAppendBytes {
			if err := commit(); err != nil {
				failRest(res, leaves, p, err)
				return res, err
			}
		}
		batch = append(batch, p)
		bytes += len(lf)
	}
	if err := commit(); err != nil {
		return res, err
	}
	return res, nil
}

// failRest marks every not-yet-refused leaf from position p on with err.
func failRest(res []AppendResult, leaves [][]byte, p int, err error) {
	for ; p < len(leaves); p++ {
		if res[p].Err == nil {
			res[p].Err = err
		}
	}
}
