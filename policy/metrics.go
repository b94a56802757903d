package policy

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/policy/sdk"
)

// metrics are the engine's Prometheus series; a nil *metrics records nothing.
type metrics struct {
	duration  prometheus.Histogram
	decisions *prometheus.CounterVec
	failures  *prometheus.CounterVec
	modules   prometheus.Gauge
	evictions prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aurora_policy_decision_duration_seconds",
			Help: "Time to evaluate one batch of orders (one guest call per up to 256 orders), including waiting for an instance.",
			// Edges at the 25 ms SLO and around the measured microsecond costs.
			Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1},
		}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_policy_decisions_total",
			Help: "Policy decisions by result (allow, deny, indeterminate).",
		}, []string{"result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aurora_policy_failures_total",
			Help: "Failed guest calls by cause (deadline, trap, exit, abi, output); their decisions were indeterminate.",
		}, []string{"cause"}),
		modules: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aurora_policy_modules_loaded",
			Help: "Policy modules loaded (compiled, with their instance pools), the standard law included.",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aurora_policy_module_evictions_total",
			Help: "Modules unloaded to stay within the engine's module limit (policy.max_modules).",
		}),
	}
	// Every cause and result is exported from the start (at 0), so rules
	// and panels see the series before the first failure.
	for _, c := range []Cause{CauseDeadline, CauseTrap, CauseExit, CauseABI, CauseOutput, CauseCanceled, CauseClosed} {
		m.failures.WithLabelValues(string(c))
	}
	for _, r := range []string{"allow", "deny", "indeterminate"} {
		m.decisions.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.duration, m.decisions, m.failures, m.modules, m.evictions} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("policy: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(start time.Time, out []Decision) {
	if m == nil {
		return
	}
	m.duration.Observe(time.Since(start).Seconds())
	var allow, deny, ind float64
	for i := range out {
		switch out[i].Word {
		case sdk.Allow:
			allow++
		case sdk.Indeterminate:
			ind++
		default:
			deny++
		}
	}
	if allow > 0 {
		m.decisions.WithLabelValues("allow").Add(allow)
	}
	if deny > 0 {
		m.decisions.WithLabelValues("deny").Add(deny)
	}
	if ind > 0 {
		m.decisions.WithLabelValues("indeterminate").Add(ind)
	}
}

func (m *metrics) failure(c Cause) {
	if m == nil {
		return
	}
	m.failures.WithLabelValues(string(c)).Inc()
}

func (m *metrics) loaded(n int) {
	if m == nil {
		return
	}
	m.modules.Set(float64(n))
}

func (m *metrics) evicted() {
	if m == nil {
		return
	}
	m.evictions.Inc()
}
