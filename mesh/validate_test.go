package mesh

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/treaty"
)

func testKey(t testing.TB, i int) *treaty.PrivateKey {
	t.Helper()
	seed := sha256.Sum256(fmt.Appendf(nil, "mesh internal %d", i))
	k, err := treaty.NewKeyFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// offlineMesh is a Mesh without a host: enough to judge messages.
func offlineMesh(t testing.TB, key *treaty.PrivateKey, mutate func(*Config)) *Mesh {
	t.Helper()
	cfg := Config{Key: key, Federation: "fed"}
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	met, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := PeerIDOf(key.DID())
	if err != nil {
		t.Fatal(err)
	}
	m := &Mesh{cfg: cfg, log: slog.New(slog.DiscardHandler), me: key.DID(), id: id, metrics: met,
		repSeen: map[treaty.DID]int64{}, stats: map[treaty.DID]*peerStats{}, kick: make(chan struct{}, 1)}
	m.book = newBook(&m.cfg, m.log)
	m.book.refused = func(reason string) { met.refused.WithLabelValues(kindNames[kindTreaty], reason).Inc() }
	m.anchors = newAnchorStore(cfg.Datastore, m.log)
	m.evidence = newEvidenceStore(cfg.Datastore, m.log)
	m.sla = newSLAMeter(m.book, m.cfg.Clock, m.cfg.SLAWindow)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	t.Cleanup(m.cancel)
	return m
}

func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	var b []byte
	var err error
	if r, ok := v.(treaty.Record); ok {
		b, err = treaty.Encode(r)
	} else {
		b, err = encodeFrame(v)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pid(t testing.TB, k *treaty.PrivateKey) peer.ID {
	t.Helper()
	id, err := PeerIDOf(k.DID())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestValidationResults is the validators' decision table: Reject for
// sender faults, Ignore for what the node cannot judge, Accept otherwise.
func TestValidationResults(t *testing.T) {
	me, peerK, third, stranger := testKey(t, 0), testKey(t, 1), testKey(t, 2), testKey(t, 3)
	now := time.Now()
	treatyOf := func(mut func(*treaty.Treaty), signers ...*treaty.PrivateKey) *treaty.Treaty {
		tr, err := treaty.FromTemplate(treaty.Proposal{Template: treaty.TemplateBilateral, Federation: "fed", Proposer: peerK.DID(), Peer: third.DID(), Now: now.Add(-time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if mut != nil {
			mut(tr)
		}
		for _, k := range signers {
			if err := treaty.SignTreaty(tr, k); err != nil {
				t.Fatal(err)
			}
		}
		return tr
	}
	env := func(tr *treaty.Treaty) []byte { return mustEncode(t, &envelope{Treaty: mustEncode(t, tr)}) }
	known := treatyOf(nil, peerK)
	revocation := func(by *treaty.PrivateKey, target treaty.Link) []byte {
		r := &treaty.Revocation{V: 1, Treaty: target, By: by.DID(), At: now.Unix(), Reason: "x"}
		if err := treaty.Sign(r, by); err != nil {
			t.Fatal(err)
		}
		return mustEncode(t, &envelope{Revocation: mustEncode(t, r)})
	}
	report := func(by *treaty.PrivateKey, epochDelta int64, fed string) []byte {
		m := offlineMesh(t, me, nil)
		r := &treaty.ReputationReport{V: 1, Reporter: by.DID(), Federation: fed, Epoch: m.ReputationEpochOf(now) + epochDelta, At: now.Unix(),
			Providers: []treaty.ProviderStat{}, Peers: []treaty.PeerStat{}}
		if err := treaty.Sign(r, by); err != nil {
			t.Fatal(err)
		}
		return mustEncode(t, r)
	}
	anchorOf := func(size int) []byte {
		return mustEncode(t, &treaty.Anchor{V: 1, Origin: "o", Checkpoint: fmt.Sprintf("o\n%d\nAAAA\n\n— o sig\n", size), TSA: [][]byte{}})
	}
	forged := treatyOf(nil, peerK)
	forged.Sigs[0].Sig[5] ^= 0xff

	for _, tc := range []struct {
		name  string
		topic int
		from  *treaty.PrivateKey
		data  []byte
		setup func(*Mesh)
		want  pubsub.ValidationResult
	}{
		{"treaty: valid proposal", kindTreaty, peerK, env(treatyOf(nil, peerK)), nil, pubsub.ValidationAccept},
		{"treaty: fully signed", kindTreaty, stranger, env(treatyOf(nil, peerK, third)), nil, pubsub.ValidationAccept},
		{"treaty: not cbor", kindTreaty, peerK, []byte("junk"), nil, pubsub.ValidationReject},
		{"treaty: anchor on the treaty topic", kindTreaty, peerK, mustEncode(t, &envelope{Anchor: anchorOf(1)}), nil, pubsub.ValidationReject},
		{"treaty: forged signature", kindTreaty, peerK, env(forged), nil, pubsub.ValidationReject},
		{"treaty: no signature", kindTreaty, peerK, env(treatyOf(nil)), nil, pubsub.ValidationReject},
		{"treaty: other federation", kindTreaty, peerK, env(treatyOf(func(tr *treaty.Treaty) { tr.Federation = "other" }, peerK)), nil, pubsub.ValidationReject},
		{"treaty: invalid field", kindTreaty, peerK, env(treatyOf(func(tr *treaty.Treaty) { tr.Seq = 0 }, peerK)), nil, pubsub.ValidationReject},
		{"treaty: expired", kindTreaty, peerK, env(treatyOf(func(tr *treaty.Treaty) { tr.NotAfter = now.Add(-time.Second).Unix() }, peerK)), nil, pubsub.ValidationIgnore},
		{"treaty: duplicate", kindTreaty, peerK, env(known), func(m *Mesh) { addKnown(t, m, known) }, pubsub.ValidationIgnore},
		{"treaty: non-member party", kindTreaty, peerK, env(treatyOf(nil, peerK)), func(m *Mesh) { m.book.members = map[treaty.DID]bool{peerK.DID(): true} }, pubsub.ValidationIgnore},
		{"revocation: unknown treaty", kindTreaty, peerK, revocation(peerK, treaty.LinkTo(treaty.CIDOf([]byte("?")))), nil, pubsub.ValidationIgnore},
		{"revocation: by a party", kindTreaty, peerK, revocation(peerK, treaty.LinkTo(treaty.CIDOf(mustEncode(t, known)))),
			func(m *Mesh) { addKnown(t, m, known) }, pubsub.ValidationAccept},
		{"revocation: by a non-party", kindTreaty, peerK, revocation(stranger, treaty.LinkTo(treaty.CIDOf(mustEncode(t, known)))),
			func(m *Mesh) { addKnown(t, m, known) }, pubsub.ValidationReject},
		{"reputation: current", kindReputation, peerK, report(peerK, 0, "fed"), func(m *Mesh) { partnerWith(t, m, me, peerK) }, pubsub.ValidationAccept},
		{"reputation: relayed", kindReputation, stranger, report(peerK, -1, "fed"), func(m *Mesh) { partnerWith(t, m, me, peerK) }, pubsub.ValidationAccept},
		{"reputation: by a stranger", kindReputation, stranger, report(stranger, 0, "fed"), func(m *Mesh) { partnerWith(t, m, me, peerK) }, pubsub.ValidationIgnore},
		{"reputation: by a partner's partner", kindReputation, peerK, report(third, 0, "fed"), func(m *Mesh) { partnerWith(t, m, me, peerK) }, pubsub.ValidationIgnore},
		{"reputation: stale from its reporter", kindReputation, peerK, report(peerK, -10, "fed"), nil, pubsub.ValidationReject},
		{"reputation: stale relayed", kindReputation, stranger, report(peerK, -10, "fed"), nil, pubsub.ValidationIgnore},
		{"reputation: future from its reporter", kindReputation, peerK, report(peerK, 5, "fed"), nil, pubsub.ValidationReject},
		{"reputation: duplicate epoch", kindReputation, peerK, report(peerK, 0, "fed"), func(m *Mesh) { m.repSeen[peerK.DID()] = m.ReputationEpochOf(now) }, pubsub.ValidationIgnore},
		{"reputation: other federation", kindReputation, peerK, report(peerK, 0, "other"), nil, pubsub.ValidationReject},
		{"reputation: malformed", kindReputation, peerK, []byte{0xa0}, nil, pubsub.ValidationReject},
		{"anchor: new", kindAnchor, peerK, anchorOf(3), nil, pubsub.ValidationAccept},
		{"anchor: no tree size", kindAnchor, peerK, mustEncode(t, &treaty.Anchor{V: 1, Origin: "o", Checkpoint: "o\nx\n", TSA: [][]byte{}}), nil, pubsub.ValidationReject},
		{"anchor: not newer", kindAnchor, peerK, anchorOf(3), func(m *Mesh) {
			var a treaty.Anchor
			treaty.Decode(anchorOf(3), &a)
			m.anchors.put(context.Background(), &anchorRec{a: &a, raw: anchorOf(3), id: treaty.CIDOf(anchorOf(3)), size: 3})
		}, pubsub.ValidationIgnore},
		{"anchor: handler cannot judge", kindAnchor, peerK, anchorOf(3), func(m *Mesh) {
			m.cfg.OnAnchor = func(context.Context, treaty.DID, *treaty.Anchor) error {
				return fmt.Errorf("unknown log: %w", ErrIgnore)
			}
		}, pubsub.ValidationIgnore},
		{"anchor: handler rejects", kindAnchor, peerK, anchorOf(3), func(m *Mesh) {
			m.cfg.OnAnchor = func(context.Context, treaty.DID, *treaty.Anchor) error { return errors.New("bad note signature") }
		}, pubsub.ValidationReject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := offlineMesh(t, me, nil)
			if tc.setup != nil {
				tc.setup(m)
			}
			msg := &pubsub.Message{Message: &pb.Message{Data: tc.data}}
			validators := [3]func(context.Context, peer.ID, *pubsub.Message) pubsub.ValidationResult{m.validateTreatyMsg, m.validateReputationMsg, m.validateAnchorMsg}
			got := validators[tc.topic](context.Background(), pid(t, tc.from), msg)
			if got != tc.want {
				t.Fatalf("result %v, want %v", got, tc.want)
			}
			if (got == pubsub.ValidationAccept) != (msg.ValidatorData != nil) {
				t.Fatalf("ValidatorData %v with result %v", msg.ValidatorData, got)
			}
		})
	}
}

// TestMergeSignatures: versions of one treaty signed by different parties
// merge into one entry, whose every CID finds it.
func TestMergeSignatures(t *testing.T) {
	a, b, c := testKey(t, 0), testKey(t, 1), testKey(t, 2)
	m := offlineMesh(t, a, nil)
	base, err := treaty.FromTemplate(treaty.Proposal{Template: treaty.TemplateBilateral, Federation: "fed", Proposer: a.DID(), Peer: b.DID(), Now: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	base.Parties = append(base.Parties, c.DID())
	sortDIDs(base.Parties)
	ctx := context.Background()
	var ids []treaty.Link
	for _, k := range []*treaty.PrivateKey{a, b, c} {
		v := *base
		v.Sigs = nil
		if err := treaty.SignTreaty(&v, k); err != nil {
			t.Fatal(err)
		}
		c, err := m.book.checkTreaty(&v, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, changed, err := m.book.addTreaty(ctx, c); err != nil || !changed {
			t.Fatalf("add %s's version: changed %v, %v", k.DID().Short(), changed, err)
		}
		ids = append(ids, treaty.LinkTo(treaty.CIDOf(mustEncode(t, &v))))
	}
	list := m.book.list()
	if len(list) != 1 || len(list[0].Signed) != 3 || list[0].State != treaty.StateActive {
		t.Fatalf("book = %+v, want one active treaty signed by three", list)
	}
	for _, id := range ids {
		if info, ok := m.book.get(id.Cid); !ok || !info.CID.Equals(list[0].CID.Cid) {
			t.Fatalf("version %s does not find the merged treaty", id)
		}
	}
	// Reload from the datastore: same book.
	m2 := offlineMesh(t, a, func(c *Config) { c.Datastore = m.cfg.Datastore })
	if err := m2.book.load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if info, ok := m2.book.get(id.Cid); !ok || info.State != treaty.StateActive {
			t.Fatalf("after reload, version %s: %v %v", id, info.State, ok)
		}
	}
}

// partnerWith adds to m's book an active bilateral treaty between me and
// peer, signed by both: peer becomes a partner.
func partnerWith(t testing.TB, m *Mesh, me, peer *treaty.PrivateKey) *treaty.Treaty {
	t.Helper()
	tr, err := treaty.FromTemplate(treaty.Proposal{Template: treaty.TemplateBilateral, Federation: m.cfg.Federation, Proposer: me.DID(), Peer: peer.DID(), Now: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*treaty.PrivateKey{me, peer} {
		if err := treaty.SignTreaty(tr, k); err != nil {
			t.Fatal(err)
		}
	}
	addKnown(t, m, tr)
	pid, err := PeerIDOf(peer.DID())
	if err != nil {
		t.Fatal(err)
	}
	if !m.isPartner(pid) {
		t.Fatal("partnerWith: the treaty is not active")
	}
	return tr
}

func addKnown(t testing.TB, m *Mesh, tr *treaty.Treaty) {
	t.Helper()
	c, err := m.book.checkTreaty(tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.book.addTreaty(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

func sortDIDs(d []treaty.DID) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}
