// Package akashtest is a fake Akash Console managed-wallet API
// (https://console-api.akash.network; notes §3b) for tests and for
// `aurora testnet fake-provider --kind akash`. It runs the auction itself:
// deployments get bids from a seeded set of providers that match the SDL's
// GPU, placement attributes and price ceiling.
//
//	GET    /v1/gpu-prices            public; USD/hour stats per GPU model (per-block × 600, 2 decimals)
//	GET    /v1/providers             public; [{owner,hostUri,isOnline,attributes,gpuModels,ipCountryCode,...}]
//	POST   /v1/deployments           {"data":{"sdl","deposit"?}} → 201 {"data":{"dseq","manifest","signTx"}}
//	GET    /v1/deployments?skip&limit {"data":{"deployments":[...],"pagination":{...}}}
//	GET    /v1/deployments/{dseq}    {"data":{"deployment","leases","escrow_account"}}
//	DELETE /v1/deployments/{dseq}    {"data":{"success":true}}, also when already closed
//	GET    /v1/bids?dseq=            {"data":[{"bid":{...},"escrow_account":{...}}]}
//	POST   /v1/leases                {"manifest","leases":[{dseq,gseq,oseq,provider}]} (not data-wrapped) → {"data":<deployment>}
//
// Auth is x-api-key (or Authorization: Bearer; both → 400 "mutually
// exclusive"); missing or wrong → 401. Errors are {"error","message","code",
// "type"}. Bids appear on the second poll of /v1/bids after create
// (Options.BidDelayPolls) or at the next Advance; after a lease, each
// Advance makes its services available (available = total). The deployment
// hash is base64(sha256(SDL text)) — a stand-in for Akash's manifest hash,
// with the property Aurora relies on: the same SDL gives the same hash.
//
// The SDL is read with ParseYAML (block-style YAML); the parts used are
// services (image, env, expose, credentials, params.storage),
// profiles.compute.*.resources.gpu (units, vendor.nvidia[].model and ram)
// and .storage, profiles.placement.*.attributes and .pricing, and
// deployment. Credentials and volumes are held to the SDL parser's rules
// (SDLConstraints, citing akash-network/chain-sdk go/sdl).
//
// The Console's published behaviour the fake keeps (rows in Constraints,
// each citing its source in akash-network/console):
//   - every SDL pricing denom is rewritten to the Console's grant denom
//     (Options.GrantDenom: uact on mainnet) with the amount unchanged, so a
//     ceiling written in uakt is read as that many uact;
//   - deposit is deprecated and optional: ignored when the Console manages
//     deposits (the default here), required when it does not
//     (Options.RequireDeposit);
//   - closing a closed deployment is a no-op that answers success.
//
// Prices: providers price in uact per block (one uact is one micro-USD; a
// block is 6 s, 600 per hour), so 2000 uact/block is $1.20/hour. Bids in
// uakt (GrantDenom "uakt", a local network's setting) are the uact amount
// divided by AKT/USD. /v1/gpu-prices reports
// per-GPU prices in USD/hour as the Console does (gpu-price.service.ts:
// per-block × 600 × AKT/USD ÷ 10⁶, rounded to cents), weighted by free GPUs,
// and priceUakt in uakt/hour.
package akashtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aurora-federation/aurora/providers/providertest"
	"github.com/aurora-federation/aurora/providers/providertest/fakekit"
)

// Defaults.
const (
	DefaultAPIKey = "akash-console-fake-key-0123456789"
	DefaultAKTUSD = "2.5"
	TenantAddress = "akash1tenant0000000000000000000000000aurora"
	// USDCDenom is the IBC denom of USDC on Akash.
	USDCDenom = "ibc/170C677610AC31DF0904FFE09CD3B5C657492170E7E52372E48756B71E56F2F1"
)

// Provider is one seeded Akash provider.
type Provider struct {
	Owner   string
	HostURI string
	// Attributes are the provider's on-chain attributes, per Akash's
	// provider-attributes schema (console config/provider-attributes.json):
	// "location-region" (UN geoscheme: "na-us-west", "eu-central", ...),
	// "country" (ISO 3166-1 alpha-2), "city", and the older free-form
	// "region" ("us-west", "westcoast", ...). "host": "akash" is implied.
	Attributes map[string]string
	// IPCountryCode is the Console's IP geolocation of the provider
	// ("ipCountryCode"); "" = unknown.
	IPCountryCode string
	Online        bool
	// CPUPerBlock is the base price per service replica (CPU, memory,
	// storage), in uact per block: 15 is $0.009/hour.
	CPUPerBlock string
	GPUs        []GPU
}

// GPU is a model a provider has, priced per GPU in uact per block: 2000 is
// $1.20/hour.
type GPU struct {
	Vendor, Model, RAM, Interface string
	PerBlock                      string
	Available                     int64
}

// Options configures a Server. The zero value works.
type Options struct {
	// APIKey is the accepted key. Default DefaultAPIKey.
	APIKey string
	// Providers bid on deployments. Default DefaultProviders().
	Providers []Provider
	// AKTUSD values uakt when bidding in uakt. Default DefaultAKTUSD.
	AKTUSD string
	// BidDelayPolls is how many /v1/bids polls see no bids. Default 1;
	// negative = bids at once.
	BidDelayPolls int
	// GrantDenom is the Console's DEPLOYMENT_GRANT_DENOM, "uact" (mainnet,
	// sandbox, testnet: apps/api/env/.env.mainnet) or "uakt" (local
	// networks). Default "uact"; anything else is treated as "uact".
	GrantDenom string
	// RequireDeposit makes create refuse a request without deposit, as the
	// Console does for an account without managed deposits. Default false:
	// deposits are managed and a sent deposit is ignored.
	RequireDeposit bool
	// Now stamps records. Default time.Now.
	Now func() time.Time
	// Logger logs requests. Default: discard.
	Logger *slog.Logger
}

// Server is the fake; a providertest.Fake. Safe for concurrent use.
type Server struct {
	fakekit.Faults
	opts   Options
	log    *slog.Logger
	aktUSD *big.Rat

	mu          sync.Mutex // protects following
	deployments map[string]*deployment
	nextDSeq    int64
	loseCreate  int
	loop        fakekit.Loopback
}

type deployment struct {
	DSeq      string
	SDL       string
	Hash      string
	Manifest  string
	State     string
	Created   int64
	Services  []svc // from the SDL
	Denom     string
	MaxAmount *big.Rat // per block, whole group
	Attrs     map[string]string
	Polls     int
	Published bool
	Bids      []*bidRec
	Lease     *leaseRec
}

type svc struct {
	Name     string
	Count    int64
	GPUUnits int64
	GPUModel string // "" = any
	GPURAM   string // "" = any
	// Exposed are the service's global exposes: container port and the
	// port it is exposed as (default: the container port).
	Exposed [][2]int64
	// Env is the service's env, by name.
	Env map[string]string
	// Login is the service's credentials block.
	Login *login
	// Volume is the persistent volume mounted through params.storage.
	VolumeMiB int64
	Mount     string
}

type login struct{ Host, Username, Password string }

type bidRec struct {
	Provider string
	State    string
	Amount   string
	Created  int64
}

type leaseRec struct {
	Provider  string
	State     string
	Amount    string
	Created   int64
	Available bool
}

// NewServer returns a fake with opts.
func NewServer(opts Options) *Server {
	if opts.APIKey == "" {
		opts.APIKey = DefaultAPIKey
	}
	if opts.Providers == nil {
		opts.Providers = DefaultProviders()
	}
	if opts.AKTUSD == "" {
		opts.AKTUSD = DefaultAKTUSD
	}
	if opts.BidDelayPolls == 0 {
		opts.BidDelayPolls = 1
	}
	if opts.GrantDenom != "uakt" {
		opts.GrantDenom = "uact"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	akt, ok := new(big.Rat).SetString(opts.AKTUSD)
	if !ok || akt.Sign() <= 0 {
		akt = big.NewRat(5, 2)
	}
	return &Server{opts: opts, log: log, aktUSD: akt, deployments: map[string]*deployment{}, nextDSeq: 18_000_001}
}

// DefaultProviders is a seeded set of providers across places and models,
// priced at 2025–26 Akash levels (A100 $0.84–1.32/hour, H100 ~$2, RTX 4090
// ~$0.35). Where they are, and how they say it:
//
//	west1, west2  US, location-region na-us-west           → us-west
//	east1         US, location-region na-us-southeast      → us-east
//	eucent        DE, location-region eu-central           → eu-central
//	euwest        NL, location-region eu-west              → eu-west
//	legacy        only the old free-form region "us-central"
//	iponly        no location attribute; the Console geolocates its IP in SG
//	nowhere       no location at all
//	south         IN, offline
func DefaultProviders() []Provider {
	nv := func(model, ram, iface, perBlock string, n int64) GPU {
		return GPU{"nvidia", model, ram, iface, perBlock, n}
	}
	return []Provider{
		{Owner: "akash1provider000000000000000000000000000west1", HostURI: "https://provider.west1.example:8443", Online: true, CPUPerBlock: "15",
			Attributes: map[string]string{"location-region": "na-us-west", "country": "US", "city": "SJC", "region": "us-west"},
			GPUs:       []GPU{nv("a100", "80Gi", "SXM4", "2000", 8), nv("a100", "40Gi", "PCIe", "1500", 4), nv("rtx4090", "24Gi", "PCIe", "600", 8)}},
		{Owner: "akash1provider000000000000000000000000000west2", HostURI: "https://provider.west2.example:8443", Online: true, CPUPerBlock: "12",
			Attributes: map[string]string{"location-region": "na-us-west", "country": "US", "region": "westcoast"},
			GPUs:       []GPU{nv("a100", "80Gi", "SXM4", "2200", 4), nv("rtx4090", "24Gi", "PCIe", "560", 2)}},
		{Owner: "akash1provider000000000000000000000000000east1", HostURI: "https://provider.east.example:8443", Online: true, CPUPerBlock: "15",
			Attributes: map[string]string{"location-region": "na-us-southeast", "country": "US", "city": "ATL"},
			GPUs: []GPU{nv("h100", "80Gi", "SXM5", "3300", 8), nv("a100", "80Gi", "SXM4", "1900", 4), nv("rtx4090", "24Gi", "PCIe", "650", 4),
				nv("rtx3090", "24Gi", "PCIe", "320", 6)}},
		{Owner: "akash1provider0000000000000000000000000eucent", HostURI: "https://provider.eu.example:8443", Online: true, CPUPerBlock: "18",
			Attributes: map[string]string{"location-region": "eu-central", "country": "DE", "city": "FRA", "region": "eu-central"},
			GPUs:       []GPU{nv("a100", "40Gi", "PCIe", "1400", 2), nv("h100", "80Gi", "SXM5", "3500", 8), nv("rtx4090", "24Gi", "PCIe", "620", 4)}},
		{Owner: "akash1provider0000000000000000000000000euwest", HostURI: "https://provider.euwest.example:8443", Online: true, CPUPerBlock: "16",
			Attributes: map[string]string{"location-region": "eu-west", "country": "NL", "city": "AMS"},
			GPUs:       []GPU{nv("a100", "80Gi", "SXM4", "2100", 4), nv("rtx4090", "24Gi", "PCIe", "640", 2)}},
		{Owner: "akash1provider000000000000000000000000legacy", HostURI: "https://provider.legacy.example:8443", Online: true, CPUPerBlock: "10",
			Attributes: map[string]string{"region": "us-central"},
			GPUs:       []GPU{nv("rtx3090", "24Gi", "PCIe", "300", 4)}},
		{Owner: "akash1provider000000000000000000000000iponly", HostURI: "https://provider.iponly.example:8443", Online: true, CPUPerBlock: "14",
			IPCountryCode: "SG", GPUs: []GPU{nv("rtx4090", "24Gi", "PCIe", "580", 2)}},
		{Owner: "akash1provider00000000000000000000000nowhere", HostURI: "https://provider.nowhere.example:8443", Online: true, CPUPerBlock: "10",
			GPUs: []GPU{nv("rtx3090", "24Gi", "PCIe", "280", 2)}},
		{Owner: "akash1provider00000000000000000000000000south", HostURI: "https://provider.south.example:8443", Online: false, CPUPerBlock: "10",
			Attributes: map[string]string{"location-region": "as-south", "country": "IN"},
			GPUs:       []GPU{nv("a100", "80Gi", "SXM4", "1600", 8)}},
	}
}

// attributes returns p's attributes with the implied "host": "akash".
func (p Provider) attributes() map[string]string {
	m := map[string]string{"host": "akash"}
	for k, v := range p.Attributes {
		m[k] = v
	}
	return m
}

// Start listens on loopback and returns the base URL. Close stops it.
func (s *Server) Start() string {
	return s.loop.Start(s.Handler, "")
}

// URL returns the base URL of a started server, or "".
func (s *Server) URL() string {
	return s.loop.URL("")
}

// Close stops a started server.
func (s *Server) Close() {
	s.loop.Close()
}

// LoseNextDeployment makes the next n deployment creations succeed but
// answer 502, as if the response were lost before the lease.
func (s *Server) LoseNextDeployment(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseCreate = max(n, 0)
}

// Advance publishes pending bids and makes leased services available.
func (s *Server) Advance() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.deployments {
		if d.State != "active" {
			continue
		}
		if !d.Published {
			s.publishLocked(d)
		}
		if d.Lease != nil && d.Lease.State == "active" {
			d.Lease.Available = true
		}
	}
}

// Workloads counts active deployments.
func (s *Server) Workloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.deployments {
		if d.State == "active" {
			n++
		}
	}
	return n
}

// SDL returns the SDL text of a deployment.
func (s *Server) SDL(dseq string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deployments[dseq]
	if !ok {
		return "", false
	}
	return d.SDL, true
}

// SetLeaseState forces a lease state ("insufficient_funds", "closed").
func (s *Server) SetLeaseState(dseq, state string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deployments[dseq]
	if !ok || d.Lease == nil {
		return false
	}
	d.Lease.State = state
	return true
}

func (s *Server) height() int64 { return 18_000_000 + s.opts.Now().Unix()%1_000_000 }

// --- handler ---

// Handler returns the API handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/gpu-prices", s.gpuPrices)
	mux.HandleFunc("GET /v1/providers", s.providers)
	mux.HandleFunc("POST /v1/deployments", s.auth(s.createDeployment))
	mux.HandleFunc("GET /v1/deployments", s.auth(s.listDeployments))
	mux.HandleFunc("GET /v1/deployments/{dseq}", s.auth(s.getDeployment))
	mux.HandleFunc("DELETE /v1/deployments/{dseq}", s.auth(s.closeDeployment))
	mux.HandleFunc("GET /v1/bids", s.auth(s.bids))
	mux.HandleFunc("POST /v1/leases", s.auth(s.createLease))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.DelayRequest(r) {
			return
		}
		if s.TakeRateLimit() {
			apiError(w, http.StatusTooManyRequests, "TooManyRequestsError", "rate_limited", "Too many requests")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func apiError(w http.ResponseWriter, status int, name, code, msg string) {
	typ := "client_error"
	if status >= 500 {
		typ = "server_error"
	}
	fakekit.WriteJSON(w, status, map[string]any{"error": name, "message": msg, "code": code, "type": typ})
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("x-api-key")
		bearer := r.Header.Get("Authorization")
		switch {
		case key != "" && bearer != "":
			apiError(w, http.StatusBadRequest, "BadRequestError", "bad_request", "x-api-key and Authorization headers are mutually exclusive")
		case key == "" && bearer == "":
			apiError(w, http.StatusUnauthorized, "UnauthorizedError", "unauthorized", "Unauthorized")
		case key != s.opts.APIKey && strings.TrimPrefix(bearer, "Bearer ") != s.opts.APIKey:
			apiError(w, http.StatusUnauthorized, "UnauthorizedError", "unauthorized", "Invalid API key")
		default:
			h(w, r)
		}
	}
}

// usdPerHour is the Console's hourly price of a per-block uact amount,
// rounded to cents like its blockPriceToHourlyPrice.
func usdPerHour(perBlock string) float64 {
	f, _ := strconv.ParseFloat(perBlock, 64)
	return roundTo(f*600/1e6, 2)
}

func roundTo(f float64, decimals int) float64 {
	p := 1.0
	for range decimals {
		p *= 10
	}
	return float64(int64(f*p+0.5)) / p
}

func (s *Server) gpuPrices(w http.ResponseWriter, r *http.Request) {
	type key struct{ vendor, model, ram, iface string }
	type agg struct {
		prices           []float64
		uakt             []float64 // uakt per hour
		weights          []int64
		total, available int64
	}
	akt, _ := s.aktUSD.Float64()
	m := map[key]*agg{}
	for _, p := range s.opts.Providers {
		if !p.Online {
			continue
		}
		for _, g := range p.GPUs {
			k := key{g.Vendor, g.Model, g.RAM, g.Interface}
			if m[k] == nil {
				m[k] = &agg{}
			}
			a := m[k]
			a.prices = append(a.prices, usdPerHour(g.PerBlock))
			perBlock, _ := strconv.ParseFloat(g.PerBlock, 64)
			a.uakt = append(a.uakt, roundTo(perBlock/akt*600, 2))
			a.weights = append(a.weights, g.Available)
			a.total += g.Available
			a.available += g.Available
		}
	}
	keys := make([]key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.model+a.ram+a.iface < b.model+b.ram+b.iface
	})
	var models []map[string]any
	var total, avail int64
	stats := func(currency string, prices []float64, weights []int64) map[string]any {
		sorted := slices.Clone(prices)
		slices.Sort(sorted)
		sum, wsum, wtot := 0.0, 0.0, 0.0
		for i, p := range prices {
			sum += p
			wsum += p * float64(weights[i])
			wtot += float64(weights[i])
		}
		wavg := sum / float64(len(prices))
		if wtot > 0 {
			wavg = wsum / wtot
		}
		return map[string]any{
			"currency": currency, "min": sorted[0], "max": sorted[len(sorted)-1],
			"avg": roundTo(sum/float64(len(prices)), 2), "weightedAverage": roundTo(wavg, 2), "med": roundTo(sorted[len(sorted)/2], 2),
		}
	}
	for _, k := range keys {
		a := m[k]
		total += a.total
		avail += a.available
		models = append(models, map[string]any{
			"vendor": k.vendor, "model": k.model, "ram": k.ram, "interface": k.iface,
			"availability":         map[string]any{"total": a.total, "available": a.available},
			"providerAvailability": map[string]any{"total": len(a.prices), "available": len(a.prices)},
			"price":                stats("USD", a.prices, a.weights),
			"priceUakt":            stats("uakt", a.uakt, a.weights),
		})
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"availability": map[string]any{"total": total, "available": avail}, "models": models})
}

func (s *Server) providers(w http.ResponseWriter, r *http.Request) {
	out := []map[string]any{}
	for _, p := range s.opts.Providers {
		var gpus []map[string]any
		for _, g := range p.GPUs {
			gpus = append(gpus, map[string]any{"vendor": g.Vendor, "model": g.Model, "ram": g.RAM, "interface": g.Interface})
		}
		attrs := p.attributes()
		list := []map[string]any{}
		for _, k := range sortedKeys(anyMap(attrs)) {
			list = append(list, map[string]any{"key": k, "value": attrs[k], "auditedBy": []string{}})
		}
		out = append(out, map[string]any{
			"owner": p.Owner, "hostUri": p.HostURI, "isOnline": p.Online, "isAudited": true,
			"attributes": list, "gpuModels": gpus,
			// The Console's flattened columns, null when unset.
			"locationRegion": nullable(attrs["location-region"]), "country": nullable(attrs["country"]),
			"city": nullable(attrs["city"]), "ipCountryCode": nullable(p.IPCountryCode),
		})
	}
	fakekit.WriteJSON(w, http.StatusOK, out)
}

// --- SDL ---

func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// readSDL extracts what bidding needs from an SDL.
func (s *Server) readSDL(text string) (services []svc, denom string, maxAmount *big.Rat, attrs map[string]string, err error) {
	doc, err := ParseYAML(text)
	if err != nil {
		return nil, "", nil, nil, err
	}
	if v, _ := path(doc, "version").(string); v != "2.0" && v != "2.1" {
		return nil, "", nil, nil, fmt.Errorf("version must be \"2.0\" or \"2.1\"")
	}
	if len(asMap(path(doc, "services"))) == 0 {
		return nil, "", nil, nil, fmt.Errorf("services: at least one service is required")
	}
	deployments := asMap(path(doc, "deployment"))
	if len(deployments) == 0 {
		return nil, "", nil, nil, fmt.Errorf("deployment: at least one entry is required")
	}
	maxAmount = new(big.Rat)
	attrs = map[string]string{}
	placementSeen := ""
	for _, name := range sortedKeys(deployments) {
		if asMap(path(doc, "services", name)) == nil {
			return nil, "", nil, nil, fmt.Errorf("deployment.%s: no such service", name)
		}
		if img, _ := path(doc, "services", name, "image").(string); img == "" {
			return nil, "", nil, nil, fmt.Errorf("services.%s.image is required", name)
		}
		for _, pl := range sortedKeys(asMap(deployments[name])) {
			if placementSeen != "" && pl != placementSeen {
				return nil, "", nil, nil, fmt.Errorf("the fake supports one placement group")
			}
			placementSeen = pl
			profile, _ := path(deployments, name, pl, "profile").(string)
			countText, _ := path(deployments, name, pl, "count").(string)
			count, cerr := strconv.ParseInt(countText, 10, 64)
			if profile == "" || cerr != nil || count < 1 || count > 100 {
				return nil, "", nil, nil, fmt.Errorf("deployment.%s.%s: profile and count (1..100) are required", name, pl)
			}
			res := asMap(path(doc, "profiles", "compute", profile, "resources"))
			if res == nil {
				return nil, "", nil, nil, fmt.Errorf("profiles.compute.%s.resources is required", profile)
			}
			sv := svc{Name: name, Count: count, Env: map[string]string{}}
			if list, ok := path(doc, "services", name, "env").([]any); ok {
				for _, e := range list {
					kv, _ := e.(string)
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return nil, "", nil, nil, fmt.Errorf("services.%s.env: %q is not NAME=value", name, kv)
					}
					sv.Env[k] = v
				}
			}
			if err := readCredentials(doc, name, &sv); err != nil {
				return nil, "", nil, nil, err
			}
			if err := readStorage(doc, name, profile, res, &sv); err != nil {
				return nil, "", nil, nil, err
			}
			if list, ok := path(doc, "services", name, "expose").([]any); ok {
				for _, e := range list {
					port, perr := strconv.ParseInt(fmt.Sprint(path(e, "port")), 10, 64)
					if perr != nil || port < 1 || port > 65535 {
						return nil, "", nil, nil, fmt.Errorf("services.%s.expose: port %v", name, path(e, "port"))
					}
					as := port
					if a, ok := path(e, "as").(string); ok {
						if as, perr = strconv.ParseInt(a, 10, 64); perr != nil || as < 1 || as > 65535 {
							return nil, "", nil, nil, fmt.Errorf("services.%s.expose: as %q", name, a)
						}
					}
					global := false
					if to, ok := path(e, "to").([]any); ok {
						for _, t := range to {
							global = global || path(t, "global") == "true"
						}
					}
					if global {
						sv.Exposed = append(sv.Exposed, [2]int64{port, as})
					}
				}
			}
			if gpu := asMap(res["gpu"]); gpu != nil {
				units, _ := gpu["units"].(string)
				if sv.GPUUnits, err = strconv.ParseInt(units, 10, 64); err != nil || sv.GPUUnits < 0 {
					return nil, "", nil, nil, fmt.Errorf("profiles.compute.%s.resources.gpu.units: %q", profile, units)
				}
				if list, ok := path(gpu, "attributes", "vendor", "nvidia").([]any); ok && len(list) > 0 {
					sv.GPUModel, _ = path(list[0], "model").(string)
					sv.GPURAM, _ = path(list[0], "ram").(string)
				}
			}
			price := asMap(path(doc, "profiles", "placement", pl, "pricing", profile))
			a, _ := price["amount"].(string)
			amt, ok := new(big.Rat).SetString(a)
			if price == nil || !ok || amt.Sign() <= 0 || len(a) > 40 {
				return nil, "", nil, nil, fmt.Errorf("profiles.placement.%s.pricing.%s: a positive amount is required", pl, profile)
			}
			// Whatever denom the SDL names, the Console prices in its grant
			// denom and keeps the amount (sdl.service.ts generateManifest).
			maxAmount.Add(maxAmount, amt.Mul(amt, big.NewRat(count, 1)))
			for k, v := range asMap(path(doc, "profiles", "placement", pl, "attributes")) {
				sv, _ := v.(string)
				attrs[k] = sv
			}
			services = append(services, sv)
		}
	}
	return services, s.opts.GrantDenom, maxAmount, attrs, nil
}

// bidAmount prices services on p in denom per block, or ok=false when p
// cannot run them.
func (s *Server) bidAmount(p Provider, services []svc, denom string, attrs map[string]string) (*big.Rat, bool) {
	if !p.Online {
		return nil, false
	}
	have := p.attributes()
	for k, v := range attrs {
		if have[k] != v {
			return nil, false
		}
	}
	total := new(big.Rat)
	for _, sv := range services {
		one, ok := new(big.Rat).SetString(p.CPUPerBlock)
		if !ok {
			return nil, false
		}
		if sv.GPUUnits > 0 {
			i := slices.IndexFunc(p.GPUs, func(g GPU) bool {
				return (sv.GPUModel == "" || g.Model == sv.GPUModel) && (sv.GPURAM == "" || g.RAM == sv.GPURAM) && g.Available >= sv.GPUUnits*sv.Count
			})
			if i < 0 {
				return nil, false
			}
			g, _ := new(big.Rat).SetString(p.GPUs[i].PerBlock)
			one.Add(one, g.Mul(g, big.NewRat(sv.GPUUnits, 1)))
		}
		total.Add(total, one.Mul(one, big.NewRat(sv.Count, 1)))
	}
	if denom == "uakt" {
		total.Quo(total, s.aktUSD)
	}
	return total, true
}

func (s *Server) publishLocked(d *deployment) {
	d.Published = true
	for _, p := range s.opts.Providers {
		amt, ok := s.bidAmount(p, d.Services, d.Denom, d.Attrs)
		if !ok || amt.Cmp(d.MaxAmount) > 0 {
			continue
		}
		d.Bids = append(d.Bids, &bidRec{Provider: p.Owner, State: "open", Amount: amt.FloatString(18), Created: s.height()})
	}
}

// --- deployments ---

func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Data *struct {
			SDL     string   `json:"sdl"`
			Deposit *float64 `json:"deposit"`
		} `json:"data"`
	}
	if err := fakekit.ReadJSON(r, &req); err != nil || req.Data == nil || req.Data.SDL == "" {
		apiError(w, http.StatusBadRequest, "BadRequestError", "validation_error", `body must be {"data":{"sdl":"...","deposit"?:N}}`)
		return
	}
	if s.opts.RequireDeposit && req.Data.Deposit == nil {
		apiError(w, http.StatusBadRequest, "BadRequestError", "bad_request", "deposit is required")
		return
	}
	services, denom, maxAmount, attrs, err := s.readSDL(req.Data.SDL)
	if err != nil {
		apiError(w, http.StatusBadRequest, "BadRequestError", "bad_request", "Invalid SDL: "+err.Error())
		return
	}
	if s.TakeLaunchFailure() {
		apiError(w, http.StatusInternalServerError, "InternalServerError", "internal_server_error", "Failed to create deployment")
		return
	}
	sum := sha256.Sum256([]byte(req.Data.SDL))
	var names []string
	for _, sv := range services {
		names = append(names, sv.Name)
	}
	manifest, _ := json.Marshal([]map[string]any{{"name": "aurora", "services": names}})
	s.mu.Lock()
	dseq := strconv.FormatInt(s.nextDSeq, 10)
	s.nextDSeq++
	d := &deployment{
		DSeq: dseq, SDL: req.Data.SDL, Hash: base64.StdEncoding.EncodeToString(sum[:]), Manifest: string(manifest),
		State: "active", Created: s.height(), Services: services, Denom: denom, MaxAmount: maxAmount, Attrs: attrs,
	}
	if s.opts.BidDelayPolls < 0 {
		s.publishLocked(d)
	}
	s.deployments[dseq] = d
	lose := s.loseCreate > 0
	if lose {
		s.loseCreate--
	}
	s.mu.Unlock()
	if lose {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html><head><title>502 Bad Gateway</title></head></html>"))
		return
	}
	fakekit.WriteJSON(w, http.StatusCreated, map[string]any{"data": map[string]any{
		"dseq": dseq, "manifest": string(manifest),
		"signTx": map[string]any{"code": 0, "transactionHash": fmt.Sprintf("%064X", s.nextDSeq), "rawLog": "[]"},
	}})
}

func (s *Server) deploymentJSON(d *deployment) map[string]any {
	leases := []map[string]any{}
	if l := d.Lease; l != nil {
		var status any
		if l.State == "active" {
			// A global expose as 80 is served by the provider's HTTP
			// ingress under a generated host name (uris); any other is a
			// forwarded port on the provider's host (LeaseStatusResponse,
			// apps/api/src/deployment/http-schemas/lease.schema.ts).
			services, forwarded := map[string]any{}, map[string]any{}
			for _, sv := range d.Services {
				avail := int64(0)
				if l.Available {
					avail = sv.Count
				}
				uris := []string{}
				var fps []map[string]any
				for i, e := range sv.Exposed {
					if e[1] == 80 {
						uris = append(uris, fmt.Sprintf("%s-%s.ingress.example", sv.Name, d.DSeq))
						continue
					}
					fps = append(fps, map[string]any{"port": e[0], "externalPort": 30000 + (int64(len(d.DSeq))*97+int64(i))%2000, "host": "provider.ingress.example", "available": avail})
				}
				if len(fps) > 0 {
					forwarded[sv.Name] = fps
				}
				services[sv.Name] = map[string]any{
					"name": sv.Name, "available": avail, "total": sv.Count, "uris": uris,
					"observed_generation": 1, "replicas": sv.Count, "updated_replicas": sv.Count, "ready_replicas": avail, "available_replicas": avail,
				}
			}
			status = map[string]any{"services": services, "forwarded_ports": forwarded, "ips": map[string]any{}}
		}
		leases = append(leases, map[string]any{
			"id":    map[string]any{"owner": TenantAddress, "dseq": d.DSeq, "gseq": 1, "oseq": 1, "provider": l.Provider, "bseq": 1},
			"state": l.State, "price": map[string]any{"denom": d.Denom, "amount": l.Amount},
			"created_at": strconv.FormatInt(l.Created, 10), "closed_on": "0", "status": status,
		})
	}
	return map[string]any{
		"deployment": map[string]any{
			"id":    map[string]any{"owner": TenantAddress, "dseq": d.DSeq},
			"state": d.State, "hash": d.Hash, "created_at": strconv.FormatInt(d.Created, 10),
		},
		"leases": leases,
		"escrow_account": map[string]any{
			"id": map[string]any{"scope": "deployment", "xid": TenantAddress + "/" + d.DSeq}, "state": map[string]any{"state": d.State},
		},
	}
}

func (s *Server) lookup(w http.ResponseWriter, dseq string) (*deployment, bool) {
	s.mu.Lock()
	d, ok := s.deployments[dseq]
	s.mu.Unlock()
	if !ok {
		if _, err := strconv.ParseUint(dseq, 10, 64); err != nil {
			apiError(w, http.StatusBadRequest, "BadRequestError", "validation_error", "dseq must be a number")
			return nil, false
		}
		apiError(w, http.StatusNotFound, "NotFoundError", "not_found", "Deployment not found")
	}
	return d, ok
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request) {
	d, ok := s.lookup(w, r.PathValue("dseq"))
	if !ok {
		return
	}
	s.mu.Lock()
	body := s.deploymentJSON(d)
	s.mu.Unlock()
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": body})
}

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request) {
	skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 || limit > 1000 {
		limit = 1000
	}
	s.mu.Lock()
	keys := make([]string, 0, len(s.deployments))
	for k := range s.deployments {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return len(keys[i]) < len(keys[j]) || len(keys[i]) == len(keys[j]) && keys[i] < keys[j]
	})
	var page []map[string]any
	for i := max(skip, 0); i < len(keys) && len(page) < limit; i++ {
		page = append(page, s.deploymentJSON(s.deployments[keys[i]]))
	}
	total := len(keys)
	s.mu.Unlock()
	if page == nil {
		page = []map[string]any{}
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"deployments": page,
		"pagination":  map[string]any{"total": total, "skip": skip, "limit": limit, "hasMore": skip+len(page) < total},
	}})
}

func (s *Server) closeDeployment(w http.ResponseWriter, r *http.Request) {
	d, ok := s.lookup(w, r.PathValue("dseq"))
	if !ok {
		return
	}
	s.mu.Lock()
	if d.State != "closed" {
		d.State = "closed"
		if d.Lease != nil {
			d.Lease.State = "closed"
		}
		for _, b := range d.Bids {
			if b.State == "open" {
				b.State = "closed"
			}
		}
	}
	s.mu.Unlock()
	// Closing a closed deployment is a no-op (deployment-writer.service.ts
	// close: "Idempotent close").
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"success": true}})
}

func (s *Server) bids(w http.ResponseWriter, r *http.Request) {
	d, ok := s.lookup(w, r.URL.Query().Get("dseq"))
	if !ok {
		return
	}
	s.mu.Lock()
	d.Polls++
	if !d.Published && d.State == "active" && d.Polls > s.opts.BidDelayPolls {
		s.publishLocked(d)
	}
	out := []map[string]any{}
	for _, b := range d.Bids {
		out = append(out, map[string]any{
			"bid": map[string]any{
				"id":    map[string]any{"owner": TenantAddress, "dseq": d.DSeq, "gseq": 1, "oseq": 1, "provider": b.Provider, "bseq": 1},
				"state": b.State, "price": map[string]any{"denom": d.Denom, "amount": b.Amount},
				"created_at": strconv.FormatInt(b.Created, 10), "resources_offer": []any{}, "reclamation_window": nil,
			},
			"escrow_account": map[string]any{"id": map[string]any{"scope": "bid", "xid": b.Provider}},
		})
	}
	s.mu.Unlock()
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": out})
}

func (s *Server) createLease(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Manifest string `json:"manifest"`
		Leases   []struct {
			DSeq     string `json:"dseq"`
			GSeq     int64  `json:"gseq"`
			OSeq     int64  `json:"oseq"`
			Provider string `json:"provider"`
		} `json:"leases"`
	}
	if err := fakekit.ReadJSON(r, &req); err != nil || len(req.Leases) != 1 {
		apiError(w, http.StatusBadRequest, "BadRequestError", "validation_error", `body must be {"manifest":"...","leases":[{"dseq","gseq","oseq","provider"}]} with one lease`)
		return
	}
	lr := req.Leases[0]
	d, ok := s.lookup(w, lr.DSeq)
	if !ok {
		return
	}
	s.mu.Lock()
	var bid *bidRec
	for _, b := range d.Bids {
		if b.Provider == lr.Provider && b.State == "open" {
			bid = b
		}
	}
	switch {
	case d.State != "active":
		s.mu.Unlock()
		apiError(w, http.StatusBadRequest, "BadRequestError", "bad_request", "Deployment is closed")
		return
	case req.Manifest != d.Manifest:
		s.mu.Unlock()
		apiError(w, http.StatusBadRequest, "BadRequestError", "bad_request", "Manifest does not match the deployment")
		return
	case lr.GSeq != 1 || lr.OSeq != 1 || bid == nil:
		s.mu.Unlock()
		apiError(w, http.StatusBadRequest, "BadRequestError", "bad_request", "No open bid for this order from provider "+lr.Provider)
		return
	}
	for _, b := range d.Bids {
		if b == bid {
			b.State = "active"
		} else if b.State == "open" {
			b.State = "lost"
		}
	}
	d.Lease = &leaseRec{Provider: bid.Provider, State: "active", Amount: bid.Amount, Created: s.height()}
	body := s.deploymentJSON(d)
	s.mu.Unlock()
	if s.TakeLaunchLoss() {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html><head><title>502 Bad Gateway</title></head></html>"))
		return
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": body})
}

// chainSDK is the SDL parser the storage and credentials rules come from.
const chainSDK = "akash-network/chain-sdk@55f1c6837f99b17f103c4e8701f24305bd1eef9a "

// readCredentials reads services.<name>.credentials as the SDL parser
// does: host, username and password are required and not blank
// (go/sdl/v2.go v2ServiceCredentials.validate), no other key but email,
// the password at least 6 characters and an email at least 5
// (go/sdl/sdl-input.schema.yaml credentials).
func readCredentials(doc any, name string, sv *svc) error {
	raw, present := asMap(path(doc, "services", name))["credentials"]
	if !present {
		return nil
	}
	cr := asMap(raw)
	if cr == nil {
		return fmt.Errorf("services.%s.credentials: want a mapping", name)
	}
	for k := range cr {
		if k != "host" && k != "username" && k != "password" && k != "email" {
			return fmt.Errorf("services.%s.credentials: unknown field %q", name, k)
		}
	}
	str := func(k string) string { s, _ := cr[k].(string); return strings.TrimSpace(s) }
	switch {
	case str("host") == "":
		return fmt.Errorf("services.%s: service Credentials missing Host", name)
	case str("username") == "":
		return fmt.Errorf("services.%s: service Credentials missing Username", name)
	case str("password") == "":
		return fmt.Errorf("services.%s: service Credentials missing Password", name)
	case len(str("password")) < 6:
		return fmt.Errorf("services.%s.credentials.password: shorter than 6 characters", name)
	case cr["email"] != nil && len(str("email")) < 5:
		return fmt.Errorf("services.%s.credentials.email: shorter than 5 characters", name)
	}
	sv.Login = &login{Host: str("host"), Username: str("username"), Password: str("password")}
	return nil
}

// storageClasses are the classes a volume may name (go/sdl/storage.go
// allowedStorageClasses).
var storageClasses = map[string]bool{"default": true, "beta1": true, "beta2": true, "beta3": true, "ram": true}

// readStorage reads the compute profile's storage (one mapping, or a list
// of volumes whose unnamed entry is "default") and the service's
// params.storage mounts with the SDL parser's rules (go/sdl/storage.go
// UnmarshalYAML, v2StorageAttributes.UnmarshalYAML; go/sdl/v2.go validate):
// unique names; only the persistent and class attributes; persistent a
// bool; a class only on a persistent volume, "ram" never persistent; a
// mount only for a volume of the profile, absolute and not used twice; a
// persistent volume mounted.
func readStorage(doc any, name, profile string, res map[string]any, sv *svc) error {
	type volume struct {
		size       int64
		persistent bool
	}
	vols := map[string]volume{}
	add := func(v any) error {
		m := asMap(v)
		if m == nil {
			return fmt.Errorf("profiles.compute.%s.resources.storage: want a mapping or a list of them", profile)
		}
		vn, _ := m["name"].(string)
		if vn == "" {
			vn = "default"
		}
		if _, dup := vols[vn]; dup {
			return fmt.Errorf("sdl: duplicated volume name %q", vn)
		}
		sz, _ := m["size"].(string)
		mib, err := mebibytes(sz)
		if err != nil {
			return fmt.Errorf("profiles.compute.%s.resources.storage.%s.size: %w", profile, vn, err)
		}
		var vol volume
		vol.size = mib
		attrs := asMap(m["attributes"])
		persistent := "false"
		for k, v := range attrs {
			s, _ := v.(string)
			switch k {
			case "persistent":
				if s != "true" && s != "false" {
					return fmt.Errorf("sdl: invalid value for attribute \"persistent\". expected bool")
				}
				persistent = s
			case "class":
				if !storageClasses[s] {
					return fmt.Errorf("sdl: invalid value for attribute class")
				}
			default:
				return fmt.Errorf("sdl: unsupported storage attribute: %s", k)
			}
		}
		class, _ := attrs["class"].(string)
		switch {
		case class == "ram" && persistent == "true":
			return fmt.Errorf("sdl: ram storage class cannot be persistent")
		case class != "" && class != "ram" && persistent == "false":
			return fmt.Errorf("sdl: ephemeral storage should not set attribute class")
		}
		vol.persistent = persistent == "true"
		vols[vn] = vol
		return nil
	}
	switch st := res["storage"].(type) {
	case []any:
		for _, v := range st {
			if err := add(v); err != nil {
				return err
			}
		}
	default:
		if err := add(st); err != nil {
			return err
		}
	}
	mounts := map[string]string{}
	params := asMap(path(doc, "services", name, "params", "storage"))
	for _, vn := range sortedKeys(params) {
		if _, ok := vols[vn]; !ok {
			return fmt.Errorf("SDL invalid: service %q references to no-existing compute volume named %q", name, vn)
		}
		mount, _ := path(params, vn, "mount").(string)
		if !strings.HasPrefix(mount, "/") {
			return fmt.Errorf("SDL invalid: invalid value for \"service.%s.params.%s.mount\" parameter. expected absolute path", name, vn)
		}
		if other, dup := mounts[mount]; dup {
			return fmt.Errorf("sdl: duplicated mount point: mount %q already in use by volume %q", mount, other)
		}
		mounts[mount] = vn
	}
	for vn, v := range vols {
		mounted := false
		for m, n := range mounts {
			if n == vn {
				mounted = true
				if v.persistent {
					sv.VolumeMiB, sv.Mount = v.size, m
				}
			}
		}
		if v.persistent && !mounted {
			return fmt.Errorf("SDL invalid: compute.storage.%s has persistent=true which requires service.%s.params.storage.%s to have mount", vn, name, vn)
		}
	}
	return nil
}

// mebibytes reads an SDL size ("512Mi", "10Gi", "1G", "1024") in MiB,
// rounded down.
func mebibytes(s string) (int64, error) {
	units := []struct {
		suffix string
		bytes  float64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}}
	mult := 1.0
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.bytes
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 || f*mult > 1<<60 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return int64(f * mult / (1 << 20)), nil
}

var _ providertest.LaunchInspector = (*Server)(nil)

// Received implements providertest.LaunchInspector for deployment dseq:
// its first service's credentials (Docker Hub's host as docker.io), its
// persistent volume and mount, and its env.
func (s *Server) Received(dseq string) (providertest.Received, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deployments[dseq]
	if d == nil || len(d.Services) == 0 {
		return providertest.Received{}, false
	}
	sv := d.Services[0]
	r := providertest.Received{StorageMiB: sv.VolumeMiB, MountPath: sv.Mount, SecretEnv: map[string]string{}}
	for k, v := range sv.Env {
		r.SecretEnv[k] = v
	}
	if l := sv.Login; l != nil {
		r.RegistryServer, r.RegistryUsername, r.RegistrySecret = l.Host, l.Username, l.Password
		if l.Host == "https://index.docker.io/v1/" {
			r.RegistryServer = "docker.io"
		}
	}
	return r, true
}
