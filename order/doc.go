// Package order is Aurora's order core: everything between a signed order
// and the launch of its workload, the same code in the node and in the
// routing simulator.
//
// For every order the Core verifies the client's signature and limits,
// answers a resubmission with the original signed answer (idempotency by
// order CID; a different order reusing a nonce is refused), computes the
// facts the policy judges (quota usage under a per-key lock; price and
// reputation from the router's offer cache only, so a denied order never
// costs a provider call), judges, plans, and then either signs a Denial, or
// routes: to a treaty peer (forwarded synchronously; the peer's signed Ack
// goes into ours) or to a local provider (our Ack at once, the launch
// afterwards). Every answer is committed to the Ledger before it is given:
// the nonce, the answer and the job in one atomic write, with the job's
// provenance leaf appended to the log first.
//
// # Exactly once across the federation
//
// A forward ends in one of three ways: the peer's signed Ack, its signed
// Denial (or a refusal before judgement, which commits nothing), or unknown:
// the answer was lost, late or garbled after the order may have reached the
// peer. Unknown never means "try the next candidate". Before forwarding, the
// origin durably records its intent; after an unknown outcome it asks the
// peer for the order by CID (Forwarder.Query) and gets the peer's Ack, its
// Denial, or a signed "withdrawn" Denial, after which the peer refuses that
// order for good. Only a Denial frees the order for another candidate. An
// order whose query also fails stays pending: its client is answered 503
// with Retry-After, and a resolver task on the clock asks again with
// backoff until the peer answers.
//
// # Admission and launching
//
// A local job is committed only once a launch slot is reserved
// (Config.Slots, the jobs accepted and not yet running or failed); when
// none is free the order is refused with 503 and nothing is stored. Launch
// work runs as small steps (one provider call each: launch, status poll,
// terminate) on a FIFO that the host drains: the node runs Config.Workers
// goroutines calling Work, the simulator calls Drain on its own goroutine.
// Waiting between status polls is a clock timer, never a sleeping worker, so
// a network that takes minutes to reach running holds a slot but no worker.
// A launch counts as a fill, and as a success for the provider's
// reputation, only when its lease reaches running.
//
// # Determinism
//
// The Core starts no goroutine and never sleeps on a real timer: time comes
// from the injected clock.Clock, and with a clock.Virtual the same inputs
// give the same decisions.
package order
