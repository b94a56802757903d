package mesh

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aurora-federation/aurora/treaty"
)

// TestStrangerStreamBudget drives the guarded resource manager the way the
// host does (OpenStream, then SetProtocol after negotiation, Done at close):
// strangers get their small budgets, partners and outbound streams do not
// meet them, and a closed stream gives its place back.
func TestStrangerStreamBudget(t *testing.T) {
	inner, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits()))
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	partner := pid(t, testKey(t, 1))
	refused := map[string]int{}
	g := newGuardedRM(inner, func(p peer.ID) bool { return p == partner }, func(kind, reason string) { refused[kind+" "+reason]++ }, nil)
	open := func(p peer.ID, dir network.Direction, proto protocol.ID) (network.StreamManagementScope, error) {
		t.Helper()
		s, err := g.OpenStream(p, dir)
		if err != nil {
			t.Fatalf("OpenStream: %v", err)
		}
		if err := s.SetProtocol(proto); err != nil {
			s.Done()
			return nil, err
		}
		return s, nil
	}
	var held []network.StreamManagementScope
	defer func() {
		for _, s := range held {
			s.Done()
		}
	}()

	stranger := pid(t, testKey(t, 2))
	for i := range StrangerOrderStreamsPerPeer {
		s, err := open(stranger, network.DirInbound, ProtocolOrder)
		if err != nil {
			t.Fatalf("stranger's order stream %d: %v", i, err)
		}
		held = append(held, s)
	}
	// The order-query protocol shares the order budget.
	if _, err := open(stranger, network.DirInbound, ProtocolOrderQuery); !errors.Is(err, ErrStrangerBudget) {
		t.Fatalf("stranger's stream over its budget: %v, want ErrStrangerBudget", err)
	}
	// Other protocols have their own budgets; non-Aurora ones none.
	for _, proto := range []protocol.ID{ProtocolSync, ProtocolWitness, "/ipfs/id/1.0.0", "/ipfs/id/1.0.0"} {
		s, err := open(stranger, network.DirInbound, proto)
		if err != nil {
			t.Fatalf("stranger's %s stream: %v", proto, err)
		}
		held = append(held, s)
	}
	// Outbound streams are ours: no budget.
	for range 2 * StrangerOrderStreamsPerPeer {
		s, err := open(stranger, network.DirOutbound, ProtocolOrder)
		if err != nil {
			t.Fatalf("outbound stream: %v", err)
		}
		held = append(held, s)
	}
	// A closed stream frees its place.
	held[0].Done()
	held = held[1:]
	s, err := open(stranger, network.DirInbound, ProtocolOrder)
	if err != nil {
		t.Fatalf("after a stream closed: %v", err)
	}
	held = append(held, s)

	// All strangers together: StrangerOrderStreams.
	n := StrangerOrderStreamsPerPeer
	for i := 0; n < StrangerOrderStreams; i++ {
		p := pid(t, testKey(t, 100+i))
		for range StrangerOrderStreamsPerPeer {
			s, err := open(p, network.DirInbound, ProtocolOrder)
			if err != nil {
				t.Fatalf("stranger %d: %v", i, err)
			}
			held = append(held, s)
			n++
		}
	}
	if _, err := open(pid(t, testKey(t, 99)), network.DirInbound, ProtocolOrder); !errors.Is(err, ErrStrangerBudget) {
		t.Fatalf("a new stranger over the strangers' budget: %v, want ErrStrangerBudget", err)
	}
	// The partner is not a stranger: hundreds of streams.
	for i := range 300 {
		s, err := open(partner, network.DirInbound, ProtocolOrder)
		if err != nil {
			t.Fatalf("partner's order stream %d: %v", i, err)
		}
		held = append(held, s)
	}
	want := map[string]int{string(ProtocolOrderQuery) + " " + RefusedPeerBudget: 1, string(ProtocolOrder) + " " + RefusedStrangerBudget: 1}
	if fmt.Sprint(refused) != fmt.Sprint(want) {
		t.Errorf("refusals %v, want %v", refused, want)
	}
}

// TestProposalBounds: a proposer keeps at most MaxProposalsPerSigner
// proposals in the book; treaties we signed, and fully signed ones, are
// not proposals.
func TestProposalBounds(t *testing.T) {
	me, proposer, other := testKey(t, 0), testKey(t, 1), testKey(t, 2)
	m := offlineMesh(t, me, nil)
	propose := func(by *treaty.PrivateKey, seq int64, signers ...*treaty.PrivateKey) []byte {
		tr, err := treaty.FromTemplate(treaty.Proposal{Template: treaty.TemplateBilateral, Federation: "fed", Proposer: by.DID(), Peer: me.DID(), Now: time.Now().Add(-time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		tr.Seq = seq
		for _, k := range signers {
			if err := treaty.SignTreaty(tr, k); err != nil {
				t.Fatal(err)
			}
		}
		return mustEncode(t, &envelope{Treaty: mustEncode(t, tr)})
	}
	judge := func(data []byte) pubsub.ValidationResult {
		msg := &pubsub.Message{Message: &pb.Message{Data: data}}
		res := m.validateTreatyMsg(context.Background(), pid(t, other), msg)
		if res == pubsub.ValidationAccept {
			m.applyTreaty(context.Background(), msg.ValidatorData.(*checked), false)
		}
		return res
	}
	for i := range MaxProposalsPerSigner {
		if got := judge(propose(proposer, int64(i+1), proposer)); got != pubsub.ValidationAccept {
			t.Fatalf("proposal %d: %v", i, got)
		}
	}
	if got := judge(propose(proposer, 100, proposer)); got != pubsub.ValidationIgnore {
		t.Fatalf("proposal over the bound: %v, want Ignore", got)
	}
	if got := testutil.ToFloat64(m.metrics.refused.WithLabelValues("treaty", RefusedProposals)); got != 1 {
		t.Errorf("refused{treaty,proposals} = %v, want 1", got)
	}
	// Countersigned by us, or by every party: not a proposal.
	if got := judge(propose(proposer, 101, proposer, me)); got != pubsub.ValidationAccept {
		t.Fatalf("a treaty we signed: %v", got)
	}
	if got := m.book.size(); got != MaxProposalsPerSigner+1 {
		t.Errorf("book holds %d treaties, want %d", got, MaxProposalsPerSigner+1)
	}
	for _, info := range m.book.list() {
		if info.State == treaty.StateActive && len(info.Signed) == 1 {
			t.Errorf("a proposal is active: %+v", info)
		}
	}
}

// TestStrangerGossipRate: a stranger relaying faster than the rate has
// its messages ignored before they are judged; a partner never does.
func TestStrangerGossipRate(t *testing.T) {
	me, partner, stranger := testKey(t, 0), testKey(t, 1), testKey(t, 2)
	m := offlineMesh(t, me, nil)
	partnerWith(t, m, me, partner)
	anchor := func(i int) []byte {
		return mustEncode(t, &treaty.Anchor{V: 1, Origin: fmt.Sprintf("o%d", i), Checkpoint: fmt.Sprintf("o%d\n1\nAAAA\n\n— o sig\n", i), TSA: [][]byte{}})
	}
	// Each sender relays anchors of its own logs (an accepted anchor is
	// kept, and a second copy of it is ignored whoever sends it).
	count := func(from *treaty.PrivateKey, first, n int) (accepted int) {
		for i := range n {
			msg := &pubsub.Message{Message: &pb.Message{Data: anchor(first + i)}}
			if m.validateAnchorMsg(context.Background(), pid(t, from), msg) == pubsub.ValidationAccept {
				accepted++
			}
		}
		return accepted
	}
	if got := count(stranger, 0, 3*StrangerGossipBurst); got > StrangerGossipBurst+StrangerGossipRate {
		t.Errorf("a stranger got %d of %d back-to-back messages judged, want about %d", got, 3*StrangerGossipBurst, StrangerGossipBurst)
	}
	if got := testutil.ToFloat64(m.metrics.refused.WithLabelValues("anchor", RefusedRate)); got < StrangerGossipBurst {
		t.Errorf("refused{anchor,rate} = %v", got)
	}
	if got := count(partner, 1000, 3*StrangerGossipBurst); got != 3*StrangerGossipBurst {
		t.Errorf("a partner got %d of %d judged", got, 3*StrangerGossipBurst)
	}
}

// TestStrangerAnchorOrigins: strangers' logs take at most
// MaxStrangerAnchorOrigins places; a partner's log still fits.
func TestStrangerAnchorOrigins(t *testing.T) {
	me, partner := testKey(t, 0), testKey(t, 1)
	m := offlineMesh(t, me, nil)
	partnerWith(t, m, me, partner)
	judge := func(origin string) error {
		raw := mustEncode(t, &treaty.Anchor{V: 1, Origin: origin, Checkpoint: origin + "\n1\nAAAA\n\n— o sig\n", TSA: [][]byte{}})
		rec, err := m.judgeAnchor(context.Background(), pid(t, partner), raw)
		if err != nil {
			return err
		}
		return m.anchors.put(context.Background(), rec)
	}
	for i := range MaxStrangerAnchorOrigins {
		if err := judge(fmt.Sprintf("aurora/fed/%s", pid(t, testKey(t, 1000+i)))); err != nil {
			t.Fatalf("stranger log %d: %v", i, err)
		}
	}
	if err := judge(fmt.Sprintf("aurora/fed/%s", pid(t, testKey(t, 999)))); !errors.Is(err, ErrIgnore) {
		t.Fatalf("a stranger's log over the bound: %v, want ErrIgnore", err)
	}
	if err := judge(fmt.Sprintf("aurora/fed/%s", pid(t, partner))); err != nil {
		t.Fatalf("the partner's log: %v", err)
	}
	if got := testutil.ToFloat64(m.metrics.refused.WithLabelValues("anchor", RefusedAnchorOrigins)); got != 1 {
		t.Errorf("refused{anchor,anchor_origins} = %v, want 1", got)
	}
}

func TestObserveSettledFills(t *testing.T) {
	me, peerK := testKey(t, 0), testKey(t, 1)
	m := offlineMesh(t, me, nil)
	m.ObserveSettled(peerK.DID(), treaty.Link{}, true)
	m.ObserveSettled(peerK.DID(), treaty.Link{}, true)
	m.ObserveSettled(peerK.DID(), treaty.Link{}, false) // failed: no fill
	m.ObserveSettled(me.DID(), treaty.Link{}, true)     // our own order: not a forwarded one
	if got := testutil.ToFloat64(m.metrics.filled); got != 2 {
		t.Errorf("aurora_treaty_orders_filled_total = %v, want 2", got)
	}
}

// TestAnchorJudgedOnce: the same anchor arriving by gossip and by a sync
// round at once reaches OnAnchor once; a failed judgment does not stop the
// next copy from being judged; a kept anchor is not judged again.
func TestAnchorJudgedOnce(t *testing.T) {
	me, partner := testKey(t, 0), testKey(t, 1)
	var calls atomic.Int32
	gate := make(chan struct{})
	fail := atomic.Bool{}
	m := offlineMesh(t, me, func(c *Config) {
		c.OnAnchor = func(context.Context, treaty.DID, *treaty.Anchor) error {
			calls.Add(1)
			<-gate
			if fail.Load() {
				return errors.New("bad note signature")
			}
			return nil
		}
	})
	partnerWith(t, m, me, partner)
	raw := mustEncode(t, &treaty.Anchor{V: 1, Origin: "o", Checkpoint: "o\n7\nAAAA\n\n— o sig\n", TSA: [][]byte{}})
	judge := func() error {
		_, err := m.judgeAnchor(context.Background(), pid(t, partner), raw)
		return err
	}

	fail.Store(true)
	first := make(chan error, 1)
	go func() { first <- judge() }()
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := judge(); !errors.Is(err, ErrIgnore) {
		t.Fatalf("a second copy while the first is judged: %v, want ErrIgnore", err)
	}
	close(gate)
	if err := <-first; err == nil || errors.Is(err, ErrIgnore) {
		t.Fatalf("the failed judgment: %v", err)
	}
	fail.Store(false)
	if err := judge(); err != nil {
		t.Fatalf("a copy after a failed judgment: %v", err)
	}
	if err := judge(); !errors.Is(err, ErrIgnore) {
		t.Fatalf("a kept anchor judged again: %v", err)
	}
	if got := calls.Load(); got != 2 {
		t.Fatalf("OnAnchor ran %d times, want 2 (the failed one and the kept one)", got)
	}
	if !m.anchors.has(treaty.CIDOf(raw)) {
		t.Fatal("the judged anchor is not kept for sync")
	}
}
