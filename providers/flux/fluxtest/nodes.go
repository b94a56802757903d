package fluxtest

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/aurora-federation/aurora/providers/providertest"
	"github.com/aurora-federation/aurora/providers/providertest/fakekit"
)

// FluxOS refuses to register or update an app on a node with fewer peers
// than these (ZelBack/config/default.js fluxapps.minOutgoing, minIncoming;
// registryManager.js registerAppGlobalyApi, advancedWorkflows.js
// updateAppGlobalyApi).
const (
	MinOutgoingPeers = 8
	MinIncomingPeers = 4
)

// Peers are a fake node's peer counts.
type Peers struct {
	Outgoing, Incoming int
}

type fakeNode struct {
	peers    Peers
	loop     fakekit.Loopback
	requests atomic.Int64
}

// NodeRequests returns how many requests each of Options.Nodes served.
func (s *Server) NodeRequests() []int64 {
	out := make([]int64, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = n.requests.Load()
	}
	return out
}

// NodeURLs returns the base URLs of the started Options.Nodes, in order.
func (s *Server) NodeURLs() []string {
	out := make([]string, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, n.loop.URL(""))
	}
	return out
}

// peerInfos is a connectedpeersinfo / incomingconnectionsinfo answer of n
// peers (the fields FluxOS lists per peer; only the count matters here).
func peerInfos(n int) []map[string]any {
	out := make([]map[string]any, 0, n)
	for i := range n {
		out = append(out, map[string]any{"ip": "198.51.100." + strconv.Itoa(10+i), "port": 16127, "lastPingTime": 0, "latency": 25})
	}
	return out
}

// handleNodeList serves /daemon/viewdeterministiczelnodelist: every fake
// node, as the daemon lists FluxNodes (ip "host:apiport", network ipv4,
// tier), the fields the official client reads to find nodes to register
// through (RunOnFlux/flux-cloud-mcp src/fluxapi.ts listNodeEndpoints).
func (s *Server) handleNodeList(w http.ResponseWriter, r *http.Request) {
	list := []map[string]any{}
	for i, n := range s.nodes {
		u, err := url.Parse(n.loop.URL(""))
		if err != nil || u.Host == "" {
			continue // not started
		}
		list = append(list, map[string]any{
			"collateral": "COutPoint(" + strconv.Itoa(i) + ", 0)", "txhash": strings.Repeat("ab", 32), "outidx": "0",
			"ip": u.Host, "network": "ipv4", "added_height": StartHeight - 1000, "confirmed_height": StartHeight - 990,
			"last_confirmed_height": StartHeight, "last_paid_height": StartHeight - 10, "tier": "CUMULUS",
			"payment_address": DeploymentAddress, "pubkey": "", "activesince": "1700000000", "lastpaid": "1700000000", "rank": i,
		})
	}
	success(w, list)
}

// chainPrice is the fake chain's one price interval, in FLUX per month
// (deploymentinformation "price"), which consensus charges.
var chainPrice = map[string]float64{"height": 0, "cpu": 0.3, "ram": 0.1, "hdd": 0.01, "minPrice": 0.01, "port": 2, "scope": 6, "staticip": 3}

// ConsensusMinimum is the least FLUX the chain accepts for a registration
// of sp, as nodes check a payment (ZelBack/src/services/utils/
// appUtilities.js appPricePerMonth for v4+ specs, times expire/88000 and
// ceiled to 0.01, at least minPrice: appMessaging/messageVerifier.js
// checkAndRequestApp). Enterprise ports are not modelled (the fake's ports
// are 31000-39999).
func ConsensusMinimum(sp fspec) float64 {
	var cpu, ram, hdd float64
	for _, c := range sp.Compose {
		cpu, ram, hdd = cpu+c.CPU, ram+float64(c.RAM), hdd+float64(c.HDD)
	}
	total := cpu*chainPrice["cpu"]*10 + ram*chainPrice["ram"]/100 + hdd*chainPrice["hdd"]
	if len(sp.Nodes) > 0 || sp.Enterprise != "" {
		total += chainPrice["scope"]
	}
	if sp.Staticip {
		total += chainPrice["staticip"]
	}
	price := math.Ceil(total/3*100) / 100
	if extra := float64(sp.Instances - 1); extra > 0 {
		if price < 0.5 && extra > 2 {
			price += extra * 0.5
		} else {
			price = (math.Ceil(price*extra*100) + math.Ceil(price*100)) / 100
		}
	}
	v := math.Ceil(price*float64(sp.Expire)/88000*100) / 100
	return max(v, chainPrice["minPrice"])
}

// requiredSatLocked is what m must have been paid: the consensus minimum
// for a registration; for an update, which consensus credits with the
// unused part of the previous term, only the minimum price.
func (s *Server) requiredSatLocked(m *tempMsg) int64 {
	if !isRegister(m.Type) {
		return int64(math.Round(chainPrice["minPrice"] * 1e8))
	}
	return int64(math.Round(ConsensusMinimum(m.Spec) * 1e8))
}

var _ providertest.LaunchInspector = (*Server)(nil)

// Received implements providertest.LaunchInspector for app name: the
// primary mount of its first component's containerData (without sync
// flags) and the component's hdd, the size FluxOS allocates for the app
// volume (advancedWorkflows.js createAppVolume: fallocate -l <hdd>G), in
// MiB (GB are 10^9 bytes).
func (s *Server) Received(name string) (providertest.Received, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, ok := fspec{}, false
	if a := s.apps[strings.ToLower(name)]; a != nil {
		sp, ok = a.Spec, true
	}
	for _, m := range s.temp {
		if !ok && isRegister(m.Type) && strings.EqualFold(m.Spec.Name, name) {
			sp, ok = m.Spec, true
		}
	}
	if !ok || len(sp.Compose) == 0 {
		return providertest.Received{}, false
	}
	c := sp.Compose[0]
	primary, _, _ := strings.Cut(c.ContainerData, "|")
	if _, path, found := strings.Cut(primary, ":"); found {
		primary = path
	}
	return providertest.Received{MountPath: primary, StorageMiB: c.HDD * 1_000_000_000 / (1 << 20)}, true
}
