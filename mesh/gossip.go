package mesh

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/aurora-federation/aurora/treaty"
)

// Topic kinds: indexes into kindNames, topicSpecs and Mesh.topics.
const (
	kindTreaty = iota
	kindReputation
	kindAnchor
	kindEvidence
	numKinds
)

// kindNames name the topics (/aurora/<federation>/<name>/1) and label
// their metrics.
var kindNames = [numKinds]string{"treaty", "reputation", "anchor", "evidence"}

// topicSpec is how one topic's messages are judged.
type topicSpec struct {
	validate pubsub.ValidatorEx
	// heavy validators verify signatures against logs and may write: they
	// run off pubsub's validation workers, bounded in time and number.
	heavy bool
}

func (m *Mesh) topicSpecs() [numKinds]topicSpec {
	return [numKinds]topicSpec{
		kindTreaty:     {validate: m.validateTreatyMsg},
		kindReputation: {validate: m.validateReputationMsg},
		kindAnchor:     {validate: m.validateAnchorMsg, heavy: true},
		kindEvidence:   {validate: m.validateEvidenceMsg, heavy: true},
	}
}

// joined is a topic the mesh joined and its subscription.
type joined struct {
	topic *pubsub.Topic
	sub   *pubsub.Subscription
}

// Pubsub queue sizes. The defaults (32) silently drop a quarter of the
// deliveries of a 100-message burst at 30 nodes (notes/MESH.md §4.2).
const (
	peerOutboundQueue = 1024
	validateQueue     = 1024
	subscriptionQueue = 1024
)

// Gossipsub score thresholds. A peer's P4 penalty for one invalid message
// is invalidWeight (squared counter), so a handful of rejected messages
// push a peer under the gossip threshold and a dozen graylist it.
const (
	gossipThreshold   = -100
	publishThreshold  = -500
	graylistThreshold = -1000
	invalidWeight     = -10
	appScoreMin       = -1000
	appScoreMax       = 100
)

func (m *Mesh) startPubsub() error {
	topics := Topics(m.cfg.Federation)
	tsp := map[string]*pubsub.TopicScoreParams{}
	for _, t := range topics {
		tsp[t] = &pubsub.TopicScoreParams{
			TopicWeight:                    1,
			TimeInMeshWeight:               0.01,
			TimeInMeshQuantum:              time.Second,
			TimeInMeshCap:                  100,
			FirstMessageDeliveriesWeight:   1,
			FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecay(10 * time.Minute),
			FirstMessageDeliveriesCap:      10,
			InvalidMessageDeliveriesWeight: invalidWeight,
			InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
			// P3 (mesh delivery deficit) is off: these topics are quiet by
			// design, so a low delivery rate is not misbehaviour.
			SkipAtomicValidation: true,
		}
	}
	app := m.cfg.PeerScore
	params := &pubsub.PeerScoreParams{
		Topics:        tsp,
		TopicScoreCap: 50,
		AppSpecificScore: func(p peer.ID) float64 {
			if app == nil {
				return 0
			}
			return min(max(app(p), appScoreMin), appScoreMax)
		},
		AppSpecificWeight: 1,
		// Loopback is exempt from P6 in go-libp2p-pubsub, so a local
		// testnet is not penalized; operators behind one NAT should add
		// their addresses to IPColocationFactorWhitelist.
		IPColocationFactorWeight:    -35,
		IPColocationFactorThreshold: 10,
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:               time.Second,
		DecayToZero:                 0.01,
		RetainScore:                 10 * time.Minute,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:             gossipThreshold,
		PublishThreshold:            publishThreshold,
		GraylistThreshold:           graylistThreshold,
		AcceptPXThreshold:           10,
		OpportunisticGraftThreshold: 3,
	}
	ps, err := pubsub.NewGossipSub(m.ctx, m.host,
		pubsub.WithLogger(m.log.With("component", "pubsub")),
		pubsub.WithRPCLogger(m.log.With("component", "pubsub-rpc")),
		// The application signature is what persists with a record; a
		// second per-hop pubsub signature adds nothing but a verify.
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithPeerOutboundQueueSize(peerOutboundQueue),
		pubsub.WithValidateQueueSize(validateQueue),
		// Router-wide in v0.19.0: reputation reports are flood-published
		// too (one small report per node per epoch).
		pubsub.WithFloodPublish(true),
		pubsub.WithMaxMessageSize(MaxGossipMessage+1024),
		pubsub.WithRawTracer(&tracer{m: m.metrics}),
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(m.inspectScores), time.Second),
	)
	if err != nil {
		return fmt.Errorf("mesh: gossipsub: %w", err)
	}
	m.ps = ps
	for i, spec := range m.topicSpecs() {
		name := topics[i]
		opts := []pubsub.ValidatorOpt{pubsub.WithValidatorInline(true)}
		if spec.heavy {
			opts = []pubsub.ValidatorOpt{pubsub.WithValidatorTimeout(m.cfg.StreamTimeout), pubsub.WithValidatorConcurrency(16)}
		}
		if err := ps.RegisterTopicValidator(name, spec.validate, opts...); err != nil {
			return fmt.Errorf("mesh: validator for %s: %w", name, err)
		}
		t, err := ps.Join(name)
		if err != nil {
			return fmt.Errorf("mesh: join %s: %w", name, err)
		}
		m.topics[i].topic = t
		sub, err := t.Subscribe(pubsub.WithBufferSize(subscriptionQueue))
		if err != nil {
			return fmt.Errorf("mesh: subscribe %s: %w", name, err)
		}
		m.topics[i].sub = sub
		m.goLoop(func() { m.readTopic(i, sub) })
	}
	return nil
}

// messageID is a content hash: identical records published by several
// nodes are one message, and no author field is needed.
func messageID(pm *pb.Message) string {
	h := sha256.New()
	h.Write([]byte(pm.GetTopic()))
	h.Write([]byte{0})
	h.Write(pm.Data)
	return string(h.Sum(nil))
}

func (m *Mesh) inspectScores(scores map[peer.ID]float64) {
	m.scores.Store(&scores)
}

func (m *Mesh) gossipScore(p peer.ID) (float64, bool) {
	s := m.scores.Load()
	if s == nil {
		return 0, false
	}
	v, ok := (*s)[p]
	return v, ok
}

// verdict converts a judgement into a pubsub result: nil accepts, an error
// wrapping ErrIgnore ignores (cannot judge), anything else rejects (the
// sender's fault).
func (m *Mesh) verdict(kind int, err error) pubsub.ValidationResult {
	result, r := "accept", pubsub.ValidationAccept
	switch {
	case err == nil:
	case errors.Is(err, ErrIgnore):
		result, r = "ignore", pubsub.ValidationIgnore
	default:
		result, r = "reject", pubsub.ValidationReject
	}
	m.metrics.validated.WithLabelValues(kindNames[kind], result).Inc()
	return r
}

// checked (a treaty) and verifiedRevocation travel as ValidatorData from
// the validator to the topic reader.

type verifiedRevocation struct {
	r   *treaty.Revocation
	raw []byte
}

func (m *Mesh) validateTreatyMsg(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if err := m.allowGossip(kindTreaty, from); err != nil {
		return m.verdict(kindTreaty, err)
	}
	v, err := m.judgeTreatyEnvelope(msg.Data, from == m.id)
	if err == nil {
		msg.ValidatorData = v
	} else {
		m.log.Debug("treaty message refused", "from", from, "err", err)
	}
	return m.verdict(kindTreaty, err)
}

// judgeTreatyEnvelope decodes and judges a treaty-topic message (or a sync
// record of the treaty collection). Duplicates are ignored unless local.
func (m *Mesh) judgeTreatyEnvelope(data []byte, local bool) (any, error) {
	env, kind, err := decodeEnvelope(data, collTreaty, "revocation")
	if err != nil {
		return nil, err
	}
	if kind == collTreaty {
		var t treaty.Treaty
		if err := treaty.Decode(env.Treaty, &t); err != nil {
			return nil, err
		}
		c, err := m.book.checkTreaty(&t, env.Treaty)
		if err != nil {
			return nil, err
		}
		if !local && m.book.knows(c) {
			return nil, fmt.Errorf("%w: duplicate treaty", ErrIgnore)
		}
		if err := m.book.room(c); err != nil {
			return nil, err
		}
		return c, nil
	}
	var r treaty.Revocation
	if err := treaty.Decode(env.Revocation, &r); err != nil {
		return nil, err
	}
	if err := checkRevocation(&r); err != nil {
		return nil, err
	}
	t, id, ok := m.book.lookup(r.Treaty.Cid)
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: revocation of unknown treaty %s", ErrIgnore, r.Treaty)
	case !t.IsParty(r.By):
		return nil, &NotPartyError{Treaty: id, DID: r.By}
	case !local && m.book.has(treaty.CIDOf(env.Revocation)):
		return nil, fmt.Errorf("%w: duplicate revocation", ErrIgnore)
	}
	return &verifiedRevocation{r: &r, raw: env.Revocation}, nil
}

// ReputationEpochOf returns the reputation epoch containing t: unix time
// divided by Config.ReputationEpoch.
func (m *Mesh) ReputationEpochOf(t time.Time) int64 {
	return t.Unix() / int64(m.cfg.ReputationEpoch/time.Second)
}

func (m *Mesh) validateReputationMsg(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if err := m.allowGossip(kindReputation, from); err != nil {
		return m.verdict(kindReputation, err)
	}
	r, err := m.judgeReputation(from, msg.Data, true)
	if err == nil {
		msg.ValidatorData = r
	} else {
		m.log.Debug("reputation report refused", "from", from, "err", err)
	}
	return m.verdict(kindReputation, err)
}

// StaleReportError reports a reputation report whose epoch is outside the
// accepted window. It is the sender's fault (rejected) when the sender is
// the reporter; a relay is not blamed (ignored).
type StaleReportError struct {
	Reporter        treaty.DID
	Epoch, Current  int64
	MaxAge          int64
	FromTheReporter bool
}

func (e *StaleReportError) Error() string {
	return fmt.Sprintf("mesh: reputation report of %s for epoch %d is outside [%d, %d]", e.Reporter.Short(), e.Epoch, e.Current-e.MaxAge, e.Current+1)
}

// Is makes a relayed stale report a cannot-judge condition.
func (e *StaleReportError) Is(target error) bool { return target == ErrIgnore && !e.FromTheReporter }

// judgeReputation checks a report; with record, it remembers its epoch as
// the reporter's latest (later copies are duplicates).
func (m *Mesh) judgeReputation(from peer.ID, data []byte, record bool) (*treaty.ReputationReport, error) {
	var r treaty.ReputationReport
	if err := treaty.Decode(data, &r); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.Federation != m.cfg.Federation {
		return nil, &treaty.ValidationError{Kind: "reputation", Field: "federation", Rule: fmt.Sprintf("%q is not this federation", r.Federation)}
	}
	if err := treaty.Verify(&r); err != nil {
		return nil, err
	}
	if m.book.members != nil && !m.book.members[r.Reporter] {
		return nil, fmt.Errorf("%w: reporter %s is not a federation member", ErrIgnore, r.Reporter.Short())
	}
	reporter, err := PeerIDOf(r.Reporter)
	if err != nil {
		return nil, err
	}
	cur := m.ReputationEpochOf(m.cfg.Clock())
	if r.Epoch < cur-m.cfg.ReputationMaxAge || r.Epoch > cur+1 {
		return nil, &StaleReportError{Reporter: r.Reporter, Epoch: r.Epoch, Current: cur, MaxAge: m.cfg.ReputationMaxAge, FromTheReporter: from == reporter}
	}
	// Only treaty partners' reports count (docs/OPERATIONS.md, trust
	// model): a stranger's is dropped here, not relayed, and never reaches
	// OnReputation or the per-reporter memory below.
	if r.Reporter != m.me && !m.isPartner(reporter) {
		m.metrics.refused.WithLabelValues(kindNames[kindReputation], RefusedNotMember).Inc()
		return nil, fmt.Errorf("%w: reporter %s has no active treaty with us", ErrIgnore, r.Reporter.Short())
	}
	m.repMu.Lock()
	defer m.repMu.Unlock()
	if last, ok := m.repSeen[r.Reporter]; ok && r.Epoch <= last {
		return nil, fmt.Errorf("%w: already have epoch %d of %s", ErrIgnore, last, r.Reporter.Short())
	}
	if !record {
		return &r, nil
	}
	if len(m.repSeen) >= maxReporters {
		for d, e := range m.repSeen {
			if e < cur-m.cfg.ReputationMaxAge {
				delete(m.repSeen, d)
			}
		}
		if len(m.repSeen) >= maxReporters {
			return nil, fmt.Errorf("%w: tracking %d reporters already", ErrIgnore, maxReporters)
		}
	}
	m.repSeen[r.Reporter] = r.Epoch
	return &r, nil
}

// maxReporters bounds the per-reporter epoch memory used to drop
// duplicates.
const maxReporters = 4096

func (m *Mesh) validateAnchorMsg(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if err := m.allowGossip(kindAnchor, from); err != nil {
		return m.verdict(kindAnchor, err)
	}
	rec, err := m.judgeAnchor(ctx, from, msg.Data)
	if err == nil {
		msg.ValidatorData = rec
	} else {
		m.log.Debug("anchor refused", "from", from, "err", err)
	}
	return m.verdict(kindAnchor, err)
}

// judgeAnchor checks an anchor's form, drops ones not newer than the
// latest of their log, and asks OnAnchor (except for our own).
func (m *Mesh) judgeAnchor(ctx context.Context, from peer.ID, data []byte) (*anchorRec, error) {
	var a treaty.Anchor
	if err := treaty.Decode(data, &a); err != nil {
		return nil, err
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	size, err := checkpointSize(a.Checkpoint)
	if err != nil {
		return nil, err
	}
	rec := &anchorRec{a: &a, raw: data, id: treaty.CIDOf(data), size: size}
	if from == m.id {
		return rec, nil
	}
	// The same size with another checkpoint: two signed roots of one tree
	// size, or a bad note.
	if kept, ok := m.anchors.latest(a.Origin); ok && kept.size == size && checkpointBody(kept.a.Checkpoint) != checkpointBody(a.Checkpoint) {
		return nil, m.anchorConflict(ctx, from, kept, rec)
	}
	// One judgment per anchor: the same anchor arriving by gossip and by
	// a sync round at once is verified once; the second is ignored.
	if !m.anchors.claim(a.Origin, size) {
		return nil, fmt.Errorf("%w: %s at size %d is kept or being judged already", ErrIgnore, a.Origin, size)
	}
	defer m.anchors.release(a.Origin, size)
	// Anchors are public law, but a stranger's log takes one of only
	// MaxStrangerAnchorOrigins places: fresh keys cannot crowd out
	// partners' logs, nor make OnAnchor verify without end.
	if owner, ok := m.originOwner(a.Origin); !ok || (owner != m.id && !m.isPartner(owner)) {
		rec.stranger = true
		if _, known := m.anchors.latest(a.Origin); !known && m.anchors.strangerCount() >= MaxStrangerAnchorOrigins {
			m.metrics.refused.WithLabelValues(kindNames[kindAnchor], RefusedAnchorOrigins).Inc()
			return nil, fmt.Errorf("%w: keeping anchors of %d strangers' logs already", ErrIgnore, MaxStrangerAnchorOrigins)
		}
	}
	if m.cfg.OnAnchor != nil {
		did, err := DIDOf(from)
		if err != nil {
			return nil, err
		}
		if err := m.cfg.OnAnchor(ctx, did, &a); err != nil {
			return nil, err
		}
	}
	// Kept before the claim is released, so a later copy finds it.
	changed, err := m.anchors.putChanged(ctx, rec)
	switch {
	case errors.Is(err, ErrIgnore):
		return nil, err
	case err != nil:
		// Our storage failed, not the sender: not its fault.
		m.log.Warn("store anchor", "origin", a.Origin, "err", err)
		return nil, fmt.Errorf("%w: %w", ErrIgnore, err)
	case !changed:
		return nil, fmt.Errorf("%w: %s at size %d is kept already", ErrIgnore, a.Origin, size)
	}
	return rec, nil
}

// checkpointSize parses the tree size, the second line of a C2SP
// checkpoint: decimal, no leading zeros.
func checkpointSize(cp string) (uint64, error) {
	_, rest, ok := strings.Cut(cp, "\n")
	line, _, ok2 := strings.Cut(rest, "\n")
	if !ok || !ok2 || line == "" || len(line) > 20 || (len(line) > 1 && line[0] == '0') {
		return 0, &treaty.ValidationError{Kind: "anchor", Field: "checkpoint", Rule: "second line is not a tree size"}
	}
	n, err := strconv.ParseUint(line, 10, 64)
	if err != nil {
		return 0, &treaty.ValidationError{Kind: "anchor", Field: "checkpoint", Rule: "second line is not a tree size"}
	}
	return n, nil
}

// readTopic applies what the validators accepted.
func (m *Mesh) readTopic(kind int, sub *pubsub.Subscription) {
	for {
		msg, err := sub.Next(m.ctx)
		if err != nil {
			return
		}
		local := msg.ReceivedFrom == m.id
		switch v := msg.ValidatorData.(type) {
		case *checked:
			m.applyTreaty(m.ctx, v, false)
		case *verifiedRevocation:
			m.applyRevocation(m.ctx, v, false)
		case *treaty.ReputationReport:
			if !local && m.cfg.OnReputation != nil {
				m.cfg.OnReputation(v.Reporter, v)
			}
		case *anchorRec:
			// Kept when judged (judgeAnchor), ours when published.
		case *Equivocation:
			if !local {
				m.equivocated(v)
			}
		default:
			m.log.Error("message without validator data", "topic", kindNames[kind])
		}
	}
}

// applyTreaty adds a checked treaty to the book and reports whether it
// changed anything.
func (m *Mesh) applyTreaty(ctx context.Context, c *checked, repair bool) bool {
	body, changed, err := m.book.addTreaty(ctx, c)
	if err != nil {
		if !errors.Is(err, ErrIgnore) {
			m.log.Warn("add treaty", "err", err)
		}
		return false
	}
	if changed {
		m.changed(body, repair)
	}
	return changed
}

func (m *Mesh) applyRevocation(ctx context.Context, v *verifiedRevocation, repair bool) bool {
	body, changed, err := m.book.addRevocation(ctx, v.r, v.raw)
	if err != nil {
		if !errors.Is(err, ErrIgnore) {
			m.log.Warn("add revocation", "err", err)
		}
		return false
	}
	if changed {
		m.changed(body, repair)
	}
	return changed
}

// changed reacts to a change of the treaty with this body CID: metrics,
// the OnTreaty hook (its state is computed only for the hook) and a
// reconcile of treaty peers.
func (m *Mesh) changed(body cid.Cid, repair bool) {
	if repair {
		m.metrics.repairs.Inc()
	}
	m.metrics.bookSize.Set(float64(m.book.size()))
	if m.cfg.OnTreaty != nil {
		if info, ok := m.book.get(body); ok {
			m.cfg.OnTreaty(info)
		}
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Mesh) publish(ctx context.Context, kind int, data []byte) error {
	if m.isClosed() {
		return ErrClosed
	}
	t := m.topics[kind].topic
	if t == nil {
		return fmt.Errorf("mesh: publish %s: topic not joined", kindNames[kind])
	}
	if err := t.Publish(ctx, data); err != nil {
		return fmt.Errorf("mesh: publish %s: %w", kindNames[kind], err)
	}
	return nil
}

// tracer counts what gossipsub drops under load.
type tracer struct{ m *metrics }

var _ pubsub.RawTracer = (*tracer)(nil)

func (t *tracer) RejectMessage(_ *pubsub.Message, reason string) {
	switch reason {
	case pubsub.RejectValidationQueueFull:
		t.m.dropped.WithLabelValues(DropValidationQueueFull).Inc()
	case pubsub.RejectValidationThrottled:
		t.m.dropped.WithLabelValues(DropValidationThrottled).Inc()
	}
}
func (t *tracer) DropRPC(*pubsub.RPC, peer.ID) {
	t.m.dropped.WithLabelValues(DropOutboundQueueFull).Inc()
}
func (t *tracer) UndeliverableMessage(*pubsub.Message) {
	t.m.dropped.WithLabelValues(DropSubscriberSlow).Inc()
}
func (t *tracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (t *tracer) OnClosedOutboundStream(peer.ID)                       {}
func (t *tracer) Join(string)                                          {}
func (t *tracer) Leave(string)                                         {}
func (t *tracer) Graft(peer.ID, string)                                {}
func (t *tracer) Prune(peer.ID, string)                                {}
func (t *tracer) ValidateMessage(*pubsub.Message)                      {}
func (t *tracer) DeliverMessage(*pubsub.Message)                       {}
func (t *tracer) DuplicateMessage(*pubsub.Message)                     {}
func (t *tracer) ThrottlePeer(peer.ID)                                 {}
func (t *tracer) RecvRPC(*pubsub.RPC)                                  {}
func (t *tracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (t *tracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
