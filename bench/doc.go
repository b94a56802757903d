// Package bench holds benchmarks that compare Aurora's components with
// outside baselines. It is a separate module so that the baselines (OPA)
// never enter the node's dependency graph: `cd bench && go test -bench .
// -run XXX`.
package bench
