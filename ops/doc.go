// Package ops holds no code: it is the home of the tests that keep Aurora's operations artifacts honest.
//
// The artifacts live beside this file and in the main tree:
//
//   - prometheus/: recording and alerting rules (aurora-rules.yml), their promtool unit tests and example
//     scrape configurations;
//   - grafana/aurora.json: the node dashboard (classic JSON model);
//   - k8s/: a kustomize base with staging and canary overlays;
//   - metrics.txt: the metric families an Aurora node exports, one name per line;
//   - ../testnet/Dockerfile and ../testnet/docker-compose.yml;
//   - ../docs/OPERATIONS.md: the runbook the alerts link to.
//
// The tests parse every PromQL expression with the Prometheus parser and check the metric names against
// metrics.txt, strictly decode the dashboard and every rendered Kubernetes object, and check the structure of
// the compose file and the Dockerfile. This is a separate module so that its heavy test-only dependencies
// (Prometheus, kustomize, Kubernetes API types) stay out of the node's go.mod. Run it with
//
//	cd ops && go test ./...
//
// When promtool is on PATH the tests also run `promtool check` and `promtool test rules`.
package ops
