package treaty

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func TestLifecycle(t *testing.T) {
	a, b, mallory := testKey(t, 2), testKey(t, 3), testKey(t, 4)
	mk := func(seq int64, signers ...*PrivateKey) *Treaty {
		tr, err := FromTemplate(Proposal{Template: TemplateBilateral, Federation: "testnet", Proposer: a.DID(), Peer: b.DID(), Now: fixedNow,
			Set: map[string]string{"seq": strconv.FormatInt(seq, 10), "validity_days": "30"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range signers {
			if err := SignTreaty(tr, k); err != nil {
				t.Fatal(err)
			}
		}
		return tr
	}
	revoke := func(tr *Treaty, by *PrivateKey, at time.Time) *Revocation {
		id, _, err := ID(tr)
		if err != nil {
			t.Fatal(err)
		}
		r := &Revocation{V: Version, Treaty: LinkTo(id), By: by.DID(), At: at.Unix(), Reason: "test"}
		if err := Sign(r, by); err != nil {
			t.Fatal(err)
		}
		return r
	}
	full := mk(1, a, b)
	during := fixedNow.Add(24 * time.Hour)
	forgedRev := revoke(full, a, fixedNow)
	forgedRev.Sig[0] ^= 1
	outsiderRev := &Revocation{V: Version, Treaty: forgedRev.Treaty, By: mallory.DID(), At: fixedNow.Unix()}
	if err := Sign(outsiderRev, mallory); err != nil {
		t.Fatal(err)
	}
	tampered := mk(1, a, b)
	tampered.Lanes[0].MaxInflight = 9999 // signatures no longer cover the content

	tests := []struct {
		name   string
		tr     *Treaty
		revs   []*Revocation
		others []*Treaty
		now    time.Time
		want   State
	}{
		{"one signature", mk(1, a), nil, nil, during, StateProposed},
		{"no signatures", mk(1), nil, nil, during, StateProposed},
		{"all signed", full, nil, nil, during, StateActive},
		{"before not_before", full, nil, nil, fixedNow.Add(-time.Second), StateProposed},
		{"at not_after", full, nil, nil, time.Unix(full.NotAfter, 0), StateExpired},
		{"revoked by a party", full, []*Revocation{revoke(full, b, during)}, nil, during, StateRevoked},
		{"revocation in the future", full, []*Revocation{revoke(full, b, during.Add(time.Hour))}, nil, during, StateActive},
		{"forged revocation ignored", full, []*Revocation{forgedRev}, nil, during, StateActive},
		{"outsider revocation ignored", full, []*Revocation{outsiderRev}, nil, during, StateActive},
		{"superseded by active seq 2", full, nil, []*Treaty{mk(2, a, b)}, during, StateSuperseded},
		{"not superseded by proposed seq 2", full, nil, []*Treaty{mk(2, a)}, during, StateActive},
		{"not superseded by lower seq", mk(2, a, b), nil, []*Treaty{full}, during, StateActive},
		{"tampered content", tampered, nil, nil, during, StateInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Lifecycle(tt.tr, tt.revs, tt.others, tt.now); got != tt.want {
				t.Fatalf("Lifecycle = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTemplates(t *testing.T) {
	a, b := testKey(t, 2), testKey(t, 3)
	for _, name := range Templates() {
		t.Run(name, func(t *testing.T) {
			tr, err := FromTemplate(Proposal{Template: name, Federation: "testnet", Proposer: a.DID(), Peer: b.DID(), Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := tr.LaneFor(a.DID(), b.DID()); !ok {
				t.Fatal("no lane from proposer to peer")
			}
		})
	}
	tr, err := FromTemplate(Proposal{Template: TemplateSovereignEU, Federation: "testnet", Proposer: a.DID(), Peer: b.DID(), Now: fixedNow,
		Set: map[string]string{"regions": "eu-west,eu-north,eu-west", "max_inflight": "8"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Regions; len(got) != 2 || got[0] != "eu-north" || got[1] != "eu-west" {
		t.Fatalf("regions = %v", got)
	}
	if tr.Lanes[0].MaxInflight != 8 || tr.Lanes[1].MaxInflight != 8 {
		t.Fatalf("max_inflight not applied: %+v", tr.Lanes)
	}
	for _, bad := range []map[string]string{{"nope": "1"}, {"seq": "x"}, {"validity_days": "0"}} {
		if _, err := FromTemplate(Proposal{Template: TemplateBilateral, Federation: "testnet", Proposer: a.DID(), Peer: b.DID(), Now: fixedNow, Set: bad}); err == nil {
			t.Errorf("Set %v accepted", bad)
		}
	}
	if _, err := FromTemplate(Proposal{Template: "nope", Federation: "testnet", Proposer: a.DID(), Peer: b.DID(), Now: fixedNow}); err == nil {
		t.Error("unknown template accepted")
	}
	if _, burstBack := mustTemplate(t, TemplateBurstOverflow, a, b).LaneFor(b.DID(), a.DID()); burstBack {
		t.Error("burst-overflow has a lane back")
	}
}

func mustTemplate(t *testing.T, name string, a, b *PrivateKey) *Treaty {
	t.Helper()
	tr, err := FromTemplate(Proposal{Template: name, Federation: "testnet", Proposer: a.DID(), Peer: b.DID(), Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTemplatePolicy: the policy_* template keys name a module by CID with
// its params and limits; a CID no module can have, params that are not
// base64 or over MaxParamsLen, and limits beyond the treaty's bounds are
// refused naming the key.
func TestTemplatePolicy(t *testing.T) {
	a, b := testKey(t, 1), testKey(t, 2)
	mod, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: multihash.SHA2_256, MhLength: -1}.Sum([]byte("a module's wasm"))
	if err != nil {
		t.Fatal(err)
	}
	params := []byte{0xa1, 0x68, 'm', 'a', 'x', '_', 'g', 'p', 'u', 's', 0x01}
	tr, err := FromTemplate(Proposal{Template: TemplateGPUInference, Federation: "testnet", Proposer: a.DID(), Peer: b.DID(), Now: fixedNow,
		Set: map[string]string{"policy_module": mod.String(), "policy_params": base64.StdEncoding.EncodeToString(params),
			"policy_deadline_ms": "200", "policy_memory_pages": "64"}})
	if err != nil {
		t.Fatal(err)
	}
	want := PolicyRef{ABI: policyABIFedpolicy, Module: mod.String(), Params: params, DeadlineMS: 200, MemoryPages: 64}
	if diff := cmp.Diff(want, tr.Policy); diff != "" {
		t.Fatalf("policy (-want +got):\n%s", diff)
	}
	// Without the keys: the standard law, params from the treaty's fields.
	if p := mustTemplate(t, TemplateGPUInference, a, b).Policy; p.Module != "" || len(p.Params) != 0 {
		t.Fatalf("default template policy %+v, want the standard law", p)
	}
	maxParams := base64.StdEncoding.EncodeToString(make([]byte, MaxParamsLen))
	if _, err := FromTemplate(Proposal{Template: TemplateBilateral, Federation: "testnet", Proposer: a.DID(), Peer: b.DID(), Now: fixedNow,
		Set: map[string]string{"policy_params": maxParams}}); err != nil {
		t.Fatalf("policy_params of MaxParamsLen bytes: %v", err)
	}
	dagCBOR := CIDOf([]byte("not a module"))
	for _, c := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"policy_module": "bafy-nope"}, "policy_module"},
		{map[string]string{"policy_module": dagCBOR.String()}, "not a module CID"},
		{map[string]string{"policy_params": "%%%"}, "policy_params: not base64"},
		{map[string]string{"policy_params": base64.StdEncoding.EncodeToString(make([]byte, MaxParamsLen+1))}, "policy_params: 16385 bytes"},
		{map[string]string{"policy_deadline_ms": strconv.Itoa(MaxPolicyDeadline + 1)}, "policy.deadline_ms"},
		{map[string]string{"policy_memory_pages": "-1"}, "policy.memory_pages"},
	} {
		_, err := FromTemplate(Proposal{Template: TemplateBilateral, Federation: "testnet", Proposer: a.DID(), Peer: b.DID(), Now: fixedNow, Set: c.set})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Set %v: %v, want an error with %q", c.set, err, c.want)
		}
	}
}
