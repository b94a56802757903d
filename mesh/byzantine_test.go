package mesh_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/treaty"
)

// attacker is a raw libp2p host with its own gossipsub: it speaks the
// wire protocols but skips every check the mesh makes.
type attacker struct {
	key    *treaty.PrivateKey
	h      host.Host
	ps     *pubsub.PubSub
	topics map[string]*pubsub.Topic
}

func newAttacker(t *testing.T, fed string) *attacker {
	t.Helper()
	key := meshtest.RandomKey(t)
	priv, err := crypto.UnmarshalEd25519PrivateKey(key.Ed25519())
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		h.Close()
	})
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(),
		pubsub.WithFloodPublish(true), pubsub.WithMessageIdFn(func(m *pb.Message) string {
			s := sha256.Sum256(append([]byte(m.GetTopic()+"\x00"), m.Data...))
			return string(s[:])
		}))
	if err != nil {
		t.Fatal(err)
	}
	a := &attacker{key: key, h: h, ps: ps, topics: map[string]*pubsub.Topic{}}
	for _, name := range mesh.Topics(fed) {
		tp, err := ps.Join(name)
		if err != nil {
			t.Fatal(err)
		}
		a.topics[name] = tp
	}
	return a
}

// connect dials the victim and waits until the victim is a peer on every
// topic (so a flood publish reaches it).
func (a *attacker) connect(t *testing.T, victim *meshtest.Node) {
	t.Helper()
	if err := a.h.Connect(t.Context(), meshtest.AddrInfo(victim.Mesh)); err != nil {
		t.Fatal(err)
	}
	for name, tp := range a.topics {
		meshtest.WaitFor(t, meshtest.Wait, "the victim on "+name, func() bool { return slices.Contains(tp.ListPeers(), victim.ID()) })
	}
}

func (a *attacker) publish(t *testing.T, topic string, data []byte) {
	t.Helper()
	if err := a.topics[topic].Publish(t.Context(), data); err != nil {
		t.Fatal(err)
	}
}

func envelope(t *testing.T, field string, record []byte) []byte {
	t.Helper()
	// A one-key dag-cbor map {field: bytes}, built by hand: the attacker
	// does not use the mesh's encoder.
	var b bytes.Buffer
	b.WriteByte(0xa1)
	b.WriteByte(0x60 | byte(len(field)))
	b.WriteString(field)
	n := len(record)
	switch {
	case n < 24:
		b.WriteByte(0x40 | byte(n))
	case n < 256:
		b.Write([]byte{0x58, byte(n)})
	default:
		b.Write([]byte{0x59, byte(n >> 8), byte(n)})
	}
	b.Write(record)
	return b.Bytes()
}

func encode(t *testing.T, r treaty.Record) []byte {
	t.Helper()
	b, err := treaty.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func validated(t *testing.T, n *meshtest.Node, topic, result string) float64 {
	return meshtest.Metric(t, n.Registry, "aurora_pubsub_validated_total", map[string]string{"topic": topic, "result": result})
}

func waitScoreBelowZero(t *testing.T, n *meshtest.Node, a *attacker) {
	t.Helper()
	meshtest.WaitFor(t, meshtest.Wait, "the attacker's gossipsub score to drop below 0", func() bool {
		for _, p := range n.Peers() {
			if p.ID == a.h.ID() {
				return p.Score < 0
			}
		}
		return false
	})
}

// TestByzantineTreaties: a forged signature and a countersignature by a
// non-party are rejected (the sender's score drops) and stored nowhere; a
// treaty one party never signed stays proposed; honest treaties still
// activate afterwards.
func TestByzantineTreaties(t *testing.T) {
	const fed = "byz"
	nodes := meshtest.Start(t, 3, meshtest.Options{Federation: fed})
	a, b, c := nodes[0], nodes[1], nodes[2]
	evil := newAttacker(t, fed)
	evil.connect(t, a)
	topic := mesh.Topics(fed)[0]

	// Forged: A's signature over a treaty A never signed (one bit flipped).
	forged := meshtest.Bilateral(t, fed, a.DID(), b.DID(), map[string]string{"seq": "7"})
	if err := treaty.SignTreaty(forged, a.Key); err != nil {
		t.Fatal(err)
	}
	forged.Sigs[0].Sig[0] ^= 1
	evil.publish(t, topic, envelope(t, "treaty", encode(t, forged)))
	meshtest.WaitFor(t, meshtest.Wait, "the forged treaty to be rejected", func() bool { return validated(t, a, "treaty", "reject") >= 1 })
	waitScoreBelowZero(t, a, evil)
	if _, err := a.Get(treaty.LinkTo(treaty.CIDOf(encode(t, forged)))); !errors.Is(err, mesh.ErrNotFound) {
		t.Fatalf("forged treaty stored: %v", err)
	}
	var sigErr *treaty.SignatureError
	if _, err := a.Submit(t.Context(), forged); !errors.As(err, &sigErr) {
		t.Fatalf("Submit(forged) = %v, want a *treaty.SignatureError", err)
	}

	// Unsigned by a party: A proposes, B never signs.
	id, err := a.Propose(t.Context(), meshtest.Bilateral(t, fed, a.DID(), b.DID(), nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		meshtest.WaitFor(t, meshtest.Wait, "the proposal on every node", func() bool {
			info, err := n.Get(id)
			return err == nil && info.State == treaty.StateProposed
		})
	}
	// C is no party: the API refuses, and a hand-made countersignature by
	// C is rejected on the wire.
	var np *mesh.NotPartyError
	if err := c.Countersign(t.Context(), id); !errors.As(err, &np) {
		t.Fatalf("Countersign by a non-party = %v, want *mesh.NotPartyError", err)
	}
	info, _ := a.Get(id)
	bogus := *info.Treaty
	msg, err := treaty.SigningBytes(&bogus)
	if err != nil {
		t.Fatal(err)
	}
	bogus.Sigs = append(slices.Clone(bogus.Sigs), treaty.PartySig{DID: c.DID(), Sig: ed25519.Sign(c.Key.Ed25519(), msg)})
	slices.SortFunc(bogus.Sigs, func(x, y treaty.PartySig) int { return bytes.Compare([]byte(x.DID), []byte(y.DID)) })
	before := validated(t, a, "treaty", "reject")
	evil.publish(t, topic, envelope(t, "treaty", encode(t, &bogus)))
	meshtest.WaitFor(t, meshtest.Wait, "the non-party countersignature to be rejected", func() bool { return validated(t, a, "treaty", "reject") > before })
	if info, _ := a.Get(id); info.State != treaty.StateProposed || slices.Contains(info.Signed, c.DID()) {
		t.Fatalf("after a non-party signature: state %s, signed %v; want proposed without C", info.State, info.Signed)
	}

	// Honest traffic continues.
	meshtest.Activate(t, fed, b, c)
}

// TestReplayedOrder: the same order bytes forwarded twice get an Ack, then
// the receiver's replay refusal.
func TestReplayedOrder(t *testing.T) {
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: "replay"})
	a, b := nodes[0], nodes[1]
	id := meshtest.Activate(t, "replay", a, b)
	order := meshtest.Order(t, meshtest.RandomKey(t), time.Now())
	if _, err := a.Forward(t.Context(), b.DID(), id, order); err != nil {
		t.Fatal(err)
	}
	_, err := a.Forward(t.Context(), b.DID(), id, order)
	var fe *mesh.ForwardError
	if !errors.As(err, &fe) || fe.Code != "replay" || fe.Peer != b.DID() {
		t.Fatalf("second Forward = %v, want a ForwardError with code replay from B", err)
	}
}

// TestHostileStreams: an oversized frame gets the stream reset, a stream
// that never finishes hits the deadline and its handler exits, and the
// handler keeps serving honest orders throughout.
func TestHostileStreams(t *testing.T) {
	const timeout = 2 * time.Second
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: "hostile", Configure: func(i int, c *mesh.Config) {
		if i == 1 {
			c.StreamTimeout = timeout
		}
	}})
	a, b := nodes[0], nodes[1]
	id := meshtest.Activate(t, "hostile", a, b)
	evil := newAttacker(t, "hostile")
	if err := evil.h.Connect(t.Context(), meshtest.AddrInfo(b.Mesh)); err != nil {
		t.Fatal(err)
	}
	active := func() float64 {
		return meshtest.Metric(t, b.Registry, "aurora_mesh_streams_active", map[string]string{"protocol": string(mesh.ProtocolOrder)})
	}

	t.Run("oversized", func(t *testing.T) {
		s, err := evil.h.NewStream(t.Context(), b.ID(), mesh.ProtocolOrder)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Reset()
		// A length prefix one over the limit, then some of the "payload".
		n := uint64(mesh.MaxOrderRequestFrame + 1)
		var prefix []byte
		for n >= 0x80 {
			prefix = append(prefix, byte(n)|0x80)
			n >>= 7
		}
		prefix = append(prefix, byte(n))
		if _, err := s.Write(append(prefix, make([]byte, 4096)...)); err != nil {
			t.Fatal(err)
		}
		s.SetReadDeadline(time.Now().Add(meshtest.Wait))
		_, err = io.ReadAll(s)
		if !errors.Is(err, network.ErrReset) {
			t.Fatalf("reading after an oversized frame: %v, want a stream reset", err)
		}
	})

	t.Run("stalled", func(t *testing.T) {
		s, err := evil.h.NewStream(t.Context(), b.ID(), mesh.ProtocolOrder)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Reset()
		// Promise 100 bytes, send 10, then nothing.
		if _, err := s.Write(append([]byte{100}, make([]byte, 10)...)); err != nil {
			t.Fatal(err)
		}
		meshtest.WaitFor(t, meshtest.Wait, "the handler to take the stream", func() bool { return active() == 1 })
		start := time.Now()
		s.SetReadDeadline(time.Now().Add(meshtest.Wait))
		if _, err := io.ReadAll(s); !errors.Is(err, network.ErrReset) {
			t.Fatalf("reading a stalled stream: %v, want a reset at the deadline", err)
		}
		if el := time.Since(start); el > timeout+meshtest.Wait/2 {
			t.Errorf("the stalled stream lived %s, deadline %s", el, timeout)
		}
		meshtest.WaitFor(t, meshtest.Wait, "the handler goroutine to exit", func() bool { return active() == 0 })
	})

	// Still serving.
	if _, err := a.Forward(t.Context(), b.DID(), id, meshtest.Order(t, meshtest.RandomKey(t), time.Now())); err != nil {
		t.Fatalf("honest order after hostile streams: %v", err)
	}
}

// TestStaleReputation: a report for an old epoch, sent by its own reporter,
// is rejected (a sender fault), lowers the sender's gossipsub score, and
// reaches no handler; an honest report still arrives.
func TestStaleReputation(t *testing.T) {
	const fed = "rep"
	var mu sync.Mutex
	got := map[treaty.DID]int64{}
	nodes := meshtest.Start(t, 2, meshtest.Options{Federation: fed, Configure: func(i int, c *mesh.Config) {
		c.OnReputation = func(from treaty.DID, r *treaty.ReputationReport) {
			mu.Lock()
			defer mu.Unlock()
			got[from] = r.Epoch
		}
	}})
	a, b := nodes[0], nodes[1]
	evil := newAttacker(t, fed)
	evil.connect(t, a)
	now := time.Now()
	epoch := a.ReputationEpochOf(now)

	stale := &treaty.ReputationReport{V: treaty.Version, Reporter: evil.key.DID(), Federation: fed, Epoch: epoch - 10, At: now.Unix(),
		Providers: []treaty.ProviderStat{}, Peers: []treaty.PeerStat{}}
	if err := treaty.Sign(stale, evil.key); err != nil {
		t.Fatal(err)
	}
	evil.publish(t, mesh.Topics(fed)[1], encode(t, stale))
	meshtest.WaitFor(t, meshtest.Wait, "the stale report to be rejected", func() bool { return validated(t, a, "reputation", "reject") >= 1 })
	waitScoreBelowZero(t, a, evil)

	// B's current report is accepted by A and handed over: they are
	// partners (a stranger's report would be ignored, TestSybils).
	meshtest.Activate(t, fed, a, b)
	fresh := &treaty.ReputationReport{V: treaty.Version, Reporter: b.DID(), Federation: fed, Epoch: epoch, At: now.Unix(),
		Providers: []treaty.ProviderStat{{Name: "sim", Launched: 10, Failed: 1, LaunchP95MS: 900}}, Peers: []treaty.PeerStat{}}
	if err := b.PublishReputation(t.Context(), fresh); err != nil {
		t.Fatal(err)
	}
	meshtest.WaitFor(t, meshtest.Wait, "B's report at A", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got[b.DID()] == epoch
	})
	mu.Lock()
	_, leaked := got[evil.key.DID()]
	mu.Unlock()
	if leaked {
		t.Fatal("the stale report reached OnReputation")
	}
	// Our own stale report is refused before it is sent.
	old := *fresh
	old.Epoch, old.Sig = epoch-10, nil
	var se *mesh.StaleReportError
	if err := b.PublishReputation(t.Context(), &old); !errors.As(err, &se) {
		t.Fatalf("PublishReputation(stale) = %v, want *mesh.StaleReportError", err)
	}
}
