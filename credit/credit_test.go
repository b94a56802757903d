package credit

import (
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTermsValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		terms Terms
		ok    bool
	}{
		{"zero", Terms{}, true},
		{"range", Terms{MinMarkup: 50, MaxMarkup: 300, Limit: 1e9}, true},
		{"at the cap", Terms{MaxMarkup: MaxMarkup}, true},
		{"beyond the cap", Terms{MaxMarkup: MaxMarkup + 1}, false},
		{"negative min", Terms{MinMarkup: -1, MaxMarkup: 10}, false},
		{"inverted", Terms{MinMarkup: 300, MaxMarkup: 200}, false},
		{"negative limit", Terms{Limit: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.terms.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", tc.terms, err, tc.ok)
			}
		})
	}
}

func TestPrice(t *testing.T) {
	terms := Terms{MinMarkup: 100, MaxMarkup: 500}
	for _, tc := range []struct {
		name string
		cost int64
		s    Strategy
		load int64
		want int64
	}{
		{"fixed inside the bounds", 1_000_000, Fixed(200), 0, 1_200_000},
		{"fixed below the floor is clamped", 1_000_000, Fixed(0), 0, 1_100_000},
		{"fixed above the ceiling is clamped", 1_000_000, Fixed(5000), 0, 1_500_000},
		{"rounds up", 1, Fixed(200), 0, 2},
		{"zero cost", 0, Fixed(200), 0, 0},
		{"idle: the floor", 1_000_000, Utilization{}, 0, 1_100_000},
		{"half full", 1_000_000, Utilization{}, 500, 1_300_000},
		{"full: the ceiling", 1_000_000, Utilization{}, 1000, 1_500_000},
		{"over-full is full", 1_000_000, Utilization{}, 4000, 1_500_000},
		{"below the knee", 1_000_000, Utilization{Knee: 600}, 600, 1_100_000},
		{"past the knee", 1_000_000, Utilization{Knee: 600}, 800, 1_300_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Price(tc.cost, terms, tc.s, Load{Utilization: tc.load})
			if err != nil || got != tc.want {
				t.Fatalf("Price = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	// The markup never falls as utilization rises.
	prev := int64(-1)
	for u := int64(0); u <= 1000; u += 7 {
		m := Utilization{Knee: 300}.Markup(terms, Load{Utilization: u})
		if m < prev || m < terms.MinMarkup || m > terms.MaxMarkup {
			t.Fatalf("markup %d at utilization %d after %d", m, u, prev)
		}
		prev = m
	}
	if _, err := Price(-1, terms, Fixed(0), Load{}); err == nil {
		t.Fatal("a negative cost was priced")
	}
	if _, err := Price(math.MaxInt64/1000, Terms{MaxMarkup: MaxMarkup}, Fixed(MaxMarkup), Load{}); err == nil {
		t.Fatal("an overflowing price was returned")
	}
}

func TestJobAmount(t *testing.T) {
	for _, tc := range []struct {
		name           string
		job            Job
		billed, amount int64
	}{
		{"an hour at 1 USD/h", Job{Price: 1_000_000, Duration: 7200, Started: 100, Ended: 3700}, 3600, 1_000_000},
		{"capped at the ordered duration", Job{Price: 1_000_000, Duration: 1800, Started: 100, Ended: 3700}, 1800, 500_000},
		{"one second rounds up", Job{Price: 1_000_000, Duration: 60, Started: 100, Ended: 101}, 1, 278},
		{"never ran", Job{Price: 1_000_000, Duration: 60, Ended: 101}, 0, 0},
		{"not ended", Job{Price: 1_000_000, Duration: 60, Started: 100}, 0, 0},
		{"ended before it started", Job{Price: 1_000_000, Duration: 60, Started: 100, Ended: 99}, 0, 0},
		{"free", Job{Price: 0, Duration: 60, Started: 100, Ended: 160}, 60, 0},
		{"saturates", Job{Price: math.MaxInt64, Duration: math.MaxInt64, Started: 1, Ended: math.MaxInt64}, math.MaxInt64 - 1, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, a := tc.job.Billed(), tc.job.Amount(); b != tc.billed || a != tc.amount {
				t.Fatalf("billed %d, amount %d; want %d, %d", b, a, tc.billed, tc.amount)
			}
		})
	}
}

func TestPeriodOf(t *testing.T) {
	for _, tc := range []struct{ t, length, start int64 }{
		{0, 86400, 0}, {86399, 86400, 0}, {86400, 86400, 86400}, {-1, 86400, -86400}, {1_765_000_123, 60, 1_765_000_080},
	} {
		if p := PeriodOf(tc.t, tc.length); p.Start != tc.start || p.End != tc.start+tc.length {
			t.Errorf("PeriodOf(%d, %d) = %+v, want start %d", tc.t, tc.length, p, tc.start)
		}
	}
}

var (
	laneAB = Lane{Treaty: "bafyT", Debtor: "did:key:A", Creditor: "did:key:B"}
	laneBA = Lane{Treaty: "bafyT", Debtor: "did:key:B", Creditor: "did:key:A"}
)

func TestLedger(t *testing.T) {
	if _, err := NewLedger(0); err == nil {
		t.Fatal("a zero period was accepted")
	}
	l, err := NewLedger(100)
	if err != nil {
		t.Fatal(err)
	}
	j1 := Job{ID: "j1", Lane: laneAB, Price: 3_600_000, Duration: 1000, Started: 10, Ended: 50}  // 40 s: 40,000
	j2 := Job{ID: "j2", Lane: laneAB, Price: 3_600_000, Duration: 1000, Started: 20, Ended: 150} // next period: 130,000
	j0 := Job{ID: "j0", Lane: laneAB, Price: 3_600_000, Duration: 5, Started: 30, Ended: 99}     // capped: 5,000
	jBA := Job{ID: "j3", Lane: laneBA, Price: 3_600_000, Duration: 1000, Started: 0, Ended: 60}  // never ran: 0
	running := Job{ID: "j4", Lane: laneAB, Price: 3_600_000, Duration: 1000, Started: 90}
	for _, j := range []Job{j1, j2, j0, jBA, running, j1} { // j1 twice: a no-op
		if err := l.Add(j); err != nil {
			t.Fatalf("Add(%s): %v", j.ID, err)
		}
	}
	want := Account{Lane: laneAB, Period: Period{0, 100}, Items: []Item{{Job: "j0", Price: 3_600_000, Billed: 5, Amount: 5000}, {Job: "j1", Price: 3_600_000, Billed: 40, Amount: 40000}}, Total: 45000}
	if diff := cmp.Diff(want, l.Account(laneAB, 42)); diff != "" {
		t.Fatalf("account (-want +got):\n%s", diff)
	}
	if got := l.Owed(laneAB, 0); got != 175000 {
		t.Fatalf("owed on A→B: %d, want 175000", got)
	}
	if got := l.Owed(laneAB, 100); got != 130000 {
		t.Fatalf("owed since 100: %d, want 130000", got)
	}
	// The running job ends: now it is charged, in its end's period.
	running.Ended = 290
	if err := l.Add(running); err != nil {
		t.Fatal(err)
	}
	if a := l.Account(laneAB, 200); a.Total != 200000 || len(a.Items) != 1 {
		t.Fatalf("the ended job's account: %+v", a)
	}
	// An ended job whose terms change is a conflict, carrying both.
	forged := j1
	forged.Price *= 2
	var ce *ConflictError
	if err := l.Add(forged); !errors.As(err, &ce) || ce.Had != j1 || ce.Got != forged {
		t.Fatalf("a changed job: %v", err)
	}
	other := j2
	other.Lane = laneBA
	if err := l.Add(other); !errors.As(err, &ce) {
		t.Fatalf("a job moved to another lane: %v", err)
	}
	if err := l.Add(Job{}); err == nil {
		t.Fatal("a job without an ID was added")
	}
	if got := len(l.Accounts()); got != 4 {
		t.Fatalf("%d accounts, want 4 (A→B in three periods, B→A in one)", got)
	}
}

func it(job string, billed, amount int64) Item { return Item{Job: job, Billed: billed, Amount: amount} }

func TestCompare(t *testing.T) {
	p := Period{0, 100}
	base := Account{Lane: laneAB, Period: p, Items: []Item{it("a", 10, 100), it("b", 20, 200), it("c", 30, 300)}, Total: 600}
	for _, tc := range []struct {
		name    string
		counted []Item
		want    []Difference
	}{
		{"agree", base.Items, nil},
		{"a job the debtor does not know", []Item{it("a", 10, 100), it("c", 30, 300)}, []Difference{{Job: "b", Claimed: it("b", 20, 200)}}},
		{"a job the creditor did not claim", []Item{it("a", 10, 100), it("b", 20, 200), it("c", 30, 300), it("d", 1, 1)}, []Difference{{Job: "d", Counted: it("d", 1, 1)}}},
		{"an amount", []Item{it("a", 10, 100), it("b", 15, 150), it("c", 30, 300)}, []Difference{{Job: "b", Claimed: it("b", 20, 200), Counted: it("b", 15, 150)}}},
		{"nothing counted", nil, []Difference{{Job: "a", Claimed: it("a", 10, 100)}, {Job: "b", Claimed: it("b", 20, 200)}, {Job: "c", Claimed: it("c", 30, 300)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Compare(base, Account{Lane: laneAB, Period: p, Items: tc.counted})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
	reasons := map[string]string{}
	d, _ := Compare(base, Account{Lane: laneAB, Period: p, Items: []Item{it("a", 1, 1), it("c", 30, 300), it("d", 1, 1)}})
	for _, x := range d {
		reasons[x.Job] = x.Reason()
	}
	if diff := cmp.Diff(map[string]string{"a": "amount", "b": "unknown", "d": "unclaimed"}, reasons); diff != "" {
		t.Fatalf("reasons (-want +got):\n%s", diff)
	}
	if _, err := Compare(base, Account{Lane: laneBA, Period: p}); err == nil {
		t.Fatal("accounts of two lanes were compared")
	}
	if _, err := Compare(base, Account{Lane: laneAB, Period: Period{100, 200}}); err == nil {
		t.Fatal("accounts of two periods were compared")
	}
	if _, err := Compare(base, Account{Lane: laneAB, Period: p, Items: []Item{it("b", 1, 1), it("a", 1, 1)}}); err == nil {
		t.Fatal("unsorted items were compared")
	}
}
