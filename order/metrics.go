package order

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the order core's collectors.
type Metrics struct {
	Orders         *prometheus.CounterVec   // aurora_orders_total{result}
	AckDuration    prometheus.Histogram     // aurora_order_ack_duration_seconds
	Launches       *prometheus.CounterVec   // aurora_provider_launches_total{provider,result}
	LaunchDuration *prometheus.HistogramVec // aurora_provider_launch_duration_seconds{provider}
	JobsAcked      prometheus.Counter       // aurora_jobs_acked_total
	JobsFilled     prometheus.Counter       // aurora_jobs_filled_total
	JobsFailed     prometheus.Counter       // aurora_jobs_failed_total
	FillDuration   prometheus.Histogram     // aurora_job_fill_duration_seconds
	InflightJobs   prometheus.Gauge         // aurora_jobs_inflight
	SlotsUsed      prometheus.Gauge         // aurora_launch_slots_used
	Forwards       *prometheus.CounterVec   // aurora_forward_outcomes_total{outcome}
	Unresolved     prometheus.Gauge         // aurora_forwards_unresolved
	Cancels        *prometheus.CounterVec   // aurora_job_cancels_total{result}
}

// Cancel results for aurora_job_cancels_total.
const (
	CancelCanceled = "canceled" // the job was canceled: lease ended, Cancel logged
	CancelAlready  = "already"  // canceled before: a no-op
	CancelRefused  = "refused"  // refused (bad record or signature, not the client, job ended, unknown job)
	CancelFailed   = "failed"   // could not be applied (a lease not terminated, a peer not reached): the job goes on
)

// Order results for aurora_orders_total.
const (
	ResultAccepted  = "accepted"  // signed Ack, local provider
	ResultForwarded = "forwarded" // signed Ack, routed to a treaty peer
	ResultDenied    = "denied"    // signed Denial
	ResultRejected  = "rejected"  // bad record, signature, replay: an error status, no record
	ResultBusy      = "busy"      // 503: no launch slot, or a forward still unresolved; nothing committed
	ResultReplayed  = "replayed"  // a resubmission answered with its original Ack or Denial
)

// Forward outcomes for aurora_forward_outcomes_total.
const (
	ForwardAck       = "ack"        // the peer's signed Ack
	ForwardDenial    = "denial"     // the peer's signed Denial
	ForwardRefused   = "refused"    // refused before judgement, or never sent
	ForwardUnknown   = "unknown"    // answer lost or late: the peer is asked
	ForwardQueryAck  = "query_ack"  // asking found the peer's Ack
	ForwardQueryDeny = "query_deny" // asking found a Denial (or the peer withdrew the order)
	ForwardPending   = "pending"    // asking failed too: the resolver keeps asking
)

// NewMetrics creates the collectors and registers them on reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_orders_total", Help: "Orders received, by result (accepted, forwarded, denied, rejected, busy, replayed).",
		}, []string{"result"}),
		AckDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aurora_order_ack_duration_seconds", Help: "Time from order receipt to signed Ack or Denial.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.35, 1, 2.5},
		}),
		Launches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_provider_launches_total", Help: "Provider launch attempts, by provider and result (ok, failed, rate_limited, no_capacity, not_running).",
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
		SlotsUsed:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "aurora_launch_slots_used", Help: "Launch slots held: local jobs accepted and not yet running or failed (limit launch.queue)."}),
		Forwards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_forward_outcomes_total", Help: "Forwards to treaty peers and queries after lost answers, by outcome.",
		}, []string{"outcome"}),
		Unresolved: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aurora_forwards_unresolved", Help: "Forwarded orders whose outcome is unknown and still being asked for."}),
		Cancels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_job_cancels_total", Help: "Tenants' cancels, by result (canceled, already, refused, failed: a lease not terminated or a peer not reached, the job goes on).",
		}, []string{"result"}),
	}
	for _, r := range []string{CancelCanceled, CancelAlready, CancelRefused, CancelFailed} {
		m.Cancels.WithLabelValues(r)
	}
	for _, r := range []string{ResultAccepted, ResultForwarded, ResultDenied, ResultRejected, ResultBusy, ResultReplayed} {
		m.Orders.WithLabelValues(r)
	}
	for _, o := range []string{ForwardAck, ForwardDenial, ForwardRefused, ForwardUnknown, ForwardQueryAck, ForwardQueryDeny, ForwardPending} {
		m.Forwards.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.Orders, m.AckDuration, m.Launches, m.LaunchDuration, m.JobsAcked, m.JobsFilled,
			m.JobsFailed, m.FillDuration, m.InflightJobs, m.SlotsUsed, m.Forwards, m.Unresolved, m.Cancels)
	}
	return m
}
