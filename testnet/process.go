package testnet

// The multi-process testnet behind `aurora testnet up|status|down`: provider
// fakes, two dev TSAs and the nodes run as child processes of the aurora
// binary, each in its own process group so they outlive `up`;
// DIR/testnet.json records them.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/treaty"
)

// StateFile names the file `aurora testnet up` writes in its directory.
const StateFile = "testnet.json"

// StateVersion is ProcessState.Version.
const StateVersion = 1

// ProcessState describes a multi-process testnet: DIR/testnet.json. `up`
// rewrites it after every process it starts (Ready false) so `down` can
// stop a half-started testnet, and once more when the federation is ready.
type ProcessState struct {
	Version    int           `json:"version"`
	Dir        string        `json:"dir"`
	Federation string        `json:"federation"`
	Created    time.Time     `json:"created"`
	Ready      bool          `json:"ready"`
	ClientKey  string        `json:"client_key"`
	ClientDID  string        `json:"client_did"`
	TSARoots   string        `json:"tsa_roots"` // PEM roots of both dev TSAs, for `aurora proof verify --tsa-roots`
	Fakes      []FakeProcess `json:"fakes"`
	TSAs       []TSAProcess  `json:"tsas"`
	Nodes      []NodeProcess `json:"nodes"`
	// Netns is set for a testnet on network namespaces (`up --netns`).
	Netns *NetnsState `json:"netns,omitempty"`
}

// NetnsState records the namespaces of a testnet on network namespaces,
// for `down` to remove.
type NetnsState struct {
	// Prefix starts every namespace's name (SweepNetns removes them all).
	Prefix string `json:"prefix"`
	// Subnet is the bridge's subnet.
	Subnet string `json:"subnet"`
	// Namespaces lists them, the bridge's first.
	Namespaces []string `json:"namespaces"`
	// Hosts are the lab's hosts: "svc" (fakes and TSAs) and node0….
	Hosts []LabHostState `json:"hosts"`
}

// LabHostState records one lab host (LabHostsOf rebuilds it).
type LabHostState struct {
	Name   string `json:"name"`
	NS     string `json:"ns"`
	Addr   string `json:"addr"`
	Public string `json:"public"`
	Router string `json:"router,omitempty"`
}

// LabHostsOf returns the lab hosts of a netns testnet, to cut, heal or
// shape their links from any process.
func LabHostsOf(st *ProcessState) ([]*LabHost, error) {
	if st.Netns == nil {
		return nil, errors.New("testnet: not a netns testnet")
	}
	sub, err := netip.ParsePrefix(st.Netns.Subnet)
	if err != nil {
		return nil, fmt.Errorf("testnet: netns subnet: %w", err)
	}
	lab := &Lab{prefix: st.Netns.Prefix, subnet: sub, bridge: st.Netns.Prefix + "br"}
	var out []*LabHost
	for _, h := range st.Netns.Hosts {
		a, err1 := netip.ParseAddr(h.Addr)
		pub, err2 := netip.ParseAddr(h.Public)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("testnet: netns host %s: %w", h.Name, err)
		}
		lh := &LabHost{Name: h.Name, NS: h.NS, Addr: a, Public: pub, Router: h.Router, lab: lab, port: "p-" + h.Name, uplink: "eth0", uplinkNS: h.NS}
		if h.Router != "" {
			lh.uplinkNS = h.Router
		}
		out = append(out, lh)
		lab.hosts = append(lab.hosts, lh)
	}
	return out, nil
}

// Proc is one child process.
type Proc struct {
	PID int `json:"pid"`
	// StartTime is the process start time in clock ticks since boot
	// (/proc/PID/stat field 22; 0 where there is no procfs): with it a
	// recycled pid is not mistaken for the process.
	StartTime uint64 `json:"start_time,omitempty"`
	Log       string `json:"log"`
	// Netns is the network namespace it runs in ("" = the machine's own
	// network); its addresses are reachable from inside it (DialIn).
	Netns string `json:"netns,omitempty"`
}

// FakeProcess is a provider fake (`aurora testnet fake-provider`).
type FakeProcess struct {
	Proc
	Kind string `json:"kind"`
	Addr string `json:"addr"` // host:port it listens on
	URL  string `json:"url"`  // the adapter's base_url
}

// TSAProcess is a dev RFC 3161 TSA (`aurora tsa serve`).
type TSAProcess struct {
	Proc
	Index int    `json:"index"`
	Home  string `json:"home"`
	Addr  string `json:"addr"`
	URL   string `json:"url"`
}

// Name is "tsa<Index>".
func (t TSAProcess) Name() string { return fmt.Sprintf("tsa%d", t.Index) }

// NodeProcess is a node (`aurora run`).
type NodeProcess struct {
	Proc
	Index   int      `json:"index"`
	Home    string   `json:"home"`
	API     string   `json:"api"` // base URL, http://127.0.0.1:PORT
	P2P     string   `json:"p2p"` // multiaddr with /p2p/<peer ID>
	PeerID  string   `json:"peer_id"`
	DID     string   `json:"did"`
	Origin  string   `json:"log_origin"` // the provenance log's origin, for `aurora proof verify --origin`
	Regions []string `json:"regions"`
	// NAT is set for a node behind a NAT router (netns testnets): peers
	// cannot dial it, it dials them.
	NAT bool `json:"nat,omitempty"`
	// Bin and Args are the command the node runs as (`aurora run …`), for
	// RestartNode.
	Bin  string   `json:"bin,omitempty"`
	Args []string `json:"args,omitempty"`
}

// Name is "node<Index>".
func (n NodeProcess) Name() string { return fmt.Sprintf("node%d", n.Index) }

// Name is "fake <Kind>".
func (f FakeProcess) Name() string { return "fake " + f.Kind }

// Processes lists every process: nodes first, then fakes and TSAs.
func (s *ProcessState) Processes() []Proc {
	var out []Proc
	for _, n := range s.Nodes {
		out = append(out, n.Proc)
	}
	for _, f := range s.Fakes {
		out = append(out, f.Proc)
	}
	for _, t := range s.TSAs {
		out = append(out, t.Proc)
	}
	return out
}

// LoadState reads DIR/testnet.json.
func LoadState(dir string) (*ProcessState, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	var s ProcessState
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("testnet: %s: %w", filepath.Join(dir, StateFile), err)
	}
	if s.Version != StateVersion {
		return nil, fmt.Errorf("testnet: %s: version %d, want %d", filepath.Join(dir, StateFile), s.Version, StateVersion)
	}
	return &s, nil
}

// Save writes the state to Dir/testnet.json atomically.
func (s *ProcessState) Save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.Dir, StateFile), append(data, '\n'), 0o644)
}

func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ---------------------------------------------------------------------------
// Processes: liveness, signals.

var procfs = func() bool { _, err := os.Stat("/proc/self/stat"); return err == nil }()

// procStat returns a process's state letter and start time from
// /proc/PID/stat.
func procStat(pid int) (state byte, start uint64, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// pid (comm) state ppid ... : comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("testnet: /proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, fmt.Errorf("testnet: /proc/%d/stat: malformed", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return f[0][0], start, err
}

func startTimeOf(pid int) uint64 {
	if !procfs {
		return 0
	}
	_, st, err := procStat(pid)
	if err != nil {
		return 0
	}
	return st
}

// Alive reports whether the process still runs: it answers signal 0, is
// not a zombie, and started when it was recorded (a recycled pid does not
// count).
func (p Proc) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	if err := syscall.Kill(p.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if !procfs {
		return true
	}
	state, start, err := procStat(p.PID)
	if err != nil {
		return false
	}
	if state == 'Z' || state == 'X' {
		return false
	}
	return p.StartTime == 0 || p.StartTime == start
}

// Signal sends sig to the process's group (every child runs in its own
// group), or to the process alone if it has no group. A process that is no
// longer Alive is left alone, so a recycled pid is never signalled.
func (p Proc) Signal(sig syscall.Signal) error {
	if !p.Alive() {
		return nil
	}
	err := syscall.Kill(-p.PID, sig)
	if errors.Is(err, syscall.ESRCH) {
		err = syscall.Kill(p.PID, sig)
	}
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// StopResult is how Stop ended one process.
type StopResult struct {
	Proc    Proc
	Outcome string // "not running", "stopped", "killed", "still running"
	After   time.Duration
}

// Stop SIGTERMs every live process group, waits up to grace for them to
// exit, SIGKILLs the rest and waits up to 5s more. It reports one result
// per process, in order.
func Stop(procs []Proc, grace time.Duration) []StopResult {
	res := make([]StopResult, len(procs))
	start := time.Now()
	for i, p := range procs {
		res[i].Proc = p
		if !p.Alive() {
			res[i].Outcome = "not running"
			continue
		}
		res[i].Outcome = "still running"
		_ = p.Signal(syscall.SIGTERM)
	}
	wait := func(deadline time.Time, outcome string) bool {
		for {
			left := 0
			for i := range res {
				if res[i].Outcome != "still running" {
					continue
				}
				if res[i].Proc.Alive() {
					left++
					continue
				}
				res[i].Outcome, res[i].After = outcome, time.Since(start)
			}
			if left == 0 {
				return true
			}
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if wait(start.Add(grace), "stopped") {
		return res
	}
	for i := range res {
		if res[i].Outcome == "still running" {
			_ = res[i].Proc.Signal(syscall.SIGKILL)
		}
	}
	wait(time.Now().Add(5*time.Second), "killed")
	return res
}

// ---------------------------------------------------------------------------
// Ports and node configuration.

// FreePorts returns n distinct free TCP ports on 127.0.0.1: it listens on
// port 0 n times, holding every listener until all are open, then closes
// them. Another process may take a port before the caller binds it; the
// window is short on loopback.
func FreePorts(n int) ([]int, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testnet: free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FakeURL is the adapter base_url of a fake of kind served at addr
// (host:port): what `aurora testnet fake-provider` prints.
func FakeURL(kind, addr string) (string, error) {
	k, ok := fakeKinds()[kind]
	if !ok {
		return "", fmt.Errorf("testnet: no fake for %q (have %s)", kind, strings.Join(FakeKinds(), ", "))
	}
	return "http://" + addr + k.basePath, nil
}

// NodeRegions is where node i's own providers place work (the plan Start
// uses: eu-west, us-east, eu-central, ap-southeast, round robin).
func NodeRegions(i int) []string { return slices.Clone(regionPlan[i%len(regionPlan)]) }

// FakeEndpoint is a running provider fake a node points at.
type FakeEndpoint struct {
	Kind string
	URL  string // as FakeURL returns
}

// NodeSpec is one node of a multi-process testnet.
type NodeSpec struct {
	Index      int
	Home       string
	Federation string        // default "testnet"
	Epoch      time.Duration // provenance epoch, default 1s
	SimFailure float64       // sim providers' launch failure rate, default 0.2
	APIListen  string        // host:port
	P2PListen  string        // multiaddr, e.g. /ip4/127.0.0.1/tcp/PORT
	P2PQUIC    string        // optional second listen multiaddr (QUIC)
	Bootstrap  []string      // multiaddrs with /p2p/<peer ID>
	Fakes      []FakeEndpoint
	TSAs       []string // provenance.tsa: two RFC 3161 URLs, or none
	TSARoots   string   // provenance.tsa_roots: PEM file of their roots
}

// NodeConfig is node s.Index's configuration, as Start builds it for an
// in-process node: the node's own regions, two sim providers with a
// failure rate, one [[providers]] entry per fake (its credential written to
// a 0600 file in s.Home, which is created), the TSAs, no mDNS, the given
// epoch and no scheduled backups.
func NodeConfig(s NodeSpec) (node.Config, error) {
	if s.Federation == "" {
		s.Federation = "testnet"
	}
	if s.Epoch == 0 {
		s.Epoch = time.Second
	}
	if s.SimFailure == 0 {
		s.SimFailure = 0.2
	}
	regions := NodeRegions(s.Index)
	cfg := node.DefaultConfig()
	cfg.Federation = s.Federation
	cfg.API.Listen = s.APIListen
	cfg.P2P.Listen = []string{s.P2PListen}
	if s.P2PQUIC != "" {
		cfg.P2P.Listen = append(cfg.P2P.Listen, s.P2PQUIC)
	}
	cfg.P2P.Bootstrap = append([]string{}, s.Bootstrap...)
	cfg.P2P.MDNS = false
	cfg.Provenance.Epoch = node.Duration(s.Epoch)
	cfg.Provenance.TSA = append([]string{}, s.TSAs...)
	cfg.Provenance.TSARoots = s.TSARoots
	cfg.Backup.Interval = 0
	cfg.Store = node.StoreConfig{ReserveBytes: 64 << 20, CheckInterval: node.Duration(time.Second)}
	cfg.Providers = []node.ProviderConfig{{
		Kind: "sim", Name: "sim-" + regions[0], Regions: regions,
		Options: map[string]string{"seed": fmt.Sprint(s.Index + 1), "fail": fmt.Sprint(s.SimFailure), "price": "1400000"},
	}, {
		Kind: "sim", Name: "sim-" + regions[0] + "-b", Regions: regions,
		Options: map[string]string{"seed": fmt.Sprint(100 + s.Index), "fail": fmt.Sprint(s.SimFailure), "price": "1900000"},
	}}
	if err := os.MkdirAll(s.Home, 0o700); err != nil {
		return cfg, err
	}
	for _, fe := range s.Fakes {
		k, ok := fakeKinds()[fe.Kind]
		if !ok {
			return cfg, fmt.Errorf("testnet: no fake for %q (have %s)", fe.Kind, strings.Join(FakeKinds(), ", "))
		}
		pc, err := (&Fake{Kind: fe.Kind, URL: fe.URL, kind: k}).ProviderConfig(s.Home, fe.Kind, regions)
		if err != nil {
			return cfg, err
		}
		cfg.Providers = append(cfg.Providers, pc)
	}
	return cfg, cfg.Validate()
}

// InitSets are the `aurora init --set key=value` arguments that give a
// default config cfg's scalar settings (everything but the providers
// table, which --set cannot express; WriteNodeConfig writes it).
func InitSets(cfg node.Config) []string {
	sets := []string{
		"federation=" + cfg.Federation,
		"api.listen=" + cfg.API.Listen,
		"p2p.listen=" + strings.Join(cfg.P2P.Listen, ","),
		"p2p.mdns=" + strconv.FormatBool(cfg.P2P.MDNS),
		"provenance.epoch=" + cfg.Provenance.Epoch.Std().String(),
		"backup.interval=" + cfg.Backup.Interval.Std().String(),
		"store.reserve_bytes=" + strconv.FormatInt(cfg.Store.ReserveBytes, 10),
		"store.reserve_percent=" + strconv.FormatFloat(cfg.Store.ReservePercent, 'g', -1, 64),
		"store.check_interval=" + cfg.Store.CheckInterval.Std().String(),
	}
	if len(cfg.P2P.Bootstrap) > 0 {
		sets = append(sets, "p2p.bootstrap="+strings.Join(cfg.P2P.Bootstrap, ","))
	}
	if len(cfg.Provenance.TSA) > 0 {
		sets = append(sets, "provenance.tsa="+strings.Join(cfg.Provenance.TSA, ","), "provenance.tsa_roots="+cfg.Provenance.TSARoots)
	}
	return sets
}

// WriteNodeConfig replaces home/config.toml with cfg (secrets stay in
// credential files; the file names them) and checks that it loads back.
func WriteNodeConfig(home string, cfg node.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	body, err := toml.Marshal(cfg)
	if err != nil {
		return err
	}
	data := append([]byte("# Aurora node configuration, written by `aurora testnet up`. Unknown keys are errors.\n\n"), body...)
	if err := writeAtomic(filepath.Join(home, node.ConfigFile), data, 0o644); err != nil {
		return err
	}
	got, err := node.LoadConfig(home, nil)
	if err != nil {
		return fmt.Errorf("testnet: %s does not load back: %w", filepath.Join(home, node.ConfigFile), err)
	}
	if len(got.Providers) != len(cfg.Providers) || got.API.Listen != cfg.API.Listen {
		return fmt.Errorf("testnet: %s loads back differently", filepath.Join(home, node.ConfigFile))
	}
	return nil
}

// ---------------------------------------------------------------------------
// Treaties over the API.

// ExchangeTreatiesHTTP is Testnet.ExchangeTreaties for nodes known only by
// their API (a multi-process testnet): node i proposes a treaty from
// template to node i+1 (a ring; one treaty for two nodes), the proposal
// travels by gossip, node i+1 countersigns it, and the call returns once
// every treaty is active on every node. apis carry operator tokens; dids
// are the nodes' DIDs, in the same order.
func ExchangeTreatiesHTTP(ctx context.Context, apis []*client.Client, dids []string, template string, report func(TreatyEvent)) error {
	if report == nil {
		report = func(TreatyEvent) {}
	}
	if len(apis) != len(dids) {
		return fmt.Errorf("testnet: %d APIs for %d DIDs", len(apis), len(dids))
	}
	if len(apis) < 2 {
		return nil
	}
	start := time.Now()
	type pending struct {
		from, to int
		cid      string
	}
	var all []pending
	pairs := len(apis)
	if pairs == 2 {
		pairs = 1
	}
	for i := range pairs {
		j := (i + 1) % len(apis)
		var view struct{ CID string }
		body, _ := json.Marshal(map[string]string{"template": template, "peer": dids[j]})
		if err := apis[i].Do(ctx, http.MethodPost, "/v1/treaties", "application/json", body, &view); err != nil {
			return fmt.Errorf("testnet: node%d proposes to node%d: %w", i, j, err)
		}
		report(TreatyEvent{From: i, To: j, CID: view.CID, Step: "proposed", Elapsed: time.Since(start)})
		all = append(all, pending{i, j, view.CID})
	}
	for _, p := range all {
		if err := waitFor(ctx, func() bool {
			return apis[p.to].Do(ctx, http.MethodGet, "/v1/treaties/"+p.cid, "", nil, nil) == nil
		}); err != nil {
			return fmt.Errorf("testnet: treaty %s never reached node%d: %w", p.cid, p.to, err)
		}
		var signed struct{ CID string }
		if err := apis[p.to].Do(ctx, http.MethodPost, "/v1/treaties/"+p.cid+"/sign", "application/json", nil, &signed); err != nil {
			return fmt.Errorf("testnet: node%d countersigns: %w", p.to, err)
		}
		report(TreatyEvent{From: p.from, To: p.to, CID: signed.CID, Step: "countersigned", Elapsed: time.Since(start)})
	}
	// The CID changes as parties sign; wait on the final one.
	for i := range all {
		var v struct{ CID string }
		if err := apis[all[i].to].Do(ctx, http.MethodGet, "/v1/treaties/"+all[i].cid, "", nil, &v); err != nil {
			return err
		}
		all[i].cid = v.CID
	}
	for _, p := range all {
		for k, api := range apis {
			if err := waitFor(ctx, func() bool {
				var v struct{ State string }
				return api.Do(ctx, http.MethodGet, "/v1/treaties/"+p.cid, "", nil, &v) == nil && v.State == "active"
			}); err != nil {
				return fmt.Errorf("testnet: treaty %s not active on node%d: %w", p.cid, k, err)
			}
		}
		report(TreatyEvent{From: p.from, To: p.to, CID: p.cid, Step: "active everywhere", Elapsed: time.Since(start)})
	}
	return nil
}

// WaitConnected polls GET /v1/peers until every node reports a live
// connection to every other node (peerIDs in the same order as apis).
func WaitConnected(ctx context.Context, apis []*client.Client, peerIDs []string) error {
	connected := func(api *client.Client) map[string]bool {
		var v struct {
			Peers []struct {
				PeerID    string `json:"peer_id"`
				Connected bool   `json:"connected"`
			} `json:"peers"`
		}
		out := map[string]bool{}
		if api.Do(ctx, http.MethodGet, "/v1/peers", "", nil, &v) == nil {
			for _, p := range v.Peers {
				out[p.PeerID] = out[p.PeerID] || p.Connected
			}
		}
		return out
	}
	for i := range apis {
		var missing string
		if err := waitFor(ctx, func() bool {
			got := connected(apis[i])
			for j, id := range peerIDs {
				if j != i && !got[id] {
					missing = fmt.Sprintf("node%d", j)
					return false
				}
			}
			return true
		}); err != nil {
			return fmt.Errorf("testnet: node%d never connected to %s: %w", i, missing, err)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// up, status, down.

// UpOptions configures Up.
type UpOptions struct {
	// Bin is the aurora binary (os.Executable() for the CLI).
	Bin string
	// Dir holds testnet.json, client.key, tsa-roots.pem, the node homes
	// (node0, ...), the TSA homes (tsa0, tsa1) and the fakes' logs
	// (fakes/KIND.log).
	Dir string
	// Nodes is the number of nodes. Default 3.
	Nodes int
	// Fakes are the provider networks to fake. Default vastai, salad, akash;
	// empty non-nil = none.
	Fakes []string
	// Epoch is the provenance epoch. Default 1s.
	Epoch time.Duration
	// SimFailure is the sim providers' launch failure rate. Default 0.2.
	SimFailure float64
	// Federation name. Default "testnet".
	Federation string
	// Force wipes a stopped testnet's homes, logs and client key in Dir.
	Force bool
	// Timeout bounds the whole start (readiness, peering, treaties).
	// Default 3m.
	Timeout time.Duration
	// Out receives progress and endpoint lines. Default: discard.
	Out io.Writer

	// Netns runs every process in a network namespace of its own on one
	// bridge (which lives in a namespace too): the fakes and TSAs in one
	// "svc" host, each node in its own with its own address (10.77.0.0/24
	// unless LabSubnet is set), its API on 127.0.0.1:7070 inside it and
	// libp2p on TCP and QUIC port 4001 of its address. Needs root,
	// iproute2 (and nftables for NAT). Down removes the namespaces.
	Netns bool
	// NAT puts the last NAT nodes each behind a NAT router of its own
	// (nftables masquerade): they dial their peers, nobody can dial them.
	// At most 1 (two NAT'd nodes could not reach each other). Netns only.
	NAT int
	// NATForward has the NAT routers forward TCP port 4001 to their
	// nodes, which announce the router's public address (p2p.announce):
	// their partners can dial them. Netns only.
	NATForward bool
	// LabPrefix starts every namespace's name (at most 10 bytes of
	// [a-z0-9-]). Default "aur" + 6 hex digits of a hash of Dir + "-".
	// Up first removes namespaces an earlier testnet with this prefix left.
	LabPrefix string
	// LabSubnet is the bridge's private IPv4 /24. Default 10.77.0.0/24.
	LabSubnet netip.Prefix
	// Configure, if set, adjusts node i's configuration before its
	// config.toml is written.
	Configure func(i int, cfg *node.Config)
}

// labPrefixOf is the default LabPrefix of a testnet directory.
func labPrefixOf(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "aur" + hex.EncodeToString(sum[:3]) + "-"
}

// child is a process Up started and is waiting on.
type child struct {
	proc Proc
	name string
	done chan struct{}
	err  error
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Up starts a multi-process testnet in o.Dir: the fakes and two dev TSAs,
// then the nodes
// (`aurora init` + `aurora run`, one after the other; node i bootstraps to
// nodes 0..i-1, so node 0 is everyone's bootstrap peer and every pair is
// connected), waits for every /readyz and for the nodes to peer, exchanges
// treaties in a ring and writes Dir/testnet.json. The processes outlive
// the caller; Down stops them. On error everything started is stopped and
// the logs are kept.
func Up(ctx context.Context, o UpOptions) (st *ProcessState, err error) {
	if o.Bin == "" || o.Dir == "" {
		return nil, errors.New("testnet: up needs the aurora binary and a directory")
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 1 || o.Nodes > 64 {
		return nil, fmt.Errorf("testnet: %d nodes: want 1 to 64", o.Nodes)
	}
	if o.Fakes == nil {
		o.Fakes = []string{"vastai", "salad", "akash"}
	}
	seen := map[string]bool{}
	for _, k := range o.Fakes {
		if _, ok := fakeKinds()[k]; !ok {
			return nil, fmt.Errorf("testnet: no fake for %q (have %s)", k, strings.Join(FakeKinds(), ", "))
		}
		if seen[k] {
			return nil, fmt.Errorf("testnet: fake %q listed twice", k)
		}
		seen[k] = true
	}
	if o.Federation == "" {
		o.Federation = "testnet"
	}
	if o.Epoch == 0 {
		o.Epoch = time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.NAT != 0 && (!o.Netns || o.NAT < 0 || o.NAT > 1 || o.NAT >= o.Nodes) {
		return nil, fmt.Errorf("testnet: --nat %d: want 0, or 1 with --netns and at least 2 nodes", o.NAT)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, o.Force); err != nil {
		return nil, err
	}
	if o.LabPrefix == "" {
		o.LabPrefix = labPrefixOf(dir)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	st = &ProcessState{Version: StateVersion, Dir: dir, Federation: o.Federation, Created: time.Now().UTC()}
	var children []*child
	var lab *Lab
	defer func() {
		if err == nil {
			return
		}
		var procs []Proc
		for _, c := range children {
			procs = append(procs, c.proc)
		}
		Stop(procs, 15*time.Second)
		if lab != nil {
			lab.Close()
		}
		os.Remove(filepath.Join(dir, StateFile))
		if len(children) > 0 {
			fmt.Fprintf(o.Out, "testnet: stopped the %d processes started; logs kept in %s\n", len(children), dir)
		}
	}()
	// Where each process runs: its namespace ("" = this machine's
	// network) and the address it listens on.
	var svc *LabHost
	hosts := make([]*LabHost, o.Nodes)
	if o.Netns {
		if lab, err = NewLab(ctx, LabConfig{Prefix: o.LabPrefix, Subnet: o.LabSubnet}); err != nil {
			return nil, err
		}
		st.Netns = &NetnsState{Prefix: lab.Prefix(), Subnet: lab.subnet.String()}
		if svc, err = lab.AddHost(ctx, "svc"); err != nil {
			return nil, err
		}
		for i := range hosts {
			add := lab.AddHost
			if i >= o.Nodes-o.NAT {
				add = lab.AddNATHost
			}
			if hosts[i], err = add(ctx, fmt.Sprintf("node%d", i)); err != nil {
				return nil, err
			}
		}
		st.Netns.Namespaces = lab.Namespaces()
		for _, h := range lab.Hosts() {
			st.Netns.Hosts = append(st.Netns.Hosts, LabHostState{Name: h.Name, NS: h.NS, Addr: h.Addr.String(), Public: h.Public.String(), Router: h.Router})
		}
		if err := st.Save(); err != nil {
			return nil, err
		}
	}
	nsOf := func(h *LabHost) string {
		if h == nil {
			return ""
		}
		return h.NS
	}
	start := func(ns, name, logPath string, args ...string) (*child, error) {
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			return nil, err
		}
		c, err := startChild(o.Bin, args, logPath, dir, ns)
		if err != nil {
			return nil, fmt.Errorf("testnet: start %s: %w", name, err)
		}
		c.name = name
		children = append(children, c)
		return c, nil
	}
	// fail explains a failed wait, naming a child that died if one did.
	fail := func(what string, werr error) error {
		for _, c := range children {
			if c.exited() {
				return fmt.Errorf("testnet: %s exited (%v) while waiting for %s; last log lines of %s:\n%s", c.name, c.err, what, c.proc.Log, tail(c.proc.Log, 15))
			}
		}
		return fmt.Errorf("testnet: waiting for %s: %w", what, werr)
	}

	ports, err := FreePorts(len(o.Fakes) + 2 + 2*o.Nodes)
	if err != nil {
		return nil, err
	}
	next := func() string { p := ports[0]; ports = ports[1:]; return "127.0.0.1:" + strconv.Itoa(p) }
	svcPort := 8000
	if o.Netns {
		// The services share one host; its ports are fixed.
		next = func() string { svcPort++; return net.JoinHostPort(svc.Addr.String(), strconv.Itoa(svcPort)) }
	}

	// Provider fakes.
	var endpoints []FakeEndpoint
	for _, kind := range o.Fakes {
		addr := next()
		url, _ := FakeURL(kind, addr)
		c, err := start(nsOf(svc), "fake "+kind, filepath.Join(dir, "fakes", kind+".log"), "testnet", "fake-provider", "--kind", kind, "--listen", addr)
		if err != nil {
			return nil, err
		}
		st.Fakes = append(st.Fakes, FakeProcess{Proc: c.proc, Kind: kind, Addr: addr, URL: url})
		endpoints = append(endpoints, FakeEndpoint{Kind: kind, URL: url})
		if err := st.Save(); err != nil {
			return nil, err
		}
	}

	// Two dev TSAs: their CAs are made here (so the roots file exists
	// before any node starts), `aurora tsa serve` loads them.
	var roots []byte
	for i := range 2 {
		home := filepath.Join(dir, fmt.Sprintf("tsa%d", i))
		dev, err := tsa.NewDevTSA(filepath.Join(home, "tsa"), nil)
		if err != nil {
			return nil, err
		}
		roots = append(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: dev.Root().Raw})...)
		addr := next()
		c, err := start(nsOf(svc), fmt.Sprintf("tsa%d", i), filepath.Join(home, "tsa.log"), "tsa", "serve", "--home", home, "--listen", addr)
		if err != nil {
			return nil, err
		}
		st.TSAs = append(st.TSAs, TSAProcess{Proc: c.proc, Index: i, Home: home, Addr: addr, URL: "http://" + addr + "/"})
		if err := st.Save(); err != nil {
			return nil, err
		}
	}
	st.TSARoots = filepath.Join(dir, "tsa-roots.pem")
	if err := writeAtomic(st.TSARoots, roots, 0o644); err != nil {
		return nil, err
	}
	for _, f := range st.Fakes {
		if err := pollUntil(ctx, children, func() bool { return dialable(f.Netns, f.Addr) }); err != nil {
			return nil, fail(f.Name()+" to listen on "+f.Addr, err)
		}
	}
	for _, t := range st.TSAs {
		if err := pollUntil(ctx, children, func() bool { return dialable(t.Netns, t.Addr) }); err != nil {
			return nil, fail(t.Name()+" to listen on "+t.Addr, err)
		}
	}

	// Client key.
	st.ClientKey = filepath.Join(dir, "client.key")
	ck, err := node.WriteClientKey(st.ClientKey, true, nil)
	if err != nil {
		return nil, err
	}
	st.ClientDID = string(ck.DID())

	// Node homes: `aurora init` with --set for the scalar keys, in parallel.
	specs := make([]NodeSpec, o.Nodes)
	cfgs := make([]node.Config, o.Nodes)
	for i := range specs {
		specs[i] = NodeSpec{Index: i, Home: filepath.Join(dir, fmt.Sprintf("node%d", i)), Federation: o.Federation, Epoch: o.Epoch,
			SimFailure: o.SimFailure, Fakes: endpoints, TSAs: []string{st.TSAs[0].URL, st.TSAs[1].URL}, TSARoots: st.TSARoots}
		if o.Netns {
			// Every node has a network of its own: the same ports everywhere.
			specs[i].APIListen = "127.0.0.1:7070"
			specs[i].P2PListen = "/ip4/" + hosts[i].Addr.String() + "/tcp/4001"
			specs[i].P2PQUIC = "/ip4/" + hosts[i].Addr.String() + "/udp/4001/quic-v1"
		} else {
			specs[i].APIListen = "127.0.0.1:" + strconv.Itoa(ports[0])
			specs[i].P2PListen = "/ip4/127.0.0.1/tcp/" + strconv.Itoa(ports[1])
			ports = ports[2:]
		}
	}
	ids := make([]node.Identity, o.Nodes)
	initErrs := make([]error, o.Nodes)
	var wg sync.WaitGroup
	for i := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], initErrs[i] = initHome(ctx, o.Bin, specs[i], &cfgs[i])
			if initErrs[i] == nil && o.NATForward && hosts[i] != nil && hosts[i].Router != "" {
				cfgs[i].P2P.Announce = []string{"/ip4/" + hosts[i].Public.String() + "/tcp/4001"}
				initErrs[i] = hosts[i].ForwardPort(ctx, 4001)
			}
			if initErrs[i] == nil && o.Configure != nil {
				o.Configure(i, &cfgs[i])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(initErrs...); err != nil {
		return nil, err
	}
	// Node i bootstraps to nodes 0..i-1, so every pair of nodes is
	// connected: without the DHT (p2p.dht=false) the mesh forwards only to
	// treaty peers whose addresses it knows, and it learns them by
	// connecting.
	var boots []string
	for i := range specs {
		if hosts[i] != nil && hosts[i].Router != "" {
			break // nobody can dial a node behind NAT (they are last)
		}
		boots = append(boots, specs[i].P2PListen+"/p2p/"+ids[i].PeerID.String())
	}
	shared := filepath.Join(dir, "policy-cache")
	if err := os.MkdirAll(shared, 0o700); err != nil {
		return nil, err
	}
	for i := range specs {
		cfgs[i].P2P.Bootstrap = slices.Clone(boots[:min(i, len(boots))])
		if err := WriteNodeConfig(specs[i].Home, cfgs[i]); err != nil {
			return nil, err
		}
		// One wazero compilation cache for every node (like Start's
		// PolicyCacheDir): node0 compiles the policy, the others reuse it.
		// wazero writes cache entries with temp file + rename.
		if err := os.Symlink(filepath.Join("..", "policy-cache"), filepath.Join(specs[i].Home, node.CacheDir)); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		st.Nodes = append(st.Nodes, NodeProcess{Index: i, Home: specs[i].Home, API: "http://" + specs[i].APIListen,
			P2P: specs[i].P2PListen + "/p2p/" + ids[i].PeerID.String(), PeerID: ids[i].PeerID.String(), DID: string(ids[i].DID),
			Origin: "aurora/" + o.Federation + "/" + ids[i].PeerID.String(), Regions: NodeRegions(i), NAT: hosts[i] != nil && hosts[i].Router != ""})
	}

	// Nodes, one after the other: each dials the ones before it.
	apis := make([]*client.Client, o.Nodes)
	runNode := func(i int) error {
		s := specs[i]
		args := []string{"run", "--home", s.Home, "--api-listen", s.APIListen, "--p2p-listen", s.P2PListen}
		if s.P2PQUIC != "" {
			args = append(args, "--p2p-listen", s.P2PQUIC)
		}
		for _, b := range cfgs[i].P2P.Bootstrap {
			args = append(args, "--bootstrap", b)
		}
		c, err := start(nsOf(hosts[i]), st.Nodes[i].Name(), filepath.Join(s.Home, "node.log"), args...)
		if err != nil {
			return err
		}
		st.Nodes[i].Proc, st.Nodes[i].Bin, st.Nodes[i].Args = c.proc, o.Bin, args
		tok, err := node.LoadToken(s.Home)
		if err != nil {
			return err
		}
		apis[i] = client.New(st.Nodes[i].API, string(tok))
		apis[i].HTTP = HTTPClientIn(c.proc.Netns, 10*time.Second)
		return st.Save()
	}
	ready := func(i int) error {
		if err := pollUntil(ctx, children, func() bool { return readyz(ctx, st.Nodes[i].Netns, st.Nodes[i].API) == nil }); err != nil {
			return fail(st.Nodes[i].Name()+" /readyz", err)
		}
		return nil
	}
	for i := range specs {
		if err := runNode(i); err != nil {
			return nil, err
		}
		if err := ready(i); err != nil {
			return nil, err
		}
	}
	peerIDs := make([]string, o.Nodes)
	dids := make([]string, o.Nodes)
	for i, n := range st.Nodes {
		peerIDs[i], dids[i] = n.PeerID, n.DID
	}
	if err := WaitConnected(ctx, apis, peerIDs); err != nil {
		return nil, fail("the nodes to peer", err)
	}
	if err := ExchangeTreatiesHTTP(ctx, apis, dids, treaty.TemplateBilateral, func(e TreatyEvent) {
		if e.Step == "active everywhere" {
			fmt.Fprintf(o.Out, "treaty  node%d → node%d  %s  active on every node after %d ms\n", e.From, e.To, e.CID, e.Elapsed.Milliseconds())
		}
	}); err != nil {
		return nil, fail("treaties", err)
	}
	st.Ready = true
	if err := st.Save(); err != nil {
		return nil, err
	}
	for _, f := range st.Fakes {
		fmt.Fprintf(o.Out, "fake    %-7s %s  pid %d  log %s\n", f.Kind, f.URL, f.PID, f.Log)
	}
	for _, t := range st.TSAs {
		fmt.Fprintf(o.Out, "tsa%-4d %s  pid %d  log %s\n", t.Index, t.URL, t.PID, t.Log)
	}
	fmt.Fprintf(o.Out, "tsa     roots %s\n", st.TSARoots)
	for _, n := range st.Nodes {
		where := ""
		if n.Netns != "" {
			where = "  netns " + n.Netns
			if n.NAT {
				where += " (behind NAT)"
			}
		}
		fmt.Fprintf(o.Out, "node%-3d api %s  p2p %s  did %s  regions %s  pid %d  log %s%s\n",
			n.Index, n.API, n.P2P, n.DID, strings.Join(n.Regions, ","), n.PID, n.Log, where)
	}
	if st.Netns != nil {
		fmt.Fprintf(o.Out, "netns   %s* on bridge %s (reach an API with: ip netns exec %s curl %s/readyz)\n",
			st.Netns.Prefix, st.Netns.Subnet, st.Nodes[0].Netns, st.Nodes[0].API)
	}
	fmt.Fprintf(o.Out, "client  key %s  did %s\n", st.ClientKey, st.ClientDID)
	fmt.Fprintf(o.Out, "state   %s\n", filepath.Join(dir, StateFile))
	fmt.Fprintf(o.Out, "testnet ready: %d nodes (%s)\n", o.Nodes, dir)
	return st, nil
}

// RestartNode starts node i again with the command it was started with
// (in its namespace, appending to its log), after its process exited or
// was killed, and records the new process in the state file. It does not
// wait for the node to be ready (poll its /readyz).
func (s *ProcessState) RestartNode(i int) error {
	if i < 0 || i >= len(s.Nodes) {
		return fmt.Errorf("testnet: no node%d", i)
	}
	n := &s.Nodes[i]
	if n.Bin == "" || len(n.Args) == 0 {
		return fmt.Errorf("testnet: %s has no recorded command (state written by an older aurora)", n.Name())
	}
	if n.Alive() {
		return fmt.Errorf("testnet: %s (pid %d) is still running", n.Name(), n.PID)
	}
	c, err := startChild(n.Bin, n.Args, n.Log, s.Dir, n.Netns)
	if err != nil {
		return fmt.Errorf("testnet: restart %s: %w", n.Name(), err)
	}
	n.Proc = c.proc
	return s.Save()
}

// prepareDir refuses a directory holding a running testnet, and one holding
// a stopped testnet unless force (which wipes it).
func prepareDir(dir string, force bool) error {
	var lab *NetnsState
	if st, err := LoadState(dir); err == nil {
		for _, p := range st.Processes() {
			if p.Alive() {
				return fmt.Errorf("testnet: %s holds a running testnet (pid %d); run: aurora testnet down --dir %s", dir, p.PID, dir)
			}
		}
		lab = st.Netns
	}
	old, _ := filepath.Glob(filepath.Join(dir, "node[0-9]*"))
	tsas, _ := filepath.Glob(filepath.Join(dir, "tsa[0-9]*"))
	old = append(old, tsas...)
	for _, extra := range []string{StateFile, "client.key", "fakes", "policy-cache", "tsa-roots.pem"} {
		if _, err := os.Lstat(filepath.Join(dir, extra)); err == nil {
			old = append(old, filepath.Join(dir, extra))
		}
	}
	if len(old) > 0 && !force {
		return fmt.Errorf("testnet: %s already holds a testnet (%s); use a new --dir or --force to wipe it", dir, filepath.Base(old[0]))
	}
	if lab != nil && lab.Prefix != "" {
		if err := SweepNetns(context.Background(), lab.Prefix); err != nil {
			return err
		}
	}
	for _, p := range old {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return os.MkdirAll(dir, 0o755)
}

// childEnv is the environment without AURORA_* variables: a node's
// config comes from its home only.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AURORA_") {
			env = append(env, kv)
		}
	}
	return env
}

// startChild starts bin args in its own process group with stdout and
// stderr appended to logPath, and reaps it when it exits. With ns it runs
// in that network namespace (ip netns exec, which execs bin: the pid is
// bin's).
func startChild(bin string, args []string, logPath, dir, ns string) (*child, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	if ns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	}
	cmd.Dir = dir
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{proc: Proc{PID: cmd.Process.Pid, StartTime: startTimeOf(cmd.Process.Pid), Log: logPath, Netns: ns}, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// initHome runs `aurora init` for s and returns the node's identity and
// full configuration (in *cfg).
func initHome(ctx context.Context, bin string, s NodeSpec, cfg *node.Config) (node.Identity, error) {
	c, err := NodeConfig(s)
	if err != nil {
		return node.Identity{}, err
	}
	*cfg = c
	args := []string{"init", "--home", s.Home}
	for _, kv := range InitSets(c) {
		args = append(args, "--set", kv)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return node.Identity{}, fmt.Errorf("testnet: aurora %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	k, err := node.LoadKey(filepath.Join(s.Home, node.KeyFile))
	if err != nil {
		return node.Identity{}, err
	}
	return node.IdentityOf(k)
}

// pollUntil polls cond every 100ms until it holds, ctx ends or a child
// exits.
func pollUntil(ctx context.Context, children []*child, cond func() bool) error {
	for {
		if cond() {
			return nil
		}
		for _, c := range children {
			if c.exited() {
				return fmt.Errorf("%s exited", c.name)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dialable reports whether addr accepts TCP connections from inside ns.
func dialable(ns, addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := DialIn(ns)(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// readyz returns nil when base/readyz answers 200 (asked from inside ns).
func readyz(ctx context.Context, ns, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return err
	}
	probe := HTTPClientIn(ns, 3*time.Second)
	defer probe.CloseIdleConnections()
	resp, err := probe.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s", resp.Status)
	}
	return nil
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 64<<10 {
		f.Seek(-64<<10, io.SeekEnd)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// ProcStatus is one line of `aurora testnet status`.
type ProcStatus struct {
	Name     string
	PID      int
	Alive    bool
	Check    string // "ready", "listening" or what failed
	OK       bool   // alive and the check passed
	Endpoint string
}

// Status checks every process of a testnet: liveness (signal 0) and, for
// nodes, GET /readyz; for fakes and TSAs, that their port accepts
// connections.
func (s *ProcessState) Status(ctx context.Context) []ProcStatus {
	var out []ProcStatus
	for _, n := range s.Nodes {
		ps := ProcStatus{Name: n.Name(), PID: n.PID, Alive: n.Alive(), Endpoint: n.API}
		if err := readyz(ctx, n.Netns, n.API); err != nil {
			ps.Check = "readyz: " + err.Error()
		} else {
			ps.Check = "ready"
		}
		ps.OK = ps.Alive && ps.Check == "ready"
		out = append(out, ps)
	}
	listening := func(name string, p Proc, addr, url string) ProcStatus {
		ps := ProcStatus{Name: name, PID: p.PID, Alive: p.Alive(), Endpoint: url, Check: "not listening"}
		if dialable(p.Netns, addr) {
			ps.Check = "listening"
		}
		ps.OK = ps.Alive && ps.Check == "listening"
		return ps
	}
	for _, f := range s.Fakes {
		out = append(out, listening(f.Name(), f.Proc, f.Addr, f.URL))
	}
	for _, t := range s.TSAs {
		out = append(out, listening(t.Name(), t.Proc, t.Addr, t.URL))
	}
	return out
}

// Down stops every process of the testnet in dir (SIGTERM to each process
// group, SIGKILL after grace; nodes before fakes and TSAs) and removes
// testnet.json. It fails, keeping testnet.json, if a process survives.
func Down(dir string, grace time.Duration, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	st, err := LoadState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("testnet: no testnet in %s (no %s)", dir, StateFile)
	}
	if err != nil {
		return err
	}
	var nodes, others []Proc
	var names []string
	for _, n := range st.Nodes {
		nodes = append(nodes, n.Proc)
		names = append(names, n.Name())
	}
	for _, f := range st.Fakes {
		others = append(others, f.Proc)
		names = append(names, f.Name())
	}
	for _, t := range st.TSAs {
		others = append(others, t.Proc)
		names = append(names, t.Name())
	}
	// Nodes first: they may still talk to the fakes and TSAs while
	// shutting down.
	res := append(Stop(nodes, grace), Stop(others, grace)...)
	var left []string
	for i, r := range res {
		switch r.Outcome {
		case "stopped", "killed":
			fmt.Fprintf(out, "%-12s pid %-7d %s after %.1fs\n", names[i], r.Proc.PID, r.Outcome, r.After.Seconds())
		default:
			fmt.Fprintf(out, "%-12s pid %-7d %s\n", names[i], r.Proc.PID, r.Outcome)
		}
		if r.Outcome == "still running" {
			left = append(left, names[i])
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("testnet: still running after SIGKILL: %s", strings.Join(left, ", "))
	}
	if st.Netns != nil && st.Netns.Prefix != "" {
		if err := SweepNetns(context.Background(), st.Netns.Prefix); err != nil {
			return err
		}
		fmt.Fprintf(out, "netns        %s* removed\n", st.Netns.Prefix)
	}
	if err := os.Remove(filepath.Join(dir, StateFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	fmt.Fprintf(out, "testnet down (%s)\n", dir)
	return nil
}
