package treaty

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipld/go-ipld-prime"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/ipld/go-ipld-prime/node/bindnode"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// sampleRecords returns one fully populated record of every kind, built from
// deterministic keys and clock so the encodings are stable.
func sampleRecords(t testing.TB) map[string]Record {
	t.Helper()
	client, opA, opB := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	o := testOrder(t, client)
	ocid, _, err := ID(o)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := FromTemplate(Proposal{Template: TemplateGPUInference, Federation: "testnet", Proposer: opA.DID(), Peer: opB.DID(), Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*PrivateKey{opA, opB} {
		if err := SignTreaty(tr, k); err != nil {
			t.Fatal(err)
		}
	}
	tcid, _, err := ID(tr)
	if err != nil {
		t.Fatal(err)
	}
	tl := LinkTo(tcid)
	peerAck := &Ack{V: Version, Order: LinkTo(ocid), Job: ocid.String(), Operator: opB.DID(), Via: []Hop{},
		Route: Route{Kind: RouteProvider, Name: "vastai"}, Price: 1_200_000, At: fixedNow.Unix()}
	if err := Sign(peerAck, opB); err != nil {
		t.Fatal(err)
	}
	_, peerAckBytes, err := ID(peerAck)
	if err != nil {
		t.Fatal(err)
	}
	ack := &Ack{V: Version, Order: LinkTo(ocid), Job: ocid.String(), Operator: opA.DID(),
		Via:   []Hop{{Operator: opB.DID(), Ack: peerAckBytes}},
		Route: Route{Kind: RoutePeer, Name: string(opB.DID()), Treaty: &tl}, Price: 1_200_000, At: fixedNow.Unix()}
	if err := Sign(ack, opA); err != nil {
		t.Fatal(err)
	}
	acid, _, err := ID(ack)
	if err != nil {
		t.Fatal(err)
	}
	den := &Denial{V: Version, Order: LinkTo(ocid), Operator: opA.DID(), Reasons: []string{"price_cap", "region"}, ReasonBits: 0b101,
		Policy: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", At: fixedNow.Unix()}
	if err := Sign(den, opA); err != nil {
		t.Fatal(err)
	}
	job := &JobRecord{V: Version, Job: ocid.String(), Order: LinkTo(ocid), Ack: LinkTo(acid), Operator: opA.DID(), Client: client.DID(),
		Route: ack.Route, Price: 1_200_000, Lease: "C.12345",
		Transitions: []Transition{{Status: StatusAccepted, At: fixedNow.Unix()}, {Status: StatusRunning, At: fixedNow.Unix() + 3, Detail: "lease C.12345"}}}
	rev := &Revocation{V: Version, Treaty: tl, By: opB.DID(), At: fixedNow.Unix() + 60, Reason: "rotating keys"}
	if err := Sign(rev, opB); err != nil {
		t.Fatal(err)
	}
	rep := &ReputationReport{V: Version, Reporter: opA.DID(), Federation: "testnet", Epoch: 42, At: fixedNow.Unix(),
		Providers: []ProviderStat{{Name: "akash", Launched: 10, Failed: 1, LaunchP95MS: 90000}, {Name: "vastai", Launched: 40, Failed: 2, LaunchP95MS: 4000}},
		Peers:     []PeerStat{{DID: opB.DID(), Forwarded: 12, Filled: 11}}}
	if err := Sign(rep, opA); err != nil {
		t.Fatal(err)
	}
	root := LinkTo(ocid)
	anchor := &Anchor{V: Version, Origin: "aurora/testnet/12D3KooW", Checkpoint: "aurora/testnet/12D3KooW\n7\nq6v0mZ9nN0aQ0Xk6p0mZ9nN0aQ0Xk6p0mZ9nN0aQ0Xk=\n\n— aurora/testnet/12D3KooW abcd\n",
		Root: &root, TSA: [][]byte{{0x30, 0x03, 0x02, 0x01, 0x00}}}
	entry := &LogEntry{Job: job}
	tsaEntry := &LogEntry{TSA: &TSAEntry{Size: 7, CheckpointSHA256: make([]byte, 32), TokensSHA256: [][]byte{make([]byte, 32), make([]byte, 32)}, At: fixedNow.Unix()}}
	relEntry := &LogEntry{Release: &ReleaseEntry{V: ReleaseVersion, Name: "aurora-20261207.tar.gz", SHA256: bytes.Repeat([]byte{0xab}, 32),
		Signer: "0123456789abcdef0123456789abcdef01234567", TokensSHA256: [][]byte{make([]byte, 32), bytes.Repeat([]byte{1}, 32)}, At: fixedNow.Unix()}}
	cancel := &Cancel{V: Version, Order: LinkTo(ocid), Client: client.DID(), At: fixedNow.Unix() + 120, Reason: "no longer needed"}
	if err := Sign(cancel, client); err != nil {
		t.Fatal(err)
	}
	item := &SettlementItem{Job: ocid.String(), Leaf: 41, Price: 1_500_000, Billed: 3600, Amount: 1_500_000}
	stmt := &Settlement{V: Version, Treaty: tl, Debtor: opA.DID(), Creditor: opB.DID(), Start: fixedNow.Unix() - 86400, End: fixedNow.Unix(),
		Jobs: 1, Total: 1_500_000, ItemsRoot: bytes.Repeat([]byte{0x5e}, 32),
		Log: LogSpan{Origin: "aurora/testnet/12D3KooWCreditor", Size: 42, Root: bytes.Repeat([]byte{0x42}, 32)}, At: fixedNow.Unix() + 60}
	if err := Sign(stmt, opB); err != nil {
		t.Fatal(err)
	}
	scid, _, err := ID(stmt)
	if err != nil {
		t.Fatal(err)
	}
	reply := &SettlementReply{V: Version, Statement: LinkTo(scid), Debtor: opA.DID(), Disputed: 1,
		Disputes: []Dispute{{Job: ocid.String(), Reason: DisputeAmount, Claimed: 1_500_000, Counted: 750_000}}, At: fixedNow.Unix() + 90}
	if err := Sign(reply, opA); err != nil {
		t.Fatal(err)
	}
	snap := &SnapshotManifest{V: Version, Operator: opB.DID(), Origin: "aurora/testnet/12D3KooWCreditor", Checkpoint: []byte("aurora/testnet/12D3KooWCreditor\n42\nQkJC\n\n— aurora/testnet/12D3KooWCreditor AAAA\n"),
		Size: 42, Epoch: 7, EpochRoot: ocid.String(), Jobs: 21, Treaties: 2, At: fixedNow.Unix()}
	if err := Sign(snap, opB); err != nil {
		t.Fatal(err)
	}
	mcid, _, err := ID(snap)
	if err != nil {
		t.Fatal(err)
	}
	snapEntry := &LogEntry{Snapshot: &SnapshotEntry{V: Version, Manifest: LinkTo(mcid), SHA256: bytes.Repeat([]byte{0x77}, 32),
		TokensSHA256: [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}, At: fixedNow.Unix()}}
	return map[string]Record{"snapshot": snap, "entry-snapshot": snapEntry, "settlement": stmt, "settlement-item": item, "settlement-reply": reply,
		"entry-settlement": &LogEntry{Settlement: stmt}, "entry-settlement-reply": &LogEntry{SettlementReply: reply},
		"cancel": cancel, "entry-cancel": &LogEntry{Cancel: cancel}, "entry-job": entry, "entry-tsa": tsaEntry, "entry-release": relEntry, "order": o, "ack": ack, "denial": den, "job": job, "treaty": tr, "revocation": rev, "reputation": rep, "anchor": anchor}
}

func newOf(r Record) Record {
	switch r.(type) {
	case *Order:
		return new(Order)
	case *Ack:
		return new(Ack)
	case *Denial:
		return new(Denial)
	case *JobRecord:
		return new(JobRecord)
	case *Treaty:
		return new(Treaty)
	case *Revocation:
		return new(Revocation)
	case *ReputationReport:
		return new(ReputationReport)
	case *Anchor:
		return new(Anchor)
	case *LogEntry:
		return new(LogEntry)
	case *Cancel:
		return new(Cancel)
	case *Settlement:
		return new(Settlement)
	case *SettlementItem:
		return new(SettlementItem)
	case *SettlementReply:
		return new(SettlementReply)
	case *SnapshotManifest:
		return new(SnapshotManifest)
	}
	panic("unknown record")
}

var schemaNames = map[string]string{"order": "Order", "ack": "Ack", "denial": "Denial", "job": "JobRecord", "treaty": "Treaty",
	"revocation": "Revocation", "reputation": "ReputationReport", "anchor": "Anchor", "entry-job": "LogEntry", "entry-tsa": "LogEntry", "entry-release": "LogEntry",
	"cancel": "Cancel", "entry-cancel": "LogEntry", "settlement": "Settlement", "settlement-item": "SettlementItem",
	"settlement-reply": "SettlementReply", "entry-settlement": "LogEntry", "entry-settlement-reply": "LogEntry",
	"snapshot": "SnapshotManifest", "entry-snapshot": "LogEntry"}

// TestGolden pins the exact dag-cbor and dag-json of every record kind.
// Regenerate with: go test ./treaty -run TestGolden -update
func TestGolden(t *testing.T) {
	for kind, r := range sampleRecords(t) {
		t.Run(kind, func(t *testing.T) {
			cb, err := Encode(r)
			if err != nil {
				t.Fatal(err)
			}
			js, err := EncodeJSON(r)
			if err != nil {
				t.Fatal(err)
			}
			cborPath := filepath.Join("testdata", kind+".cbor")
			jsonPath := filepath.Join("testdata", kind+".json")
			if *update {
				if err := os.WriteFile(cborPath, cb, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(jsonPath, append(js, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantCBOR, err := os.ReadFile(cborPath)
			if err != nil {
				t.Fatal(err)
			}
			wantJSON, err := os.ReadFile(jsonPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(cb, wantCBOR) {
				t.Errorf("dag-cbor differs from %s (run with -update and review the diff)", cborPath)
			}
			if diff := cmp.Diff(string(bytes.TrimSpace(wantJSON)), string(js)); diff != "" {
				t.Errorf("dag-json differs from %s (-want +got):\n%s", jsonPath, diff)
			}
			// The golden bytes decode back to the same record.
			back := newOf(r)
			if err := Decode(wantCBOR, back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(r, back, cmp.Comparer(func(a, b Link) bool { return a.Equals(b.Cid) })); diff != "" {
				t.Errorf("decode(golden) (-want +got):\n%s", diff)
			}
			back2 := newOf(r)
			if err := DecodeJSON(wantJSON, back2); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(r, back2, cmp.Comparer(func(a, b Link) bool { return a.Equals(b.Cid) })); diff != "" {
				t.Errorf("decodeJSON(golden) (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIPLDCrossCheck checks every encoding against go-ipld-prime: decoding
// typed by the IPLD schema must succeed (a field the schema does not know, a
// missing field or a wrong kind fails), and go-ipld-prime's generic dag-cbor
// codec must re-encode the bytes identically (our encoding is canonical
// dag-cbor). The typed node is not re-encoded: bindnode's inferred Go types
// turn an absent optional into null.
func TestIPLDCrossCheck(t *testing.T) {
	ts, err := ipld.LoadSchemaBytes([]byte(SchemaText()))
	if err != nil {
		t.Fatal(err)
	}
	for kind, r := range sampleRecords(t) {
		t.Run(kind, func(t *testing.T) {
			b, err := Encode(r)
			if err != nil {
				t.Fatal(err)
			}
			typ := ts.TypeByName(schemaNames[kind])
			if typ == nil {
				t.Fatalf("schema has no %s", schemaNames[kind])
			}
			nb := bindnode.Prototype(nil, typ).Representation().NewBuilder()
			if err := dagcbor.Decode(nb, bytes.NewReader(b)); err != nil {
				t.Fatalf("go-ipld-prime rejects our %s against the schema: %v", kind, err)
			}
			gb := basicnode.Prototype.Any.NewBuilder()
			if err := dagcbor.Decode(gb, bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := dagcbor.Encode(gb.Build(), &out); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), b) {
				t.Fatalf("go-ipld-prime re-encodes %s differently:\n ours %x\n its  %x", kind, b, out.Bytes())
			}
		})
	}
}

func TestDecodeStrict(t *testing.T) {
	o := testOrder(t, testKey(t, 1))
	good, err := Encode(o)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := decMode.Unmarshal(good, &generic); err != nil {
		t.Fatal(err)
	}
	reencode := func(m map[string]any) []byte {
		b, err := encMode.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withExtra := map[string]any{}
	for k, v := range generic {
		withExtra[k] = v
	}
	withExtra["admin"] = true
	// cpu renamed cpx, inside the workload map.
	renamed := map[string]any{}
	for k, v := range generic {
		renamed[k] = v
	}
	wl := map[any]any{}
	for k, v := range generic["workload"].(map[any]any) {
		wl[k] = v
	}
	wl["cpx"] = wl["cpu"]
	delete(wl, "cpu")
	renamed["workload"] = wl
	missing := map[string]any{}
	for k, v := range generic {
		if k != "expires" {
			missing[k] = v
		}
	}
	tests := []struct {
		name      string
		in        []byte
		wantField string
		wantRule  string
		wantErr   error
	}{
		{name: "unknown field", in: reencode(withExtra), wantField: "admin", wantRule: `unknown field "admin" in order`},
		{name: "unknown nested field", in: reencode(renamed), wantField: "workload.cpx", wantRule: `unknown field "cpx" in order.workload`},
		{name: "missing field", in: reencode(missing), wantField: "expires"},
		{name: "trailing bytes", in: append(append([]byte{}, good...), 0x00)},
		{name: "truncated", in: good[:len(good)-5]},
		{name: "oversized", in: bytes.Repeat([]byte{0}, MaxRecordSize+1)},
		{name: "not a map", in: []byte{0x01}},
		{name: "non-canonical int", in: bytes.Replace(good, []byte{0x61, 0x76, 0x01}, []byte{0x61, 0x76, 0x18, 0x01}, 1), wantErr: ErrNotCanonical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Order
			err := Decode(tt.in, &got)
			if err == nil {
				t.Fatal("Decode accepted bad input")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantField != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.wantField {
					t.Fatalf("err = %v, want a ValidationError naming %q", err, tt.wantField)
				}
			}
			if tt.wantRule != "" && !strings.Contains(err.Error(), tt.wantRule) {
				t.Fatalf("err = %v, want it to say %s", err, tt.wantRule)
			}
		})
	}
}

func TestCIDIsDagCBORSha256(t *testing.T) {
	c, b, err := ID(testOrder(t, testKey(t, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version() != 1 || c.Type() != cid.DagCBOR || c.Prefix().MhType != 0x12 {
		t.Fatalf("CID %s prefix %+v, want v1 dag-cbor sha2-256", c, c.Prefix())
	}
	sum, err := c.Prefix().Sum(b)
	if err != nil || !sum.Equals(c) {
		t.Fatalf("CID does not hash the encoding")
	}
}

func FuzzDecodeCBOR(f *testing.F) {
	for _, r := range sampleRecords(f) {
		b, err := Encode(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range []Record{new(Order), new(Ack), new(Denial), new(JobRecord), new(Treaty), new(Revocation), new(ReputationReport), new(Anchor), new(LogEntry)} {
			if err := Decode(data, r); err != nil {
				continue
			}
			// Anything accepted is canonical: it re-encodes to the same bytes.
			again, err := Encode(r)
			if err != nil {
				t.Fatalf("accepted %s does not re-encode: %v", r.Kind(), err)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("accepted %s is not canonical", r.Kind())
			}
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	for _, r := range sampleRecords(f) {
		b, err := EncodeJSON(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range []Record{new(Order), new(Ack), new(Treaty), new(JobRecord)} {
			if err := DecodeJSON(data, r); err != nil {
				continue
			}
			cb, err := Encode(r)
			if err != nil {
				t.Fatalf("accepted %s does not encode: %v", r.Kind(), err)
			}
			back := newOf(r)
			if err := Decode(cb, back); err != nil {
				t.Fatalf("accepted %s does not round-trip: %v", r.Kind(), err)
			}
		}
	})
}
