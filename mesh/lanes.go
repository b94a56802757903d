package mesh

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// peerStats is what forwarding learned about a peer: the price of its last
// Ack and an RTT average.
type peerStats struct {
	price int64
	rtt   time.Duration
}

// rttAlpha weighs a new RTT sample in the average.
const rttAlpha = 0.2

func (m *Mesh) learn(d treaty.DID, price int64, rtt time.Duration, acked bool) {
	m.statsMu.Lock()
	defer m.statsMu.Unlock()
	s := m.stats[d]
	if s == nil {
		if len(m.stats) >= 4*MaxAnchorOrigins {
			return
		}
		s = &peerStats{rtt: rtt}
		m.stats[d] = s
	}
	s.rtt = time.Duration(float64(s.rtt)*(1-rttAlpha) + float64(rtt)*rttAlpha)
	if acked {
		s.price = price
	}
}

// PeersFor lists the treaty peers an order may be forwarded to: for every
// active treaty with a lane from us to a peer, whose regions and providers
// are compatible with the order's constraints, one option. Regions are the
// treaty's (intersected with the order's), or the order's when the treaty
// does not restrict them. PricePerHour and RTT are what the last forwards
// to that peer showed (0 = unknown). The slice is the caller's.
func (m *Mesh) PeersFor(o *treaty.Order) []providers.PeerOption {
	v := m.book.current()
	if len(v.active) == 0 {
		return nil
	}
	var out []providers.PeerOption
	for _, at := range v.active {
		regions, ok := regionsFor(at.t.Regions, o.Constraints.Regions)
		if !ok || !overlaps(at.t.Providers, o.Constraints.Providers) {
			continue
		}
		for _, l := range at.t.Lanes {
			if l.From != m.me {
				continue
			}
			opt := providers.PeerOption{DID: l.To, Treaty: at.link, Regions: regions}
			m.statsMu.Lock()
			if s := m.stats[l.To]; s != nil {
				opt.PricePerHour = providers.Money(s.price)
				opt.RTT = s.rtt
			}
			m.statsMu.Unlock()
			out = append(out, opt)
		}
	}
	return out
}

// regionsFor combines a treaty's regions with an order's: empty means
// "any". ok is false when both restrict and share none.
func regionsFor(treatyRegions, orderRegions []string) ([]string, bool) {
	switch {
	case len(treatyRegions) == 0:
		return orderRegions, true
	case len(orderRegions) == 0:
		return treatyRegions, true
	}
	var out []string
	for _, r := range treatyRegions {
		if slices.Contains(orderRegions, r) {
			out = append(out, r)
		}
	}
	return out, len(out) > 0
}

// overlaps reports whether two allow-lists (empty = any) admit a common
// provider.
func overlaps(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// Lane returns the active treaty (found by any of its CIDs) under which
// from may forward orders to us, and the lane from → us. The treaty is
// shared: do not modify it. The error is a *LaneError saying why not.
func (m *Mesh) Lane(ctx context.Context, treatyCID treaty.Link, from treaty.DID) (*treaty.Treaty, treaty.Lane, error) {
	_, t, l, err := m.CanonicalLane(ctx, treatyCID, from)
	return t, l, err
}

// CanonicalLane is Lane that also returns the treaty's canonical link: the
// same for every CID the treaty is known by (its proposal, each signed
// version), so that quotas keyed by it cannot be multiplied by naming
// aliases.
func (m *Mesh) CanonicalLane(_ context.Context, treatyCID treaty.Link, from treaty.DID) (treaty.Link, *treaty.Treaty, treaty.Lane, error) {
	canon, t, l, err := m.lane(treatyCID, from)
	return canon, t, l, err
}

func (m *Mesh) lane(treatyCID treaty.Link, from treaty.DID) (treaty.Link, *treaty.Treaty, treaty.Lane, error) {
	fail := func(format string, args ...any) (treaty.Link, *treaty.Treaty, treaty.Lane, error) {
		return treaty.Link{}, nil, treaty.Lane{}, &LaneError{Treaty: treatyCID, From: from, Reason: fmt.Sprintf(format, args...)}
	}
	if !treatyCID.Defined() {
		return fail("no treaty named")
	}
	at := m.book.current().byAlias[treatyCID.Cid]
	if at == nil {
		info, ok := m.book.get(treatyCID.Cid)
		switch {
		case !ok:
			return fail("unknown treaty")
		case !info.Treaty.IsParty(m.me):
			return fail("we are not a party")
		default:
			return fail("treaty is %s", info.State)
		}
	}
	if !at.t.IsParty(from) {
		return fail("sender is not a party")
	}
	lane, ok := at.t.LaneFor(from, m.me)
	if !ok {
		return fail("the treaty has no lane from the sender to us")
	}
	return at.body, at.t, lane, nil
}
