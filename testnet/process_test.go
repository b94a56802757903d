package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aurora-federation/aurora/node"
)

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(16)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || p > 65535 || seen[p] {
			t.Fatalf("ports %v: %d is zero, out of range or repeated", ports, p)
		}
		seen[p] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d is not free after FreePorts: %v", p, err)
		}
		l.Close()
	}
}

// TestNodeConfig: the config `aurora testnet up` gives node i is the one
// Start gives an in-process node (provider entries identical to the fakes'
// own ProviderConfig), `aurora init --set` with InitSets reproduces every
// setting but the providers table, and WriteNodeConfig's file loads back
// strictly to the same config.
func TestNodeConfig(t *testing.T) {
	home := filepath.Join(t.TempDir(), "node1")
	var fakes []FakeEndpoint
	var want []node.ProviderConfig
	wantDir := t.TempDir()
	for _, kind := range FakeKinds() {
		f, err := StartFake(kind, "127.0.0.1:0", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		addr := strings.TrimPrefix(strings.TrimSuffix(f.URL, fakeKinds()[kind].basePath), "http://")
		url, err := FakeURL(kind, addr)
		if err != nil || url != f.URL {
			t.Fatalf("FakeURL(%s, %s) = %s, %v; the fake serves at %s", kind, addr, url, err, f.URL)
		}
		fakes = append(fakes, FakeEndpoint{Kind: kind, URL: url})
		pc, err := f.ProviderConfig(wantDir, kind, NodeRegions(1))
		if err != nil {
			t.Fatal(err)
		}
		pc.CredentialFile = filepath.Join(home, filepath.Base(pc.CredentialFile))
		want = append(want, pc)
	}
	if _, err := FakeURL("nosuch", "127.0.0.1:1"); err == nil {
		t.Error("FakeURL accepted an unknown kind")
	}
	spec := NodeSpec{Index: 1, Home: home, Epoch: 500 * time.Millisecond, SimFailure: 0.1, APIListen: "127.0.0.1:17070",
		P2PListen: "/ip4/127.0.0.1/tcp/14001", Bootstrap: []string{"/ip4/127.0.0.1/tcp/14000/p2p/12D3KooWLhs2y96mbSPpJzzTyN5BpYvbTNmDRXhq1wGWuDkkcGK1"},
		Fakes: fakes, TSAs: []string{"http://127.0.0.1:3161/", "http://127.0.0.1:3162/"}, TSARoots: "/x/tsa-roots.pem"}
	cfg, err := NodeConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.P2P.MDNS || cfg.Backup.Interval != 0 || cfg.Provenance.Epoch.Std() != spec.Epoch || cfg.Federation != "testnet" ||
		cfg.API.Listen != spec.APIListen || !cmp.Equal(cfg.P2P.Listen, []string{spec.P2PListen}) || !cmp.Equal(cfg.Provenance.TSA, spec.TSAs) {
		t.Errorf("config: %+v", cfg)
	}
	if len(cfg.Providers) != 2+len(fakes) {
		t.Fatalf("%d providers, want 2 sims + %d fakes", len(cfg.Providers), len(fakes))
	}
	for i, p := range cfg.Providers {
		if !cmp.Equal(p.Regions, []string{"us-east"}) {
			t.Errorf("provider %s: regions %v, want node1's [us-east]", p.Name, p.Regions)
		}
		if i < 2 {
			if p.Kind != "sim" || p.Options["fail"] != "0.1" {
				t.Errorf("provider %d: %+v, want a sim failing 10%%", i, p)
			}
			continue
		}
		if diff := cmp.Diff(want[i-2], p); diff != "" {
			t.Errorf("provider %s differs from the fake's own ProviderConfig (-want +got):\n%s", p.Name, diff)
		}
		st, err := os.Stat(p.CredentialFile)
		if err != nil || st.Mode().Perm() != 0o600 || st.Size() == 0 {
			t.Errorf("credential %s: %v %v", p.CredentialFile, st, err)
		}
	}

	// `aurora init --set ...` gives every setting but the providers.
	fromSets := node.DefaultConfig()
	for _, kv := range InitSets(cfg) {
		k, v, _ := strings.Cut(kv, "=")
		if err := fromSets.Set(k, v); err != nil {
			t.Fatalf("--set %s: %v", kv, err)
		}
	}
	fromSets.Providers = cfg.Providers
	if diff := cmp.Diff(cfg, fromSets, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("InitSets miss settings (-want +got):\n%s", diff)
	}

	// The file written after init loads back strictly, unchanged.
	if _, err := node.InitHome(home, node.DefaultConfig(), false, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteNodeConfig(home, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := node.LoadConfig(home, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cfg, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("config.toml loads back differently (-want +got):\n%s", diff)
	}
}

// TestHelperProcess is the child the plumbing tests start: with
// GO_TESTNET_HELPER=1 it serves /readyz on the address after "--" until
// SIGTERM ("ignore-term" makes it wait for SIGKILL).
func TestHelperProcess(t *testing.T) {
	if os.Getenv("GO_TESTNET_HELPER") != "1" {
		t.Skip("helper process")
	}
	args := os.Args
	for len(args) > 0 && args[0] != "--" {
		args = args[1:]
	}
	if len(args) < 2 {
		os.Exit(2)
	}
	if len(args) > 2 && args[2] == "ignore-term" {
		signal.Ignore(syscall.SIGTERM)
	}
	ln, err := net.Listen("tcp", args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ready\n") }))
	os.Exit(4)
}

// TestStatusAndDown drives the status/down plumbing on helper processes
// standing in for a node, a fake and a TSA (the TSA one ignores SIGTERM).
func TestStatusAndDown(t *testing.T) {
	t.Setenv("GO_TESTNET_HELPER", "1")
	dir := t.TempDir()
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	var children []*child
	start := func(i int, extra ...string) Proc {
		c, err := startChild(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "--", addr(i)}, extra...), filepath.Join(dir, fmt.Sprintf("p%d.log", i)), dir, "")
		if err != nil {
			t.Fatal(err)
		}
		children = append(children, c)
		return c.proc
	}
	t.Cleanup(func() {
		for _, c := range children {
			c.proc.Signal(syscall.SIGKILL)
			<-c.done
		}
	})
	st := &ProcessState{Version: StateVersion, Dir: dir, Federation: "testnet", Ready: true,
		Nodes: []NodeProcess{{Proc: start(0), Index: 0, API: "http://" + addr(0)}},
		Fakes: []FakeProcess{{Proc: start(1), Kind: "vastai", Addr: addr(1), URL: "http://" + addr(1)}},
		TSAs:  []TSAProcess{{Proc: start(2, "ignore-term"), Index: 0, Addr: addr(2), URL: "http://" + addr(2) + "/"}},
	}
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, loaded); diff != "" {
		t.Errorf("testnet.json round trip (-want +got):\n%s", diff)
	}
	for _, p := range st.Processes() {
		if !p.Alive() {
			t.Fatalf("helper %d is not alive", p.PID)
		}
		if procfs && p.StartTime == 0 {
			t.Errorf("helper %d: no start time recorded", p.PID)
		}
	}
	// A recycled pid (same pid, another start time) is not the process.
	if procfs {
		p := st.Nodes[0].Proc
		p.StartTime++
		if p.Alive() {
			t.Error("a pid with another start time counts as alive")
		}
		if err := p.Signal(syscall.SIGKILL); err != nil || !st.Nodes[0].Alive() {
			t.Errorf("Signal on a recycled pid: %v; the real process alive: %v", err, st.Nodes[0].Alive())
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	allOK := func() bool {
		for _, s := range st.Status(ctx) {
			if !s.OK {
				return false
			}
		}
		return true
	}
	if err := pollUntil(ctx, children, allOK); err != nil {
		t.Fatalf("helpers never all up: %v %+v", err, st.Status(ctx))
	}
	checks := map[string]string{}
	for _, s := range st.Status(ctx) {
		checks[s.Name] = s.Check
	}
	if diff := cmp.Diff(map[string]string{"node0": "ready", "fake vastai": "listening", "tsa0": "listening"}, checks); diff != "" {
		t.Errorf("status checks (-want +got):\n%s", diff)
	}

	// A dead fake shows as down.
	if err := st.Fakes[0].Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-children[1].done
	for _, s := range st.Status(ctx) {
		if s.OK == (s.Name == "fake vastai") {
			t.Errorf("after killing the fake: %+v", s)
		}
	}

	// A running testnet cannot be overwritten, even with force.
	if err := prepareDir(dir, true); err == nil || !strings.Contains(err.Error(), "running testnet") {
		t.Errorf("prepareDir over a running testnet: %v", err)
	}

	var out bytes.Buffer
	begin := time.Now()
	if err := Down(dir, time.Second, &out); err != nil {
		t.Fatalf("down: %v\n%s", err, out.String())
	}
	for _, want := range []string{"node0", "stopped", "fake vastai", "not running", "tsa0", "killed", "testnet down"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("down output lacks %q:\n%s", want, out.String())
		}
	}
	if d := time.Since(begin); d > 15*time.Second {
		t.Errorf("down took %v with a 1s grace", d)
	}
	for _, p := range st.Processes() {
		if p.Alive() {
			t.Errorf("pid %d alive after down", p.PID)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("testnet.json after down: %v", err)
	}
	if err := Down(dir, time.Second, nil); err == nil {
		t.Error("down without a testnet succeeded")
	}
}

func TestPrepareDir(t *testing.T) {
	dir := t.TempDir()
	if err := prepareDir(filepath.Join(dir, "new"), false); err != nil {
		t.Fatalf("new dir: %v", err)
	}
	for _, p := range []string{"node0/key.pem", "tsa1/tsa/root.pem", "fakes/vastai.log", "client.key", "keep.txt"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := prepareDir(dir, false); err == nil {
		t.Fatal("a dir with a stopped testnet was accepted without --force")
	}
	if err := prepareDir(dir, true); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if !cmp.Equal(left, []string{"keep.txt", "new"}) {
		t.Errorf("after --force: %v, want only the files up does not own", left)
	}
}

func TestUpRejectsBadOptions(t *testing.T) {
	for _, o := range []UpOptions{
		{Dir: t.TempDir()},
		{Bin: "/bin/true"},
		{Bin: "/bin/true", Dir: t.TempDir(), Nodes: -1},
		{Bin: "/bin/true", Dir: t.TempDir(), Fakes: []string{"nosuch"}},
		{Bin: "/bin/true", Dir: t.TempDir(), Fakes: []string{"salad", "salad"}},
	} {
		if _, err := Up(t.Context(), o); err == nil {
			t.Errorf("Up(%+v) accepted", o)
		}
	}
}
