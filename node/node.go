// Package node is the composition root of an Aurora node: it reads the
// configuration, builds the components (store, provenance log, policy
// engine, providers and router, order pipeline, mesh, HTTP API), runs them
// and shuts them down within a bound. It wires; the logic lives in the
// components.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/aurora-federation/aurora/clock"
	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/node/events"
	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// Options builds a Node.
type Options struct {
	// Home is the node home (key, config, data).
	Home string
	// Config is the effective configuration (LoadConfig + overrides).
	Config Config
	// Logger receives the node's logs. Default: discard.
	Logger *slog.Logger
	// APIListener, if set, is used instead of listening on Config.API.Listen
	// (tests pass a 127.0.0.1:0 listener).
	APIListener net.Listener
	// Clock is the node's time source. Default time.Now.
	Clock func() time.Time
	// ShutdownTimeout bounds Close. Default 10s.
	ShutdownTimeout time.Duration
	// PolicyCacheDir holds the policy engine's compilation cache. Default
	// <home>/cache. Tests share one to compile the std policy once.
	PolicyCacheDir string
	// TracerProvider records the order path's spans. Default: built from
	// tracing.enabled (OTLP over HTTP, OTEL_* env), else no-op.
	TracerProvider trace.TracerProvider
	// ExtraProviders are attached in addition to Config.Providers (tests).
	ExtraProviders []providers.Provider
	// OrderFault, if set, sees every answer to a forwarded order after the
	// order core gave it, and may replace it: returning an error wrapping
	// mesh.ErrResetStream cuts the stream without an answer (fault
	// injection: a lost answer after the commit). Tests only.
	OrderFault func(ctx context.Context, from treaty.DID, reply []byte, err error) error
}

// Node is one running Aurora node.
type Node struct {
	opts    Options
	log     *slog.Logger
	key     *treaty.PrivateKey
	id      Identity
	metrics *Metrics
	started atomic.Bool
	disk    *diskGuard

	db      *store.DB
	plog    *provenance.Log
	epochs  *provenance.Epochs
	tsas    [2]provenance.Timestamper // [provenance] tsa; nil without
	fed     *federation
	extWit  *externalWitnesses // provenance.external_witnesses; nil if none
	ledger  *order.Ledger
	policy  *policies // the engine, the judge and where modules come from
	judge   order.Judge
	router  *providers.Router
	provs   []providers.Provider
	core    *order.Core
	events  *events.Hub
	backups *store.Scheduler

	ln     net.Listener
	server *http.Server
	served chan error
	closed atomic.Bool
	closes []func(context.Context) error // run in reverse order by Close
}

// New builds a node and starts serving. On error, everything built so far
// is closed.
func New(ctx context.Context, opts Options) (_ *Node, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{opts: opts, log: opts.Logger, metrics: NewMetrics(), served: make(chan error, 1)}
	defer func() {
		if err != nil {
			n.Close(context.Background())
		}
	}()

	if n.key, err = LoadKey(filepath.Join(opts.Home, KeyFile)); err != nil {
		return nil, err
	}
	if n.id, err = IdentityOf(n.key); err != nil {
		return nil, err
	}
	token, err := LoadToken(opts.Home)
	if err != nil {
		return nil, err
	}
	n.log = n.log.With("node", n.id.PeerID.String()[len(n.id.PeerID.String())-6:])

	// Storage.
	if n.db, err = store.Open(store.Config{Dir: filepath.Join(opts.Home, DataDir), Logger: n.log.With("component", "store")}); err != nil {
		return nil, err
	}
	n.onClose(func(context.Context) error { return n.db.Close() })
	n.disk = newDiskGuard(filepath.Join(opts.Home, DataDir), cfg.Store, n.metrics.Registry, n.log.With("component", "disk"))
	diskCtx, stopDisk := context.WithCancel(context.Background())
	diskDone := make(chan struct{})
	go func() {
		defer close(diskDone)
		t := time.NewTicker(cfg.Store.CheckInterval.Std())
		defer t.Stop()
		for {
			select {
			case <-diskCtx.Done():
				return
			case <-t.C:
				n.disk.check()
			}
		}
	}()
	n.onClose(func(context.Context) error { stopDisk(); <-diskDone; return nil })

	// Provenance log and job ledger.
	origin := "aurora/" + cfg.Federation + "/" + n.id.PeerID.String()
	if n.plog, err = provenance.OpenLog(ctx, n.db.Namespace("log"), provenance.LogConfig{Origin: origin, Key: n.key, Logger: n.log.With("component", "log")}); err != nil {
		return nil, err
	}
	ledgerNS := n.db.Namespace("ledger")
	n.ledger = order.NewLedger(order.LedgerConfig{Store: ledgerStore{ledgerNS}, Log: n.plog, Atomic: ledgerLog{log: n.plog, ledger: ledgerNS}, Group: true})
	n.onClose(func(context.Context) error { n.ledger.Close(); return nil })

	// Policy.
	cacheDir := opts.PolicyCacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(opts.Home, CacheDir)
	}
	if n.policy, err = newPolicies(ctx, cfg, opts.Home, cacheDir, n.id.DID, funcClock(opts.Clock), n.log.With("component", "policy"), n.metrics.Registry); err != nil {
		return nil, err
	}
	n.judge = n.policy.judge
	n.onClose(n.policy.close)

	// Providers and router.
	if n.provs, err = BuildProviders(cfg.Providers, n.log); err != nil {
		return nil, err
	}
	n.provs = append(n.provs, opts.ExtraProviders...)
	// Peers' reports count only from treaty partners (the mesh knows them;
	// Trust is first asked once gossip flows, after the mesh is built).
	rep, err := providers.NewReputation(providers.ReputationConfig{Registerer: n.metrics.Registry,
		Trust: func(d treaty.DID) float64 {
			if n.fed != nil && n.fed.mesh.IsPartner(d) {
				return 1
			}
			return 0
		}})
	if err != nil {
		return nil, err
	}
	if n.router, err = providers.NewRouter(providers.RouterConfig{Providers: n.provs, Reputation: rep, Logger: n.log.With("component", "router")}); err != nil {
		return nil, err
	}

	// Mesh: treaties, forwarding, witnessing, gossip. Off when p2p.listen is
	// empty (a standalone node). Built now, started once the order core its
	// handlers call exists.
	if len(cfg.P2P.Listen) > 0 {
		if n.fed, err = n.buildFederation(ctx, cfg, rep); err != nil {
			return nil, err
		}
		n.onClose(func(context.Context) error { return n.fed.close() })
		// Modules travel by CID: ours are served to partners, theirs fetched.
		if err := n.policy.attach(ctx, n.fed.ipfs, n.fed.mesh.List()); err != nil {
			return nil, err
		}
	}

	// Provenance epochs: checkpoint, witness round, timestamps, pin, gossip.
	ecfg := provenance.EpochsConfig{
		Log: n.plog, Interval: cfg.Provenance.Epoch.Std(), Registerer: n.metrics.Registry, Logger: n.log.With("component", "epochs"),
	}
	if n.fed != nil {
		ecfg.Witnesses = n.fed.cosign
		ecfg.WitnessKeysFunc = n.fed.witnessKeys
		ecfg.Announce = n.fed.mesh.PublishAnchor
		ecfg.Pin = n.fed.ipfs.PinEpochInfo
	}
	// External witnesses (provenance.external_witnesses) join every witness
	// round over HTTP, with or without a mesh.
	if n.extWit, err = newExternalWitnesses(cfg.Provenance.ExternalWitnesses, n.metrics.Registry, funcClock(opts.Clock), n.log.With("component", "external-witnesses")); err != nil {
		return nil, err
	}
	n.extWit.extend(&ecfg)
	if err := configureTSAs(&ecfg, cfg.Provenance, n.log.With("component", "tsa")); err != nil {
		return nil, err
	}
	n.tsas = ecfg.Timestampers
	if n.epochs, err = provenance.NewEpochs(ctx, ecfg); err != nil {
		return nil, err
	}
	epochsDone := make(chan struct{})
	go func() {
		defer close(epochsDone)
		n.epochs.Run(context.Background())
	}()
	n.onClose(func(context.Context) error { n.epochs.Close(); <-epochsDone; return nil })

	// The order core.
	tenants := make([]treaty.DID, 0, len(cfg.API.Tenants))
	for i, t := range cfg.API.Tenants {
		d, err := treaty.ParseDID(t)
		if err != nil {
			return nil, &ConfigError{Key: fmt.Sprintf("api.tenants[%d]", i), Reason: err.Error()}
		}
		tenants = append(tenants, d)
	}
	tp := opts.TracerProvider
	if tp == nil {
		var shutdown func(context.Context) error
		if tp, shutdown, err = newTracerProvider(ctx, cfg, n.id); err != nil {
			return nil, err
		}
		n.onClose(shutdown)
	}
	ccfg := order.Config{
		Key: n.key, Clock: clock.System{}, Ledger: n.ledger, Judge: n.judge, Router: n.router, Reputation: rep,
		Providers: byName(n.provs), Metrics: n.metrics.Order, Tracer: tp.Tracer(order.TracerName),
		Law: lawOf(cfg.Law), Limits: order.Limits{MaxInflight: cfg.Law.MaxInflight, OrdersPerMin: cfg.Law.OrdersPerMin, GPUHoursPerDay: cfg.Law.GPUHoursPerDay},
		Tenants: tenants, Admission: n.disk.admit, Slots: cfg.Launch.Queue, PollMax: cfg.Launch.PollMax.Std(), MaxLaunchWait: cfg.Launch.MaxWait.Std(),
		Logger: n.log.With("component", "order"),
	}
	if opts.Clock != nil {
		ccfg.Clock = funcClock(opts.Clock)
	}
	n.events = events.New(events.Config{Buffer: cfg.API.EventsBuffer, MaxPerClient: cfg.API.MaxEventStreamsPerClient, MaxTotal: cfg.API.MaxEventStreams})
	ccfg.OnJob = n.events.Publish
	if n.fed != nil {
		ccfg.Peers, ccfg.Forward, ccfg.Lanes = n.fed.mesh, n.fed.mesh, meshLanes{n.fed.mesh}
		ccfg.Cancels = n.fed.mesh
		ccfg.Blocks = n.fed.putJobBlocks
		// A forwarded job that runs here, or fails, is an observation of
		// its lane's fill (node/sla.go).
		ccfg.OnSettled = n.fed.settled
	}
	if ccfg.RestoredAt, err = n.ledger.RestoredAt(ctx); err != nil {
		return nil, err
	}
	if n.core, err = order.New(ccfg); err != nil {
		return nil, err
	}
	// Launch workers: each runs one provider call at a time; a lease
	// booting on a slow network waits on a timer, not on a worker.
	workCtx, stopWork := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	for range cfg.Launch.Workers {
		workers.Go(func() {
			for n.core.Work(workCtx) {
			}
		})
	}
	// Closes run in reverse: the workers stop before the ledger they write.
	n.onClose(func(context.Context) error { n.core.Close(); stopWork(); workers.Wait(); return nil })
	jobs, forwards, err := n.core.Resume(ctx)
	if err != nil {
		return nil, err
	}
	if jobs > 0 || forwards > 0 {
		n.log.Info("resuming work interrupted by the last shutdown", "jobs", jobs, "unresolved_forwards", forwards)
	}
	if n.fed != nil {
		if err := n.fed.start(ctx); err != nil {
			return nil, err
		}
	}

	// Scheduled incremental backups (RPO = interval).
	if iv := cfg.Backup.Interval.Std(); iv > 0 {
		dir := cfg.Backup.Dir
		if dir == "" {
			dir = filepath.Join(opts.Home, BackupDir)
		}
		if n.backups, err = store.NewScheduler(n.db, store.SchedulerConfig{Dir: dir, Interval: iv, Logger: n.log.With("component", "backup"),
			OnSuccess: func(t time.Time) { n.metrics.BackupLast.Set(float64(t.Unix())) }}); err != nil {
			return nil, err
		}
		n.onClose(func(context.Context) error { return n.backups.Close() })
	}

	// HTTP API.
	handler := NewAPIHandler(APIHandlerConfig{
		Core: n.core, Ledger: n.ledger, Metrics: n.metrics, Token: token, MaxBodyBytes: cfg.API.MaxBodyBytes,
		Prover: &logProver{log: n.plog, epochs: n.epochs}, ProofRetryAfter: cfg.Provenance.Epoch.Std(), Backup: n.db.BackupFrom, BackupIdleTimeout: cfg.Backup.StreamIdleTimeout.Std(), Extra: n.apiRoutes, Module: n.policy.wasm, Providers: n.providerInfo, Ready: n.ready, Clock: opts.Clock, Logger: n.log.With("component", "api"),
		Events: n.events, EventsBufferSize: cfg.API.EventsBuffer, EventsHeartbeat: cfg.API.EventsHeartbeat.Std(), Endpoints: n.jobEndpoints, Logs: n.jobLogs,
	})
	n.ln = opts.APIListener
	if n.ln == nil {
		if n.ln, err = net.Listen("tcp", cfg.API.Listen); err != nil {
			return nil, fmt.Errorf("node: api listen: %w", err)
		}
	}
	n.server = &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)}
	// Event streams last as long as their jobs: Shutdown ends them first,
	// or it would wait for them.
	n.server.RegisterOnShutdown(n.events.Close)
	go func() { n.served <- n.server.Serve(jsonErrorListener{n.ln}) }()
	if n.fed != nil {
		loopCtx, stopLoop := context.WithCancel(context.Background())
		loopDone := make(chan struct{})
		go func() {
			defer close(loopDone)
			n.fed.loop(loopCtx, cfg.Provenance.Epoch.Std())
		}()
		n.onClose(func(context.Context) error { stopLoop(); <-loopDone; return nil })
	}
	n.onClose(func(ctx context.Context) error {
		err := n.server.Shutdown(ctx)
		if e := <-n.served; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
		return err
	})
	n.started.Store(true)
	n.log.Info("node ready", "did", string(n.id.DID), "peer", n.id.PeerID.String(), "api", n.ln.Addr().String())
	return n, nil
}

func (n *Node) onClose(f func(context.Context) error) { n.closes = append(n.closes, f) }

// ready is what /readyz says, read at the moment it is asked: started,
// not stopping, and the data volume above its reserve.
func (n *Node) ready() bool { return n.started.Load() && !n.disk.full.Load() }

// Close shuts the node down: stops taking orders, stops launch workers,
// flushes the ledger, closes the store. It is bounded by ShutdownTimeout
// and safe to call more than once.
func (n *Node) Close(ctx context.Context) error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	n.started.Store(false)
	ctx, cancel := context.WithTimeout(ctx, n.opts.ShutdownTimeout)
	defer cancel()
	var errs []error
	for i := len(n.closes) - 1; i >= 0; i-- {
		if err := n.closes[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run serves until ctx is done, then closes the node.
func (n *Node) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case err := <-n.served:
		n.served <- err
	}
	return n.Close(context.WithoutCancel(ctx))
}

// Identity returns the node's DID and peer ID.
func (n *Node) Identity() Identity { return n.id }

// APIAddr is the HTTP API's listen address.
func (n *Node) APIAddr() string { return n.ln.Addr().String() }

// Metrics returns the node's collectors.
func (n *Node) Metrics() *Metrics { return n.metrics }

// Core returns the order core (in-process clients, benchmarks).
func (n *Node) Core() *order.Core { return n.core }

// Ledger returns the job ledger.
func (n *Node) Ledger() *order.Ledger { return n.ledger }

// Epochs returns the provenance epoch loop.
func (n *Node) Epochs() *provenance.Epochs { return n.epochs }

// Log returns the provenance log.
func (n *Node) Log() *provenance.Log { return n.plog }

// Mesh returns the node's mesh, nil for a standalone node.
func (n *Node) Mesh() *mesh.Mesh {
	if n.fed == nil {
		return nil
	}
	return n.fed.mesh
}

// Provider returns the attached provider named name, or nil.
func (n *Node) Provider(name string) providers.Provider {
	for _, p := range n.provs {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// Store returns the node's database (backups).
func (n *Node) Store() *store.DB { return n.db }

func (n *Node) providerInfo() []ProviderInfo {
	rep := n.router.Reputation()
	out := make([]ProviderInfo, 0, len(n.provs))
	for _, p := range n.provs {
		c := p.Capabilities()
		out = append(out, ProviderInfo{Name: p.Name(), Regions: c.Regions, Capabilities: c, Healthy: c.Launch && !c.ManualOnly, Reputation: rep.Score(p.Name())})
	}
	return out
}

func lawOf(l LawConfig) providers.Law {
	return providers.Law{AllowedRegions: l.Regions, MinProviderReputation: l.MinProviderReputation, MaxPricePerGPUHour: providers.Money(l.MaxPricePerGPUHour)}
}

// logProver serves proofs from the provenance log and its epochs.
type logProver struct {
	log    *provenance.Log
	epochs *provenance.Epochs
}

func (p *logProver) ProofBundle(ctx context.Context, index uint64) ([]byte, error) {
	b, err := p.epochs.Bundle(ctx, index)
	if err != nil {
		return nil, err
	}
	return b.Marshal()
}

func (p *logProver) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	cp, err := p.log.LatestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	return cp.Note, nil
}

func byName(ps []providers.Provider) map[string]providers.Provider {
	m := make(map[string]providers.Provider, len(ps))
	for _, p := range ps {
		m[p.Name()] = p
	}
	return m
}

// funcClock adapts Options.Clock (a time source) to the house clock: waits
// and timers are real.
type funcClock func() time.Time

func (f funcClock) Now() time.Time { return f() }
func (funcClock) Sleep(ctx context.Context, d time.Duration) error {
	return clock.System{}.Sleep(ctx, d)
}
func (funcClock) AfterFunc(d time.Duration, fn func()) clock.Timer { return time.AfterFunc(d, fn) }

// meshLanes gives the order core the mesh's lanes with the treaty's
// canonical link (one quota per treaty, whatever CID a peer names).
type meshLanes struct{ m *mesh.Mesh }

func (l meshLanes) Lane(ctx context.Context, tl treaty.Link, from treaty.DID) (order.LaneInfo, error) {
	canon, t, lane, err := l.m.CanonicalLane(ctx, tl, from)
	if err != nil {
		return order.LaneInfo{}, err
	}
	return order.LaneInfo{Treaty: t, Lane: lane, Canonical: canon}, nil
}
