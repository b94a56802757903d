// Package providers is Aurora's view of the DePIN compute networks it
// dispatches to: the Provider interface every adapter implements, the shared
// offer, lease and status types, money in micro-USD, the router that ranks
// candidates and walks fallback chains, and per-provider reputation.
//
// Adapters live in sub-packages (providers/vastai, providers/salad, ...), each
// with a fake server speaking the provider's documented wire format in a
// ...test package, and each passes providers/providertest.
package providers

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aurora-federation/aurora/treaty"
)

// Shared errors. Adapters wrap them (fmt.Errorf("vastai: …: %w", ErrRateLimited))
// so callers can act with errors.Is.
var (
	// ErrNotSupported: the network cannot do this through a public API
	// (Aethir has none; Flux needs an on-chain payment).
	ErrNotSupported = errors.New("providers: not supported")
	// ErrRateLimited: the API answered 429 (or its equivalent) after retries.
	ErrRateLimited = errors.New("providers: rate limited")
	// ErrNoCapacity: no offer satisfies the request right now.
	ErrNoCapacity = errors.New("providers: no capacity")
	// ErrNotFound: the lease or workload does not exist (any more).
	ErrNotFound = errors.New("providers: not found")
	// ErrAuth: the credentials were refused.
	ErrAuth = errors.New("providers: authentication failed")
	// ErrOverPrice: every offer is above the caller's price cap.
	ErrOverPrice = errors.New("providers: price above cap")
)

// Money is an amount in micro-USD (per hour where a rate is meant).
type Money int64

// USD returns m in dollars, for display only.
func (m Money) USD() float64 { return float64(m) / 1e6 }

func (m Money) String() string { return fmt.Sprintf("$%.4f", m.USD()) }

// RawPrice keeps a price as the network stated it, next to its normalized
// form, so an operator can audit the conversion.
type RawPrice struct {
	Amount string // decimal text as received, e.g. "0.35" or "1234.5"
	Unit   string // e.g. "usd/hour", "uakt/block", "usd/second"
}

// Capabilities says what an adapter can do.
type Capabilities struct {
	Offers     bool // Offers returns live offers
	Launch     bool // Launch starts workloads without human steps
	Terminate  bool
	ManualOnly bool // the network has no public compute API; work is arranged by hand
	GPU        bool
	Regions    []string // regions this adapter can place work in ("" entries not allowed)
	// Idempotent: Launch with the same IdempotencyKey after a crash finds the
	// existing workload instead of starting a second one.
	Idempotent bool
	// Features are the workload features the adapter supports (see Feature);
	// a launch asking for another fails with ErrNotSupported.
	Features []Feature
}

// Query asks for offers that can run a workload.
type Query struct {
	GPUModel        string // "" = no GPU needed
	GPUCount        int64
	MinVRAMMiB      int64
	CPUMillis       int64
	MemoryMiB       int64
	DiskMiB         int64
	Regions         []string // empty = any
	MaxPricePerHour Money    // 0 = no cap
	Duration        time.Duration
}

// QueryFor derives the offer query of a workload under constraints.
func QueryFor(w treaty.Workload, c treaty.Constraints) Query {
	q := Query{
		CPUMillis:       w.CPU,
		MemoryMiB:       w.Memory,
		DiskMiB:         w.Disk,
		Regions:         c.Regions,
		MaxPricePerHour: Money(c.MaxPricePerHour),
		Duration:        time.Duration(w.Duration) * time.Second,
	}
	if w.GPU != nil {
		q.GPUModel, q.GPUCount, q.MinVRAMMiB = w.GPU.Model, w.GPU.Count, w.GPU.MinVRAM
	}
	return q
}

// Offer is something a provider can rent now.
type Offer struct {
	Provider     string // adapter name
	ID           string // the network's id for the offer (ask id, gpu class, ...)
	GPUModel     string
	GPUCount     int64
	VRAMMiB      int64
	Region       string
	PricePerHour Money // normalized, for the whole offer (all GPUs)
	Raw          RawPrice
	Available    int64 // how many such units are free; 0 = unknown
	// Country is the ISO 3166-1 alpha-2 code of the host's country as the
	// network gave it (its case kept: Vast.ai says "US", Salad "us"; compare
	// with strings.EqualFold), or "" when the network did not say. Region,
	// above, is an Aurora region name (see Regions) derived from it, or
	// from something finer the network reports; "" = nowhere known.
	Country string
}

// LaunchSpec is what Launch needs.
type LaunchSpec struct {
	// JobID is Aurora's job id; IdempotencyKey is derived from it and is what
	// adapters put into a label or name so a relaunch after a crash can find
	// the existing workload.
	JobID           string
	IdempotencyKey  string
	Offer           Offer
	Workload        treaty.Workload
	MaxPricePerHour Money

	// The optional workload features; each zero value asks for nothing.
	// An adapter whose Capabilities lack one that is set refuses the launch
	// with a *FeatureError (ErrNotSupported).

	// SSHKeys are OpenSSH public keys to authorize (FeatureSSH).
	SSHKeys []string
	// Registry logs in to a private registry to pull the image
	// (FeatureRegistryAuth). Never logged in clear.
	Registry *RegistryAuth
	// Storage is a persistent volume to mount (FeatureStorage).
	Storage *Storage
	// SecretEnv are environment variables whose values are secret: the
	// order's sealed secrets, opened by the node at launch
	// (FeatureSecretEnv). Names differ from Workload.Env's. The values
	// redact themselves; they must reach only the network's request.
	SecretEnv []SecretEnvVar
}

// State is a workload's lifecycle state, shared by every adapter.
type State string

const (
	StatePending    State = "pending"    // accepted, not yet placed
	StateLaunching  State = "launching"  // placed, starting
	StateRunning    State = "running"    // running: the order is filled
	StateSucceeded  State = "succeeded"  // finished normally
	StateFailed     State = "failed"     // could not start or crashed
	StateTerminated State = "terminated" // stopped by us or the network
)

// Terminal reports whether no further transitions follow.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateTerminated
}

// Lease is a launched workload.
type Lease struct {
	ID           string // the network's id (instance, container group, dseq, ...)
	Provider     string
	Offer        Offer
	PricePerHour Money
	State        State
}

// Status is a workload's current state.
type Status struct {
	ID        string
	State     State
	Message   string // the network's own status text
	UpdatedAt time.Time
	// Endpoints are where the workload is reached, as far as the network
	// says (usually only once it runs); nil when unknown. A new slice on
	// each call.
	Endpoints []Endpoint
}

// Provider is one compute network. Implementations are safe for concurrent use.
type Provider interface {
	Name() string
	Capabilities() Capabilities
	Offers(ctx context.Context, q Query) ([]Offer, error)
	Launch(ctx context.Context, spec LaunchSpec) (Lease, error)
	Status(ctx context.Context, id string) (Status, error)
	Terminate(ctx context.Context, id string) error
}

// IdempotencyKey derives the launch key of a job: short, label-safe
// (lowercase letters and digits), and stable across restarts.
func IdempotencyKey(jobID string) string {
	sum := sha256.Sum256([]byte("aurora/v1/launch\n" + jobID))
	return "aur-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
}
