package mesh

import (
	"context"
	"errors"
	"fmt"

	"github.com/aurora-federation/aurora/treaty"
)

// PublishReputation gossips our reputation report for an epoch (see
// ReputationEpochOf). An unsigned report is signed with our key; the
// caller's report is not modified. A report outside the accepted epoch
// window is a *StaleReportError; a second report for the same epoch is
// refused.
func (m *Mesh) PublishReputation(ctx context.Context, r *treaty.ReputationReport) error {
	if r == nil {
		return errors.New("mesh: publish reputation: nil report")
	}
	if r.Reporter != m.me {
		return fmt.Errorf("mesh: publish reputation: reporter %s is not this node", r.Reporter.Short())
	}
	c := *r
	if len(c.Sig) == 0 {
		if err := treaty.Sign(&c, m.cfg.Key); err != nil {
			return err
		}
	}
	raw, err := treaty.Encode(&c)
	if err != nil {
		return err
	}
	// The same checks a receiver makes, so a refusal names its reason.
	if _, err := m.judgeReputation(m.id, raw, false); err != nil {
		return err
	}
	return m.publish(ctx, kindReputation, raw)
}

// PublishAnchor gossips an anchor (our cosigned checkpoint and epoch root)
// and keeps it as our log's latest for sync.
func (m *Mesh) PublishAnchor(ctx context.Context, a *treaty.Anchor) error {
	if a == nil {
		return errors.New("mesh: publish anchor: nil anchor")
	}
	if err := a.Validate(); err != nil {
		return err
	}
	size, err := checkpointSize(a.Checkpoint)
	if err != nil {
		return err
	}
	raw, err := treaty.Encode(a)
	if err != nil {
		return err
	}
	c := *a
	if _, err := m.anchors.putChanged(ctx, &anchorRec{a: &c, raw: raw, id: treaty.CIDOf(raw), size: size}); err != nil {
		return err
	}
	return m.publish(ctx, kindAnchor, raw)
}
