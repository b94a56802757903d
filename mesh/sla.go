package mesh

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/treaty"
)

// Sides of a treaty lane whose SLA a node measures.
const (
	// SLASent is the lane from this node to the peer: what the peer
	// answered this node's forwards, and how fast.
	SLASent = "sent"
	// SLARecv is the lane from the peer to this node: whether the orders
	// this node acked for the peer reached running here.
	SLARecv = "recv"
)

// SLA measurement bounds.
const (
	// MaxSLASamples bounds the observations kept per lane and side: the
	// window is the last SLAWindow, or the last MaxSLASamples
	// observations when a lane is busier.
	MaxSLASamples = 1024
	// maxSLALanes bounds the lanes measured (lanes are those of our own
	// active treaties, so far fewer in practice).
	maxSLALanes = 4096
)

// slaOutcome is one observation of a lane.
type slaOutcome uint8

const (
	slaFilled slaOutcome = iota + 1 // sent: a signed Ack; recv: the job reached running
	slaFailed                       // sent: a refusal, an error or no answer in time; recv: the job failed
	slaDenied                       // sent: a signed Denial (the peer's law): no fill sample, its RTT counts
)

type slaSample struct {
	at  int64 // unix nanoseconds, mesh clock
	out slaOutcome
	rtt time.Duration // < 0: none
}

type slaKey struct {
	body cid.Cid // the treaty's canonical CID (without signatures)
	peer treaty.DID
	side string
}

type slaLane struct {
	ring []slaSample // at most MaxSLASamples, oldest overwritten
	next int
}

// slaMeter measures each lane's fill ratio and forward RTT p95 over a
// sliding window from what this node observes, and exports them with the
// treaty's targets (sla.fill_rate, sla.rtt_p95_ms). It is a Prometheus
// collector: the window slides when it is scraped. Safe for concurrent use.
type slaMeter struct {
	book   *book
	clock  Clock
	window time.Duration

	fill, fillTarget, samples, rtt, rttTarget *prometheus.Desc

	mu    sync.Mutex // protects lanes
	lanes map[slaKey]*slaLane
}

var _ prometheus.Collector = (*slaMeter)(nil)

func newSLAMeter(b *book, clock Clock, window time.Duration) *slaMeter {
	lane := []string{"treaty", "peer", "side"}
	return &slaMeter{book: b, clock: clock, window: window, lanes: map[slaKey]*slaLane{},
		fill: prometheus.NewDesc("aurora_treaty_sla_fill_ratio",
			"Share of a lane's orders filled over the SLA window: side sent, this node's forwards the peer answered with a signed Ack "+
				"(refusals, errors and timeouts count against it, Denials not at all); side recv, the peer's orders this node acked whose job reached running.", lane, nil),
		fillTarget: prometheus.NewDesc("aurora_treaty_sla_fill_target_ratio", "The lane's treaty sla.fill_rate as a ratio (lanes whose treaty sets one).", lane, nil),
		samples:    prometheus.NewDesc("aurora_treaty_sla_samples", "Observations aurora_treaty_sla_fill_ratio is computed over (in the window).", lane, nil),
		rtt: prometheus.NewDesc("aurora_treaty_sla_rtt_p95_seconds",
			"95th percentile of this node's forward round trips on the lane over the SLA window (a forward with no answer counts the time it waited).", lane[:2], nil),
		rttTarget: prometheus.NewDesc("aurora_treaty_sla_rtt_target_seconds", "The lane's treaty sla.rtt_p95_ms in seconds (lanes whose treaty sets one).", lane[:2], nil),
	}
}

// observe records one observation of the lane of treatyCID (any of its
// CIDs) with peer on side. A treaty that is not one of our active ones is
// not measured.
func (s *slaMeter) observe(side string, treatyCID treaty.Link, peer treaty.DID, out slaOutcome, rtt time.Duration) {
	if !treatyCID.Defined() {
		return
	}
	at := s.book.current().byAlias[treatyCID.Cid]
	if at == nil {
		return
	}
	k := slaKey{body: at.body.Cid, peer: peer, side: side}
	now := s.clock().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lanes[k]
	if l == nil {
		if len(s.lanes) >= maxSLALanes {
			return
		}
		l = &slaLane{}
		s.lanes[k] = l
	}
	smp := slaSample{at: now, out: out, rtt: rtt}
	if len(l.ring) < MaxSLASamples {
		l.ring = append(l.ring, smp)
		return
	}
	l.ring[l.next] = smp
	l.next = (l.next + 1) % MaxSLASamples
}

func (s *slaMeter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.fill, s.fillTarget, s.samples, s.rtt, s.rttTarget} {
		ch <- d
	}
}

// laneStats is one lane's window.
type laneStats struct {
	filled, counted int
	rtts            []time.Duration
}

// Collect slides every lane's window to now, forgets lanes whose treaty is
// no longer active or that saw nothing in the window, and exports the rest.
func (s *slaMeter) Collect(ch chan<- prometheus.Metric) {
	now := s.clock()
	from := now.Add(-s.window).UnixNano()
	v := s.book.current()
	type row struct {
		at *activeTreaty
		k  slaKey
		st laneStats
	}
	var rows []row
	s.mu.Lock()
	for k, l := range s.lanes {
		at := v.byAlias[k.body]
		var st laneStats
		seen := false
		for _, smp := range l.ring {
			if smp.at < from {
				continue
			}
			seen = true
			switch smp.out {
			case slaFilled:
				st.filled++
				st.counted++
			case slaFailed:
				st.counted++
			}
			if smp.rtt >= 0 && k.side == SLASent {
				st.rtts = append(st.rtts, smp.rtt)
			}
		}
		if at == nil || !seen {
			delete(s.lanes, k)
			continue
		}
		rows = append(rows, row{at: at, k: k, st: st})
	}
	s.mu.Unlock()
	for _, r := range rows {
		labels := []string{r.at.link.String(), string(r.k.peer), r.k.side}
		ch <- prometheus.MustNewConstMetric(s.samples, prometheus.GaugeValue, float64(r.st.counted), labels...)
		if r.st.counted > 0 {
			ch <- prometheus.MustNewConstMetric(s.fill, prometheus.GaugeValue, float64(r.st.filled)/float64(r.st.counted), labels...)
		}
		if t := r.at.t.SLA.FillRate; t > 0 {
			ch <- prometheus.MustNewConstMetric(s.fillTarget, prometheus.GaugeValue, float64(t)/treaty.PermilleMax, labels...)
		}
		if r.k.side != SLASent {
			continue
		}
		if len(r.st.rtts) > 0 {
			ch <- prometheus.MustNewConstMetric(s.rtt, prometheus.GaugeValue, p95(r.st.rtts).Seconds(), labels[:2]...)
		}
		if t := r.at.t.SLA.RTTP95MS; t > 0 {
			ch <- prometheus.MustNewConstMetric(s.rttTarget, prometheus.GaugeValue, float64(t)/1000, labels[:2]...)
		}
	}
}

// p95 is the nearest-rank 95th percentile of ds (which it sorts).
func p95(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	i := (len(ds)*95 + 99) / 100 // ceil(0.95·n), 1-based
	return ds[max(i, 1)-1]
}

// ObserveSettled records what became of an order that treaty peer from
// forwarded to us under lane (the treaty's canonical CID, any of its CIDs
// works) and that we acked: its job reached running here, or failed. A
// running job counts in aurora_treaty_orders_filled_total; both count in
// the lane's measured fill ratio (side recv). Our own orders (from is this
// node) are not counted. Safe for concurrent use.
func (m *Mesh) ObserveSettled(from treaty.DID, lane treaty.Link, running bool) {
	if from == m.me {
		return
	}
	out := slaFailed
	if running {
		m.metrics.filled.Inc()
		out = slaFilled
	}
	m.sla.observe(SLARecv, lane, from, out, -1)
}

// observeForward records the outcome of one of our forwards for the
// lane's SLA (side sent). A forward the caller cancelled says nothing
// about the peer.
func (m *Mesh) observeForward(ctx context.Context, treatyCID treaty.Link, to treaty.DID, out slaOutcome, rtt time.Duration) {
	if errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	m.sla.observe(SLASent, treatyCID, to, out, rtt)
}
