package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/clock"
	"github.com/aurora-federation/aurora/internal/boundedio"
	"github.com/aurora-federation/aurora/judge"
	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/std"
	"github.com/aurora-federation/aurora/provenance/ipfs"
	"github.com/aurora-federation/aurora/treaty"
)

// PolicyDir is the default policy.dir in a node home: the node's own
// modules, each named <CID>.wasm.
const PolicyDir = "policies"

// maxFetchBytes is policy.max_fetch_bytes' default and maximum: a module
// travels as one raw block, and one bitswap message carries at most this.
const maxFetchBytes = ipfs.MaxRawBlockSize

func (c *PolicyConfig) validate() error {
	if c.MaxModules == 0 {
		c.MaxModules = policy.DefaultMaxModules
	}
	if c.MaxFetchBytes == 0 {
		c.MaxFetchBytes = maxFetchBytes
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = Duration(judge.DefaultFetchTimeout)
	}
	switch {
	case c.MaxModules < 1 || c.MaxModules > 1024:
		return &ConfigError{Key: "policy.max_modules", Reason: fmt.Sprintf("%d: want 1 to 1024", c.MaxModules)}
	case c.MaxFetchBytes < 1024 || c.MaxFetchBytes > maxFetchBytes:
		return &ConfigError{Key: "policy.max_fetch_bytes", Reason: fmt.Sprintf("%d: want 1024 to %d (what one bitswap message carries)", c.MaxFetchBytes, maxFetchBytes)}
	case c.FetchTimeout.Std() < 100*time.Millisecond || c.FetchTimeout.Std() > 5*time.Minute:
		return &ConfigError{Key: "policy.fetch_timeout", Reason: fmt.Sprintf("%s: want 100ms to 5m", c.FetchTimeout.Std())}
	}
	return nil
}

// policies is the node's policy component: the engine, the judge, and
// where modules come from. A module a treaty names is looked for in the
// policy dir, then in the node's blockstore and at its treaty partners over
// bitswap (once the federation is attached); the judge checks every copy
// against the CID before compiling. The node publishes its own modules
// (the standard law, the policy dir's, the default module) to its
// blockstore, where bitswap serves them to partners.
type policies struct {
	eng   *policy.Engine
	judge *judge.WASM
	dir   string
	me    treaty.DID
	log   *slog.Logger
	ipfs  atomic.Pointer[ipfs.Node]
	// own are the modules to publish: the default module's bytes when it
	// is a file outside the dir (the dir's are read when attaching).
	own [][]byte
}

// newPolicies builds the engine and the judge; the engine's decision
// metrics and the judge's fetch metrics are registered on reg.
func newPolicies(ctx context.Context, cfg Config, home, cacheDir string, me treaty.DID, clk clock.Clock, log *slog.Logger, reg prometheus.Registerer) (_ *policies, err error) {
	p := &policies{dir: cfg.Policy.Dir, me: me, log: log}
	if p.dir == "" {
		p.dir = filepath.Join(home, PolicyDir)
	}
	if _, err := p.list(); err != nil {
		return nil, err
	}
	deadline := time.Duration(cfg.Policy.DeadlineMS) * time.Millisecond
	if p.eng, err = policy.New(policy.Config{CacheDir: cacheDir, Logger: log, DefaultDeadline: deadline, MaxModules: cfg.Policy.MaxModules, Registerer: reg}); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.eng.Close(ctx)
		}
	}()
	// The standard law judges every treaty whose policy.module is "".
	stdID, err := p.eng.LoadStd(ctx)
	if err != nil {
		return nil, fmt.Errorf("node: policy: standard law: %w", err)
	}
	def := stdID
	switch m := cfg.Policy.Module; {
	case m == "" || m == "std":
	case isCID(m):
		c, _ := cid.Decode(m)
		b, err := os.ReadFile(p.path(c))
		if err == nil {
			err = p.eng.LoadExpect(ctx, c, b)
		}
		if err != nil {
			return nil, &ConfigError{Key: "policy.module", Reason: fmt.Sprintf("module %s from %s: %v", c, p.dir, err)}
		}
		def = c
	default:
		b, err := os.ReadFile(m)
		if err == nil {
			def, err = p.eng.Load(ctx, b)
		}
		if err != nil {
			return nil, fmt.Errorf("node: policy module: %w", err)
		}
		p.own = append(p.own, b)
	}
	var params []byte
	if cfg.Policy.Params != "" {
		if params, err = boundedio.ReadFile(cfg.Policy.Params, policy.MaxLogParams); err == nil {
			_, err = p.eng.Prepare(ctx, def, params, policy.Limits{}) // params the module refuses stop the node here
		}
		if err != nil {
			return nil, &ConfigError{Key: "policy.params", Reason: err.Error()}
		}
	}
	p.judge, err = judge.New(judge.Config{Engine: p.eng, Default: def, DefaultParams: params, Sources: []judge.Source{
		{Name: "policy dir", Fetch: p.fromDir},
		{Name: "bitswap", Fetch: p.fromIPFS},
	}, FetchTimeout: cfg.Policy.FetchTimeout.Std(), MaxFetchBytes: cfg.Policy.MaxFetchBytes, Clock: clk, Registerer: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (p *policies) close(ctx context.Context) error {
	p.judge.Close()
	return p.eng.Close(ctx)
}

func isCID(s string) bool {
	c, err := cid.Decode(s)
	return err == nil && policy.CheckModuleCID(c) == nil
}

func (p *policies) path(c cid.Cid) string { return filepath.Join(p.dir, c.String()+".wasm") }

// list returns the modules in the policy dir (none when it does not
// exist). A .wasm file not named by a module CID is a configuration
// error: the node could never find it.
func (p *policies) list() ([]cid.Cid, error) {
	ents, err := os.ReadDir(p.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &ConfigError{Key: "policy.dir", Reason: err.Error()}
	}
	var out []cid.Cid
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".wasm")
		if !ok || e.IsDir() {
			continue
		}
		c, err := cid.Decode(name)
		if err != nil || policy.CheckModuleCID(c) != nil || c.String() != name {
			return nil, &ConfigError{Key: "policy.dir", Reason: fmt.Sprintf("%s: a module file is named by its CID, <CID>.wasm (add modules with `aurora policy add FILE`)", filepath.Join(p.dir, e.Name()))}
		}
		out = append(out, c)
	}
	return out, nil
}

// fromDir is the policy dir source. A copy that hashes right is also
// published to the blockstore, so a module added to the dir while the
// node runs reaches partners once a lane needs it.
func (p *policies) fromDir(ctx context.Context, c cid.Cid, limit int) ([]byte, error) {
	path := p.path(c)
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("not in %s", p.dir)
	}
	if st.Size() > int64(limit) {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", judge.ErrTooLarge, path, st.Size(), limit)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if policy.ModuleCID(b) == c {
		p.publish(ctx, b)
	}
	return b, nil
}

// fromIPFS is the blockstore and bitswap source: the node's own store,
// then the members bitswap talks to (parties to its active treaties and
// the configured auditors).
func (p *policies) fromIPFS(ctx context.Context, c cid.Cid, limit int) ([]byte, error) {
	n := p.ipfs.Load()
	if n == nil {
		return nil, errors.New("this node runs without a federation")
	}
	b, err := n.GetRaw(ctx, c, limit)
	if errors.Is(err, ipfs.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", judge.ErrTooLarge, err)
	}
	return b, err
}

// wasm returns the bytes of module c when this node holds it: loaded in
// the engine, or in the policy dir with bytes that hash to c. nil
// otherwise.
func (p *policies) wasm(c cid.Cid) []byte {
	if b, err := p.eng.Wasm(c); err == nil {
		return b
	}
	b, err := boundedio.ReadFile(p.path(c), maxFetchBytes)
	if err != nil || policy.ModuleCID(b) != c {
		return nil
	}
	return b
}

func (p *policies) publish(ctx context.Context, wasm []byte) {
	n := p.ipfs.Load()
	if n == nil {
		return
	}
	if _, err := n.PutRaw(ctx, wasm); err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "policy module not published", slog.String("module", policy.ModuleCID(wasm).String()), slog.String("error", err.Error()))
	}
}

// attach publishes the node's modules to n's blockstore (the standard law,
// the default module, every module in the policy dir whose bytes match its
// name), makes n a source of modules, and starts fetching the modules of
// the active treaties in treaties.
func (p *policies) attach(ctx context.Context, n *ipfs.Node, treaties []mesh.TreatyInfo) error {
	p.ipfs.Store(n)
	for _, b := range append([][]byte{std.Wasm()}, p.own...) {
		p.publish(ctx, b)
	}
	mods, err := p.list()
	if err != nil {
		return err
	}
	for _, c := range mods {
		b, err := os.ReadFile(p.path(c))
		switch {
		case err != nil:
			p.log.LogAttrs(ctx, slog.LevelError, "policy module unreadable", slog.String("module", c.String()), slog.String("error", err.Error()))
		case len(b) > ipfs.MaxRawBlockSize:
			p.log.LogAttrs(ctx, slog.LevelError, "policy module too large to publish", slog.String("module", c.String()), slog.Int("bytes", len(b)))
		case policy.ModuleCID(b) != c:
			p.log.LogAttrs(ctx, slog.LevelError, "policy module not published: its bytes do not match its name",
				slog.String("module", c.String()), slog.String("got", policy.ModuleCID(b).String()))
		default:
			p.publish(ctx, b)
		}
	}
	for _, ti := range treaties {
		p.treatyChanged(ti)
	}
	return nil
}

// treatyChanged starts fetching the module of an active treaty with a lane
// into this node (the node judges that lane), so the first order need not
// wait for it.
func (p *policies) treatyChanged(ti mesh.TreatyInfo) {
	t := ti.Treaty
	if ti.State != treaty.StateActive || t == nil || t.Policy.Module == "" || !t.IsParty(p.me) {
		return
	}
	for _, l := range t.Lanes {
		if l.To == p.me {
			if c, err := cid.Decode(t.Policy.Module); err == nil && policy.CheckModuleCID(c) == nil {
				p.judge.Prefetch(c)
			}
			return
		}
	}
}

// Decision returns the policy decision this node logged for the order
// ocid: the module and params CIDs, the params, the input record and the
// word, enough for anyone holding the module to re-run it
// (policy.Engine.Replay; GET /v1/jobs/{id}/decision serves it).
// order.ErrNotFound when the order was not judged by a module here.
func (n *Node) Decision(ctx context.Context, ocid cid.Cid) (*policy.LogEntry, error) {
	b, err := n.ledger.Decision(ctx, ocid)
	if err != nil {
		return nil, err
	}
	return policy.DecodeLogEntry(b)
}
