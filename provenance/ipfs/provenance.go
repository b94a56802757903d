package ipfs

import (
	"context"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// PinEpochInfo is the provenance loop's Pin hook
// (provenance.EpochsConfig.Pin): it stores the epoch's leaves as dag-cbor
// blocks, writes the EpochRoot (the cosigned note split into the log-signed
// checkpoint and the witness cosignature lines; the previous epoch's tokens
// as tsa) and pins it with PinEpoch. It returns the root's CID. Like
// PinEpoch it is idempotent: the same EpochInfo yields the same root.
func (n *Node) PinEpochInfo(ctx context.Context, e provenance.EpochInfo) (string, error) {
	prev := cid.Undef
	if e.Prev != "" {
		var err error
		if prev, err = cid.Decode(e.Prev); err != nil {
			return "", fmt.Errorf("ipfs: previous root %q: %w", e.Prev, err)
		}
	}
	if len(e.Leaves) > MaxEpochRecords {
		return "", &EpochRootError{Field: "records", Rule: fmt.Sprintf("epoch %d has %d leaves, limit %d", e.Epoch, len(e.Leaves), MaxEpochRecords)}
	}
	checkpoint, cosigs := SplitNote(string(e.Checkpoint), e.Origin)
	r := &EpochRoot{
		V:            EpochRootVersion,
		Origin:       e.Origin,
		Epoch:        e.Epoch,
		Checkpoint:   checkpoint,
		Cosignatures: cosigs,
		TSA:          e.PrevTokens,
		Records:      make([]treaty.Link, 0, len(e.Leaves)),
	}
	for i, leaf := range e.Leaves {
		c, err := n.Put(ctx, leaf, cid.DagCBOR)
		if err != nil {
			return "", fmt.Errorf("ipfs: epoch %d leaf %d: %w", e.Epoch, e.Start+uint64(i), err)
		}
		r.Records = append(r.Records, treaty.LinkTo(c))
	}
	if prev.Defined() {
		l := treaty.LinkTo(prev)
		r.Prev = &l
	}
	root, err := n.PutEpochRoot(ctx, r)
	if err != nil {
		return "", err
	}
	if err := n.PinEpoch(ctx, root, prev); err != nil {
		return "", err
	}
	return root.String(), nil
}

// SplitNote splits a cosigned signed note (C2SP signed-note: text, a blank
// line, signature lines "— <name> <base64>") into the note with the
// signatures of key name origin (the log's) and the other signature lines
// (the witnesses' cosignatures). A note without a signature block is
// returned whole. Note reassembles them.
func SplitNote(note, origin string) (checkpoint string, cosignatures []string) {
	i := strings.LastIndex(note, "\n\n")
	if i < 0 {
		return note, nil
	}
	head, sigs := note[:i+2], note[i+2:]
	var own []string
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		rest, isSig := strings.CutPrefix(line, "— ")
		name, _, _ := strings.Cut(rest, " ")
		if isSig && name != origin {
			cosignatures = append(cosignatures, line)
		} else {
			own = append(own, line)
		}
	}
	if len(own) == 0 {
		return head, cosignatures
	}
	return head + strings.Join(own, "\n") + "\n", cosignatures
}

// Note returns the cosigned note: the checkpoint followed by the
// cosignature lines.
func (r *EpochRoot) Note() string {
	var b strings.Builder
	b.WriteString(r.Checkpoint)
	for _, l := range r.Cosignatures {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}
