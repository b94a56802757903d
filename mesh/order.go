package mesh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"go.opentelemetry.io/otel/propagation"

	"github.com/aurora-federation/aurora/treaty"
)

// traceparentOf returns the W3C traceparent of ctx's span ("" if none).
func traceparentOf(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

// withTraceparent returns ctx carrying the remote span of tp (invalid
// values are ignored, as W3C trace context requires).
func withTraceparent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}

// handleOrder serves /aurora/order/1.0.0: one request frame, one response
// frame, under one deadline.
func (m *Mesh) handleOrder(s network.Stream) {
	if !m.enter() {
		s.Reset()
		return
	}
	defer m.handlers.Done()
	g := m.metrics.streams.WithLabelValues(string(ProtocolOrder))
	g.Inc()
	defer g.Dec()
	if err := s.Scope().SetService(ServiceOrder); err != nil {
		s.Reset()
		return
	}
	deadline := time.Now().Add(m.cfg.StreamTimeout)
	if err := s.SetDeadline(deadline); err != nil {
		s.Reset()
		return
	}
	payload, err := readFrame(s, MaxOrderRequestFrame)
	if err != nil {
		m.log.Debug("order stream: no request", "peer", s.Conn().RemotePeer(), "err", err)
		s.Reset()
		return
	}
	req, err := decodeOrderRequest(payload)
	if err != nil {
		m.answerOrder(s, nil, CodeBadFrame, err.Error())
		return
	}
	from, err := DIDOf(s.Conn().RemotePeer())
	if err != nil {
		m.answerOrder(s, nil, CodeBadFrame, err.Error())
		return
	}
	if _, _, err := m.Lane(m.ctx, req.Treaty, from); err != nil {
		m.answerOrder(s, nil, CodeNoLane, err.Error())
		return
	}
	if m.cfg.OnOrder == nil {
		m.answerOrder(s, nil, CodeUnavailable, "this node takes no forwarded orders")
		return
	}
	// Leave the handler a margin to answer before the stream deadline.
	ctx, cancel := context.WithDeadline(m.ctx, deadline.Add(-min(m.cfg.StreamTimeout/10, 500*time.Millisecond)))
	defer cancel()
	reply, err := m.cfg.OnOrder(withTraceparent(ctx, req.Traceparent), from, req.Treaty, req.Order)
	switch {
	case errors.Is(err, ErrResetStream):
		s.Reset()
	case err == nil && (len(reply) == 0 || len(reply) > treaty.MaxRecordSize):
		m.log.Error("order handler reply out of bounds", "bytes", len(reply))
		m.answerOrder(s, nil, CodeInternal, "internal error")
	case err == nil:
		m.answerOrder(s, reply, "", "")
	default:
		code, msg := errorCode(err)
		if code == CodeInternal && ctx.Err() != nil {
			code, msg = CodeTimeout, "the order was not judged in time"
			if m.ctx.Err() != nil {
				code, msg = CodeUnavailable, "the node is shutting down"
			}
		}
		m.answerOrder(s, nil, code, msg)
	}
}

// errorCode maps a handler error to an error frame's code and message.
// Only coded errors reveal their message to the peer.
func errorCode(err error) (string, string) {
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) && coded.ErrorCode() != "" {
		return truncate(coded.ErrorCode(), MaxErrorCodeLen), truncate(err.Error(), MaxErrorMessageLen)
	}
	return CodeInternal, "internal error"
}

// truncate cuts s to at most n bytes, replacing control characters.
func truncate(s string, n int) string {
	b := []byte(s)
	if len(b) > n {
		b = b[:n]
	}
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = ' '
		}
	}
	return string(b)
}

func (m *Mesh) answerOrder(s network.Stream, reply []byte, code, msg string) {
	result := LaneRecvError
	if code == "" {
		result = LaneRecvDenial
		if isAck(reply) {
			result = LaneRecvAck
		}
	}
	m.metrics.orders.WithLabelValues(result).Inc()
	if err := writeFrame(s, &orderResponse{V: frameVersion, Reply: reply, Code: code, Message: msg}); err != nil {
		s.Reset()
		return
	}
	s.Close()
}

// replyProbe reads what the metrics and price learning need from a reply
// without a full strict decode (the pipeline does that): an Ack has a job
// and a price, a Denial has reasons.
type replyProbe struct {
	Job     string   `cbor:"job"`
	Price   int64    `cbor:"price"`
	Reasons []string `cbor:"reasons"`
}

func probeReply(b []byte) (ack bool, price int64) {
	var p replyProbe
	if probeDec.Unmarshal(b, &p) != nil {
		return false, 0
	}
	return p.Job != "" && len(p.Reasons) == 0, p.Price
}

func isAck(b []byte) bool {
	ack, _ := probeReply(b)
	return ack
}

// Forward sends a signed order (dag-cbor) to a treaty peer under treatyCID
// and returns the peer's signed Ack or Denial. A refusal by the peer is a
// *ForwardError (its code, e.g. no_lane or replay). Forward never dials a
// treaty partner: when it is not connected, Forward waits for the
// partner's dial loop (at most Config.Redial.Wait and ctx), or fails at
// once with an *UnreachableError (Refused, wrapping a *PartnerDownError)
// when the loop is backing off beyond that. When the stream breaks before
// the answer, Forward waits for a connection again and resends the same
// bytes once (a peer answers a resend of an order it holds with its
// original answer); if that fails too it returns an *UnreachableError. Its Refused method tells whether the order never left
// (no stream opened): only then may the caller try another candidate;
// otherwise the outcome is unknown and the caller asks the peer (Query).
// ctx bounds the whole exchange; each attempt is also bounded by
// Config.StreamTimeout.
func (m *Mesh) Forward(ctx context.Context, to treaty.DID, treatyCID treaty.Link, order []byte) ([]byte, error) {
	if len(order) == 0 || len(order) > treaty.MaxRecordSize {
		return nil, fmt.Errorf("mesh: forward: order is %d bytes, want 1 to %d", len(order), treaty.MaxRecordSize)
	}
	if !treatyCID.Defined() {
		return nil, errors.New("mesh: forward: no treaty CID")
	}
	pid, err := PeerIDOf(to)
	if err != nil {
		return nil, err
	}
	if pid == m.id {
		return nil, errors.New("mesh: forward: the peer is this node")
	}
	if m.isClosed() {
		return nil, ErrClosed
	}
	payload, err := encodeFrame(&orderRequest{V: frameVersion, Order: order, Treaty: treatyCID, Traceparent: traceparentOf(ctx)})
	if err != nil {
		return nil, err
	}
	frame := appendFrame(make([]byte, 0, len(payload)+10), payload)
	start := time.Now()
	var (
		reply []byte
		sent  bool
	)
	if err = m.reach(ctx, pid); err == nil {
		reply, err = m.forwardOnce(ctx, pid, frame)
		sent = !notSent(err)
	}
	if retryable(ctx, err) {
		m.log.Debug("forward broke; resending once when connected", "peer", to.Short(), "err", err)
		var derr error
		// The bytes are resent once. Opening the stream may be tried twice:
		// the first connection can be a dying one that is not reaped yet,
		// and nothing is sent when a stream does not open.
		for range 2 {
			derr = m.reach(ctx, pid)
			if derr != nil {
				break
			}
			reply, err = m.forwardOnce(ctx, pid, frame)
			sent = sent || !notSent(err)
			var oe *openError
			if !errors.As(err, &oe) || ctx.Err() != nil {
				break
			}
			// Every connection to the peer failed us: drop them for a fresh dial.
			m.host.Network().ClosePeer(pid)
		}
		res := "ok"
		if derr != nil || err != nil {
			res = "failed"
		}
		m.metrics.forwardTry.WithLabelValues(res).Inc()
		if derr != nil {
			err = derr
		}
	}
	rtt := time.Since(start)
	var fe *ForwardError
	switch {
	case err == nil:
		if ack, price := probeReply(reply); ack {
			m.metrics.orders.WithLabelValues(LaneSentAck).Inc()
			m.learn(to, price, rtt, true)
			m.observeForward(ctx, treatyCID, to, slaFilled, rtt)
		} else {
			m.metrics.orders.WithLabelValues(LaneSentDenial).Inc()
			m.learn(to, 0, rtt, false)
			m.observeForward(ctx, treatyCID, to, slaDenied, rtt)
		}
		m.metrics.rtt.Observe(rtt.Seconds())
		return reply, nil
	case errors.As(err, &fe):
		fe.Peer = to
		m.metrics.orders.WithLabelValues(LaneSentError).Inc()
		m.metrics.rtt.Observe(rtt.Seconds())
		m.observeForward(ctx, treatyCID, to, slaFailed, rtt)
		return nil, fe
	default:
		m.metrics.orders.WithLabelValues(LaneSentError).Inc()
		// No answer: the peer did not fill it; the time waited counts
		// when the order was sent.
		waited := time.Duration(-1)
		if sent {
			waited = rtt
		}
		m.observeForward(ctx, treatyCID, to, slaFailed, waited)
		// An order that never left is a refusal even when ctx ended
		// meanwhile (waiting for the partner's loop, say): the caller may
		// try another candidate.
		var fr *FrameError
		if errors.As(err, &fr) || ctx.Err() != nil && sent {
			return nil, err
		}
		return nil, &UnreachableError{Peer: to, ID: pid, Err: err, Sent: sent}
	}
}

// reach makes sure a request can open a stream to pid: a treaty partner
// is waited for (its dial loop connects it; requests never dial it), and
// any other peer is dialled once, honouring the swarm's dial backoff.
func (m *Mesh) reach(ctx context.Context, pid peer.ID) error {
	if m.redial.loop(pid) != nil {
		return m.redial.await(ctx, pid)
	}
	if m.isConnected(pid) {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
	defer cancel()
	return m.host.Connect(dctx, peer.AddrInfo{ID: pid})
}

// streamCtx is ctx for opening a stream to pid: a treaty partner's stream
// never dials (its loop does).
func (m *Mesh) streamCtx(ctx context.Context, pid peer.ID) context.Context {
	if m.redial.loop(pid) != nil {
		return network.WithNoDial(ctx, "treaty partners are dialled by their loop")
	}
	return ctx
}

// notSent reports whether an exchange failed before writing anything: the
// stream did not open.
func notSent(err error) bool {
	var oe *openError
	return errors.As(err, &oe)
}

// brokenError marks a transport failure before an answer: worth one retry
// over a fresh connection.
type brokenError struct{ err error }

func (e *brokenError) Error() string { return e.err.Error() }
func (e *brokenError) Unwrap() error { return e.err }

// openError is a stream that did not open: nothing was sent.
type openError struct{ err error }

func (e *openError) Error() string { return "open stream: " + e.err.Error() }
func (e *openError) Unwrap() error { return e.err }

func retryable(ctx context.Context, err error) bool {
	var b *brokenError
	return err != nil && ctx.Err() == nil && errors.As(err, &b)
}

// forwardOnce runs one order exchange on a new stream.
func (m *Mesh) forwardOnce(ctx context.Context, pid peer.ID, frame []byte) ([]byte, error) {
	return m.exchange(ctx, pid, ProtocolOrder, frame)
}

// exchange sends one request frame on a new stream of proto and reads the
// orderResponse.
func (m *Mesh) exchange(ctx context.Context, pid peer.ID, proto protocol.ID, frame []byte) ([]byte, error) {
	s, err := m.host.NewStream(m.streamCtx(ctx, pid), pid, proto)
	if err != nil {
		return nil, &brokenError{&openError{err}}
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	deadline := time.Now().Add(m.cfg.StreamTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.SetDeadline(deadline); err != nil {
		s.Reset()
		return nil, err
	}
	if _, err := s.Write(frame); err != nil {
		s.Reset()
		return nil, classify(ctx, fmt.Errorf("send order: %w", err))
	}
	// The request is written. A peer that answers at once closes its read
	// side, which on QUIC cancels our write side: CloseWrite may then fail
	// although the exchange is fine, so its error is not the exchange's.
	_ = s.CloseWrite()
	payload, err := readFrame(s, MaxOrderResponseFrame)
	if err != nil {
		s.Reset()
		return nil, classify(ctx, fmt.Errorf("read answer: %w", err))
	}
	resp, err := decodeOrderResponse(payload)
	if err != nil {
		s.Reset()
		return nil, err
	}
	s.Close()
	if resp.Code != "" {
		return nil, &ForwardError{Code: resp.Code, Message: resp.Message}
	}
	return resp.Reply, nil
}

// classify marks a stream failure as broken (retry over a new connection)
// unless it is a timeout, a cancellation, a malformed answer or a
// resource-limit refusal by the peer, where a retry would not help.
func classify(ctx context.Context, err error) error {
	var (
		se  *network.StreamError
		big *FrameTooLargeError
		fe  *FrameError
	)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, errVarint), errors.As(err, &big), errors.As(err, &fe):
		return err
	case errors.As(err, &se) && se.ErrorCode == network.StreamResourceLimitExceeded:
		return err
	default:
		// EOF before the answer, a reset, a closed connection.
		return &brokenError{err}
	}
}

// handleQuery serves /aurora/order-query/1.0.0: a treaty peer that lost
// the answer to a forward asks for it by the order's CID. One request
// frame, one response frame (an orderResponse), under one deadline.
func (m *Mesh) handleQuery(s network.Stream) {
	m.serveLaneRequest(s, MaxOrderQueryFrame, false, "this node answers no order queries", func(payload []byte) (laneRequest, error) {
		q, err := decodeOrderQuery(payload)
		if err != nil {
			return laneRequest{}, err
		}
		r := laneRequest{treaty: q.Treaty}
		if h := m.cfg.OnQuery; h != nil {
			r.serve = func(ctx context.Context, from treaty.DID) ([]byte, error) { return h(ctx, from, q.Treaty, q.Order.Cid) }
		}
		return r, nil
	})
}

// laneRequest is one decoded request of a lane-scoped request/response
// protocol (order-query, cancel): the treaty it names and how this node
// answers it (nil: the node does not serve the protocol).
type laneRequest struct {
	treaty treaty.Link
	serve  func(ctx context.Context, from treaty.DID) ([]byte, error)
}

// serveLaneRequest serves one request frame and one response frame under
// one deadline, heard only from a peer with a lane to us under the
// request's treaty. A frame over maxFrame resets the stream, or is
// answered bad_frame when answerTooLarge.
func (m *Mesh) serveLaneRequest(s network.Stream, maxFrame int, answerTooLarge bool, unavailable string, decode func([]byte) (laneRequest, error)) {
	if !m.enter() {
		s.Reset()
		return
	}
	defer m.handlers.Done()
	if err := s.Scope().SetService(ServiceOrder); err != nil {
		s.Reset()
		return
	}
	deadline := time.Now().Add(m.cfg.StreamTimeout)
	if err := s.SetDeadline(deadline); err != nil {
		s.Reset()
		return
	}
	answer := func(reply []byte, code, msg string) {
		if err := writeFrame(s, &orderResponse{V: frameVersion, Reply: reply, Code: code, Message: msg}); err != nil {
			s.Reset()
			return
		}
		s.Close()
	}
	payload, err := readFrame(s, maxFrame)
	if err != nil {
		var big *FrameTooLargeError
		if answerTooLarge && errors.As(err, &big) {
			answer(nil, CodeBadFrame, err.Error())
			return
		}
		s.Reset()
		return
	}
	q, err := decode(payload)
	if err != nil {
		answer(nil, CodeBadFrame, err.Error())
		return
	}
	from, err := DIDOf(s.Conn().RemotePeer())
	if err != nil {
		answer(nil, CodeBadFrame, err.Error())
		return
	}
	if _, _, err := m.Lane(m.ctx, q.treaty, from); err != nil {
		answer(nil, CodeNoLane, err.Error())
		return
	}
	if q.serve == nil {
		answer(nil, CodeUnavailable, unavailable)
		return
	}
	ctx, cancel := context.WithDeadline(m.ctx, deadline.Add(-min(m.cfg.StreamTimeout/10, 500*time.Millisecond)))
	defer cancel()
	reply, err := q.serve(ctx, from)
	switch {
	case err == nil && (len(reply) == 0 || len(reply) > treaty.MaxRecordSize):
		answer(nil, CodeInternal, "internal error")
	case err == nil:
		answer(reply, "", "")
	default:
		code, msg := errorCode(err)
		answer(nil, code, msg)
	}
}

// Query asks a treaty peer what became of an order we forwarded under
// treatyCID (by its CID): the peer's signed Ack or Denial, or a signed
// Denial withdrawing an order it never received. A refusal is a
// *ForwardError; a transport failure is retried once over a fresh
// connection (a query is idempotent), then returned.
func (m *Mesh) Query(ctx context.Context, to treaty.DID, treatyCID treaty.Link, order cid.Cid) ([]byte, error) {
	if !order.Defined() || !treatyCID.Defined() {
		return nil, errors.New("mesh: query: order and treaty CIDs are required")
	}
	pid, err := PeerIDOf(to)
	if err != nil {
		return nil, err
	}
	if m.isClosed() {
		return nil, ErrClosed
	}
	payload, err := encodeFrame(&orderQuery{V: frameVersion, Order: treaty.LinkTo(order), Treaty: treatyCID})
	if err != nil {
		return nil, err
	}
	frame := appendFrame(make([]byte, 0, len(payload)+10), payload)
	if err := m.reach(ctx, pid); err != nil {
		return nil, &UnreachableError{Peer: to, ID: pid, Err: err, Sent: true}
	}
	reply, err := m.exchange(ctx, pid, ProtocolOrderQuery, frame)
	if retryable(ctx, err) {
		if derr := m.reach(ctx, pid); derr != nil {
			return nil, &UnreachableError{Peer: to, ID: pid, Err: derr, Sent: true}
		}
		reply, err = m.exchange(ctx, pid, ProtocolOrderQuery, frame)
	}
	var fe *ForwardError
	if errors.As(err, &fe) {
		fe.Peer = to
	}
	return reply, err
}
