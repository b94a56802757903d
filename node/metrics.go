package node

import (
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/aurora-federation/aurora/order"
)

// Metrics are one node's Prometheus collectors (the order core, policy
// engine, mesh and epoch loop register theirs on the same Registry),
// registered on the node's own registry (never the global one: many nodes
// share a test process).
type Metrics struct {
	Registry *Registry

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
	reg := &Registry{Registry: prometheus.NewRegistry()}
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

// Registry is the node's Prometheus registry, which also remembers the
// metric family of every collector registered on it, also those not yet
// exported (a vector with no children is absent from Gather): Families is
// what ops/metrics.txt, the dashboard and the alert rules must know.
type Registry struct {
	*prometheus.Registry

	mu       sync.Mutex
	families map[string]bool
}

var _ prometheus.Registerer = (*Registry)(nil)

// Register registers c and records its families.
func (r *Registry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	descs := make(chan *prometheus.Desc)
	go func() {
		c.Describe(descs)
		close(descs)
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.families == nil {
		r.families = map[string]bool{}
	}
	for d := range descs {
		if name := descName(d); name != "" {
			r.families[name] = true
		}
	}
	return nil
}

// MustRegister registers cs, panicking on the first error.
func (r *Registry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Families returns the sorted names of every metric family registered.
func (r *Registry) Families() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.families))
	for n := range r.families {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// descName is a descriptor's fully qualified name. client_golang exposes it
// only through Desc.String ("Desc{fqName: \"name\", …}").
func descName(d *prometheus.Desc) string {
	s := d.String()
	const key = `fqName: "`
	i := strings.Index(s, key)
	if i < 0 {
		return ""
	}
	s = s[i+len(key):]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return ""
}
