// Package wire holds the JSON bodies of the node's tenant lifecycle API
// (cancel, events), shared by the server (package node), the Go client
// (node/client) and the CLI, so that each is declared once.
package wire

import (
	"encoding/json"
	"strconv"
)

// CancelResponse answers POST /v1/jobs/{id}/cancel.
type CancelResponse struct {
	Job    string `json:"job"`
	Status string `json:"status"` // "canceled"
	// Already is true when the job was canceled before: this cancel
	// changed nothing and logged nothing.
	Already bool `json:"already"`
	// Cancel is the CID of the Cancel record this request carried.
	Cancel string `json:"cancel"`
	// Leaves are the job's log leaf indices; a cancel adds two, the
	// Cancel and the canceled job record.
	Leaves []uint64        `json:"leaves"`
	Record json.RawMessage `json:"record"` // dag-json JobRecord
}

// Event kinds of GET /v1/jobs/{id}/events (the SSE event field).
const (
	// EventTransition is a status change; its id is the transition's
	// 1-based index in the job record, so Last-Event-ID resumes after it.
	EventTransition = "transition"
	// EventError is a failed launch attempt (a launching transition with
	// the provider's error); its id numbers it like a transition.
	EventError = "error"
	// EventEndpoints is where a running workload is reached, as its
	// provider says now; it carries no id and is sent again on every
	// (re)connection while the job runs.
	EventEndpoints = "endpoints"
	// EventLagged ends a stream whose client did not read fast enough:
	// the server dropped it; reconnect with Last-Event-ID.
	EventLagged = "lagged"
)

// Event is the data of one event: a transition or error (Status, At,
// Detail) or endpoints (Endpoints).
type Event struct {
	Job       string     `json:"job"`
	Status    string     `json:"status,omitempty"`
	At        int64      `json:"at,omitempty"`
	Detail    string     `json:"detail,omitempty"`
	Endpoints []Endpoint `json:"endpoints,omitempty"`
}

// Endpoint is one way to reach a running workload.
type Endpoint struct {
	Kind string `json:"kind"` // "http", "tcp", "ssh", ...
	Host string `json:"host"`
	Port int    `json:"port,omitempty"`
	URL  string `json:"url,omitempty"`
	// ContainerPort is the workload's port behind it (22 for SSH).
	ContainerPort int `json:"container_port,omitempty"`
}

// Terminal reports whether a job status ends its event stream: no
// further transitions follow on this node.
func Terminal(status string) bool {
	switch status {
	case "succeeded", "failed", "terminated", "canceled", "forwarded":
		return true
	}
	return false
}

// Tenant-signed reads. GET /v1/jobs/{id}/logs takes the operator token or
// the job's client's signature: the headers LogsClientHeader (the DID),
// LogsDateHeader (unix seconds, within treaty.MaxClockSkew of the node's
// clock) and LogsSignatureHeader (base64 of the Ed25519 signature over
// LogsMessage).
const (
	LogsClientHeader    = "Aurora-Client"
	LogsDateHeader      = "Aurora-Date"
	LogsSignatureHeader = "Aurora-Signature"
	// LogsTruncatedHeader is "true" when the network held more than the
	// node returns (providers.MaxLogBytes).
	LogsTruncatedHeader = "Aurora-Logs-Truncated"
)

// LogsMessage is what a tenant signs to read a job's logs at unix time at.
func LogsMessage(job string, at int64) []byte {
	return []byte("aurora/v1/logs\n" + job + "\n" + strconv.FormatInt(at, 10))
}
