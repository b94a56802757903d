package mesh

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Lane results of aurora_treaty_orders_total: sent_* from the forwarding
// side, recv_* from the receiving side.
const (
	LaneSentAck    = "sent_ack"
	LaneSentDenial = "sent_denial"
	LaneSentError  = "sent_error"
	LaneRecvAck    = "recv_ack"
	LaneRecvDenial = "recv_denial"
	LaneRecvError  = "recv_error"
)

// Drop reasons of aurora_pubsub_dropped_total.
const (
	DropOutboundQueueFull   = "outbound_queue_full"   // RawTracer.DropRPC
	DropValidationQueueFull = "validation_queue_full" // RejectMessage "validation queue full"
	DropValidationThrottled = "validation_throttled"  // RejectMessage "validation throttled"
	DropSubscriberSlow      = "subscriber_slow"       // RawTracer.UndeliverableMessage
)

// metrics are the mesh's collectors. They work unregistered.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	rtt        prometheus.Histogram
	orders     *prometheus.CounterVec
	filled     prometheus.Counter
	peers      prometheus.Gauge
	dropped    *prometheus.CounterVec
	validated  *prometheus.CounterVec
	repairs    prometheus.Counter
	streams    *prometheus.GaugeVec
	bookSize   prometheus.Gauge
	forwardTry *prometheus.CounterVec
	refused    *prometheus.CounterVec
	dials      *prometheus.CounterVec
}

// Results of aurora_mesh_partner_dials_total.
const (
	DialOK     = "ok"
	DialFailed = "failed"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg: reg,
		rtt: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aurora_treaty_rtt_seconds",
			Help: "Forwarded order round trip: send to the peer's signed Ack or Denial received.",
			// The KPI threshold (RTT p95 <= 350 ms) is a bucket edge.
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.35, 0.5, 1, 2.5, 5, 10},
		}),
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_treaty_orders_total",
			Help: "Orders over treaty lanes by side and result (sent_ack, sent_denial, sent_error, recv_ack, recv_denial, recv_error).",
		}, []string{"lane_result"}),
		filled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aurora_treaty_orders_filled_total",
			Help: "Orders forwarded to this node by treaty peers whose job reached running here (Mesh.ObserveSettled).",
		}),
		peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aurora_peers_connected",
			Help: "Peers with at least one open connection.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_pubsub_dropped_total",
			Help: "Pubsub messages or RPCs dropped under load, by reason.",
		}, []string{"reason"}),
		validated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_pubsub_validated_total",
			Help: "Pubsub messages judged by Aurora's validators, by topic kind and result (accept, reject, ignore).",
		}, []string{"topic", "result"}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aurora_sync_repairs_total",
			Help: "Records learned through anti-entropy sync that gossip had not delivered.",
		}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aurora_mesh_streams_active",
			Help: "Inbound Aurora protocol streams being served.",
		}, []string{"protocol"}),
		bookSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aurora_treaties_known",
			Help: "Treaties in the book.",
		}),
		forwardTry: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_treaty_forward_retries_total",
			Help: "Forwards retried once over a fresh connection after the first attempt broke, by outcome.",
		}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_mesh_refused_total",
			Help: "What peers without an active treaty (strangers) were refused, by kind (a protocol ID, or treaty, reputation, anchor gossip) and reason (peer_budget, stranger_budget, rate, not_member, proposals, anchor_origins, evidence_logs).",
		}, []string{"kind", "reason"}),
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_mesh_partner_dials_total",
			Help: "Dials by the treaty partners' dial loops (one loop per partner, jittered exponential backoff), by result (ok, failed).",
		}, []string{"result"}),
	}
	m.collectors = []prometheus.Collector{m.rtt, m.orders, m.filled, m.peers, m.dropped, m.validated, m.repairs, m.streams, m.bookSize, m.forwardTry, m.refused, m.dials}
	for _, r := range []string{DialOK, DialFailed} {
		m.dials.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "failed"} {
		m.forwardTry.WithLabelValues(r)
	}
	for _, r := range []string{LaneSentAck, LaneSentDenial, LaneSentError, LaneRecvAck, LaneRecvDenial, LaneRecvError} {
		m.orders.WithLabelValues(r)
	}
	for _, r := range []string{DropOutboundQueueFull, DropValidationQueueFull, DropValidationThrottled, DropSubscriberSlow} {
		m.dropped.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors[:i] {
				reg.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("mesh: metrics already registered: give each mesh its own Registerer")
			}
			return nil, err
		}
	}
	return m, nil
}

// add registers one more collector, unregistered with the others.
func (m *metrics) add(c prometheus.Collector) error {
	if m.reg != nil {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("mesh: metrics: %w", err)
		}
	}
	m.collectors = append(m.collectors, c)
	return nil
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}
