package treaty

import (
	"slices"
	"time"
)

// State is where a treaty is in its lifecycle.
type State string

const (
	// StateProposed: not every party has signed, or the treaty is not yet
	// within its validity window.
	StateProposed State = "proposed"
	// StateActive: every party signed and now is within [not_before, not_after).
	StateActive State = "active"
	// StateSuperseded: an active treaty between the same parties in the same
	// federation has a higher seq.
	StateSuperseded State = "superseded"
	// StateExpired: now is at or after not_after.
	StateExpired State = "expired"
	// StateRevoked: a party signed a revocation that took effect.
	StateRevoked State = "revoked"
	// StateInvalid: the treaty fails validation or carries a forged signature.
	StateInvalid State = "invalid"
)

// Lifecycle computes t's state at now from its own signatures, the
// revocations known for it and the other treaties known between the same
// parties. It is a pure function: it verifies every signature it relies on
// and ignores revocations for other treaties or by non-parties.
//
// Precedence: invalid > revoked > expired > superseded > active > proposed.
func Lifecycle(t *Treaty, revocations []*Revocation, others []*Treaty, now time.Time) State {
	c, _, err := ID(t)
	id := LinkTo(c)
	if err != nil || t.Validate() != nil {
		return StateInvalid
	}
	signed, err := VerifyTreaty(t)
	if err != nil {
		return StateInvalid
	}
	nowS := now.Unix()
	if revokedBy(t, id, revocations, nowS) {
		return StateRevoked
	}
	if nowS >= t.NotAfter {
		return StateExpired
	}
	complete := len(signed) == len(t.Parties)
	if !complete || nowS < t.NotBefore {
		return StateProposed
	}
	for _, o := range others {
		if o.Seq > t.Seq && o.Federation == t.Federation && slices.Equal(o.Parties, t.Parties) && activeIgnoringSupersede(o, revocations, nowS) {
			return StateSuperseded
		}
	}
	return StateActive
}

func revokedBy(t *Treaty, id Link, revocations []*Revocation, nowS int64) bool {
	for _, r := range revocations {
		if !r.Treaty.Equals(id.Cid) || !t.IsParty(r.By) || r.At > nowS {
			continue
		}
		if r.Validate() == nil && Verify(r) == nil {
			return true
		}
	}
	return false
}

// activeIgnoringSupersede reports whether o would be active on its own,
// without looking for treaties that supersede it (supersession is decided by
// the highest active seq, so one level is enough).
func activeIgnoringSupersede(o *Treaty, revocations []*Revocation, nowS int64) bool {
	c, _, err := ID(o)
	id := LinkTo(c)
	if err != nil || o.Validate() != nil {
		return false
	}
	signed, err := VerifyTreaty(o)
	if err != nil || len(signed) != len(o.Parties) {
		return false
	}
	return nowS >= o.NotBefore && nowS < o.NotAfter && !revokedBy(o, id, revocations, nowS)
}
