package credit

import (
	"fmt"
	"math"

	"github.com/aurora-federation/aurora/treaty"
)

// Terms are a treaty's credit terms for one lane.
type Terms struct {
	// MinMarkup and MaxMarkup bound the markup, in permille over the
	// running operator's cost, that a strategy may pick: 0 and 250 let
	// the price range from cost to cost + 25 %.
	MinMarkup, MaxMarkup int64
	// Limit is the most the debtor may owe the creditor, unsettled, in
	// micro-USD; 0 means no limit.
	Limit int64
}

// Validate reports terms a treaty must not carry.
func (t Terms) Validate() error {
	switch {
	case t.MinMarkup < 0 || t.MinMarkup > MaxMarkup:
		return fmt.Errorf("credit: min markup %d permille out of [0, %d]", t.MinMarkup, MaxMarkup)
	case t.MaxMarkup < t.MinMarkup || t.MaxMarkup > MaxMarkup:
		return fmt.Errorf("credit: max markup %d permille out of [min markup %d, %d]", t.MaxMarkup, t.MinMarkup, MaxMarkup)
	case t.Limit < 0:
		return fmt.Errorf("credit: limit %d is negative", t.Limit)
	}
	return nil
}

// MaxMarkup is the largest markup terms may allow: 10,000 permille, a price
// of eleven times the cost (treaty.MaxMarkup).
const MaxMarkup = treaty.MaxMarkup

// TermsOf returns a treaty's credit terms.
func TermsOf(c treaty.Credit) Terms {
	return Terms{MinMarkup: c.MinMarkup, MaxMarkup: c.MaxMarkup, Limit: c.Limit}
}

// clamp bounds m to the terms.
func (t Terms) clamp(m int64) int64 { return min(max(m, t.MinMarkup), t.MaxMarkup) }

// Load is what a strategy knows about the running operator when it prices
// an order.
type Load struct {
	// Utilization is the permille of the operator's capacity in use (its
	// launch slots, or the lane's in-flight quota), 0 to 1000.
	Utilization int64
}

// Strategy picks the markup a running operator charges on a lane. Markup
// must be deterministic in its arguments (the simulator compares
// strategies run for run) and is clamped to the terms by [Price].
type Strategy interface {
	Markup(t Terms, l Load) int64
}

// Fixed charges the same markup, in permille, whatever the load.
type Fixed int64

var _ Strategy = Fixed(0)

// Markup implements [Strategy].
func (f Fixed) Markup(Terms, Load) int64 { return int64(f) }

// Utilization is the default strategy: the minimum markup while the
// operator's utilization is at most Knee permille, rising linearly to the
// maximum at full utilization. The zero value (Knee 0) rises from the first
// order in flight.
type Utilization struct {
	// Knee is the utilization, in permille (0 to 999), up to which the
	// markup stays at the minimum. Default 0.
	Knee int64
}

var _ Strategy = Utilization{}

// Markup implements [Strategy].
func (u Utilization) Markup(t Terms, l Load) int64 {
	knee := min(max(u.Knee, 0), 999)
	util := min(max(l.Utilization, 0), 1000)
	if util <= knee {
		return t.MinMarkup
	}
	return t.MinMarkup + (t.MaxMarkup-t.MinMarkup)*(util-knee)/(1000-knee)
}

// Price returns what the running operator charges, in micro-USD per hour,
// for a cost of cost micro-USD per hour under terms t, strategy s and
// load l: cost plus the strategy's markup clamped to the terms, rounded up.
// An overflow of int64 is an error.
func Price(cost int64, t Terms, s Strategy, l Load) (int64, error) {
	if cost < 0 {
		return 0, fmt.Errorf("credit: cost %d is negative", cost)
	}
	m := t.clamp(s.Markup(t, l))
	if cost > (math.MaxInt64-999)/(1000+m) {
		return 0, fmt.Errorf("credit: price of cost %d at markup %d permille overflows", cost, m)
	}
	return (cost*(1000+m) + 999) / 1000, nil
}
