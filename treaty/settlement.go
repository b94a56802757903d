package treaty

import "fmt"

// Settlement is a creditor's signed statement of what a debtor owes it for
// the jobs it ran on one lane of a treaty in one period [Start, End): Jobs
// jobs for Total micro-USD. The jobs themselves are committed to by
// ItemsRoot, the RFC 6962 Merkle tree hash of their SettlementItems'
// canonical dag-cbor in job order, so a statement has the same small size
// however many jobs it covers: a debtor whose own items hash to the same
// root agrees without exchanging them. Log names the creditor's log
// checkpoint under which every item's leaf lies.
type Settlement struct {
	V         int64   `cbor:"v"`
	Treaty    Link    `cbor:"treaty"`
	Debtor    DID     `cbor:"debtor"`
	Creditor  DID     `cbor:"creditor"`
	Start     int64   `cbor:"start"`
	End       int64   `cbor:"end"`
	Jobs      int64   `cbor:"jobs"`
	Total     int64   `cbor:"total"`
	ItemsRoot []byte  `cbor:"items_root"`
	Log       LogSpan `cbor:"log"`
	At        int64   `cbor:"at"`
	Sig       []byte  `cbor:"sig,omitempty"`
}

// LogSpan names a checkpoint of a log: its origin, tree size and root hash.
type LogSpan struct {
	Origin string `cbor:"origin"`
	Size   int64  `cbor:"size"`
	Root   []byte `cbor:"root"`
}

// SettlementItem is one job of a statement: the job's final leaf in the
// creditor's log, the price of the creditor's Ack (micro-USD per hour),
// the seconds billed and the amount (micro-USD).
type SettlementItem struct {
	Job    string `cbor:"job"`
	Leaf   int64  `cbor:"leaf"`
	Price  int64  `cbor:"price"`
	Billed int64  `cbor:"billed"`
	Amount int64  `cbor:"amount"`
}

// SettlementReply is the debtor's signed answer to a statement: Agree (a
// countersignature), or a dispute naming the jobs its own account counts
// differently (Disputes, the first MaxDisputes of Disputed).
type SettlementReply struct {
	V         int64     `cbor:"v"`
	Statement Link      `cbor:"statement"`
	Debtor    DID       `cbor:"debtor"`
	Agree     bool      `cbor:"agree"`
	Disputed  int64     `cbor:"disputed"`
	Disputes  []Dispute `cbor:"disputes"`
	At        int64     `cbor:"at"`
	Sig       []byte    `cbor:"sig,omitempty"`
}

// Dispute is one job on which a debtor's account differs: Reason is
// "unknown" (claimed, not counted), "unclaimed" (counted, not claimed) or
// "amount"; Claimed and Counted are the two amounts in micro-USD (0 for
// the side that lacks the job).
type Dispute struct {
	Job     string `cbor:"job"`
	Reason  string `cbor:"reason"`
	Claimed int64  `cbor:"claimed"`
	Counted int64  `cbor:"counted"`
}

// Dispute reasons.
const (
	DisputeUnknown   = "unknown"
	DisputeUnclaimed = "unclaimed"
	DisputeAmount    = "amount"
)

// Settlement limits.
const (
	// MaxDisputes bounds the jobs a reply lists (Disputed counts them all).
	MaxDisputes = 256
	// MaxSettlementPeriod bounds a period: 31 days.
	MaxSettlementPeriod = 31 * 24 * 3600
	// MaxSettlementJobs bounds the jobs one statement covers.
	MaxSettlementJobs = 1 << 24
)

func (*Settlement) Kind() string      { return "settlement" }
func (*SettlementItem) Kind() string  { return "settlement-item" }
func (*SettlementReply) Kind() string { return "settlement-reply" }

func (s *Settlement) Signer() DID      { return s.Creditor }
func (r *SettlementReply) Signer() DID { return r.Debtor }

func (s *Settlement) signature() *[]byte      { return &s.Sig }
func (r *SettlementReply) signature() *[]byte { return &r.Sig }

// Validate checks s's fields (not its signature).
func (s *Settlement) Validate() error {
	c := checker{kind: "settlement"}
	c.version(s.V)
	c.link("treaty", s.Treaty)
	c.did("debtor", s.Debtor)
	c.did("creditor", s.Creditor)
	if s.Debtor == s.Creditor {
		c.fail("creditor", "the debtor itself")
	}
	c.rangeInt("start", s.Start, 1, 1<<40)
	if s.End <= s.Start || s.End-s.Start > MaxSettlementPeriod {
		c.fail("end", "%d: want a period of 1 s to %d s after start %d", s.End, MaxSettlementPeriod, s.Start)
	}
	c.rangeInt("jobs", s.Jobs, 0, MaxSettlementJobs)
	c.rangeInt("total", s.Total, 0, 1<<62)
	if s.Jobs == 0 && s.Total != 0 {
		c.fail("total", "%d for no jobs", s.Total)
	}
	if len(s.ItemsRoot) != 32 {
		c.fail("items_root", "%d bytes, want 32", len(s.ItemsRoot))
	}
	c.str("log.origin", s.Log.Origin, 1, MaxNameLen*4)
	c.rangeInt("log.size", s.Log.Size, 0, 1<<48)
	if len(s.Log.Root) != 32 {
		c.fail("log.root", "%d bytes, want 32", len(s.Log.Root))
	}
	c.rangeInt("at", s.At, 1, 1<<40)
	return c.result()
}

// Validate checks the item's fields.
func (it *SettlementItem) Validate() error {
	c := checker{kind: "settlement-item"}
	c.str("job", it.Job, 1, maxJobIDLen)
	c.rangeInt("leaf", it.Leaf, 0, 1<<48)
	c.rangeInt("price", it.Price, 0, MaxPrice)
	c.rangeInt("billed", it.Billed, 0, MaxDuration)
	c.rangeInt("amount", it.Amount, 0, 1<<62)
	return c.result()
}

// Validate checks r's fields (not its signature).
func (r *SettlementReply) Validate() error {
	c := checker{kind: "settlement-reply"}
	c.version(r.V)
	c.link("statement", r.Statement)
	c.did("debtor", r.Debtor)
	c.rangeInt("disputed", r.Disputed, 0, MaxSettlementJobs)
	switch {
	case r.Agree && (r.Disputed != 0 || len(r.Disputes) != 0):
		c.fail("disputes", "an agreeing reply disputes %d jobs", r.Disputed)
	case !r.Agree && r.Disputed == 0:
		c.fail("disputed", "a dispute names no job")
	case int64(len(r.Disputes)) != min(r.Disputed, MaxDisputes):
		c.fail("disputes", "%d listed of %d disputed, want %d", len(r.Disputes), r.Disputed, min(r.Disputed, MaxDisputes))
	}
	for i, d := range r.Disputes {
		f := fmt.Sprintf("disputes[%d]", i)
		c.str(f+".job", d.Job, 1, maxJobIDLen)
		switch d.Reason {
		case DisputeUnknown, DisputeUnclaimed, DisputeAmount:
		default:
			c.fail(f+".reason", "%q, want %s, %s or %s", d.Reason, DisputeUnknown, DisputeUnclaimed, DisputeAmount)
		}
		c.rangeInt(f+".claimed", d.Claimed, 0, 1<<62)
		c.rangeInt(f+".counted", d.Counted, 0, 1<<62)
		if i > 0 && r.Disputes[i-1].Job >= d.Job {
			c.fail(f+".job", "not after %q: disputes are sorted by job, each once", r.Disputes[i-1].Job)
		}
	}
	c.rangeInt("at", r.At, 1, 1<<40)
	return c.result()
}
