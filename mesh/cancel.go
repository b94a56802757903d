package mesh

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/aurora-federation/aurora/treaty"
)

// MaxCancelBytes bounds the Cancel record a cancel frame carries: a
// Cancel is two DIDs' worth of fields, a CID, a reason of at most
// treaty.MaxDetailLen bytes and a signature.
const MaxCancelBytes = 1024

// MaxCancelFrame bounds a cancel request frame: the Cancel, a treaty CID
// and the frame's keys.
const MaxCancelFrame = MaxCancelBytes + 256

// cancelRequest is the one frame a client sends on /aurora/cancel/1.0.0:
// a tenant's signed Cancel of a job forwarded under Treaty. The answer is
// an orderResponse whose Reply is the canceled job's record.
type cancelRequest struct {
	V      int64       `cbor:"v"`
	Cancel []byte      `cbor:"cancel"`
	Treaty treaty.Link `cbor:"treaty"`
}

func decodeCancelRequest(payload []byte) (*cancelRequest, error) {
	const name = "cancel request"
	var q cancelRequest
	if err := decodeFrame(name, payload, &q); err != nil {
		return nil, err
	}
	if err := checkVersion(name, q.V); err != nil {
		return nil, err
	}
	if len(q.Cancel) == 0 || len(q.Cancel) > MaxCancelBytes {
		return nil, &FrameError{Frame: name, Field: "cancel", Rule: fmt.Sprintf("%d bytes, want 1 to %d", len(q.Cancel), MaxCancelBytes)}
	}
	if !q.Treaty.Defined() {
		return nil, &FrameError{Frame: name, Field: "treaty", Rule: "missing CID"}
	}
	return &q, nil
}

// handleCancel serves /aurora/cancel/1.0.0: one request frame, one
// response frame, under one deadline. Only a peer with a lane to us under
// the named treaty is heard.
func (m *Mesh) handleCancel(s network.Stream) {
	m.serveLaneRequest(s, MaxCancelFrame, true, "this node takes no relayed cancels", func(payload []byte) (laneRequest, error) {
		q, err := decodeCancelRequest(payload)
		if err != nil {
			return laneRequest{}, err
		}
		r := laneRequest{treaty: q.Treaty}
		if h := m.cfg.OnCancel; h != nil {
			r.serve = func(ctx context.Context, from treaty.DID) ([]byte, error) { return h(ctx, from, q.Treaty, q.Cancel) }
		}
		return r, nil
	})
}

// Cancel relays a tenant's signed Cancel (dag-cbor, at most
// MaxCancelBytes) of a job forwarded to a treaty peer under treatyCID and
// returns the peer's record of the canceled job. A refusal is a
// *ForwardError carrying the peer's code (job_finished, not_client, ...);
// a transport failure is retried once over a fresh connection (a cancel is
// idempotent), then returned.
func (m *Mesh) Cancel(ctx context.Context, to treaty.DID, treatyCID treaty.Link, cancel []byte) ([]byte, error) {
	if len(cancel) == 0 || len(cancel) > MaxCancelBytes {
		return nil, fmt.Errorf("mesh: cancel: record is %d bytes, want 1 to %d", len(cancel), MaxCancelBytes)
	}
	if !treatyCID.Defined() {
		return nil, errors.New("mesh: cancel: no treaty CID")
	}
	pid, err := PeerIDOf(to)
	if err != nil {
		return nil, err
	}
	if m.isClosed() {
		return nil, ErrClosed
	}
	payload, err := encodeFrame(&cancelRequest{V: frameVersion, Cancel: cancel, Treaty: treatyCID})
	if err != nil {
		return nil, err
	}
	frame := appendFrame(make([]byte, 0, len(payload)+10), payload)
	reply, err := m.exchange(ctx, pid, ProtocolCancel, frame)
	if retryable(ctx, err) {
		dctx, dcancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
		derr := m.dial(dctx, pid)
		dcancel()
		if derr != nil {
			return nil, &UnreachableError{Peer: to, ID: pid, Err: derr, Sent: true}
		}
		reply, err = m.exchange(ctx, pid, ProtocolCancel, frame)
	}
	var fe *ForwardError
	if errors.As(err, &fe) {
		fe.Peer = to
	}
	return reply, err
}
