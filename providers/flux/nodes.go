package flux

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
)

// The load balancer may refuse. FluxOS registers or updates an app only on a
// node with at least 8 outgoing and 4 incoming peers, answering "Sorry, This
// Flux does not have enough outgoing peers for safe application
// registration" otherwise (RunOnFlux/flux@845aa9b
// ZelBack/src/services/appDatabase/registryManager.js L1746-1751,
// appLifecycle/advancedWorkflows.js L2847-2850, config/default.js
// fluxapps.minOutgoing/minIncoming), and the balancer in front of the nodes
// may hand the call to such a node, or fail itself. Flux's own deployment
// tool then finds healthy nodes in the deterministic node list, probes their
// peer counts, and verifies and registers through one of them: it needs no
// affinity, since sessions are self-signed and the message is gossiped from
// whichever node took it (RunOnFlux/flux-cloud-mcp src/deploy.ts
// selectNodes, isNodeSideFailure, plan; src/fluxapi.ts listNodeEndpoints,
// nodeHealth, findHealthyNodes). The adapter does the same.

// Peer minimums a node must meet to take a registration.
const (
	minOutgoingPeers = 8
	minIncomingPeers = 4
)

// Defaults of Config.
const (
	DefaultMaxNodeProbes = 24
	DefaultHealthyNodes  = 3
	probeBatch           = 6
	// maxNodeListBytes bounds the deterministic node list (some 13,000
	// entries of a few hundred bytes on mainnet).
	maxNodeListBytes = 16 << 20
	// maxLocations bounds the instances read from /apps/location.
	maxLocations = 256
	// defaultAPIPort is a FluxOS node's API port when an address omits it
	// (ZelBack/src/services/utils/socketAddressUtils.js DEFAULT_API_PORT).
	defaultAPIPort = 16127
)

// nodeSideRE matches FluxOS and gateway messages that mean "this node cannot
// take it now" rather than "the request is wrong": flux-cloud-mcp's
// isNodeSideFailure patterns, plus FluxOS's own peer-count refusals.
var nodeSideRE = regexp.MustCompile(`(?i)unavailable|still reconciling|timeout|timed out|enough (outgoing|incoming) peers`)

// nodeSide reports whether err is the node's (or the balancer's) failure:
// a transport error, an HTTP 5xx, or a FluxOS envelope matching nodeSideRE.
// A validation error, an auth error or a context end is not.
func nodeSide(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, providers.ErrAuth) {
		return false
	}
	var fe *APIError
	if errors.As(err, &fe) {
		return nodeSideRE.MatchString(fe.Message)
	}
	var he *httpx.APIError
	if errors.As(err, &he) {
		return he.Status >= 500
	}
	return true
}

// node is one FluxOS API to post messages to: the balancer or a node.
type node struct {
	base string
	http *httpx.Client
}

// nodeClient builds a client for a node's API.
func (c *Client) nodeClient(base string) (*httpx.Client, error) {
	return httpx.New(c.httpCfg, httpx.API{Name: Name, BaseURL: base})
}

// nodeAddr parses a deterministic-list or location address ("ip" or
// "ip:port") into an IPv4 address and port; ok is false for anything else,
// and, unless local is set, for addresses that are not public unicast.
func nodeAddr(s string, local bool) (netip.AddrPort, bool) {
	host, port := s, strconv.Itoa(defaultAPIPort)
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	ip, err := netip.ParseAddr(host)
	n, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || perr != nil || n == 0 || !ip.Is4() {
		return netip.AddrPort{}, false
	}
	if !local && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLinkLocalMulticast()) {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, uint16(n)), true
}

// healthyNodes lists FluxNodes (GET /daemon/viewdeterministiczelnodelist on
// the balancer), shuffles them, and probes at most Config.MaxNodeProbes, a
// few at a time, until Config.HealthyNodes meet the peer minimums
// (/flux/connectedpeersinfo, /flux/incomingconnectionsinfo).
func (c *Client) healthyNodes(ctx context.Context) ([]node, error) {
	cfg := c.httpCfg
	cfg.MaxResponseBytes = maxNodeListBytes
	lister, err := httpx.New(cfg, httpx.API{Name: Name, BaseURL: c.baseURL})
	if err != nil {
		return nil, err
	}
	resp, err := lister.Do(ctx, httpx.Request{Path: "/daemon/viewdeterministiczelnodelist", Op: "node list"})
	if err != nil {
		return nil, err
	}
	data, err := unwrapEnvelope("node list", resp.Body)
	if err != nil {
		return nil, err
	}
	var list []struct {
		IP      string `json:"ip"`
		Network string `json:"network"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("flux: node list: %w", err)
	}
	var pool []netip.AddrPort
	seen := map[netip.AddrPort]bool{}
	for _, n := range list {
		if n.Network != "" && n.Network != "ipv4" {
			continue
		}
		if a, ok := nodeAddr(n.IP, c.allowLocal); ok && !seen[a] {
			seen[a] = true
			pool = append(pool, a)
		}
	}
	if err := c.shuffle(pool); err != nil {
		return nil, err
	}
	pool = pool[:min(len(pool), c.maxProbes)]
	var healthy []node
	for i := 0; i < len(pool) && len(healthy) < c.healthyWant; i += probeBatch {
		batch := pool[i:min(i+probeBatch, len(pool))]
		ok := make([]*node, len(batch))
		var wg sync.WaitGroup
		for j, a := range batch {
			wg.Go(func() { ok[j] = c.probe(ctx, a) })
		}
		wg.Wait()
		for _, n := range ok {
			if n != nil && len(healthy) < c.healthyWant {
				healthy = append(healthy, *n)
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if len(healthy) == 0 {
		return nil, fmt.Errorf("flux: no FluxOS node with %d outgoing and %d incoming peers among %d probed", minOutgoingPeers, minIncomingPeers, len(pool))
	}
	return healthy, nil
}

// probe returns the node at a if it meets the peer minimums, else nil.
func (c *Client) probe(ctx context.Context, a netip.AddrPort) *node {
	base := "http://" + a.String()
	h, err := c.nodeClient(base)
	if err != nil {
		return nil
	}
	count := func(path string) int {
		resp, err := h.Do(ctx, httpx.Request{Path: path, Op: "node health", Retry: httpx.RetryRateLimitOnly})
		if err != nil {
			return -1
		}
		data, err := unwrapEnvelope("node health", resp.Body)
		if err != nil {
			return -1
		}
		var peers []json.RawMessage
		if json.Unmarshal(data, &peers) != nil {
			return -1
		}
		return len(peers)
	}
	if count("/flux/connectedpeersinfo") < minOutgoingPeers || count("/flux/incomingconnectionsinfo") < minIncomingPeers {
		return nil
	}
	return &node{base: base, http: h}
}

// shuffle is Fisher-Yates over Config.Rand.
func (c *Client) shuffle(a []netip.AddrPort) error {
	var b [8]byte
	for i := len(a) - 1; i > 0; i-- {
		if _, err := c.rand.Read(b[:]); err != nil {
			return fmt.Errorf("flux: shuffle nodes: %w", err)
		}
		j := int(binary.BigEndian.Uint64(b[:]) % uint64(i+1))
		a[i], a[j] = a[j], a[i]
	}
	return nil
}

// publish verifies body on a node (verifyPath), lets check see the node's
// formatted specification (quote it, hold it to the cap: a non-nil error
// stops), then signs and posts the message of kind there (msgPath). It
// tries the balancer first; when the balancer fails on the node's side
// (nodeSide), it tries healthy nodes in turn. It returns the formatted spec
// and the message hash.
func (c *Client) publish(ctx context.Context, name, kind, verifyPath, msgPath string, body []byte, check func(formatted json.RawMessage) error) (json.RawMessage, string, error) {
	k, err := c.identity()
	if err != nil {
		return nil, "", err
	}
	try := func(n node) (json.RawMessage, string, error) {
		formatted, err := c.post(ctx, n.http, "verify "+kind, verifyPath, body, "", httpx.RetryIdempotent)
		if err != nil {
			return nil, "", err
		}
		if err := check(formatted); err != nil {
			return nil, "", &checkError{err}
		}
		hash, err := c.submit(ctx, n.http, k, kind, msgPath, name, formatted)
		return formatted, hash, err
	}
	formatted, hash, err := try(node{base: c.baseURL, http: c.http})
	var ce *checkError
	if err == nil || errors.As(err, &ce) || !nodeSide(ctx, err) {
		return formatted, hash, unwrapCheck(err)
	}
	c.log.WarnContext(ctx, "flux load balancer could not take the message; trying healthy nodes", "app", name, "kind", kind, "err", err)
	nodes, nerr := c.healthyNodes(ctx)
	if nerr != nil {
		return nil, "", fmt.Errorf("%w (and finding another node: %w)", err, nerr)
	}
	for _, n := range nodes {
		formatted, hash, err = try(n)
		if err == nil {
			c.log.InfoContext(ctx, "flux message taken by a healthy node", "app", name, "kind", kind, "node", n.base)
			return formatted, hash, nil
		}
		if errors.As(err, &ce) || !nodeSide(ctx, err) {
			return nil, "", unwrapCheck(err)
		}
		c.log.WarnContext(ctx, "flux node could not take the message", "app", name, "node", n.base, "err", err)
	}
	return nil, "", err
}

// checkError marks the caller's check failing, which no other node cures.
type checkError struct{ err error }

func (e *checkError) Error() string { return e.err.Error() }
func (e *checkError) Unwrap() error { return e.err }

func unwrapCheck(err error) error {
	var ce *checkError
	if errors.As(err, &ce) {
		return ce.err
	}
	return err
}

// chainInterval is one entry of deploymentinformation's price table: what
// consensus charges per month, in FLUX, from height on.
type chainInterval struct {
	Height   int64   `json:"height"`
	CPU      float64 `json:"cpu"`
	RAM      float64 `json:"ram"`
	HDD      float64 `json:"hdd"`
	MinPrice float64 `json:"minPrice"`
	Port     float64 `json:"port"`
	Scope    float64 `json:"scope"`
	StaticIP float64 `json:"staticip"`
}

// consensusMinimum is the least FLUX nodes accept for the message of spec
// confirming at height: the chain table's monthly price of the spec (a
// third of the resources per instance, extra instances, scope and static
// IP), times expire/88000, ceiled to 0.01, at least minPrice
// (RunOnFlux/flux@845aa9b ZelBack/src/services/utils/appUtilities.js
// appPricePerMonth; appMessaging/messageVerifier.js checkAndRequestApp;
// mirrored by flux-cloud-mcp src/pricing.ts consensusMinimumFlux). An update
// is charged less (the unused term is credited), so this errs high for it.
// Arithmetic is float64, as in JavaScript. ok is false when no interval
// applies.
func consensusMinimum(spec json.RawMessage, table []chainInterval, height int64) (float64, bool) {
	var in *chainInterval
	for i := range table {
		if table[i].Height < height {
			in = &table[i]
		}
	}
	if in == nil {
		return 0, false
	}
	var s struct {
		Compose []struct {
			CPU float64 `json:"cpu"`
			RAM float64 `json:"ram"`
			HDD float64 `json:"hdd"`
		} `json:"compose"`
		Instances  int64    `json:"instances"`
		Expire     int64    `json:"expire"`
		Nodes      []string `json:"nodes"`
		Staticip   bool     `json:"staticip"`
		Enterprise string   `json:"enterprise"`
	}
	if json.Unmarshal(spec, &s) != nil {
		return 0, false
	}
	var cpu, ram, hdd float64
	for _, c := range s.Compose {
		cpu, ram, hdd = cpu+c.CPU, ram+c.RAM, hdd+c.HDD
	}
	total := cpu*in.CPU*10 + ram*in.RAM/100 + hdd*in.HDD
	if len(s.Nodes) > 0 || s.Enterprise != "" {
		total += in.Scope
	}
	if s.Staticip {
		total += in.StaticIP
	}
	price := math.Ceil(total/3*100) / 100
	if extra := float64(s.Instances - 1); extra > 0 {
		if price < 0.5 && extra > 2 {
			price += extra * 0.5
		} else {
			price = (math.Ceil(price*extra*100) + math.Ceil(price*100)) / 100
		}
	}
	expire := s.Expire
	if expire == 0 {
		expire = defaultExpireBlocks
	}
	v := math.Ceil(price*float64(expire)/defaultExpireBlocks*100) / 100
	return max(v, in.MinPrice), true
}

// payAmount is what to pay for a message: the Flux Cloud quote, raised to
// the consensus minimum when the quote is below it (an underpaid message is
// dropped and its FLUX lost, messageVerifier.js; flux-cloud-mcp
// src/deploy.ts execute: max(quote.flux, minimum) at height + 5).
func (c *Client) payAmount(ctx context.Context, q *Quote, formatted json.RawMessage, info deploymentInfo) error {
	h, err := c.height(ctx)
	if err != nil {
		return err
	}
	quoted, err := strconv.ParseFloat(q.FLUX, 64)
	if err != nil || quoted < 0 || math.IsInf(quoted, 0) {
		return fmt.Errorf("flux: quote in FLUX %q is not a number", httpx.Excerpt([]byte(q.FLUX), 40))
	}
	pay := quoted
	if m, ok := consensusMinimum(formatted, info.Price, h+5); ok {
		q.MinimumFLUX = strconv.FormatFloat(m, 'f', -1, 64)
		if m > quoted {
			pay = m
			c.log.InfoContext(ctx, "flux quote below the consensus minimum; paying the minimum", "app", q.AppName, "quote_flux", q.FLUX, "minimum_flux", q.MinimumFLUX)
		}
	}
	q.PayFLUX = strconv.FormatFloat(pay, 'f', -1, 64)
	return nil
}

// endpoints are where the app's instances are reached: each node running it
// (GET /apps/location/{name}: ip "host[:apiport]", registryManager.js
// appLocation) serves every component's ports (the spec's public "ports",
// mapped to its "containerPorts") on its own address — one instance per
// node, enforced by host port mapping (socketAddressUtils.js ipsMatch).
func endpoints(locs []location, spec json.RawMessage, local bool) []providers.Endpoint {
	var s struct {
		Compose []struct {
			Ports          []int64 `json:"ports"`
			ContainerPorts []int64 `json:"containerPorts"`
		} `json:"compose"`
	}
	if json.Unmarshal(spec, &s) != nil {
		return nil
	}
	var eps []providers.Endpoint
	for i, l := range locs {
		if i == maxLocations {
			break
		}
		a, ok := nodeAddr(l.IP, local)
		if !ok {
			continue
		}
		for _, c := range s.Compose {
			for j, p := range c.Ports {
				if p < 1 || p > 65535 || j >= len(c.ContainerPorts) {
					continue
				}
				cp := c.ContainerPorts[j]
				if cp < 0 || cp > 65535 {
					cp = 0
				}
				eps = append(eps, providers.Endpoint{Kind: providers.EndpointTCP, Host: a.Addr().String(), Port: int(p), ContainerPort: int(cp)})
			}
		}
	}
	return eps
}

// containerData is the component's containerData for a launch: the
// configured mount, or spec's volume at its path with the configured sync
// flags ("r:" replicates it to every instance through Syncthing:
// ZelBack/src/services/utils/mountParser.js; docs/multiple-mounts-guide.md).
func (c *Client) containerDataFor(st *providers.Storage) string {
	if st == nil {
		return c.containerData
	}
	if flags, _, ok := strings.Cut(c.containerData, ":"); ok && flagsRE.MatchString(flags) {
		return flags + ":" + st.MountPath
	}
	return st.MountPath
}

var flagsRE = regexp.MustCompile(`^[rgs]+$`)
