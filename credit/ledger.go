package credit

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/aurora-federation/aurora/treaty"
)

// Lane names who owes whom under which treaty: Debtor forwarded the jobs,
// Creditor ran them.
type Lane struct {
	Treaty   string // the treaty's CID
	Debtor   treaty.DID
	Creditor treaty.DID
}

func (l Lane) String() string { return fmt.Sprintf("%s→%s@%s", l.Debtor, l.Creditor, l.Treaty) }

// Job is one forwarded job as the ledger sees it: the creditor's Ack (its
// price) and the creditor's job record (when it ran and ended).
type Job struct {
	ID       string // the job ID: the order's CID
	Lane     Lane
	Leaf     int64 // the index of the job's final leaf in the creditor's log
	Price    int64 // micro-USD per hour, the creditor's Ack
	Duration int64 // the ordered duration in seconds (Workload.Duration)
	// Started is when the job reached `running` (0: it never did);
	// Ended when it reached a terminal status (0: not yet).
	Started, Ended int64
}

// Billed returns the seconds charged: from Started to Ended, at most
// Duration; 0 for a job that never ran, and for one not yet ended.
func (j Job) Billed() int64 {
	if j.Started <= 0 || j.Ended <= 0 || j.Ended < j.Started {
		return 0
	}
	return min(j.Ended-j.Started, max(j.Duration, 0))
}

// Amount returns what the job costs the debtor, in micro-USD: Price for the
// billed seconds, rounded up. It saturates at math.MaxInt64 (never reached
// with prices and durations a treaty allows).
func (j Job) Amount() int64 {
	b := j.Billed()
	if b == 0 || j.Price <= 0 {
		return 0
	}
	if j.Price > (math.MaxInt64-3599)/b {
		return math.MaxInt64
	}
	return (j.Price*b + 3599) / 3600
}

// Period is a settlement period [Start, End) in unix seconds.
type Period struct{ Start, End int64 }

// PeriodOf returns the period of length seconds (aligned to multiples of
// length since the Unix epoch) that t falls in.
func PeriodOf(t, length int64) Period {
	start := t - ((t%length)+length)%length
	return Period{Start: start, End: start + length}
}

// Item is one job of an account (a treaty.SettlementItem).
type Item struct {
	Job    string
	Leaf   int64 // the job's final leaf in the creditor's log
	Price  int64 // micro-USD per hour
	Billed int64 // seconds
	Amount int64 // micro-USD
}

// Account is what one lane's debtor owes its creditor for one period.
// Items are sorted by Job.
type Account struct {
	Lane   Lane
	Period Period
	Items  []Item
	Total  int64
}

// Ledger accumulates jobs into accounts per lane and period. The zero value
// is not usable; use NewLedger. Not safe for concurrent writes.
type Ledger struct {
	period int64
	jobs   map[string]Job // by job ID: each job is charged once
	accts  map[acctKey]*Account
}

type acctKey struct {
	lane  Lane
	start int64
}

// NewLedger returns an empty ledger with periods of length seconds.
func NewLedger(length int64) (*Ledger, error) {
	if length <= 0 {
		return nil, fmt.Errorf("credit: period length %d must be positive", length)
	}
	return &Ledger{period: length, jobs: map[string]Job{}, accts: map[acctKey]*Account{}}, nil
}

// ConflictError is a job added twice with different terms: the same job
// ID on another lane, at another price, or with other times. It carries
// both versions.
type ConflictError struct{ Had, Got Job }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("credit: job %s added twice with different terms: %+v, then %+v", e.Got.ID, e.Had, e.Got)
}

// Add charges j to its lane's account for the period its Ended time falls
// in. A job not yet ended, or that never ran, is remembered but charges
// nothing; adding it again once it ended charges it. Adding the same ended
// job again is a no-op; changing an ended job's terms is a *ConflictError.
func (l *Ledger) Add(j Job) error {
	if j.ID == "" {
		return fmt.Errorf("credit: job without an ID")
	}
	if had, ok := l.jobs[j.ID]; ok {
		if had == j {
			return nil
		}
		if had.Ended > 0 || had.Lane != j.Lane || had.Price != j.Price || had.Duration != j.Duration ||
			(had.Started > 0 && had.Started != j.Started) {
			return &ConflictError{Had: had, Got: j}
		}
	}
	l.jobs[j.ID] = j
	if j.Ended <= 0 {
		return nil
	}
	p := PeriodOf(j.Ended, l.period)
	k := acctKey{j.Lane, p.Start}
	a := l.accts[k]
	if a == nil {
		a = &Account{Lane: j.Lane, Period: p}
		l.accts[k] = a
	}
	it := Item{Job: j.ID, Leaf: j.Leaf, Price: j.Price, Billed: j.Billed(), Amount: j.Amount()}
	i, _ := slices.BinarySearchFunc(a.Items, it.Job, func(x Item, id string) int { return cmp.Compare(x.Job, id) })
	a.Items = slices.Insert(a.Items, i, it)
	a.Total = satAdd(a.Total, it.Amount)
	return nil
}

// Account returns a copy of the lane's account for the period starting at
// start (an empty account if nothing was charged).
func (l *Ledger) Account(lane Lane, start int64) Account {
	p := PeriodOf(start, l.period)
	a := l.accts[acctKey{lane, p.Start}]
	if a == nil {
		return Account{Lane: lane, Period: p}
	}
	out := *a
	out.Items = slices.Clone(a.Items)
	return out
}

// Accounts returns every account, sorted by lane and period start.
func (l *Ledger) Accounts() []Account {
	out := make([]Account, 0, len(l.accts))
	for _, a := range l.accts {
		c := *a
		c.Items = slices.Clone(a.Items)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Account) int {
		return cmp.Or(cmp.Compare(a.Lane.Treaty, b.Lane.Treaty), cmp.Compare(a.Lane.Debtor, b.Lane.Debtor),
			cmp.Compare(a.Lane.Creditor, b.Lane.Creditor), cmp.Compare(a.Period.Start, b.Period.Start))
	})
	return out
}

// Owed returns what lane's debtor owes for every period that starts at or
// after from: the unsettled balance when from is the end of the last
// settled period.
func (l *Ledger) Owed(lane Lane, from int64) int64 {
	var total int64
	for k, a := range l.accts {
		if k.lane == lane && k.start >= from {
			total = satAdd(total, a.Total)
		}
	}
	return total
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Difference is one job on which two accounts of a period disagree. Claimed
// is the creditor's item, Counted the debtor's; a zero Item is a job the
// account does not list.
type Difference struct {
	Job              string
	Claimed, Counted Item
}

// Reason says how they differ: "unknown" (claimed, not counted), "unclaimed"
// (counted, not claimed) or "amount".
func (d Difference) Reason() string {
	switch {
	case d.Counted.Job == "":
		return "unknown"
	case d.Claimed.Job == "":
		return "unclaimed"
	default:
		return "amount"
	}
}

// Compare returns the jobs on which a creditor's claimed account and a
// debtor's counted account of the same lane and period differ, sorted by
// job; none means they agree (and then their totals are equal). Both
// accounts' items must be sorted by job, as a Ledger returns them.
func Compare(claimed, counted Account) ([]Difference, error) {
	if claimed.Lane != counted.Lane || claimed.Period != counted.Period {
		return nil, fmt.Errorf("credit: comparing %s %v with %s %v", claimed.Lane, claimed.Period, counted.Lane, counted.Period)
	}
	for _, a := range []Account{claimed, counted} {
		if !slices.IsSortedFunc(a.Items, func(x, y Item) int { return cmp.Compare(x.Job, y.Job) }) {
			return nil, fmt.Errorf("credit: the items of %s %v are not sorted by job", a.Lane, a.Period)
		}
	}
	var out []Difference
	i, j := 0, 0
	for i < len(claimed.Items) || j < len(counted.Items) {
		switch {
		case j == len(counted.Items) || (i < len(claimed.Items) && claimed.Items[i].Job < counted.Items[j].Job):
			out = append(out, Difference{Job: claimed.Items[i].Job, Claimed: claimed.Items[i]})
			i++
		case i == len(claimed.Items) || counted.Items[j].Job < claimed.Items[i].Job:
			out = append(out, Difference{Job: counted.Items[j].Job, Counted: counted.Items[j]})
			j++
		default:
			if claimed.Items[i] != counted.Items[j] {
				out = append(out, Difference{Job: claimed.Items[i].Job, Claimed: claimed.Items[i], Counted: counted.Items[j]})
			}
			i++
			j++
		}
	}
	return out, nil
}
