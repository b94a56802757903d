package c2sp

import (
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/aurora-federation/aurora/treaty"
)

// TestCheckRootCID: the CIDs nodes write (go-cid's text form of a CIDv1)
// pass; other text does not.
func TestCheckRootCID(t *testing.T) {
	good := treaty.CIDOf([]byte("epoch root")).String()
	for _, tc := range []struct {
		name, cid string
		ok        bool
	}{
		{"dag-cbor sha2-256", good, true},
		{"raw block", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", true},
		{"CIDv0", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", false},
		{"upper case", strings.ToUpper(good), false},
		{"truncated", good[:len(good)-4], false},
		{"trailing byte", good + "a", false},
		{"not base32", "b!!!!", false},
		{"too long", "b" + strings.Repeat("a", MaxCIDLen), false},
		{"empty multibase", "b", false},
	} {
		if err := checkRootCID(tc.cid); (err == nil) != tc.ok {
			t.Errorf("%s: %q: %v, want ok = %v", tc.name, tc.cid, err, tc.ok)
		}
	}
}

// TestDecodeJobLeafNamesTheField: a refused record names what is wrong.
func TestDecodeJobLeafNamesTheField(t *testing.T) {
	k, _ := treaty.NewKeyFromSeed([]byte(strings.Repeat("k", 32)))
	rec := &treaty.JobRecord{V: 1, Job: "j", Order: treaty.LinkTo(treaty.CIDOf([]byte("o"))), Ack: treaty.LinkTo(treaty.CIDOf([]byte("a"))),
		Operator: k.DID(), Client: k.DID(), Route: treaty.Route{Kind: treaty.RouteProvider, Name: "sim"},
		Transitions: []treaty.Transition{{Status: treaty.StatusAccepted, At: 1}, {Status: treaty.StatusRunning, At: 2}}}
	leaf, err := treaty.Encode(&treaty.LogEntry{Job: rec})
	if err != nil {
		t.Fatal(err)
	}
	s, err := DecodeJobLeaf(leaf)
	if err != nil || s.Job != "j" || s.Operator != string(k.DID()) || len(s.Transitions) != 2 || s.Transitions[1] != (Transition{"running", 2}) {
		t.Fatalf("%+v %v", s, err)
	}
	edit := func(f func(job map[any]any)) []byte {
		var v map[any]any
		if err := cbor.Unmarshal(leaf, &v); err != nil {
			t.Fatal(err)
		}
		f(v["job"].(map[any]any))
		b, err := encMode.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		leaf  []byte
		field string
	}{
		{"unknown", edit(func(j map[any]any) { j["colour"] = "red" }), "job.colour"},
		{"missing", edit(func(j map[any]any) { delete(j, "price") }), "job.price"},
		{"negative price", edit(func(j map[any]any) { j["price"] = -1 }), "job.price"},
		{"client", edit(func(j map[any]any) { j["client"] = "did:key:zX" }), "job.client"},
		{"status", edit(func(j map[any]any) { j["transitions"].([]any)[1].(map[any]any)["status"] = "paused" }), "job.transitions[1].status"},
		{"time", edit(func(j map[any]any) { j["transitions"].([]any)[1].(map[any]any)["at"] = 0 }), "job.transitions[1].at"},
		{"ack", edit(func(j map[any]any) { j["ack"] = "bafy" }), "job.ack"},
		{"too large", make([]byte, MaxLeafSize+1), "leaf"},
	} {
		_, err := DecodeJobLeaf(tc.leaf)
		var re *RecordError
		if !errors.As(err, &re) || re.Field != tc.field {
			t.Errorf("%s: %v, want a RecordError on %s", tc.name, err, tc.field)
		}
	}
}

// TestDecodeJobLeafCanceled: a job that ends canceled decodes; a Cancel
// leaf is not a job record entry, and says which entry it is.
func TestDecodeJobLeafCanceled(t *testing.T) {
	k, _ := treaty.NewKeyFromSeed([]byte(strings.Repeat("k", 32)))
	ocid := treaty.LinkTo(treaty.CIDOf([]byte("o")))
	rec := &treaty.JobRecord{V: 1, Job: "j", Order: ocid, Ack: treaty.LinkTo(treaty.CIDOf([]byte("a"))),
		Operator: k.DID(), Client: k.DID(), Route: treaty.Route{Kind: treaty.RouteProvider, Name: "sim"},
		Transitions: []treaty.Transition{{Status: treaty.StatusAccepted, At: 1}, {Status: treaty.StatusCanceled, At: 2}}}
	leaf, err := treaty.Encode(&treaty.LogEntry{Job: rec})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := DecodeJobLeaf(leaf); err != nil || s.Transitions[1].Status != treaty.StatusCanceled {
		t.Fatalf("canceled job leaf: %+v %v", s, err)
	}
	c := &treaty.Cancel{V: 1, Order: ocid, Client: k.DID(), At: 2}
	if err := treaty.Sign(c, k); err != nil {
		t.Fatal(err)
	}
	cleaf, err := treaty.Encode(&treaty.LogEntry{Cancel: c})
	if err != nil {
		t.Fatal(err)
	}
	var re *RecordError
	if _, err := DecodeJobLeaf(cleaf); !errors.As(err, &re) || re.Field != "leaf" || !strings.Contains(re.Rule, "cancel entry") {
		t.Errorf("cancel leaf: %v, want a leaf error naming the cancel entry", err)
	}
}
