package order

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// Canceler relays a tenant's Cancel to the treaty peer that runs a job
// this node forwarded (the mesh's /aurora/cancel/1.0.0).
type Canceler interface {
	// Cancel sends the signed Cancel (dag-cbor) under the job's treaty and
	// returns the peer's job record (dag-cbor) once the job is canceled
	// there. A refusal carries the peer's code (ErrorCode).
	Cancel(ctx context.Context, peer treaty.DID, treatyCID treaty.Link, cancel []byte) ([]byte, error)
}

// CancelResult is what a Cancel did.
type CancelResult struct {
	// Job is the job as recorded after the cancel.
	Job *Job
	// Already is set when the job was canceled before: nothing changed
	// and nothing was logged.
	Already bool
}

// Cancel error codes a caller (or a relaying peer) acts on.
const (
	CodeJobFinished = "job_finished" // the job ended before the cancel: 409
	CodeNotClient   = "not_client"   // the Cancel is not by the order's client: 403
)

// DecodeCancel parses and checks a Cancel's encoding, fields, date and
// signature. A signature that does not verify is 403 naming sig: the
// request is not the tenant's.
func (c *Core) DecodeCancel(data []byte) (*treaty.Cancel, error) {
	var k treaty.Cancel
	if err := treaty.Decode(data, &k); err != nil {
		return nil, Reject(400, "bad_record", err)
	}
	if err := k.Validate(); err != nil {
		return nil, Reject(400, "bad_record", err)
	}
	if err := k.CheckCancelTime(c.cfg.Clock.Now()); err != nil {
		return nil, Reject(400, "bad_record", err)
	}
	if err := treaty.Verify(&k); err != nil {
		return nil, &RejectError{Status: 403, Code: "bad_signature", Field: "sig", Err: err}
	}
	return &k, nil
}

// Cancel applies a tenant's signed Cancel (dag-cbor) to the job of its
// order. from is the treaty peer that relayed it ("" for the node's own
// API): a relayed Cancel is taken only for a job that peer forwarded.
//
// Only the order's client may cancel (403 not_client). A job still
// launching is stopped before its next provider call, and a lease that a
// launch in flight returns is terminated at once; a running job's lease
// is terminated through its provider before the job is recorded canceled;
// a forwarded job is canceled at the peer first (Config.Cancels). The
// Cancel and the job's canceled transition are logged together. A second
// Cancel of a canceled job is a no-op (Already); a job that ended is 409
// job_finished.
func (c *Core) Cancel(ctx context.Context, data []byte, from treaty.DID) (res *CancelResult, err error) {
	defer func() { c.m.Cancels.WithLabelValues(cancelResult(res, err)).Inc() }()
	k, err := c.DecodeCancel(data)
	if err != nil {
		return nil, err
	}
	id := k.Order.String()
	// The order's lock: a Submit of the same order commits its job and
	// starts its launch step under it, so a Cancel sees both or neither.
	unlock := c.locks.lock(ocidLockKey(k.Order.Cid), "")
	defer unlock()
	j, err := c.ledger.Job(ctx, id)
	if errors.Is(err, ErrJobNotFound) {
		return nil, &RejectError{Status: 404, Code: "not_found", Field: "order", Err: fmt.Errorf("order: no job for order %s on this node", id)}
	}
	if err != nil {
		return nil, err
	}
	if k.Client != j.Record.Client {
		return nil, &RejectError{Status: 403, Code: CodeNotClient, Field: "client", Err: fmt.Errorf(
			"order: cancel signed by %s, but only the order's client %s may cancel job %s", k.Client.Short(), j.Record.Client.Short(), id)}
	}
	if from != "" && j.From != from {
		return nil, &RejectError{Status: 403, Code: "not_yours", Err: fmt.Errorf("order: job %s was not forwarded by %s", id, from.Short())}
	}
	leaf, err := treaty.Encode(&treaty.LogEntry{Cancel: k})
	if err != nil {
		return nil, err
	}
	if s := c.activeStep(id); s != nil {
		if r, err, ok := c.cancelLaunching(ctx, s, k, leaf); ok {
			return r, err
		}
	}
	// No launch step, or it settled meanwhile: a step is untracked only
	// after its outcome is committed, so the ledger has it now.
	if j, err = c.ledger.Job(ctx, id); err != nil {
		return nil, err
	}
	switch st := j.Status(); st {
	case treaty.StatusCanceled:
		return &CancelResult{Job: j, Already: true}, nil
	case treaty.StatusSucceeded, treaty.StatusFailed, treaty.StatusTerminated:
		return nil, &RejectError{Status: 409, Code: CodeJobFinished, Field: "order", Err: fmt.Errorf("order: job %s already ended: %s", id, st)}
	case treaty.StatusRunning:
		if err := c.terminateRunning(ctx, j); err != nil {
			return nil, err
		}
		return c.recordCanceled(ctx, j, nil, k, leaf, "lease "+j.Record.Lease+" terminated")
	case treaty.StatusForwarded:
		peer, err := c.cancelAtPeer(ctx, j, data)
		if err != nil {
			return nil, err
		}
		return c.recordCanceled(ctx, j, nil, k, leaf, "canceled at "+peer.Short())
	}
	// Accepted with no launch step: this core is closed, or the job waits
	// for Resume. Recording it canceled keeps Resume from launching it.
	return c.recordCanceled(ctx, j, nil, k, leaf, "canceled before launch")
}

// cancelLaunching cancels a job whose launch step s is active. ok is false
// when s settled before the cancel got to it.
func (c *Core) cancelLaunching(ctx context.Context, s *step, k *treaty.Cancel, leaf []byte) (*CancelResult, error, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, nil, false
	}
	detail := "canceled before launch"
	if s.kind == stepPoll {
		// A lease is launched and not running yet: end it first; if that
		// fails the job goes on and the tenant may cancel again.
		if err := c.terminateLease(ctx, s.cand.Name, s.lease.ID); err != nil {
			return nil, err, true
		}
		detail = "lease " + s.cand.Name + "/" + s.lease.ID + " terminated before it ran"
	}
	s.canceled, s.done = true, true
	c.untrackJob(s)
	c.quotas.Done(s.job.Lane)
	c.releaseSlot()
	c.m.InflightJobs.Dec()
	attempts := s.attempts
	s.attempts = nil
	r, err := c.recordCanceled(ctx, s.job, attempts, k, leaf, detail)
	return r, err, true
}

// terminateRunning ends a running job's lease ("provider/lease").
func (c *Core) terminateRunning(ctx context.Context, j *Job) error {
	name, lease, ok := strings.Cut(j.Record.Lease, "/")
	if !ok || name == "" || lease == "" {
		return fmt.Errorf("order: job %s has no lease to terminate (%q)", j.Record.Job, j.Record.Lease)
	}
	return c.terminateLease(ctx, name, lease)
}

// terminateLease ends a lease for a cancel; a lease the provider no
// longer has is already ended.
func (c *Core) terminateLease(ctx context.Context, provider, lease string) error {
	prov := c.cfg.Providers[provider]
	if prov == nil {
		return &RejectError{Status: 503, Code: "provider_unavailable", Err: fmt.Errorf("order: provider %s is not attached: its lease %s cannot be terminated", provider, lease)}
	}
	err := prov.Terminate(context.WithoutCancel(ctx), lease)
	if err != nil && !errors.Is(err, providers.ErrNotFound) {
		return &RejectError{Status: 502, Code: "terminate_failed", Err: fmt.Errorf("order: terminate %s lease %s: %w", provider, lease, err)}
	}
	return nil
}

// cancelAtPeer relays the Cancel to the peer that runs a forwarded job and
// checks its answer: the job's record there, canceled.
func (c *Core) cancelAtPeer(ctx context.Context, j *Job, data []byte) (treaty.DID, error) {
	rt := j.Record.Route
	peer := treaty.DID(rt.Name)
	if c.cfg.Cancels == nil || rt.Kind != treaty.RoutePeer || rt.Treaty == nil {
		return "", &RejectError{Status: 503, Code: "cannot_relay", Err: fmt.Errorf("order: job %s was forwarded and this node relays no cancels", j.Record.Job)}
	}
	fctx, cancel := context.WithTimeout(ctx, c.cfg.ForwardTimeout)
	defer cancel()
	reply, err := c.cfg.Cancels.Cancel(fctx, peer, *rt.Treaty, data)
	if err != nil {
		var coded interface{ ErrorCode() string }
		if errors.As(err, &coded) {
			code := coded.ErrorCode()
			return "", &RejectError{Status: relayedStatus(code), Code: code, Err: fmt.Errorf("order: %s refused the cancel: %w", peer.Short(), err)}
		}
		return "", &RejectError{Status: 502, Code: "peer_unreachable", Err: fmt.Errorf("order: relay cancel to %s: %w", peer.Short(), err)}
	}
	var rec treaty.JobRecord
	switch {
	case treaty.Decode(reply, &rec) != nil, rec.Validate() != nil:
		return "", &RejectError{Status: 502, Code: "bad_peer_answer", Err: fmt.Errorf("order: %s answered the cancel with no valid job record", peer.Short())}
	case rec.Job != j.Record.Job || rec.Operator != peer || rec.Transitions[len(rec.Transitions)-1].Status != treaty.StatusCanceled:
		return "", &RejectError{Status: 502, Code: "bad_peer_answer", Err: fmt.Errorf("order: %s answered the cancel with another job, or one not canceled", peer.Short())}
	}
	return peer, nil
}

// relayedStatus is the HTTP status of a peer's refusal code.
func relayedStatus(code string) int {
	switch code {
	case CodeJobFinished:
		return 409
	case "not_found":
		return 404
	case CodeNotClient, "bad_signature", "not_yours", "no_lane":
		return 403
	case "bad_record":
		return 400
	}
	return 502
}

// recordCanceled commits the Cancel's leaf and the job's canceled
// transition (after the launch attempts not yet recorded) in one write.
func (c *Core) recordCanceled(ctx context.Context, j *Job, attempts []treaty.Transition, k *treaty.Cancel, leaf []byte, detail string) (*CancelResult, error) {
	rec := &j.Record
	before := len(rec.Transitions)
	rec.Transitions = append(rec.Transitions, attempts...)
	if n := len(rec.Transitions); n >= treaty.MaxTransitions {
		rec.Transitions = slices.Delete(rec.Transitions, before, before+n-treaty.MaxTransitions+1)
	}
	at := max(c.cfg.Clock.Now().Unix(), rec.Transitions[len(rec.Transitions)-1].At)
	if k.Reason != "" {
		detail += ": " + k.Reason
	}
	rec.Transitions = append(rec.Transitions, treaty.Transition{Status: treaty.StatusCanceled, At: at, Detail: truncate(detail, treaty.MaxDetailLen)})
	jleaf, err := leafOf(rec)
	if err != nil {
		return nil, err
	}
	if err := c.commit(ctx, &write{job: j, pre: [][]byte{leaf}, leaf: jleaf}); err != nil {
		return nil, fmt.Errorf("order: persist cancel: %w", err)
	}
	c.changed(j)
	return &CancelResult{Job: j}, nil
}

// startJob tracks a local job's launch step (for Cancel) and queues it.
func (c *Core) startJob(s *step) {
	c.activeMu.Lock()
	c.active[s.job.Record.Job] = s
	c.activeMu.Unlock()
	c.enqueue(s)
}

// untrackJob forgets a job's launch step.
func (c *Core) untrackJob(s *step) {
	c.activeMu.Lock()
	if c.active[s.job.Record.Job] == s {
		delete(c.active, s.job.Record.Job)
	}
	c.activeMu.Unlock()
}

func (c *Core) activeStep(id string) *step {
	c.activeMu.Lock()
	defer c.activeMu.Unlock()
	return c.active[id]
}

// changed tells Config.OnJob about a committed job change.
func (c *Core) changed(j *Job) {
	if c.cfg.OnJob == nil {
		return
	}
	rec := j.Record
	rec.Transitions = slices.Clone(rec.Transitions)
	c.cfg.OnJob(rec)
}

// cancelResult is a Cancel's aurora_job_cancels_total result.
func cancelResult(res *CancelResult, err error) string {
	var re *RejectError
	switch {
	case err == nil && res.Already:
		return CancelAlready
	case err == nil:
		return CancelCanceled
	case errors.As(err, &re) && re.Status < 500:
		return CancelRefused
	}
	return CancelFailed
}
