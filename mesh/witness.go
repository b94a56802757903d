package mesh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// handleWitness serves /aurora/witness/1.0.0: one add-checkpoint request,
// one C2SP-style response.
func (m *Mesh) handleWitness(s network.Stream) {
	if !m.enter() {
		s.Reset()
		return
	}
	defer m.handlers.Done()
	g := m.metrics.streams.WithLabelValues(string(ProtocolWitness))
	g.Inc()
	defer g.Dec()
	if err := s.Scope().SetService(ServiceWitness); err != nil {
		s.Reset()
		return
	}
	deadline := time.Now().Add(m.cfg.StreamTimeout)
	if err := s.SetDeadline(deadline); err != nil {
		s.Reset()
		return
	}
	payload, err := readFrame(s, MaxWitnessRequestFrame)
	if err != nil {
		s.Reset()
		return
	}
	req, err := decodeWitnessRequest(payload)
	if err != nil {
		m.answerWitness(s, 400, nil, err.Error())
		return
	}
	from, err := DIDOf(s.Conn().RemotePeer())
	if err != nil {
		m.answerWitness(s, 400, nil, err.Error())
		return
	}
	if m.cfg.OnWitness == nil {
		m.answerWitness(s, 404, nil, "this node witnesses no logs")
		return
	}
	ctx, cancel := context.WithDeadline(m.ctx, deadline.Add(-min(m.cfg.StreamTimeout/10, 500*time.Millisecond)))
	defer cancel()
	body, err := m.cfg.OnWitness(ctx, from, req.Body)
	if err != nil {
		status := provenance.StatusCode(err)
		var conflict *provenance.ConflictError
		var cbody []byte
		if errors.As(err, &conflict) {
			cbody = conflict.Body()
		}
		msg := truncate(err.Error(), MaxErrorMessageLen)
		if status >= 500 {
			msg = "internal error"
		}
		m.answerWitness(s, status, cbody, msg)
		return
	}
	if len(body) > MaxWitnessResponseFrame-1024 {
		m.log.Error("witness handler answer too large", "bytes", len(body))
		m.answerWitness(s, 500, nil, "internal error")
		return
	}
	m.answerWitness(s, 200, body, "")
}

func (m *Mesh) answerWitness(s network.Stream, status int, body []byte, msg string) {
	if err := writeFrame(s, &witnessResponse{V: frameVersion, Status: int64(status), Body: body, Message: msg}); err != nil {
		s.Reset()
		return
	}
	s.Close()
}

// RequestCosign sends a C2SP add-checkpoint body (provenance.CosignRequest)
// to a treaty peer's witness and returns its cosignature lines. A refusal
// is a *WitnessError with the C2SP status (409 Conflict carries the size
// the witness stored: provenance.ParseConflictBody).
func (m *Mesh) RequestCosign(ctx context.Context, to treaty.DID, body []byte) ([]byte, error) {
	if len(body) == 0 || len(body) > MaxWitnessRequestFrame-64 {
		return nil, fmt.Errorf("mesh: cosign request is %d bytes, want 1 to %d", len(body), MaxWitnessRequestFrame-64)
	}
	pid, err := PeerIDOf(to)
	if err != nil {
		return nil, err
	}
	if pid == m.id {
		return nil, errors.New("mesh: cosign: the witness is this node")
	}
	if m.isClosed() {
		return nil, ErrClosed
	}
	if err := m.reach(ctx, pid); err != nil {
		return nil, &UnreachableError{Peer: to, ID: pid, Err: err}
	}
	s, err := m.host.NewStream(m.streamCtx(ctx, pid), pid, ProtocolWitness)
	if err != nil {
		return nil, &UnreachableError{Peer: to, ID: pid, Err: err}
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
	if err := writeFrame(s, &witnessRequest{V: frameVersion, Body: body}); err != nil {
		s.Reset()
		return nil, fmt.Errorf("mesh: cosign %s: send: %w", to.Short(), err)
	}
	_ = s.CloseWrite() // see forwardOnce
	payload, err := readFrame(s, MaxWitnessResponseFrame)
	if err != nil {
		s.Reset()
		return nil, fmt.Errorf("mesh: cosign %s: read answer: %w", to.Short(), err)
	}
	resp, err := decodeWitnessResponse(payload)
	if err != nil {
		s.Reset()
		return nil, err
	}
	s.Close()
	if resp.Status != 200 {
		return nil, &WitnessError{Peer: to, Status: int(resp.Status), Body: resp.Body, Message: resp.Message}
	}
	return resp.Body, nil
}
