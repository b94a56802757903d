package mesh

import (
	"context"
	"errors"
	"slices"

	"github.com/aurora-federation/aurora/treaty"
)

// Propose signs t with our key, stores it and gossips it. t must name us as
// a party and this federation; the caller keeps t (the book stores a
// copy). It returns the CID of the signed treaty.
func (m *Mesh) Propose(ctx context.Context, t *treaty.Treaty) (treaty.Link, error) {
	if t == nil {
		return treaty.Link{}, errors.New("mesh: propose: nil treaty")
	}
	if !t.IsParty(m.me) {
		return treaty.Link{}, &NotPartyError{DID: m.me}
	}
	c := *t
	c.Sigs = slices.Clone(t.Sigs)
	if err := treaty.SignTreaty(&c, m.cfg.Key); err != nil {
		return treaty.Link{}, err
	}
	return m.store(ctx, &c)
}

// Submit stores and gossips a treaty signed elsewhere (the HTTP API's
// POST of a complete treaty). It must carry at least one valid party
// signature and no forged one.
func (m *Mesh) Submit(ctx context.Context, t *treaty.Treaty) (treaty.Link, error) {
	if t == nil {
		return treaty.Link{}, errors.New("mesh: submit: nil treaty")
	}
	c := *t
	c.Sigs = slices.Clone(t.Sigs)
	return m.store(ctx, &c)
}

func (m *Mesh) store(ctx context.Context, t *treaty.Treaty) (treaty.Link, error) {
	if m.isClosed() {
		return treaty.Link{}, ErrClosed
	}
	c, err := m.book.checkTreaty(t, nil)
	if err != nil {
		return treaty.Link{}, err
	}
	body, changed, err := m.book.addTreaty(ctx, c)
	if err != nil {
		return treaty.Link{}, err
	}
	if changed {
		m.changed(body, false)
	}
	info, ok := m.book.get(body)
	if !ok {
		return treaty.Link{}, ErrNotFound
	}
	m.announce(ctx, info)
	return info.CID, nil
}

// announce gossips the book's current version of a treaty. A failure is
// logged, not returned: the treaty is stored, and sync spreads it.
func (m *Mesh) announce(ctx context.Context, info TreatyInfo) {
	raw, err := treaty.Encode(info.Treaty)
	if err == nil {
		var data []byte
		if data, err = encodeFrame(&envelope{Treaty: raw}); err == nil {
			err = m.publish(ctx, kindTreaty, data)
		}
	}
	if err != nil {
		m.log.Warn("gossip treaty failed; sync will spread it", "treaty", info.CID.String(), "err", err)
	}
}

// Countersign adds our signature to a treaty in the book (found by any of
// its CIDs) and gossips it. Signing again is a no-op that re-announces.
func (m *Mesh) Countersign(ctx context.Context, id treaty.Link) error {
	info, err := m.Get(id)
	if err != nil {
		return err
	}
	if !info.Treaty.IsParty(m.me) {
		return &NotPartyError{Treaty: info.CID, DID: m.me}
	}
	if info.State != treaty.StateProposed && info.State != treaty.StateActive {
		return &StateError{Treaty: info.CID, State: info.State, Op: "countersign"}
	}
	if slices.Contains(info.Signed, m.me) {
		m.announce(ctx, info)
		return nil
	}
	_, err = m.Propose(ctx, info.Treaty)
	return err
}

// Revoke signs a revocation of the treaty (found by any of its CIDs) by
// us, effective now, stores it and gossips it.
func (m *Mesh) Revoke(ctx context.Context, id treaty.Link, reason string) error {
	info, err := m.Get(id)
	if err != nil {
		return err
	}
	if !info.Treaty.IsParty(m.me) {
		return &NotPartyError{Treaty: info.CID, DID: m.me}
	}
	switch info.State {
	case treaty.StateRevoked, treaty.StateExpired, treaty.StateInvalid:
		return &StateError{Treaty: info.CID, State: info.State, Op: "revoke"}
	}
	r := &treaty.Revocation{V: treaty.Version, Treaty: info.CID, By: m.me, At: m.cfg.Clock().Unix(), Reason: reason}
	if err := r.Validate(); err != nil {
		return err
	}
	if err := treaty.Sign(r, m.cfg.Key); err != nil {
		return err
	}
	raw, err := treaty.Encode(r)
	if err != nil {
		return err
	}
	if m.isClosed() {
		return ErrClosed
	}
	body, changed, err := m.book.addRevocation(ctx, r, raw)
	if err != nil {
		return err
	}
	if changed {
		m.changed(body, false)
	}
	data, err := encodeFrame(&envelope{Revocation: raw})
	if err == nil {
		err = m.publish(ctx, kindTreaty, data)
	}
	if err != nil {
		m.log.Warn("gossip revocation failed; sync will spread it", "treaty", info.CID.String(), "err", err)
	}
	return nil
}

// List returns every treaty in the book with its state now, ordered by
// not_before then CID. The slice is the caller's; the treaties are shared
// and must not be modified.
func (m *Mesh) List() []TreatyInfo { return m.book.list() }

// Get returns a treaty by any of its CIDs (an earlier, partly signed
// version's CID works too), or ErrNotFound.
func (m *Mesh) Get(id treaty.Link) (TreatyInfo, error) {
	if !id.Defined() {
		return TreatyInfo{}, ErrNotFound
	}
	info, ok := m.book.get(id.Cid)
	if !ok {
		return TreatyInfo{}, ErrNotFound
	}
	return info, nil
}
