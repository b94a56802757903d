// Package e2e holds the end-to-end smoke test of the built aurora binary:
// a multi-process testnet (`aurora testnet up`), orders through the CLI and
// the client package, KPIs from /metrics, a proof verified offline, a
// ledger backup, a real Prometheus evaluating the recording rules when one
// is installed, then `aurora testnet status` and `down`. Run it with
// `make smoke-e2e`.
package e2e
