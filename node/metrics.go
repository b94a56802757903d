package node

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are one node's Prometheus collectors (the policy engine, mesh and
// epoch loop register theirs on the same Registry), registered on the node's own
// registry (never the global one: many nodes share a test process).
type Metrics struct {
	Registry *prometheus.Registry

	Orders         *prometheus.CounterVec   // aurora_orders_total{result}
	AckDuration    prometheus.Histogram     // aurora_order_ack_duration_seconds
	Launches       *prometheus.CounterVec   // aurora_provider_launches_total{provider,result}
	LaunchDuration *prometheus.HistogramVec // aurora_provider_launch_duration_seconds{provider}
	JobsAcked      prometheus.Counter       // aurora_jobs_acked_total
	JobsFilled     prometheus.Counter       // aurora_jobs_filled_total
	JobsFailed     prometheus.Counter       // aurora_jobs_failed_total
	FillDuration   prometheus.Histogram     // aurora_job_fill_duration_seconds
	InflightJobs   prometheus.Gauge         // aurora_jobs_inflight
	BackupLast     prometheus.Gauge         // aurora_backup_last_success_timestamp_seconds
}

// Order results for aurora_orders_total.
const (
	ResultAccepted  = "accepted"  // signed Ack, local provider
	ResultForwarded = "forwarded" // signed Ack, routed to a treaty peer
	ResultDenied    = "denied"    // signed Denial
	ResultRejected  = "rejected"  // bad record, signature, replay: an error status, no record
)

// NewMetrics creates the node's registry and collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_orders_total", Help: "Orders received, by result (accepted, forwarded, denied, rejected).",
		}, []string{"result"}),
		AckDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aurora_order_ack_duration_seconds", Help: "Time from order receipt to signed Ack or Denial.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.35, 1, 2.5},
		}),
		Launches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_provider_launches_total", Help: "Provider launch attempts, by provider and result (ok, failed, rate_limited, no_capacity).",
		}, []string{"provider", "result"}),
		LaunchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aurora_provider_launch_duration_seconds", Help: "Provider launch call duration.",
			Buckets: []float64{0.001, 0.01, 0.1, 0.5, 1, 5, 15, 60, 300},
		}, []string{"provider"}),
		JobsAcked:  prometheus.NewCounter(prometheus.CounterOpts{Name: "aurora_jobs_acked_total", Help: "Jobs acknowledged to run on this node's providers (the fill-rate denominator; forwarded orders count at the peer)."}),
		JobsFilled: prometheus.NewCounter(prometheus.CounterOpts{Name: "aurora_jobs_filled_total", Help: "Jobs whose lease reached running (filled), after any fallbacks."}),
		JobsFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "aurora_jobs_failed_total", Help: "Jobs whose fallback chain was exhausted."}),
		FillDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aurora_job_fill_duration_seconds", Help: "Time from Ack to a running lease.",
			Buckets: []float64{0.001, 0.01, 0.1, 0.35, 1, 5, 30, 120, 600},
		}),
		InflightJobs: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aurora_jobs_inflight", Help: "Jobs acknowledged and not yet running or failed."}),
		BackupLast:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "aurora_backup_last_success_timestamp_seconds", Help: "Unix time of the last successful ledger backup."}),
	}
	reg.MustRegister(m.Orders, m.AckDuration, m.Launches, m.LaunchDuration, m.JobsAcked, m.JobsFilled,
		m.JobsFailed, m.FillDuration, m.InflightJobs, m.BackupLast,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []string{ResultAccepted, ResultForwarded, ResultDenied, ResultRejected} {
		m.Orders.WithLabelValues(r)
	}
	return m
}
