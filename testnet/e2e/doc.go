// Package e2e holds the end-to-end tests of the built aurora binary
// (-aurora-bin). The smoke test (`make smoke-e2e`) runs a multi-process
// testnet (`aurora testnet up`), orders through the CLI and the client
// package, KPIs from /metrics, a proof verified offline, a ledger backup, a
// real Prometheus evaluating the recording rules when one is installed,
// then `aurora testnet status` and `down`. The chaos suite (`make chaos`,
// TestChaos*) runs a federation with every node in its own network
// namespace and partitions it, kills and restarts its nodes and limits its
// links under load, printing its figures as "chaos:" lines; it skips, saying
// why, where namespaces cannot be created. TestSoak (`make soak`) and
// TestPartitionReconnect are longer runs of their own.
package e2e
