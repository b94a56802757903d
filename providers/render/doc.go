// Package render is the Aurora adapter for the Render Compute Network
// ("Dispersed", OTOY): general GPU containers through the REST API at
// https://api.compute.x.io/v1. (Render's classic rendering network has no
// public job API; this adapter does not touch it.)
//
// Every request is signed (see sign.go): X-API-Key, X-Time, X-Nonce and an
// HMAC-SHA256 X-Signature over a canonical string of the method, path,
// sorted query and canonical JSON body. Signing happens per attempt, so a
// retried request carries a fresh nonce and time, and the client sends the
// query and body in exactly the canonical form it signed.
//
// The adapter maps:
//
//   - Offers → GET /v1/compute/offers with the documented filters (GPU
//     name, count, minimum VRAM, region codes), paged, re-checked on the
//     client; hourly_rate_usd becomes micro-USD per hour (RawPrice unit
//     "usd/hour").
//   - Launch → POST /v1/jobs: BATCH with max_timeout_run_ms for a workload
//     with a duration, PERSISTENT otherwise; the job title is the
//     idempotency key, and Launch first scans GET /v1/jobs for a job with
//     that title (and again when a create fails in a way that may have
//     created it). The documented job schema has no command field, so a
//     workload with Cmd is refused with providers.ErrNotSupported; and no
//     offer or region field, so the offer chosen is checked against the
//     price cap but the network assigns the node.
//   - Status → GET /v1/jobs/{uuid}; PENDING → pending, ASSIGNED → launching,
//     RUNNING → running, COMPLETED → succeeded, FAILED → failed,
//     CANCELLING/CANCELLED → terminated. A running job's endpoints are the
//     node_urls of its running job run (GET /v1/job-runs?filter[job_uuid]=).
//   - Secret env goes in the job's env, which only the key's account sees.
//   - Terminate → PUT /v1/jobs/{uuid}/cancel.
//
// Rate limits and the error body are undocumented; the adapter relies on
// httpx's 429/5xx retries with Retry-After and its generic error parsing.
// The fake server in rendertest verifies the signature independently.
package render
