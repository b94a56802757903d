package testnet

// Network namespaces for testnets on a real network: each host (a node
// process, the services) in its own namespace with its own address, linked
// by a veth pair to one bridge that lives in a namespace of its own, so
// nothing of the machine's own network is touched; optional NAT routers
// (nftables masquerade) in front of some hosts; link cuts and token-bucket
// shaping (tbf) of one host's link. Everything is built with ip(8), tc(8)
// and nft(8) and removed by deleting the namespaces.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNetnsUnavailable wraps the reason network namespaces cannot be
// created on this machine (not root, no ip(8), no kernel support): tests
// skip on it and on nothing else.
var ErrNetnsUnavailable = errors.New("testnet: network namespaces unavailable")

// LabConfig configures NewLab.
type LabConfig struct {
	// Prefix starts the name of every namespace the lab creates: at most
	// 10 bytes of [a-z0-9-]. A new lab first removes the namespaces (and
	// the processes in them) an earlier lab with the same prefix left
	// behind, so give concurrent labs distinct prefixes (LockLabPrefix).
	// Required.
	Prefix string
	// Subnet is the bridge's IPv4 /24: hosts get .10 upwards, NAT routers
	// .200 upwards. Default 10.77.0.0/24.
	Subnet netip.Prefix
}

// Lab is a set of network namespaces on one bridge. Its methods are safe
// for concurrent use; Close removes everything it created.
type Lab struct {
	prefix string
	subnet netip.Prefix
	bridge string // the bridge's namespace

	mu     sync.Mutex // protects following
	hosts  []*LabHost
	extra  []string // router namespaces
	nats   int
	closed bool
}

// LabHost is one host of a lab: a namespace with an eth0 on the bridge
// (or, behind NAT, on its router's LAN).
type LabHost struct {
	// Name is the host's name in the lab.
	Name string
	// NS is its network namespace (ip netns exec NS …).
	NS string
	// Addr is the host's own address: on the bridge, or behind NAT the
	// private one, which no other host can reach.
	Addr netip.Addr
	// Public is the address other hosts see its connections come from:
	// Addr, or the NAT router's bridge address.
	Public netip.Addr
	// Router is the NAT router's namespace ("" for a host on the bridge).
	Router string

	lab *Lab
	// port is the bridge port (in the bridge namespace) carrying every
	// packet of the host; uplink is the host-side interface and namespace
	// shaped for its egress.
	port             string
	uplink, uplinkNS string
}

// validName reports whether s is 1 to 10 bytes of [a-z0-9], or of
// [a-z0-9-] after the first byte when dash.
func validName(s string, dash bool) bool {
	if len(s) == 0 || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || dash && i > 0 && c == '-') {
			return false
		}
	}
	return true
}

// NetnsAvailable reports, as an error wrapping ErrNetnsUnavailable, why
// namespaces cannot be created here; nil when they can (it creates and
// deletes one probe namespace named prefix+"probe").
func NetnsAvailable(ctx context.Context, prefix string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root (uid %d)", ErrNetnsUnavailable, os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: no ip(8) (apt-get install iproute2): %v", ErrNetnsUnavailable, err)
	}
	name := prefix + "probe"
	_ = run(ctx, "ip", "netns", "del", name)
	if err := run(ctx, "ip", "netns", "add", name); err != nil {
		return fmt.Errorf("%w: %v", ErrNetnsUnavailable, err)
	}
	defer run(context.WithoutCancel(ctx), "ip", "netns", "del", name)
	if err := run(ctx, "ip", "-n", name, "link", "add", "probe0", "type", "veth", "peer", "name", "probe1"); err != nil {
		return fmt.Errorf("%w: veth: %v", ErrNetnsUnavailable, err)
	}
	return nil
}

// NewLab creates the bridge namespace (prefix+"br") after sweeping what an
// earlier lab with the same prefix left. A failure to create namespaces
// at all wraps ErrNetnsUnavailable.
func NewLab(ctx context.Context, cfg LabConfig) (*Lab, error) {
	if !validName(cfg.Prefix, true) {
		return nil, fmt.Errorf("testnet: lab prefix %q: want 1 to 10 bytes of [a-z0-9-]", cfg.Prefix)
	}
	if !cfg.Subnet.IsValid() {
		cfg.Subnet = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, 0, 0}), 24)
	}
	if !cfg.Subnet.Addr().Is4() || cfg.Subnet.Bits() != 24 || !cfg.Subnet.Addr().IsPrivate() {
		return nil, fmt.Errorf("testnet: lab subnet %s: want a private IPv4 /24", cfg.Subnet)
	}
	if err := NetnsAvailable(ctx, cfg.Prefix); err != nil {
		return nil, err
	}
	if err := SweepNetns(ctx, cfg.Prefix); err != nil {
		return nil, err
	}
	l := &Lab{prefix: cfg.Prefix, subnet: cfg.Subnet.Masked(), bridge: cfg.Prefix + "br"}
	if err := run(ctx, "ip", "netns", "add", l.bridge); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNetnsUnavailable, err)
	}
	for _, args := range [][]string{
		{"ip", "-n", l.bridge, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", l.bridge, "link", "set", "br0", "up"},
		{"ip", "-n", l.bridge, "link", "set", "lo", "up"},
	} {
		if err := run(ctx, args...); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// Prefix is the lab's namespace prefix.
func (l *Lab) Prefix() string { return l.prefix }

// Namespaces lists every namespace of the lab, the bridge's first.
func (l *Lab) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []string{l.bridge}
	for _, h := range l.hosts {
		out = append(out, h.NS)
	}
	return append(out, l.extra...)
}

// Hosts lists the lab's hosts in the order they were added.
func (l *Lab) Hosts() []*LabHost {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*LabHost(nil), l.hosts...)
}

func (l *Lab) addr(n int) netip.Addr {
	b := l.subnet.Addr().As4()
	b[3] = byte(n)
	return netip.AddrFrom4(b)
}

// reserve names a new host and gives it its bridge address index.
func (l *Lab) reserve(name string, nat bool) (idx int, err error) {
	if !validName(name, false) {
		return 0, fmt.Errorf("testnet: lab host name %q: want 1 to 10 bytes of [a-z0-9]", name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, errors.New("testnet: lab closed")
	}
	for _, h := range l.hosts {
		if h.Name == name {
			return 0, fmt.Errorf("testnet: lab host %q exists", name)
		}
	}
	if nat {
		if l.nats >= 50 {
			return 0, errors.New("testnet: at most 50 NAT routers per lab")
		}
		l.nats++
		return 199 + l.nats, nil
	}
	n := 0
	for _, h := range l.hosts {
		if h.Router == "" {
			n++
		}
	}
	if n >= 180 {
		return 0, errors.New("testnet: at most 180 bridge hosts per lab")
	}
	return 10 + n, nil
}

// plug makes namespace ns with an eth0 on the bridge at address a.
func (l *Lab) plug(ctx context.Context, ns, port string, a netip.Addr) error {
	for _, args := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", l.bridge, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "-n", l.bridge, "link", "set", port, "master", "br0", "up"},
		{"ip", "-n", ns, "addr", "add", a.String() + "/24", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
	} {
		if err := run(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// AddHost adds a host on the bridge: namespace Prefix+name, eth0 at the
// next bridge address.
func (l *Lab) AddHost(ctx context.Context, name string) (*LabHost, error) {
	idx, err := l.reserve(name, false)
	if err != nil {
		return nil, err
	}
	h := &LabHost{Name: name, NS: l.prefix + name, Addr: l.addr(idx), lab: l, port: "p-" + name}
	h.Public, h.uplink, h.uplinkNS = h.Addr, "eth0", h.NS
	l.mu.Lock()
	l.hosts = append(l.hosts, h) // before plugging, so Close removes a half-made host
	l.mu.Unlock()
	if err := l.plug(ctx, h.NS, h.port, h.Addr); err != nil {
		return nil, err
	}
	return h, nil
}

// AddNATHost adds a host behind its own NAT router: the router's
// namespace (Prefix+name+"gw") has an eth0 on the bridge and a LAN to the
// host, which has a private address on it and its default route through
// the router. The router masquerades the host's connections (nftables) and
// forwards nothing new from the bridge to the host: other hosts cannot
// dial it, it can dial them. Needs nft(8).
func (l *Lab) AddNATHost(ctx context.Context, name string) (*LabHost, error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, fmt.Errorf("testnet: a NAT host needs nft(8) (apt-get install nftables): %w", err)
	}
	idx, err := l.reserve(name, true)
	if err != nil {
		return nil, err
	}
	k := idx - 199
	gwLAN := netip.AddrFrom4([4]byte{10, 78, byte(k), 1})
	h := &LabHost{Name: name, NS: l.prefix + name, Addr: netip.AddrFrom4([4]byte{10, 78, byte(k), 2}), Public: l.addr(idx),
		Router: l.prefix + name + "gw", lab: l, port: "p-" + name}
	h.uplink, h.uplinkNS = "eth0", h.Router
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.extra = append(l.extra, h.Router)
	l.mu.Unlock()
	if err := l.plug(ctx, h.Router, h.port, h.Public); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"ip", "netns", "add", h.NS},
		{"ip", "-n", h.Router, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"ip", "-n", h.Router, "addr", "add", gwLAN.String() + "/24", "dev", "lan0"},
		{"ip", "-n", h.Router, "link", "set", "lan0", "up"},
		{"ip", "-n", h.NS, "addr", "add", h.Addr.String() + "/24", "dev", "eth0"},
		{"ip", "-n", h.NS, "link", "set", "eth0", "up"},
		{"ip", "-n", h.NS, "link", "set", "lo", "up"},
		{"ip", "-n", h.NS, "route", "add", "default", "via", gwLAN.String()},
		{"ip", "netns", "exec", h.Router, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"},
	} {
		if err := run(ctx, args...); err != nil {
			return nil, err
		}
	}
	rules := `table ip aurora_nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth0" masquerade
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "lan0" oifname "eth0" accept
	}
}
`
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.Router, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testnet: nft in %s: %w: %s", h.Router, err, bytes.TrimSpace(out))
	}
	return h, nil
}

// ForwardPort makes the router of a host behind NAT forward TCP port to
// the host (DNAT), as an operator's port forward does: other hosts can then
// dial the host at its router's public address. Needs nft(8).
func (h *LabHost) ForwardPort(ctx context.Context, port int) error {
	if h.Router == "" {
		return fmt.Errorf("testnet: %s is not behind NAT", h.Name)
	}
	if port <= 0 || port > 65535 {
		return fmt.Errorf("testnet: forward port %d: want 1 to 65535", port)
	}
	rules := fmt.Sprintf(`table ip aurora_nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "eth0" tcp dport %[1]d dnat to %[2]s:%[1]d
	}
	chain forward {
		iifname "eth0" oifname "lan0" ip daddr %[2]s tcp dport %[1]d accept
	}
}
`, port, h.Addr)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.Router, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testnet: nft port forward in %s: %w: %s", h.Router, err, bytes.TrimSpace(out))
	}
	return nil
}

// Cut takes the host's bridge port down: every packet to or from the host
// (behind NAT: its router) is dropped, as in a real partition; the host's
// loopback still works.
func (h *LabHost) Cut(ctx context.Context) error {
	return run(ctx, "ip", "-n", h.lab.bridge, "link", "set", h.port, "down")
}

// Unplug takes the host's own interface down (behind NAT: its router's
// uplink), as when a machine loses its link: its routes go, so its own
// dials fail at once ("network is unreachable"), while its peers' packets
// to it are dropped as in a Cut.
func (h *LabHost) Unplug(ctx context.Context) error {
	return run(ctx, "ip", "-n", h.uplinkNS, "link", "set", h.uplink, "down")
}

// Reject partitions the host as a router that knows the path is down
// would: every other host has an unreachable route to it, and it to every
// other host, so dials on both sides fail at once ("no route to host").
func (h *LabHost) Reject(ctx context.Context) error {
	return h.rejectRoutes(ctx, "add")
}

// rejectRoutes adds or deletes Reject's routes.
func (h *LabHost) rejectRoutes(ctx context.Context, op string) error {
	var errs []error
	for _, o := range h.lab.Hosts() {
		if o == h {
			continue
		}
		for _, r := range []struct {
			ns string
			to netip.Addr
		}{{h.NS, o.Public}, {o.NS, h.Public}} {
			err := run(ctx, "ip", "-n", r.ns, "route", op, "unreachable", r.to.String()+"/32")
			if op == "add" {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Heal undoes Cut, Unplug and Reject: the bridge port and the host's
// interface up, Reject's routes gone.
func (h *LabHost) Heal(ctx context.Context) error {
	if err := run(ctx, "ip", "-n", h.uplinkNS, "link", "set", h.uplink, "up"); err != nil {
		return err
	}
	if err := run(ctx, "ip", "-n", h.lab.bridge, "link", "set", h.port, "up"); err != nil {
		return err
	}
	return h.rejectRoutes(ctx, "del") // after a Cut or an Unplug there are none
}

// Shape is a token-bucket limit on a link (tc-tbf(8)).
type Shape struct {
	// Rate is the sustained rate in bits per second. Required.
	Rate int64
	// Burst is the bucket size in bytes. Default Rate/80 (100 ms of
	// traffic), at least 4 KiB.
	Burst int64
	// Latency bounds the time a packet may wait in the queue before it is
	// dropped. Default 100ms.
	Latency time.Duration
}

// Shape limits the host's link in both directions (the bridge port's
// egress toward the host, and the host's or its router's uplink egress)
// to s; Shape again replaces the limit.
func (h *LabHost) Shape(ctx context.Context, s Shape) error {
	if s.Rate <= 0 {
		return errors.New("testnet: shape: Rate must be positive")
	}
	if s.Burst == 0 {
		s.Burst = max(s.Rate/80, 4096)
	}
	if s.Latency == 0 {
		s.Latency = 100 * time.Millisecond
	}
	tbf := []string{"root", "tbf", "rate", strconv.FormatInt(s.Rate, 10) + "bit", "burst", strconv.FormatInt(s.Burst, 10),
		"latency", strconv.FormatInt(s.Latency.Milliseconds(), 10) + "ms"}
	if err := run(ctx, append([]string{"tc", "-n", h.lab.bridge, "qdisc", "replace", "dev", h.port}, tbf...)...); err != nil {
		return err
	}
	return run(ctx, append([]string{"tc", "-n", h.uplinkNS, "qdisc", "replace", "dev", h.uplink}, tbf...)...)
}

// Unshape removes the host's link limits.
func (h *LabHost) Unshape(ctx context.Context) error {
	err1 := run(ctx, "tc", "-n", h.lab.bridge, "qdisc", "del", "dev", h.port, "root")
	err2 := run(ctx, "tc", "-n", h.uplinkNS, "qdisc", "del", "dev", h.uplink, "root")
	return errors.Join(err1, err2)
}

// Command returns a command that runs name in the host's namespace
// (ip netns exec). ip execs the program, so the command's pid is the
// program's.
func (h *LabHost) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// DialContext dials from inside the host's namespace (its loopback
// included): what a program running on the host would reach.
func (h *LabHost) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return DialIn(h.NS)(ctx, network, addr)
}

// HTTPClient is an HTTP client whose connections start inside the host's
// namespace.
func (h *LabHost) HTTPClient(timeout time.Duration) *http.Client { return HTTPClientIn(h.NS, timeout) }

// HTTPClientIn is an HTTP client that dials from inside namespace ns (""
// = this process's own network).
func HTTPClientIn(ns string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: DialIn(ns), MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}}
}

// Close stops every process still running in the lab's namespaces
// (SIGKILL) and deletes the namespaces, which removes their links, the
// bridge and the NAT rules with them. It is safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	nss := l.Namespaces()
	for i := len(nss) - 1; i >= 0; i-- {
		errs = append(errs, removeNetns(ctx, nss[i]))
	}
	return errors.Join(errs...)
}

// SweepNetns removes every namespace whose name starts with prefix,
// SIGKILLing the processes left running in them first: what an aborted
// run with the same prefix left behind.
func SweepNetns(ctx context.Context, prefix string) error {
	if prefix == "" {
		return errors.New("testnet: sweep needs a prefix")
	}
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("testnet: ip netns list: %w", err)
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if name != "" && strings.HasPrefix(name, prefix) {
			errs = append(errs, removeNetns(ctx, name))
		}
	}
	return errors.Join(errs...)
}

// removeNetns kills the processes in ns and deletes it.
func removeNetns(ctx context.Context, ns string) error {
	for range 50 {
		out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
		if err != nil {
			break // no such namespace
		}
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(netnsPath(ns)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return run(ctx, "ip", "netns", "del", ns)
}

func netnsPath(ns string) string { return filepath.Join("/run/netns", ns) }

// LockLabPrefix picks the first free slot s of base (0 ≤ s < slots) by
// taking an exclusive lock on /run/aurora-netns/<base><s>.lock, and
// returns the prefix "<base><s>-" for a Lab: concurrent runs (two go test
// processes) get distinct prefixes, and a slot whose owner died (its lock
// died with it) is reused, the lab sweeping what it left. release drops
// the lock.
func LockLabPrefix(base string, slots int) (prefix string, release func(), err error) {
	dir := "/run/aurora-netns"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrNetnsUnavailable, err)
	}
	for s := range slots {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%s%d.lock", base, s)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return "", nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		return fmt.Sprintf("%s%d-", base, s), func() { f.Close() }, nil
	}
	return "", nil, fmt.Errorf("testnet: all %d lab slots of %q are in use", slots, base)
}

// LabSlotSubnet is a distinct bridge subnet per slot prefix (10.77.S.0/24
// for prefix "<base>S-"), for logs that name addresses.
func LabSlotSubnet(prefix string) netip.Prefix {
	digits := strings.TrimSuffix(prefix, "-")
	i := len(digits)
	for i > 0 && digits[i-1] >= '0' && digits[i-1] <= '9' {
		i--
	}
	s, _ := strconv.Atoi(digits[i:])
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, byte(s % 256), 0}), 24)
}

// run runs a command, returning its output in the error.
func run(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("testnet: %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
