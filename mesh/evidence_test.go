package mesh

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

func originOf(t testing.TB, fed string, k *treaty.PrivateKey) string {
	t.Helper()
	return "aurora/" + fed + "/" + pid(t, k).String()
}

// signedCP signs a checkpoint of origin at size with root as key's log.
func signedCP(t testing.TB, key *treaty.PrivateKey, origin string, size uint64, root [32]byte) []byte {
	t.Helper()
	signer, err := provenance.NewLogSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := note.Sign(&note.Note{Text: string(provenance.Checkpoint{Origin: origin, Size: size, Root: root}.Body())}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func root(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// sameSize is evidence that key's log signed two roots at size.
func sameSize(t testing.TB, key *treaty.PrivateKey, fed string, size uint64, a, b string) provenance.Evidence {
	t.Helper()
	o := originOf(t, fed, key)
	return provenance.Evidence{Origin: o, A: signedCP(t, key, o, size, root(a)), B: signedCP(t, key, o, size, root(b))}
}

// inconsistent is evidence that key's log signed a checkpoint at 5 of one
// tree and one at 9 of another: two real logs with one key, and the fork's
// consistency proof, which reproduces its root but not the first's.
func inconsistent(t testing.TB, key *treaty.PrivateKey, fed string) provenance.Evidence {
	t.Helper()
	o := originOf(t, fed, key)
	grow := func(prefix string, n int) *provenance.Log {
		l, err := provenance.OpenLog(t.Context(), dssync.MutexWrap(datastore.NewMapDatastore()), provenance.LogConfig{Origin: o, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if _, err := l.Append(t.Context(), fmt.Appendf(nil, "%s %d", prefix, i)); err != nil {
				t.Fatal(err)
			}
		}
		return l
	}
	real, fork := grow("real", 5), grow("fork", 9)
	a, err := real.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, err := fork.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p, err := fork.ConsistencyProof(t.Context(), 5, 9)
	if err != nil {
		t.Fatal(err)
	}
	var eq *provenance.EquivocationError
	if err := provenance.CheckConsistency(a, b, p); !errors.As(err, &eq) {
		t.Fatalf("CheckConsistency = %v, want an equivocation", err)
	}
	return eq.Evidence
}

func marshalEvidence(t testing.TB, ev provenance.Evidence) []byte {
	t.Helper()
	b, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEvidenceValidation is the evidence topic's decision table: evidence
// that verifies against the origin's key and truly conflicts is accepted
// and kept; malformed or non-conflicting evidence is the sender's fault;
// duplicates, other federations' logs and evidence beyond the bounds are
// ignored.
func TestEvidenceValidation(t *testing.T) {
	me, peerK, offender, stranger := testKey(t, 0), testKey(t, 1), testKey(t, 2), testKey(t, 3)
	good := sameSize(t, offender, "fed", 7, "honest", "forged")
	forged := sameSize(t, offender, "fed", 7, "honest", "forged")
	forged.B = append([]byte(nil), forged.B...)
	forged.B[len(forged.B)-3] ^= 0x01 // a bit of the signature's base64
	noConflict := provenance.Evidence{Origin: good.Origin, A: good.A, B: good.A}
	otherFed := sameSize(t, offender, "other", 7, "a", "b")
	notAurora := provenance.Evidence{Origin: "example.com/log", A: good.A, B: good.B}
	for _, tc := range []struct {
		name  string
		data  []byte
		setup func(*Mesh)
		want  pubsub.ValidationResult
		kept  int
	}{
		{"same size, two roots", marshalEvidence(t, good), nil, pubsub.ValidationAccept, 1},
		{"inconsistent sizes", marshalEvidence(t, inconsistent(t, offender, "fed")), nil, pubsub.ValidationAccept, 1},
		{"about a partner's log with strangers' share full", marshalEvidence(t, sameSize(t, peerK, "fed", 3, "x", "y")), func(m *Mesh) {
			partnerWith(t, m, me, peerK)
			m.evidence.strangers = MaxStrangerEvidence
		}, pubsub.ValidationAccept, 1},
		{"not dag-cbor evidence", []byte("junk"), nil, pubsub.ValidationReject, 0},
		{"no conflict", marshalEvidence(t, noConflict), nil, pubsub.ValidationReject, 0},
		{"forged signature", marshalEvidence(t, forged), nil, pubsub.ValidationReject, 0},
		{"another federation's log", marshalEvidence(t, otherFed), nil, pubsub.ValidationIgnore, 0},
		{"not an Aurora origin", marshalEvidence(t, notAurora), nil, pubsub.ValidationIgnore, 0},
		{"duplicate", marshalEvidence(t, good), func(m *Mesh) {
			if _, err := m.judgeEvidence(t.Context(), pid(t, peerK), marshalEvidence(t, good), SourceGossip); err != nil {
				t.Fatal(err)
			}
		}, pubsub.ValidationIgnore, 1},
		{"one record too many about a log", marshalEvidence(t, good), func(m *Mesh) {
			for i := range MaxEvidencePerLog {
				ev := sameSize(t, offender, "fed", uint64(10+i), "a", "b")
				if _, err := m.judgeEvidence(t.Context(), pid(t, peerK), marshalEvidence(t, ev), SourceGossip); err != nil {
					t.Fatal(err)
				}
			}
		}, pubsub.ValidationIgnore, MaxEvidencePerLog},
		{"strangers' share full", marshalEvidence(t, good), func(m *Mesh) { m.evidence.strangers = MaxStrangerEvidence }, pubsub.ValidationIgnore, 0},
		{"store full", marshalEvidence(t, sameSize(t, peerK, "fed", 3, "x", "y")), func(m *Mesh) {
			partnerWith(t, m, me, peerK)
			for i := range MaxEvidence {
				m.evidence.byID[treaty.CIDOf(fmt.Appendf(nil, "filler %d", i))] = &Equivocation{At: time.Unix(0, 0)}
			}
		}, pubsub.ValidationIgnore, MaxEvidence},
		{"offender not a member", marshalEvidence(t, good), func(m *Mesh) { m.book.members = map[treaty.DID]bool{me.DID(): true, peerK.DID(): true} }, pubsub.ValidationIgnore, 0},
		{"a stranger relaying too fast", marshalEvidence(t, good), func(m *Mesh) {
			for m.limiter.allow(pid(t, stranger), time.Now()) {
			}
		}, pubsub.ValidationIgnore, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var handed []*Equivocation
			m := offlineMesh(t, me, func(c *Config) { c.OnEquivocation = func(e *Equivocation) { handed = append(handed, e) } })
			if tc.setup != nil {
				tc.setup(m)
			}
			from := peerK
			if tc.name == "a stranger relaying too fast" {
				from = stranger
			}
			msg := &pubsub.Message{Message: &pb.Message{Data: tc.data}}
			got := m.validateEvidenceMsg(t.Context(), pid(t, from), msg)
			if got != tc.want {
				t.Fatalf("result %v, want %v", got, tc.want)
			}
			if n := len(m.Equivocations()); n != tc.kept {
				t.Fatalf("%d records kept, want %d", n, tc.kept)
			}
			if got != pubsub.ValidationAccept {
				if msg.ValidatorData != nil {
					t.Fatalf("ValidatorData %v with result %v", msg.ValidatorData, got)
				}
				return
			}
			e, ok := msg.ValidatorData.(*Equivocation)
			if !ok || e.Source != SourceGossip || e.From != peerK.DID() || !e.ID.Equals(treaty.CIDOf(tc.data)) {
				t.Fatalf("ValidatorData = %+v", msg.ValidatorData)
			}
			if _, err := provenance.VerifyEvidence(e.Evidence, mustLogVerifier(t, e.Evidence.Origin, e.Offender)); err != nil {
				t.Fatalf("kept evidence does not verify: %v", err)
			}
			if len(handed) != 0 {
				t.Fatal("the validator handed the record over: the topic reader does")
			}
		})
	}
	// The strangers' share refusal is counted.
	m := offlineMesh(t, me, nil)
	m.evidence.strangers = MaxStrangerEvidence
	m.validateEvidenceMsg(t.Context(), pid(t, peerK), &pubsub.Message{Message: &pb.Message{Data: marshalEvidence(t, good)}})
	if got := testutil.ToFloat64(m.metrics.refused.WithLabelValues("evidence", RefusedEvidenceLogs)); got != 1 {
		t.Errorf("aurora_mesh_refused_total{kind=evidence,reason=evidence_logs} = %v, want 1", got)
	}
}

func mustLogVerifier(t testing.TB, origin string, d treaty.DID) note.Verifier {
	t.Helper()
	v, err := provenance.LogVerifier(origin, d)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestEvidenceKeptAcrossRestarts: what the store holds is reloaded from the
// datastore with its source, relay and sizes, and still counts against the
// bounds.
func TestEvidenceKeptAcrossRestarts(t *testing.T) {
	me, peerK, offender := testKey(t, 0), testKey(t, 1), testKey(t, 2)
	m := offlineMesh(t, me, nil)
	ev := inconsistent(t, offender, "fed")
	if _, err := m.judgeEvidence(t.Context(), pid(t, peerK), marshalEvidence(t, ev), SourceGossip); err != nil {
		t.Fatal(err)
	}
	e, fresh, err := m.PublishEvidence(t.Context(), sameSize(t, offender, "fed", 2, "a", "b"), SourceWitness)
	if err == nil || e == nil || !fresh {
		// Offline: kept, but there is no topic to gossip on.
		t.Fatalf("PublishEvidence offline = %+v, %v, %v: want it kept and a publish error", e, fresh, err)
	}
	m2 := offlineMesh(t, me, func(c *Config) { c.Datastore = m.cfg.Datastore })
	if err := m2.evidence.load(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := m2.Equivocations()
	if len(got) != 2 {
		t.Fatalf("reloaded %d records, want 2", len(got))
	}
	bySource := map[string]*Equivocation{}
	for _, e := range got {
		bySource[e.Source] = e
	}
	g, w := bySource[SourceGossip], bySource[SourceWitness]
	if g == nil || w == nil || g.From != peerK.DID() || w.From != "" || g.SizeA != 5 || g.SizeB != 9 || g.Offender != offender.DID() || !g.stranger {
		t.Fatalf("reloaded %+v", got)
	}
	if m2.evidence.perLog[ev.Origin] != 2 || m2.evidence.strangers != 2 {
		t.Fatalf("bounds after reload: %d of the log, %d of strangers", m2.evidence.perLog[ev.Origin], m2.evidence.strangers)
	}
	// Kept evidence is a duplicate, also after the restart; PublishEvidence
	// of it says it is not fresh.
	if _, err := m2.judgeEvidence(t.Context(), pid(t, peerK), marshalEvidence(t, ev), SourceGossip); !errors.Is(err, ErrIgnore) {
		t.Fatalf("reloaded evidence judged again: %v", err)
	}
	if e, fresh, _ := m2.PublishEvidence(t.Context(), ev, SourceWitness); e == nil || fresh || e.Source != SourceGossip {
		t.Fatalf("PublishEvidence of kept evidence = %+v, fresh %v", e, fresh)
	}
	// Evidence that does not verify is an error to the caller.
	if _, _, err := m2.PublishEvidence(t.Context(), provenance.Evidence{Origin: ev.Origin, A: ev.A, B: ev.A}, SourceWitness); err == nil || errors.Is(err, ErrIgnore) {
		t.Fatalf("PublishEvidence of no conflict = %v, want an error", err)
	}
}

// TestAnchorConflict: an anchor whose checkpoint contradicts the kept
// anchor of its log at the same size is evidence (kept, handed over with
// source anchor) and is dropped: rejected from the log's own operator,
// ignored from a relay. The same checkpoint with other cosignatures, or a
// note the log's key did not sign, is no evidence.
func TestAnchorConflict(t *testing.T) {
	me, relay, offender := testKey(t, 0), testKey(t, 1), testKey(t, 2)
	o := originOf(t, "fed", offender)
	anchorRaw := func(cp []byte) []byte {
		return mustEncode(t, &treaty.Anchor{V: 1, Origin: o, Checkpoint: string(cp), TSA: [][]byte{}})
	}
	honest := signedCP(t, offender, o, 12, root("honest"))
	keep := func(m *Mesh, cp []byte) {
		raw := anchorRaw(cp)
		var a treaty.Anchor
		if err := treaty.Decode(raw, &a); err != nil {
			t.Fatal(err)
		}
		if err := m.anchors.put(t.Context(), &anchorRec{a: &a, raw: raw, id: treaty.CIDOf(raw), size: 12}); err != nil {
			t.Fatal(err)
		}
	}
	cosigned := append(append([]byte(nil), honest...), []byte("— aurora-witness/x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n")...)
	badSig := signedCP(t, relay, o, 12, root("forged")) // signed by another key
	for _, tc := range []struct {
		name    string
		kept    []byte
		from    *treaty.PrivateKey
		anchor  []byte
		want    pubsub.ValidationResult
		records int
	}{
		{"relayed conflict", honest, relay, signedCP(t, offender, o, 12, root("forged")), pubsub.ValidationIgnore, 1},
		{"the offender's own conflict", honest, offender, signedCP(t, offender, o, 12, root("forged")), pubsub.ValidationReject, 1},
		{"more cosignatures", honest, relay, cosigned, pubsub.ValidationIgnore, 0},
		{"a note the log did not sign, from its operator", honest, offender, badSig, pubsub.ValidationReject, 0},
		{"a note the log did not sign, relayed", honest, relay, badSig, pubsub.ValidationIgnore, 0},
		{"a kept note that does not verify", badSig, relay, honest, pubsub.ValidationIgnore, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var handed []*Equivocation
			m := offlineMesh(t, me, func(c *Config) {
				c.OnEquivocation = func(e *Equivocation) {
					mu.Lock()
					defer mu.Unlock()
					handed = append(handed, e)
				}
				c.OnAnchor = func(context.Context, treaty.DID, *treaty.Anchor) error {
					t.Error("OnAnchor ran for an anchor of a kept size")
					return nil
				}
			})
			keep(m, tc.kept)
			got := m.validateAnchorMsg(t.Context(), pid(t, tc.from), &pubsub.Message{Message: &pb.Message{Data: anchorRaw(tc.anchor)}})
			if got != tc.want {
				t.Fatalf("result %v, want %v", got, tc.want)
			}
			m.handlers.Wait() // the gossip of the evidence (no topic offline)
			mu.Lock()
			defer mu.Unlock()
			if len(m.Equivocations()) != tc.records || len(handed) != tc.records {
				t.Fatalf("%d records kept, %d handed over, want %d", len(m.Equivocations()), len(handed), tc.records)
			}
			if tc.records == 1 && (handed[0].Source != SourceAnchor || handed[0].From != tc.from.DID() || handed[0].Offender != offender.DID()) {
				t.Fatalf("handed %+v", handed[0])
			}
			if r, _ := m.anchors.latest(o); r.a.Checkpoint != string(tc.kept) {
				t.Fatal("the conflicting anchor replaced the kept one")
			}
		})
	}
}

// TestSLABounds: a lane keeps its last MaxSLASamples observations within
// the window (default 5 minutes), its RTT p95 is the nearest rank, and a
// treaty without targets exports none.
func TestSLABounds(t *testing.T) {
	me, peerK := testKey(t, 0), testKey(t, 1)
	m := offlineMesh(t, me, nil)
	if m.cfg.SLAWindow != 5*time.Minute {
		t.Fatalf("default SLAWindow %s, want 5m", m.cfg.SLAWindow)
	}
	tr := partnerWith(t, m, me, peerK)
	link := treaty.LinkTo(treaty.CIDOf(mustEncode(t, tr)))
	for i := range MaxSLASamples + 100 {
		out := slaFilled
		if i < 100 {
			out = slaFailed // the oldest, overwritten
		}
		m.sla.observe(SLASent, link, peerK.DID(), out, time.Duration(i%100+1)*time.Millisecond)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.sla)
	for name, want := range map[string]float64{"aurora_treaty_sla_samples": MaxSLASamples, "aurora_treaty_sla_fill_ratio": 1, "aurora_treaty_sla_rtt_p95_seconds": 0.095} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range mfs {
			if mf.GetName() == name {
				found = true
				if got := mf.GetMetric()[0].GetGauge().GetValue(); got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
		}
		if !found {
			t.Errorf("%s not exported", name)
		}
	}
	// A treaty without SLA targets: the lane is measured, no target is
	// exported.
	other := testKey(t, 4)
	bare, err := treaty.FromTemplate(treaty.Proposal{Template: treaty.TemplateBilateral, Federation: "fed", Proposer: me.DID(), Peer: other.DID(), Now: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	bare.SLA = treaty.SLA{}
	for _, k := range []*treaty.PrivateKey{me, other} {
		if err := treaty.SignTreaty(bare, k); err != nil {
			t.Fatal(err)
		}
	}
	addKnown(t, m, bare)
	m.sla.observe(SLASent, treaty.LinkTo(treaty.CIDOf(mustEncode(t, bare))), other.DID(), slaFailed, time.Second)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, mf := range mfs {
		count[mf.GetName()] = len(mf.GetMetric())
	}
	if count["aurora_treaty_sla_fill_ratio"] != 2 || count["aurora_treaty_sla_rtt_p95_seconds"] != 2 ||
		count["aurora_treaty_sla_fill_target_ratio"] != 1 || count["aurora_treaty_sla_rtt_target_seconds"] != 1 {
		t.Errorf("series per family with one lane under a treaty without targets: %v", count)
	}
	if got := p95([]time.Duration{5, 1, 4, 2, 3}); got != 5 {
		t.Errorf("p95 of 1..5 = %v, want 5 (nearest rank)", got)
	}
	if got := p95([]time.Duration{7}); got != 7 {
		t.Errorf("p95 of one sample = %v", got)
	}
}
