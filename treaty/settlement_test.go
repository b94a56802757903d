package treaty

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func wantFieldErr(t *testing.T, kind, field string, err error) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		return
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != field || ve.Kind != kind {
		t.Fatalf("Validate = %v, want a %s.%s error", err, kind, field)
	}
}

func TestSettlementValidate(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		edit        func(s *Settlement)
	}{
		{"sample", "", func(*Settlement) {}},
		{"version", "v", func(s *Settlement) { s.V = 2 }},
		{"no treaty", "treaty", func(s *Settlement) { s.Treaty = Link{} }},
		{"bad debtor", "debtor", func(s *Settlement) { s.Debtor = "did:web:x" }},
		{"self", "creditor", func(s *Settlement) { s.Creditor = s.Debtor }},
		{"start zero", "start", func(s *Settlement) { s.Start = 0 }},
		{"empty period", "end", func(s *Settlement) { s.End = s.Start }},
		{"period at the limit", "", func(s *Settlement) { s.End = s.Start + MaxSettlementPeriod }},
		{"period beyond the limit", "end", func(s *Settlement) { s.End = s.Start + MaxSettlementPeriod + 1 }},
		{"negative jobs", "jobs", func(s *Settlement) { s.Jobs = -1 }},
		{"jobs at the limit", "", func(s *Settlement) { s.Jobs = MaxSettlementJobs }},
		{"jobs beyond the limit", "jobs", func(s *Settlement) { s.Jobs = MaxSettlementJobs + 1 }},
		{"a total for no jobs", "total", func(s *Settlement) { s.Jobs = 0 }},
		{"negative total", "total", func(s *Settlement) { s.Total = -1 }},
		{"short root", "items_root", func(s *Settlement) { s.ItemsRoot = s.ItemsRoot[:31] }},
		{"no origin", "log.origin", func(s *Settlement) { s.Log.Origin = "" }},
		{"short log root", "log.root", func(s *Settlement) { s.Log.Root = nil }},
		{"at zero", "at", func(s *Settlement) { s.At = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := *sampleRecords(t)["settlement"].(*Settlement)
			tc.edit(&s)
			wantFieldErr(t, "settlement", tc.field, s.Validate())
		})
	}
}

func TestSettlementItemValidate(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		edit        func(it *SettlementItem)
	}{
		{"sample", "", func(*SettlementItem) {}},
		{"no job", "job", func(it *SettlementItem) { it.Job = "" }},
		{"job id too long", "job", func(it *SettlementItem) { it.Job = strings.Repeat("b", maxJobIDLen+1) }},
		{"negative leaf", "leaf", func(it *SettlementItem) { it.Leaf = -1 }},
		{"price beyond the limit", "price", func(it *SettlementItem) { it.Price = MaxPrice + 1 }},
		{"billed beyond the longest order", "billed", func(it *SettlementItem) { it.Billed = MaxDuration + 1 }},
		{"negative amount", "amount", func(it *SettlementItem) { it.Amount = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := *sampleRecords(t)["settlement-item"].(*SettlementItem)
			tc.edit(&it)
			wantFieldErr(t, "settlement-item", tc.field, it.Validate())
		})
	}
}

func TestSettlementReplyValidate(t *testing.T) {
	many := func(n int) []Dispute {
		out := make([]Dispute, n)
		for i := range out {
			out[i] = Dispute{Job: fmt.Sprintf("job-%06d", i), Reason: DisputeUnknown, Claimed: 1}
		}
		return out
	}
	for _, tc := range []struct {
		name, field string
		edit        func(r *SettlementReply)
	}{
		{"sample", "", func(*SettlementReply) {}},
		{"version", "v", func(r *SettlementReply) { r.V = 0 }},
		{"no statement", "statement", func(r *SettlementReply) { r.Statement = Link{} }},
		{"agree", "", func(r *SettlementReply) { r.Agree, r.Disputed, r.Disputes = true, 0, nil }},
		{"agree and dispute", "disputes", func(r *SettlementReply) { r.Agree = true }},
		{"a dispute of nothing", "disputed", func(r *SettlementReply) { r.Disputed, r.Disputes = 0, nil }},
		{"fewer listed than disputed", "disputes", func(r *SettlementReply) { r.Disputed = 2 }},
		{"the most listed", "", func(r *SettlementReply) { r.Disputed, r.Disputes = MaxDisputes, many(MaxDisputes) }},
		{"more disputed than listed", "", func(r *SettlementReply) { r.Disputed, r.Disputes = 10_000, many(MaxDisputes) }},
		{"more listed than allowed", "disputes", func(r *SettlementReply) { r.Disputed, r.Disputes = MaxDisputes+1, many(MaxDisputes+1) }},
		{"unknown reason", "disputes[0].reason", func(r *SettlementReply) { r.Disputes[0].Reason = "rude" }},
		{"negative amount", "disputes[0].counted", func(r *SettlementReply) { r.Disputes[0].Counted = -1 }},
		{"unsorted", "disputes[1].job", func(r *SettlementReply) {
			r.Disputed, r.Disputes = 2, []Dispute{{Job: "b", Reason: DisputeAmount}, {Job: "a", Reason: DisputeAmount}}
		}},
		{"twice", "disputes[1].job", func(r *SettlementReply) {
			r.Disputed, r.Disputes = 2, []Dispute{{Job: "a", Reason: DisputeAmount}, {Job: "a", Reason: DisputeUnknown}}
		}},
		{"at zero", "at", func(r *SettlementReply) { r.At = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := *sampleRecords(t)["settlement-reply"].(*SettlementReply)
			r.Disputes = append([]Dispute(nil), r.Disputes...)
			tc.edit(&r)
			wantFieldErr(t, "settlement-reply", tc.field, r.Validate())
		})
	}
}

// TestSettlementSignatures: the creditor signs a statement and the debtor
// its reply, each under its own domain; a changed total, a
// statement claimed by the other party, or one signed with the debtor's
// key fails.
func TestSettlementSignatures(t *testing.T) {
	recs := sampleRecords(t)
	s := recs["settlement"].(*Settlement)
	r := recs["settlement-reply"].(*SettlementReply)
	if err := Verify(s); err != nil {
		t.Fatalf("statement: %v", err)
	}
	if err := Verify(r); err != nil {
		t.Fatalf("reply: %v", err)
	}
	forged := *s
	forged.Total++
	var se *SignatureError
	if err := Verify(&forged); !errors.As(err, &se) || se.Kind != "settlement" {
		t.Fatalf("a changed total: %v", err)
	}
	swapped := *s
	swapped.Creditor = r.Debtor
	if err := Verify(&swapped); !errors.As(err, &se) {
		t.Fatalf("signed by the other party: %v", err)
	}
	if err := Sign(&forged, testKey(t, 2)); err == nil { // opA, the debtor
		t.Fatal("the debtor's key signed the creditor's statement")
	}
}

func TestSnapshotValidate(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		edit        func(m *SnapshotManifest)
	}{
		{"sample", "", func(*SnapshotManifest) {}},
		{"version", "v", func(m *SnapshotManifest) { m.V = 2 }},
		{"bad operator", "operator", func(m *SnapshotManifest) { m.Operator = "did:web:x" }},
		{"no origin", "origin", func(m *SnapshotManifest) { m.Origin = "" }},
		{"no checkpoint", "checkpoint", func(m *SnapshotManifest) { m.Checkpoint = nil }},
		{"checkpoint at the limit", "", func(m *SnapshotManifest) { m.Checkpoint = make([]byte, MaxCheckpointLen) }},
		{"checkpoint beyond the limit", "checkpoint", func(m *SnapshotManifest) { m.Checkpoint = make([]byte, MaxCheckpointLen+1) }},
		{"no epoch root yet", "", func(m *SnapshotManifest) { m.EpochRoot = "" }},
		{"negative jobs", "jobs", func(m *SnapshotManifest) { m.Jobs = -1 }},
		{"at zero", "at", func(m *SnapshotManifest) { m.At = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := *sampleRecords(t)["snapshot"].(*SnapshotManifest)
			tc.edit(&m)
			wantFieldErr(t, "snapshot", tc.field, m.Validate())
		})
	}
	e := sampleRecords(t)["entry-snapshot"].(*LogEntry)
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := *e.Snapshot
	bad.SHA256 = bad.SHA256[:5]
	if err := (&LogEntry{Snapshot: &bad}).Validate(); err == nil || !strings.Contains(err.Error(), "snapshot.sha256") {
		t.Fatalf("a short digest: %v", err)
	}
	bad = *e.Snapshot
	bad.TokensSHA256 = make([][]byte, MaxTSATokens+1)
	if err := (&LogEntry{Snapshot: &bad}).Validate(); err == nil || !strings.Contains(err.Error(), "snapshot.tokens_sha256") {
		t.Fatalf("too many tokens: %v", err)
	}
}
