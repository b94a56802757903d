package mesh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/treaty"
)

// syncFanout is how many random connected peers each periodic round
// syncs with.
const syncFanout = 3

// handleSync serves /aurora/sync/1.0.0: a sequence of list and fetch
// requests, each answered with one frame, each under a fresh deadline.
func (m *Mesh) handleSync(s network.Stream) {
	if !m.enter() {
		s.Reset()
		return
	}
	defer m.handlers.Done()
	g := m.metrics.streams.WithLabelValues(string(ProtocolSync))
	g.Inc()
	defer g.Dec()
	if err := s.Scope().SetService(ServiceSync); err != nil {
		s.Reset()
		return
	}
	for range MaxSyncRequestsPerStream {
		if err := s.SetDeadline(time.Now().Add(m.cfg.StreamTimeout)); err != nil {
			s.Reset()
			return
		}
		payload, err := readFrame(s, MaxSyncRequestFrame)
		if errors.Is(err, io.EOF) {
			s.Close()
			return
		}
		if err != nil {
			s.Reset()
			return
		}
		var resp *syncResponse
		req, err := decodeSyncRequest(payload)
		if err != nil {
			resp = &syncResponse{V: frameVersion, Code: CodeBadFrame, Message: truncate(err.Error(), MaxErrorMessageLen)}
		} else {
			resp = m.answerSync(req)
		}
		if err := writeFrame(s, resp); err != nil {
			s.Reset()
			return
		}
		if resp.Code != "" {
			s.Close()
			return
		}
	}
	s.Reset() // more requests than any honest sync needs
}

func (m *Mesh) answerSync(req *syncRequest) *syncResponse {
	resp := &syncResponse{V: frameVersion, IDs: []treaty.Link{}, Records: [][]byte{}}
	coll := m.collection(req.Collection)
	if req.Op == syncOpList {
		resp.IDs = coll.ids()
		if len(resp.IDs) > MaxSyncIDs {
			resp.IDs = resp.IDs[:MaxSyncIDs]
		}
		return resp
	}
	for _, id := range req.IDs {
		env, ok := coll.record(id.Cid)
		if !ok {
			continue
		}
		b, err := encodeFrame(env)
		if err != nil {
			continue
		}
		resp.Records = append(resp.Records, b)
	}
	return resp
}

// syncLoop runs anti-entropy: with every newly connected peer, and every
// SyncInterval with a few random connected ones.
func (m *Mesh) syncLoop() {
	t := time.NewTicker(m.cfg.SyncInterval)
	defer t.Stop()
	last := map[peer.ID]time.Time{}
	for {
		select {
		case <-m.ctx.Done():
			return
		case pid := <-m.syncQ:
			// A flapping peer does not get synced more than twice an interval.
			if time.Since(last[pid]) < m.cfg.SyncInterval/2 {
				continue
			}
			m.syncPeer(pid, last)
		case <-t.C:
			peers := m.host.Network().Peers()
			rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
			n := 0
			for _, pid := range peers {
				if n == syncFanout {
					break
				}
				if ok, _ := m.host.Peerstore().SupportsProtocols(pid, ProtocolSync); len(ok) == 0 {
					continue
				}
				m.syncPeer(pid, last)
				n++
			}
			if len(last) > 4096 {
				clear(last)
			}
		}
	}
}

func (m *Mesh) syncPeer(pid peer.ID, last map[peer.ID]time.Time) {
	last[pid] = time.Now()
	if err := m.syncWith(m.ctx, pid); err != nil && m.ctx.Err() == nil {
		var fault *syncFaultError
		if errors.As(err, &fault) {
			m.log.Warn("sync: peer sent a bad record", "peer", pid, "err", err)
		} else {
			m.log.Debug("sync failed", "peer", pid, "err", err)
		}
	}
}

// syncColl is a collection sync serves and pulls.
type syncColl interface {
	ids() []treaty.Link
	record(id cid.Cid) (*envelope, bool)
	has(id cid.Cid) bool
}

var (
	_ syncColl = treatyColl{}
	_ syncColl = (*anchorStore)(nil)
	_ syncColl = (*evidenceStore)(nil)
)

// treatyColl is the book as the treaty collection.
type treatyColl struct{ *book }

func (c treatyColl) ids() []treaty.Link { return c.syncIDs() }

// collection returns a sync collection by name (decodeSyncRequest admits
// only the three).
func (m *Mesh) collection(name string) syncColl {
	switch name {
	case collTreaty:
		return treatyColl{m.book}
	case collAnchor:
		return m.anchors
	}
	return m.evidence
}

// syncFaultError is a record from a sync peer that fails validation.
type syncFaultError struct{ err error }

func (e *syncFaultError) Error() string { return "mesh: sync: bad record: " + e.err.Error() }
func (e *syncFaultError) Unwrap() error { return e.err }

// syncWith pulls from a connected peer every treaty, revocation, anchor
// and piece of evidence we miss.
func (m *Mesh) syncWith(ctx context.Context, pid peer.ID) error {
	from, err := DIDOf(pid)
	if err != nil {
		return err
	}
	s, err := m.host.NewStream(network.WithNoDial(ctx, "sync"), pid, ProtocolSync)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	exchange := func(req *syncRequest) (*syncResponse, error) {
		if err := s.SetDeadline(time.Now().Add(m.cfg.StreamTimeout)); err != nil {
			return nil, err
		}
		if err := writeFrame(s, req); err != nil {
			return nil, err
		}
		payload, err := readFrame(s, MaxSyncResponseFrame)
		if err != nil {
			return nil, err
		}
		resp, err := decodeSyncResponse(payload, req.Op)
		if err != nil {
			return nil, err
		}
		if resp.Code != "" {
			return nil, fmt.Errorf("mesh: sync refused: %s: %s", resp.Code, resp.Message)
		}
		return resp, nil
	}
	for _, coll := range []string{collTreaty, collAnchor, collEvidence} {
		list, err := exchange(&syncRequest{V: frameVersion, Op: syncOpList, Collection: coll, IDs: []treaty.Link{}})
		if err != nil {
			s.Reset()
			return err
		}
		var missing []treaty.Link
		for _, id := range list.IDs {
			if !m.collection(coll).has(id.Cid) {
				missing = append(missing, id)
			}
		}
		// A stranger gets a bounded share of our verification work per round.
		if !m.isPartner(pid) && len(missing) > MaxStrangerSyncRecords {
			missing = missing[:MaxStrangerSyncRecords]
		}
		for len(missing) > 0 {
			batch := missing[:min(len(missing), MaxSyncFetch)]
			missing = missing[len(batch):]
			got, err := exchange(&syncRequest{V: frameVersion, Op: syncOpFetch, Collection: coll, IDs: batch})
			if err != nil {
				s.Reset()
				return err
			}
			for _, rec := range got.Records {
				if err := m.ingest(ctx, pid, from, coll, rec); err != nil {
					s.Reset()
					return &syncFaultError{err}
				}
			}
		}
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return err
	}
	return s.Close()
}

// ingest judges and applies one synced record. Cannot-judge records are
// skipped; an invalid one is the peer's fault (returned).
func (m *Mesh) ingest(ctx context.Context, pid peer.ID, from treaty.DID, coll string, rec []byte) error {
	if coll == collTreaty {
		v, err := m.judgeTreatyEnvelope(rec, false)
		if errors.Is(err, ErrIgnore) {
			return nil
		}
		if err != nil {
			return err
		}
		switch v := v.(type) {
		case *checked:
			m.applyTreaty(ctx, v, true)
		case *verifiedRevocation:
			m.applyRevocation(ctx, v, true)
		}
		return nil
	}
	if coll == collEvidence {
		env, _, err := decodeEnvelope(rec, collEvidence)
		if err != nil {
			return err
		}
		e, err := m.judgeEvidence(ctx, pid, env.Evidence, SourceGossip)
		if errors.Is(err, ErrIgnore) {
			return nil
		}
		if err != nil {
			return err
		}
		m.metrics.repairs.Inc()
		m.equivocated(e)
		return nil
	}
	env, _, err := decodeEnvelope(rec, collAnchor)
	if err != nil {
		return err
	}
	if _, err := m.judgeAnchor(ctx, pid, env.Anchor); err != nil {
		if errors.Is(err, ErrIgnore) {
			return nil
		}
		return err
	}
	// Missed by gossip, judged and kept now.
	m.metrics.repairs.Inc()
	return nil
}
