package node

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/order"
)

// diskGuard watches the free space of the data volume. Below the reserve
// the node is full: new orders are refused with 507 (nothing is written),
// /readyz says not ready, and everything already stored is still served.
// It resumes by itself once free space is back above the reserve plus a
// tenth (so it does not flap at the edge).
type diskGuard struct {
	dir     string
	bytes   uint64 // reserve floor
	percent float64
	log     *slog.Logger
	free    prometheus.Gauge
	reserve prometheus.Gauge

	full atomic.Bool
}

func newDiskGuard(dir string, cfg StoreConfig, reg prometheus.Registerer, log *slog.Logger) *diskGuard {
	g := &diskGuard{dir: dir, bytes: uint64(cfg.ReserveBytes), percent: cfg.ReservePercent, log: log,
		free:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "aurora_store_free_bytes", Help: "Bytes free on the data volume."}),
		reserve: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aurora_store_reserve_bytes", Help: "Free bytes below which new orders are refused (507)."}),
	}
	reg.MustRegister(g.free, g.reserve)
	g.check()
	return g
}

// check measures free space and updates the full state.
func (g *diskGuard) check() {
	free, total, err := store.FreeSpace(g.dir)
	if err != nil {
		g.log.Warn("free space of the data volume", "dir", g.dir, "err", err)
		return
	}
	reserve := max(g.bytes, uint64(float64(total)*g.percent/100))
	g.free.Set(float64(free))
	g.reserve.Set(float64(reserve))
	switch full := g.full.Load(); {
	case !full && free < reserve:
		g.full.Store(true)
		g.log.Error("data volume below its free-space reserve: refusing new orders until space returns", "free_bytes", free, "reserve_bytes", reserve)
	case full && free > reserve+reserve/10:
		g.full.Store(false)
		g.log.Info("data volume has room again: taking orders", "free_bytes", free, "reserve_bytes", reserve)
	}
}

// admit is the order core's admission check.
func (g *diskGuard) admit() error {
	if !g.full.Load() {
		return nil
	}
	return &order.RejectError{Status: 507, Code: "storage_full", RetryAfter: 30 * time.Second,
		Err: fmt.Errorf("node: the data volume is below its free-space reserve (store.reserve_bytes, store.reserve_percent): no new order is taken until space returns")}
}
