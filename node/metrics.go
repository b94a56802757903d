package node

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/aurora-federation/aurora/order"
)

// Metrics are one node's Prometheus collectors (the order core, policy
// engine, mesh and epoch loop register theirs on the same Registry),
// registered on the node's own registry (never the global one: many nodes
// share a test process).
type Metrics struct {
	Registry *prometheus.Registry

	Order         *order.Metrics         // the order path: orders, launches, fills, forwards
	BackupLast    prometheus.Gauge       // aurora_backup_last_success_timestamp_seconds
	AnchorFetches *prometheus.CounterVec // aurora_anchor_fetches_total{result}
	// BackupStreamBytes and BackupStreams count backups streamed over the
	// API: aurora_backup_stream_bytes_total, aurora_backup_streams_total{result}.
	BackupStreamBytes prometheus.Counter
	BackupStreams     *prometheus.CounterVec
}

// NewMetrics creates the node's registry and collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry:   reg,
		Order:      order.NewMetrics(reg),
		BackupLast: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aurora_backup_last_success_timestamp_seconds", Help: "Unix time of the last successful ledger backup."}),
	}
	m.AnchorFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aurora_anchor_fetches_total", Help: "Peer epochs fetched for cross-anchoring, by result (ok, failed and retried, dropped, mismatch).",
	}, []string{"result"})
	for _, r := range []string{"ok", "failed", "dropped", "mismatch"} {
		m.AnchorFetches.WithLabelValues(r)
	}
	m.BackupStreamBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aurora_backup_stream_bytes_total", Help: "Bytes of ledger backups streamed over the API (POST /v1/ledger/backup).",
	})
	m.BackupStreams = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aurora_backup_streams_total", Help: "Ledger backups streamed over the API, by result (ok: complete with its trailers; failed).",
	}, []string{"result"})
	for _, r := range []string{"ok", "failed"} {
		m.BackupStreams.WithLabelValues(r)
	}
	reg.MustRegister(m.BackupLast, m.AnchorFetches, m.BackupStreamBytes, m.BackupStreams, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
