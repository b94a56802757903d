package mesh

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/treaty"
)

var (
	// ErrNotFound: no treaty with that CID in the book.
	ErrNotFound = errors.New("mesh: treaty not found")
	// ErrClosed: the mesh is closed.
	ErrClosed = errors.New("mesh: closed")
	// ErrIgnore, wrapped by an AnchorHandler's error, means "cannot judge":
	// the anchor is dropped without penalizing the peer that relayed it.
	ErrIgnore = errors.New("mesh: cannot judge")
	// ErrResetStream, wrapped by an OrderHandler's error, resets the stream
	// without an answer, as a crashed or partitioned peer would (fault
	// injection in tests).
	ErrResetStream = errors.New("mesh: reset the stream without answering")
)

// Error codes the mesh itself sends in order error frames. OnOrder errors
// add their own (the node's: bad_record, bad_signature, replay, ...).
const (
	CodeNoLane      = "no_lane"     // no active treaty with a lane from the sender to us
	CodeBadFrame    = "bad_frame"   // the request frame does not decode
	CodeUnavailable = "unavailable" // no order handler, or the node is shutting down
	CodeInternal    = "internal"    // the handler failed without a code
	CodeTimeout     = "timeout"     // the handler did not answer within the stream deadline
)

// ForwardError is a treaty peer's refusal of a forwarded order: the code
// and message of its error frame. The order was delivered; retrying the
// same bytes will not help.
type ForwardError struct {
	Peer    treaty.DID
	Code    string
	Message string
}

func (e *ForwardError) Error() string {
	return fmt.Sprintf("mesh: peer %s refused the order: %s: %s", e.Peer.Short(), e.Code, e.Message)
}

// ErrorCode returns the peer's code, so a ForwardError passed on keeps it.
func (e *ForwardError) ErrorCode() string { return e.Code }

// refusalCodes are the error codes a peer sends only before it judges an
// order, and with nothing committed: such a refusal is final. Any other
// code (timeout, internal, unavailable while shutting down) may follow a
// commit and leaves the outcome unknown.
var refusalCodes = map[string]bool{
	CodeNoLane: true, CodeBadFrame: true, "bad_record": true, "bad_signature": true, "unknown_tenant": true,
	"replay": true, "launch_queue_full": true, "not_ready": true, "storage_full": true,
}

// Refused reports whether the peer's code says it did not and will not
// commit the order (see refusalCodes).
func (e *ForwardError) Refused() bool { return refusalCodes[e.Code] }

// UnreachableError reports a forward that did not get an answer: the peer
// could not be dialled, or the stream broke before a reply arrived (after
// one retry over a fresh connection).
type UnreachableError struct {
	Peer treaty.DID
	ID   peer.ID
	Err  error
	// Sent is set when some attempt wrote the order before failing: the
	// peer may hold it.
	Sent bool
}

// Refused reports that the order never left this node: no attempt opened
// a stream, so the peer cannot hold it.
func (e *UnreachableError) Refused() bool { return !e.Sent }

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("mesh: peer %s unreachable: %v", e.Peer.Short(), e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// WitnessError is a witness's refusal, in C2SP tlog-witness terms: the
// HTTP-equivalent Status (409 carries the stored size in Body, see
// provenance.ParseConflictBody) and the witness's message.
type WitnessError struct {
	Peer    treaty.DID
	Status  int
	Body    []byte
	Message string
}

func (e *WitnessError) Error() string {
	return fmt.Sprintf("mesh: witness %s answered %d: %s", e.Peer.Short(), e.Status, e.Message)
}

// LaneError says why an inbound forwarded order has no lane.
type LaneError struct {
	Treaty treaty.Link
	From   treaty.DID
	Reason string
}

func (e *LaneError) Error() string {
	id := "<undefined>"
	if e.Treaty.Defined() {
		id = e.Treaty.String()
	}
	return fmt.Sprintf("mesh: no lane from %s under treaty %s: %s", e.From.Short(), id, e.Reason)
}

// ErrorCode is CodeNoLane.
func (e *LaneError) ErrorCode() string { return CodeNoLane }

// NotPartyError reports an operation on a treaty by a DID that is not one
// of its parties.
type NotPartyError struct {
	Treaty treaty.Link
	DID    treaty.DID
}

func (e *NotPartyError) Error() string {
	return fmt.Sprintf("mesh: %s is not a party to treaty %s", e.DID.Short(), e.Treaty)
}

// StateError reports an operation the treaty's state does not allow
// (countersigning an expired treaty, revoking a revoked one).
type StateError struct {
	Treaty treaty.Link
	State  treaty.State
	Op     string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("mesh: cannot %s treaty %s: it is %s", e.Op, e.Treaty, e.State)
}

// FrameError reports a malformed frame from a peer, naming the field.
type FrameError struct {
	Frame string // "order request", "sync response", ...
	Field string
	Rule  string
}

func (e *FrameError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("mesh: %s: %s", e.Frame, e.Rule)
	}
	return fmt.Sprintf("mesh: %s.%s: %s", e.Frame, e.Field, e.Rule)
}
