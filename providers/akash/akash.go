// Package akash is the Aurora adapter for Akash Network through the Akash
// Console managed-wallet REST API (https://console-api.akash.network;
// notes/PROVIDER_APIS.md §3b). Akash is an auction, so Launch is a small
// state machine: generate the SDL from the workload (deterministic YAML, see
// SDL), create a deployment, poll its bids, take the cheapest bid within the
// price cap, create the lease (which sends the manifest); Status reads the
// deployment and its lease status; Terminate closes the deployment.
//
// Offers are indicative: Akash has no offers before a deployment exists, so
// they come from the Console's GPU price statistics (USD/hour, network-wide)
// per model and memory, one offer per place (Aurora region and country)
// where an online provider carries that model. The lease's price comes from
// the winning bid.
//
// Regions: providers describe their place with attributes, which Locate
// turns into an Aurora region and a country (location-region, country, the
// older free-form region attribute, or the Console's IP geolocation). A
// provider with none of these yields offers with Region "": the router
// (providers.Router.Plan) keeps such an offer only for orders whose
// constraints and law name no region at all, since an empty region is in
// no region list. Launch does not pin placement attributes in the SDL
// (providers spell places inconsistently); every provider may bid, and
// Launch takes only bids from providers it locates in the offer's region
// (and country, when the offer names one), so the lease is where the offer
// said. Query and Config regions are Aurora region names.
//
// Money: the Console writes its grant denom into every SDL pricing entry
// and keeps the amount (akash-network/console @ d84c9e93d790
// apps/api/src/deployment/services/sdl/sdl.service.ts generateManifest;
// DEPLOYMENT_GRANT_DENOM is uact on mainnet, sandbox and testnet,
// apps/api/env/.env.mainnet), so the SDL's ceiling is computed in that denom
// (Config.Denom, default uact): a ceiling computed in uakt would be read as
// the same number of uact, off by the AKT/USD rate. Bids are priced per block
// in that denom: uact is one micro-USD, uakt 10⁻⁶ AKT; Pricer converts them
// to micro-USD per hour at the configured block time (6 s: 600 blocks per
// hour) and, for uakt, the AKT/USD rate: an A100 bid of 2000 uact/block is
// 2000 × 600 = 1,200,000 µUSD = $1.20/hour, one of 800 uakt/block at
// $2.50/AKT the same. The Lease keeps the bid's amount and "<denom>/block"
// in RawPrice. The Console's gpu-prices are already USD/hour (its per-block
// × 600 × AKT/USD ÷ 10⁶).
//
// Deposits: the create body's deposit is deprecated (deployment.schema.ts):
// ignored when the Console manages deposits, required otherwise
// (deployment-writer.service.ts resolveDepositInDollars). It is sent only
// when Config.DepositUSD is set.
//
// Closing: the Console's close is idempotent (deployment-writer.service.ts
// close), and Terminate treats a close that fails on a deployment that is
// closed when read back as done.
//
// Idempotency: the SDL's service is named by the launch's idempotency key,
// which (a) shows in the lease status, so a relaunch finds a leased
// deployment, and (b) makes the SDL, and so the deployment hash, unique per
// job, so a relaunch after a crash before the lease closes the orphaned
// deployment of the earlier attempt instead of leaving it to bid.
//
// Parsing: the Console wraps bodies in {"data":...}; responses are decoded
// tolerantly (unknown fields ignored) with fixed types and bounded bodies.
package akash

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/treaty"
)

// Name is the adapter's name.
const Name = "akash"

// DefaultBaseURL is the Akash Console API.
const DefaultBaseURL = "https://console-api.akash.network"

// Config configures a Client. Credential is required, and AKTUSD when Denom
// is uakt.
type Config struct {
	// Name is the provider's name in routes, offers, reputation and
	// metrics: the [[providers]] entry's name. Default Name ("akash").
	Name string
	// BaseURL of the Console API. Default DefaultBaseURL.
	BaseURL string
	// Credential is the Console API key (x-api-key header). Required.
	Credential providers.Credential
	// Regions limits placement to these Aurora regions (providers.Regions);
	// nil = anywhere, including providers that state no place.
	Regions []string
	// RegionAttribute is the older free-form provider attribute that may
	// name an Aurora region, consulted when a provider has neither a
	// country nor a location-region (see Locate). Default "region".
	RegionAttribute string
	// Denom is the Console's grant denom (its DEPLOYMENT_GRANT_DENOM), in
	// which the SDL's ceiling is written and bids come: "uact" (mainnet,
	// sandbox, testnet) or "uakt" (a local network). The Console rewrites
	// any other denom to it without converting the amount, so only these
	// two are accepted. Default "uact".
	Denom string
	// AKTUSD is the USD price of one AKT, as decimal text ("2.85"), used to
	// value uakt. Required when Denom is "uakt"; otherwise optional, and
	// without it uakt bids are skipped.
	AKTUSD string
	// USDDenoms are denoms worth one micro-USD per unit. Default uact, uusdc
	// and USDCDenom.
	USDDenoms []string
	// BlockTime is Akash's average block time. Default 6 s.
	BlockTime time.Duration
	// DepositUSD is the deployment deposit, in dollars, sent on create. The
	// field is deprecated upstream: the Console ignores it when it manages
	// deposits and requires it otherwise. Default 0: not sent; set it for
	// an account whose Console answers "deposit is required".
	DepositUSD float64
	// BidPolls bounds the bid polls of one Launch. Default 12.
	BidPolls int
	// BidPollInterval is the wait between bid polls. Default 5 s.
	BidPollInterval time.Duration
	// ExtraBidPolls are polls made after the first acceptable bid so later
	// (cheaper) bids are seen. Default 1; negative = none.
	ExtraBidPolls int
	// DefaultMaxPerHour is the SDL price ceiling when a launch has no cap.
	// Default $20/hour.
	DefaultMaxPerHour providers.Money
	// StorageClass is the class of persistent volumes: "beta1" (HDD),
	// "beta2" (SSD), "beta3" (NVMe) or "default"; providers bid only on
	// classes they offer. Default "beta3".
	StorageClass string
	// Logger receives launches at info and HTTP retries at debug level.
	// Default: discard.
	Logger *slog.Logger
	// HTTP tunes retries, timeouts and limits; see httpx.Config. Its Sleep
	// also paces bid polls.
	HTTP httpx.Config
}

// Client is an Akash adapter. Safe for concurrent use.
type Client struct {
	name    string // Config.Name
	http    *httpx.Client
	log     *slog.Logger
	cfg     Config
	pricer  *Pricer
	regions []string // Config.Regions, validated
	sleep   func(context.Context, time.Duration) error
	now     func() time.Time

	mu   sync.Mutex      // protects following
	seen map[string]bool // regions of online providers in the latest listing
}

var _ providers.Provider = (*Client)(nil)

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Credential.IsZero() {
		return nil, errors.New("akash: credential is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.RegionAttribute == "" {
		cfg.RegionAttribute = "region"
	}
	switch cfg.StorageClass {
	case "":
		cfg.StorageClass = "beta3"
	case "default", "beta1", "beta2", "beta3":
	default:
		// chain-sdk go/sdl/storage.go allowedStorageClasses; "ram" cannot
		// be persistent.
		return nil, fmt.Errorf("akash: storage class %q: want beta1, beta2, beta3 or default", cfg.StorageClass)
	}
	if cfg.Denom == "" {
		cfg.Denom = "uact"
	}
	if cfg.Denom != "uact" && cfg.Denom != "uakt" {
		return nil, fmt.Errorf("akash: denom %q: the Console prices every SDL in its grant denom, uact or uakt", clip(cfg.Denom))
	}
	if cfg.Denom == "uakt" && cfg.AKTUSD == "" {
		return nil, errors.New("akash: AKTUSD (USD per AKT) is required to price uakt")
	}
	if cfg.BlockTime == 0 {
		cfg.BlockTime = 6 * time.Second
	}
	if cfg.BidPolls == 0 {
		cfg.BidPolls = 12
	}
	if cfg.BidPollInterval == 0 {
		cfg.BidPollInterval = 5 * time.Second
	}
	if cfg.ExtraBidPolls == 0 {
		cfg.ExtraBidPolls = 1
	}
	cfg.ExtraBidPolls = max(cfg.ExtraBidPolls, 0)
	if cfg.DefaultMaxPerHour == 0 {
		cfg.DefaultMaxPerHour = 20_000_000
	}
	if cfg.BidPolls < 0 || cfg.BidPollInterval < 0 || cfg.DepositUSD < 0 || cfg.DefaultMaxPerHour < 0 {
		return nil, errors.New("akash: negative limit in config")
	}
	regions, err := providers.ParseRegions(cfg.Regions)
	if err != nil {
		return nil, fmt.Errorf("akash: %w", err)
	}
	pricer, err := NewPricer(cfg.BlockTime, cfg.AKTUSD, cfg.USDDenoms)
	if err != nil {
		return nil, err
	}
	if _, err := pricer.microUSDPerUnit(cfg.Denom); err != nil {
		return nil, fmt.Errorf("akash: denom %q: %w", cfg.Denom, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hcfg := cfg.HTTP
	if hcfg.Logger == nil {
		hcfg.Logger = log
	}
	cred := cfg.Credential
	hc, err := httpx.New(hcfg, httpx.API{
		Name:    Name,
		BaseURL: cfg.BaseURL,
		Authorize: func(r *http.Request) error {
			// x-api-key and Authorization are mutually exclusive (400).
			r.Header.Del("Authorization")
			r.Header.Set("x-api-key", cred.Reveal())
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	c := &Client{name: nameOr(cfg.Name), http: hc, log: log.With("provider", Name), cfg: cfg, pricer: pricer,
		regions: regions, sleep: hcfg.Sleep, now: hcfg.Now, seen: map[string]bool{}}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Name returns Config.Name, by default "akash".
func (c *Client) Name() string { return c.name }

// Capabilities reports offers (indicative), launch, terminate, GPUs and
// idempotent launch. Regions are Config.Regions when set; otherwise the
// regions of the online providers in the latest provider listing (the
// inventory, fetched by Offers), sorted: empty before the first Offers.
func (c *Client) Capabilities() providers.Capabilities {
	regions := slices.Clone(c.regions)
	if len(regions) == 0 {
		c.mu.Lock()
		for r := range c.seen {
			regions = append(regions, r)
		}
		c.mu.Unlock()
	}
	slices.Sort(regions)
	return providers.Capabilities{
		Offers: true, Launch: true, Terminate: true, GPU: true, Idempotent: true,
		Regions:  regions,
		Features: []providers.Feature{providers.FeatureRegistryAuth, providers.FeatureStorage, providers.FeatureSecretEnv, providers.FeaturePorts, providers.FeatureEndpoints},
	}
}

// Pricer returns the client's price converter.
func (c *Client) Pricer() *Pricer { return c.pricer }

// --- offers ---

type gpuPrices struct {
	Models []struct {
		Vendor       string `json:"vendor"`
		Model        string `json:"model"`
		RAM          string `json:"ram"`
		Interface    string `json:"interface"`
		Availability struct {
			Total     int64 `json:"total"`
			Available int64 `json:"available"`
		} `json:"availability"`
		Price *struct {
			Currency        string     `json:"currency"`
			Min             jsonNumber `json:"min"`
			Avg             jsonNumber `json:"avg"`
			WeightedAverage jsonNumber `json:"weightedAverage"`
			Med             jsonNumber `json:"med"`
			Max             jsonNumber `json:"max"`
		} `json:"price"`
	} `json:"models"`
}

type providerInfo struct {
	Owner         string  `json:"owner"`
	IsOnline      bool    `json:"isOnline"`
	IPCountryCode *string `json:"ipCountryCode"`
	Attributes    []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"attributes"`
	GPUModels []struct {
		Vendor string `json:"vendor"`
		Model  string `json:"model"`
		RAM    string `json:"ram"`
	} `json:"gpuModels"`
}

// parseGPUPrices decodes GET /v1/gpu-prices (not data-wrapped).
func parseGPUPrices(body []byte) (*gpuPrices, error) {
	var p gpuPrices
	if err := httpx.DecodeJSON(body, &p); err != nil {
		return nil, fmt.Errorf("akash: gpu prices: %w", err)
	}
	return &p, nil
}

// parseProviders decodes GET /v1/providers (a JSON array).
func parseProviders(body []byte) ([]providerInfo, error) {
	var p []providerInfo
	if err := httpx.DecodeJSON(body, &p); err != nil {
		return nil, fmt.Errorf("akash: providers: %w", err)
	}
	return p, nil
}

// ramMiB parses Kubernetes-style sizes "80Gi", "40960Mi", "24G".
func ramMiB(s string) int64 {
	s = strings.TrimSpace(s)
	mult := int64(0)
	for _, u := range []struct {
		suffix string
		mib    int64
	}{{"Gi", 1024}, {"Mi", 1}, {"G", 1000 * 1000 * 1000 / (1 << 20)}, {"Ti", 1 << 20}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mib
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || mult == 0 || n > 1<<20 {
		return 0
	}
	return n * mult
}

// OfferID names an indicative offer: vendor/model/ram@region/country
// ("nvidia/a100/80Gi@eu-central/DE"; either part of the place may be empty).
func OfferID(vendor, model, ram string, at Location) string {
	return vendor + "/" + model + "/" + ram + "@" + at.Region + "/" + at.Country
}

// locate returns where p is.
func (c *Client) locate(p *providerInfo) Location {
	attrs := make(map[string]string, len(p.Attributes))
	for _, a := range p.Attributes {
		attrs[a.Key] = a.Value
	}
	ip := ""
	if p.IPCountryCode != nil {
		ip = *p.IPCountryCode
	}
	return Locate(attrs, c.cfg.RegionAttribute, ip)
}

// listProviders fetches the providers and locates the online ones, by
// owner address; it records their regions for Capabilities.
func (c *Client) listProviders(ctx context.Context) ([]providerInfo, map[string]Location, error) {
	resp, err := c.http.Do(ctx, httpx.Request{Method: http.MethodGet, Path: "/v1/providers", Op: "list providers"})
	if err != nil {
		return nil, nil, err
	}
	provs, err := parseProviders(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	where := make(map[string]Location, len(provs))
	seen := map[string]bool{}
	for i := range provs {
		p := &provs[i]
		if !p.IsOnline {
			continue
		}
		at := c.locate(p)
		where[p.Owner] = at
		if at.Region != "" {
			seen[at.Region] = true
		}
	}
	c.mu.Lock()
	c.seen = seen
	c.mu.Unlock()
	return provs, where, nil
}

// Offers lists indicative offers: one per GPU model and memory with a
// price, per place (Aurora region and country, see Locate) of the online
// providers that carry it, priced at the Console's network-wide
// weighted-average USD/hour times the GPU count. Available is the
// network-wide count of free GPUs of the model (the Console does not split
// it by place). With regions asked or configured, providers in no region
// are left out; otherwise they give offers with Region "". Offers are
// cheapest first, then by place.
func (c *Client) Offers(ctx context.Context, q providers.Query) ([]providers.Offer, error) {
	regions, ok := providers.NarrowRegions(q.Regions, c.regions)
	if !ok {
		return nil, nil
	}
	resp, err := c.http.Do(ctx, httpx.Request{Method: http.MethodGet, Path: "/v1/gpu-prices", Op: "gpu prices"})
	if err != nil {
		return nil, err
	}
	prices, err := parseGPUPrices(resp.Body)
	if err != nil {
		return nil, err
	}
	provs, where, err := c.listProviders(ctx)
	if err != nil {
		return nil, err
	}
	// placesOf[vendor/model/ram] = places of online providers with it.
	placesOf := map[string][]Location{}
	for i := range provs {
		p := &provs[i]
		at, online := where[p.Owner]
		if !online || len(regions) > 0 && !slices.Contains(regions, at.Region) {
			continue
		}
		for _, g := range p.GPUModels {
			k := g.Vendor + "/" + g.Model + "/" + g.RAM
			if !slices.Contains(placesOf[k], at) {
				placesOf[k] = append(placesOf[k], at)
			}
		}
	}
	count := max(q.GPUCount, 1)
	var out []providers.Offer
	for _, m := range prices.Models {
		if m.Price == nil || m.Model == "" {
			continue
		}
		if q.GPUModel != "" && !providers.SameGPUModel(q.GPUModel, m.Model) {
			continue
		}
		vram := ramMiB(m.RAM)
		if q.MinVRAMMiB > 0 && vram < q.MinVRAMMiB {
			continue
		}
		if m.Availability.Available < count {
			continue
		}
		raw := m.Price.WeightedAverage
		if raw == "" || raw == "0" {
			raw = m.Price.Avg
		}
		each, err := providers.ParseUSD(string(raw))
		if err != nil || each <= 0 {
			continue
		}
		price := each * providers.Money(count)
		if q.MaxPricePerHour > 0 && price > q.MaxPricePerHour {
			continue
		}
		places := placesOf[m.Vendor+"/"+m.Model+"/"+m.RAM]
		slices.SortFunc(places, func(a, b Location) int {
			return cmp.Or(strings.Compare(a.Region, b.Region), strings.Compare(a.Country, b.Country))
		})
		for _, at := range places {
			out = append(out, providers.Offer{
				Provider: Name, ID: OfferID(m.Vendor, m.Model, m.RAM, at), GPUModel: m.Model, GPUCount: count,
				VRAMMiB: vram, Region: at.Region, PricePerHour: price,
				Raw:       providers.RawPrice{Amount: string(raw), Unit: "usd/hour"},
				Available: m.Availability.Available, Country: at.Country,
			})
		}
	}
	slices.SortStableFunc(out, func(a, b providers.Offer) int { return cmp.Compare(a.PricePerHour, b.PricePerHour) })
	c.log.DebugContext(ctx, "akash offers", "models", len(prices.Models), "matching", len(out))
	return out, nil
}

// --- deployments ---

type coin struct {
	Denom  string `json:"denom"`
	Amount string `json:"amount"`
}

type leaseID struct {
	Owner    string     `json:"owner"`
	DSeq     string     `json:"dseq"`
	GSeq     jsonNumber `json:"gseq"`
	OSeq     jsonNumber `json:"oseq"`
	Provider string     `json:"provider"`
	BSeq     jsonNumber `json:"bseq"`
}

type serviceStatus struct {
	Name      string   `json:"name"`
	Available int64    `json:"available"`
	Total     int64    `json:"total"`
	URIs      []string `json:"uris"`
}

// forwardedPort is ForwardedPortSchema (akash-network/console
// apps/api/src/deployment/http-schemas/lease.schema.ts).
type forwardedPort struct {
	Port         int    `json:"port"`
	ExternalPort int    `json:"externalPort"`
	Host         string `json:"host"`
}

type leaseInfo struct {
	ID     leaseID `json:"id"`
	State  string  `json:"state"`
	Price  coin    `json:"price"`
	Status *struct {
		Services       map[string]serviceStatus   `json:"services"`
		ForwardedPorts map[string][]forwardedPort `json:"forwarded_ports"`
		Errors         []string                   `json:"errors"`
	} `json:"status"`
}

// Endpoints returns where d's active leases are reached: each service's
// ingress URIs (HTTP, for exposes as port 80) and forwarded ports (TCP on
// the provider's host), sorted by service name.
func (d *deployment) Endpoints() []providers.Endpoint {
	var eps []providers.Endpoint
	for _, l := range d.Leases {
		if l.State != "active" || l.Status == nil {
			continue
		}
		names := make([]string, 0, len(l.Status.Services))
		for n := range l.Status.Services {
			names = append(names, n)
		}
		for n := range l.Status.ForwardedPorts {
			if _, ok := l.Status.Services[n]; !ok {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		for _, n := range names {
			for _, u := range l.Status.Services[n].URIs {
				eps = append(eps, providers.Endpoint{Kind: providers.EndpointHTTP, Host: u, Port: 80, ContainerPort: 0, URL: "http://" + u + "/"})
			}
			for _, fp := range l.Status.ForwardedPorts[n] {
				if fp.Host != "" && fp.ExternalPort > 0 && fp.ExternalPort <= 65535 {
					eps = append(eps, providers.Endpoint{Kind: providers.EndpointTCP, Host: fp.Host, Port: fp.ExternalPort, ContainerPort: fp.Port})
				}
			}
		}
	}
	return eps
}

type deployment struct {
	Deployment struct {
		ID struct {
			Owner string `json:"owner"`
			DSeq  string `json:"dseq"`
		} `json:"id"`
		State string `json:"state"`
		Hash  string `json:"hash"`
	} `json:"deployment"`
	Leases []leaseInfo `json:"leases"`
}

// parseDeployment decodes {"data":<Deployment>}.
func parseDeployment(body []byte) (*deployment, error) {
	var r struct {
		Data *deployment `json:"data"`
	}
	if err := httpx.DecodeJSON(body, &r); err != nil {
		return nil, fmt.Errorf("akash: deployment: %w", err)
	}
	if r.Data == nil || r.Data.Deployment.ID.DSeq == "" {
		return nil, errors.New("akash: deployment: no data or dseq")
	}
	return r.Data, nil
}

type deploymentPage struct {
	Deployments []deployment `json:"deployments"`
	Pagination  struct {
		Total   int64 `json:"total"`
		HasMore bool  `json:"hasMore"`
	} `json:"pagination"`
}

// parseDeploymentList decodes {"data":{"deployments":[...],"pagination":{...}}}.
func parseDeploymentList(body []byte) (*deploymentPage, error) {
	var r struct {
		Data *deploymentPage `json:"data"`
	}
	if err := httpx.DecodeJSON(body, &r); err != nil {
		return nil, fmt.Errorf("akash: deployment list: %w", err)
	}
	if r.Data == nil {
		return nil, errors.New("akash: deployment list: no data")
	}
	return r.Data, nil
}

type createdDeployment struct {
	DSeq     string `json:"dseq"`
	Manifest string `json:"manifest"`
}

// parseCreated decodes {"data":{"dseq","manifest","signTx"}}.
func parseCreated(body []byte) (*createdDeployment, error) {
	var r struct {
		Data *createdDeployment `json:"data"`
	}
	if err := httpx.DecodeJSON(body, &r); err != nil {
		return nil, fmt.Errorf("akash: create deployment: %w", err)
	}
	if r.Data == nil || !validDSeq(r.Data.DSeq) || r.Data.Manifest == "" {
		return nil, errors.New("akash: create deployment: response lacks dseq or manifest")
	}
	return r.Data, nil
}

type bid struct {
	Bid struct {
		ID    leaseID `json:"id"`
		State string  `json:"state"`
		Price coin    `json:"price"`
	} `json:"bid"`
}

// parseBids decodes {"data":[{"bid":{...},"escrow_account":{...}}]}.
func parseBids(body []byte) ([]bid, error) {
	var r struct {
		Data []bid `json:"data"`
	}
	if err := httpx.DecodeJSON(body, &r); err != nil {
		return nil, fmt.Errorf("akash: bids: %w", err)
	}
	return r.Data, nil
}

func validDSeq(s string) bool {
	if s == "" || len(s) > 20 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkDSeq(id string) error {
	if !validDSeq(id) {
		return fmt.Errorf("akash: deployment id %q is not a dseq", httpx.Excerpt([]byte(id), 40))
	}
	return nil
}

// State maps a deployment and its leases to a providers.State:
//
//	deployment closed                                     → terminated
//	no lease yet (bidding)                                → pending
//	an active lease whose services are all available      → running
//	an active lease otherwise (manifest sent, starting)   → launching
//	a lease in insufficient_funds                         → failed
//	only closed leases on an active deployment            → failed
func (d *deployment) State() (providers.State, string) {
	if d.Deployment.State == "closed" {
		return providers.StateTerminated, "deployment closed"
	}
	if len(d.Leases) == 0 {
		return providers.StatePending, "waiting for bids"
	}
	for _, l := range d.Leases {
		switch l.State {
		case "active":
			if l.Status == nil || len(l.Status.Services) == 0 {
				return providers.StateLaunching, "lease active, no status yet"
			}
			for _, s := range l.Status.Services {
				if s.Total == 0 || s.Available < s.Total {
					msg := fmt.Sprintf("service %s: %d/%d available", s.Name, s.Available, s.Total)
					if len(l.Status.Errors) > 0 {
						msg += ": " + strings.Join(l.Status.Errors, "; ")
					}
					return providers.StateLaunching, msg
				}
			}
			return providers.StateRunning, "all services available"
		case "insufficient_funds":
			return providers.StateFailed, "lease has insufficient funds"
		}
	}
	return providers.StateFailed, "every lease is closed"
}

func (d *deployment) activeLease() *leaseInfo {
	for i := range d.Leases {
		if d.Leases[i].State == "active" {
			return &d.Leases[i]
		}
	}
	return nil
}

func (c *Client) getDeployment(ctx context.Context, dseq string) (*deployment, error) {
	resp, err := c.http.Do(ctx, httpx.Request{Method: http.MethodGet, Path: "/v1/deployments/" + dseq, Op: "get deployment"})
	if err != nil {
		return nil, err
	}
	return parseDeployment(resp.Body)
}

// activeDeployments lists the account's active deployments.
func (c *Client) activeDeployments(ctx context.Context) ([]deployment, error) {
	const limit, maxPages = 100, 50
	var out []deployment
	for page := range maxPages {
		resp, err := c.http.Do(ctx, httpx.Request{
			Method: http.MethodGet, Path: "/v1/deployments", Op: "list deployments",
			Query: map[string][]string{"skip": {strconv.Itoa(page * limit)}, "limit": {strconv.Itoa(limit)}},
		})
		if err != nil {
			return nil, err
		}
		p, err := parseDeploymentList(resp.Body)
		if err != nil {
			return nil, err
		}
		for _, d := range p.Deployments {
			if d.Deployment.State == "active" {
				out = append(out, d)
			}
		}
		if !p.Pagination.HasMore || len(p.Deployments) == 0 {
			return out, nil
		}
	}
	return out, nil
}

// Status reads a deployment; id is its dseq.
func (c *Client) Status(ctx context.Context, id string) (providers.Status, error) {
	if err := checkDSeq(id); err != nil {
		return providers.Status{}, err
	}
	d, err := c.getDeployment(ctx, id)
	if err != nil {
		return providers.Status{}, err
	}
	st, msg := d.State()
	return providers.Status{ID: id, State: st, Message: msg, UpdatedAt: c.now(), Endpoints: d.Endpoints()}, nil
}

// Terminate closes a deployment (and so its leases). Closing a closed
// deployment is a no-op; an unknown one is providers.ErrNotFound.
func (c *Client) Terminate(ctx context.Context, id string) error {
	if err := checkDSeq(id); err != nil {
		return err
	}
	return c.close(ctx, id)
}

// cleanup closes a deployment Launch will not use, also when ctx is done
// (bounded by a minute), so it does not keep bidding and holding a deposit.
func (c *Client) cleanup(ctx context.Context, dseq string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return c.close(ctx, dseq)
}

// close closes dseq. The Console answers success for a closed deployment
// (akash-network/console @ d84c9e93d790
// apps/api/src/deployment/services/deployment-writer/deployment-writer.service.ts
// close); when the close fails otherwise (a lost answer, a concurrent close
// that won, an older Console that refuses a second close) the deployment is
// read back, as the Console itself does, and a closed one is success.
func (c *Client) close(ctx context.Context, dseq string) error {
	_, err := c.http.Do(ctx, httpx.Request{Method: http.MethodDelete, Path: "/v1/deployments/" + dseq, Op: "close deployment"})
	if err != nil {
		if errors.Is(err, providers.ErrNotFound) || errors.Is(err, providers.ErrAuth) || ctx.Err() != nil {
			return err
		}
		d, gerr := c.getDeployment(ctx, dseq)
		if gerr != nil || d.Deployment.State != "closed" {
			return err
		}
		c.log.InfoContext(ctx, "akash close failed but the deployment is closed", "dseq", dseq, "err", err)
		return nil
	}
	c.log.InfoContext(ctx, "akash closed deployment", "dseq", dseq)
	return nil
}

// --- launch ---

// SDLFor renders the SDL Launch sends for spec with the given per-block
// ceiling in the configured denom. It has no placement attributes: where
// the lease may be is enforced on the bids (see Placement).
func (c *Client) SDLFor(spec providers.LaunchSpec, maxAmount string) (string, error) {
	p := SDLParams{Service: spec.IdempotencyKey, Denom: c.cfg.Denom, MaxAmount: maxAmount, Volume: spec.Storage, StorageClass: c.cfg.StorageClass}
	if a := spec.Registry; a != nil {
		cr := CredentialsFor(*a, spec.Workload.Image)
		p.Credentials = &cr
	}
	w := spec.Workload
	if len(spec.SecretEnv) > 0 {
		// The SDL (and the manifest made from it) goes to the Console and
		// the leasing provider, not on chain: the deployment carries only
		// the manifest's hash.
		w.Env = slices.Clone(w.Env)
		for _, e := range spec.SecretEnv {
			w.Env = append(w.Env, treaty.EnvVar{Name: e.Name, Value: e.Value.Reveal()})
		}
		slices.SortFunc(w.Env, func(a, b treaty.EnvVar) int { return strings.Compare(a.Name, b.Name) })
	}
	if spec.Offer.GPUModel != "" {
		p.GPUModel = providers.CanonicalGPUModel(spec.Offer.GPUModel)
		p.VRAMMiB = spec.Offer.VRAMMiB
	}
	return SDL(w, p)
}

// Placement returns where a launch of offer may lease: the offer's region
// and country; with Config.Regions, an offer without a region is placed in
// the only configured region, and a region outside them is an error. A zero
// Location (no region) accepts any provider.
func (c *Client) Placement(offer providers.Offer) (Location, error) {
	at := Location{Region: offer.Region, Country: offer.Country}
	if at.Region == "" && at.Country != "" {
		at.Region = providers.RegionForCountry(at.Country)
		if at.Region == "" {
			return Location{}, fmt.Errorf("akash: launch: offer country %q is not an ISO 3166-1 alpha-2 code", httpx.Excerpt([]byte(at.Country), 20))
		}
	}
	if at.Region != "" && !providers.ValidRegion(at.Region) {
		return Location{}, fmt.Errorf("akash: launch: offer region %q is not an Aurora region", httpx.Excerpt([]byte(at.Region), 40))
	}
	if at.Region == "" && len(c.regions) == 1 {
		at.Region = c.regions[0]
	}
	if len(c.regions) > 0 && !slices.Contains(c.regions, at.Region) {
		return Location{}, fmt.Errorf("akash: launch: region %q is not one of the configured %q", at.Region, c.regions)
	}
	return at, nil
}

// accepts reports whether a bid from a provider located at p may win a
// launch placed at want.
func (want Location) accepts(p Location, known bool) bool {
	switch {
	case want.Region == "":
		return true
	case !known || p.Region != want.Region:
		return false
	}
	return want.Country == "" || strings.EqualFold(p.Country, want.Country)
}

func (c *Client) leaseOf(spec providers.LaunchSpec, d *deployment, l *leaseInfo) providers.Lease {
	price, err := c.pricer.PerHour(l.Price.Amount, l.Price.Denom)
	if err != nil {
		price = spec.Offer.PricePerHour
	}
	offer := spec.Offer
	offer.Provider = Name
	offer.ID = fmt.Sprintf("%s/%s/%s/%s", l.ID.DSeq, l.ID.GSeq, l.ID.OSeq, l.ID.Provider)
	offer.PricePerHour = price
	offer.Raw = providers.RawPrice{Amount: l.Price.Amount, Unit: l.Price.Denom + "/block"}
	st, _ := d.State()
	return providers.Lease{ID: d.Deployment.ID.DSeq, Provider: Name, Offer: offer, PricePerHour: price, State: st}
}

// findLeased returns the active deployment whose lease status shows the
// service named key.
func findLeased(list []deployment, key string) (*deployment, *leaseInfo) {
	for i := range list {
		for j := range list[i].Leases {
			l := &list[i].Leases[j]
			if l.State != "active" || l.Status == nil {
				continue
			}
			if _, ok := l.Status.Services[key]; ok {
				return &list[i], l
			}
		}
	}
	return nil, nil
}

// unsupported gives the reason for each workload feature the adapter lacks.
var unsupported = map[providers.Feature]string{
	// SDL (akash-network/chain-sdk go/sdl/v2.go v2Service: image, command,
	// args, env, expose, dependencies, params, credentials) has no SSH key
	// field: SSH means running sshd in the image.
	providers.FeatureSSH: "Akash SDL services have no SSH key field (chain-sdk go/sdl/v2.go v2Service); SSH needs sshd in the image",
}

// Launch runs the auction for spec and returns the leased deployment.
// A relaunch with the same IdempotencyKey returns the existing lease. With no
// acceptable bid after the polls the deployment is closed and the error wraps
// providers.ErrNoCapacity (or ErrOverPrice when bids came but all above the
// cap).
func (c *Client) Launch(ctx context.Context, spec providers.LaunchSpec) (providers.Lease, error) {
	if err := providers.CheckFeatures(Name, c.Capabilities(), spec, unsupported); err != nil {
		return providers.Lease{}, err
	}
	key := spec.IdempotencyKey
	if !dnsLabel(key) {
		return providers.Lease{}, fmt.Errorf("akash: launch: idempotency key %q is not a DNS label", httpx.Excerpt([]byte(key), 70))
	}
	if spec.Workload.Image == "" {
		return providers.Lease{}, errors.New("akash: launch: workload image is required")
	}
	if err := ctx.Err(); err != nil {
		return providers.Lease{}, fmt.Errorf("akash: launch: %w", err)
	}
	capPerHour := spec.MaxPricePerHour
	if capPerHour <= 0 {
		capPerHour = c.cfg.DefaultMaxPerHour
	}
	maxAmount, ok, err := c.pricer.PerBlock(capPerHour, c.cfg.Denom)
	if err != nil {
		return providers.Lease{}, err
	}
	if !ok {
		return providers.Lease{}, fmt.Errorf("akash: launch: cap %v/h is below one micro-unit of %s per block: %w", capPerHour, c.cfg.Denom, providers.ErrOverPrice)
	}
	at, err := c.Placement(spec.Offer)
	if err != nil {
		return providers.Lease{}, err
	}
	sdl, err := c.SDLFor(spec, maxAmount)
	if err != nil {
		return providers.Lease{}, err
	}
	var where map[string]Location // bidders' places, when the placement needs them
	if at.Region != "" {
		if _, where, err = c.listProviders(ctx); err != nil {
			return providers.Lease{}, fmt.Errorf("akash: launch: %w", err)
		}
	}
	accept := func(provider string) bool {
		p, known := where[provider]
		return at.accepts(p, known)
	}

	before, err := c.activeDeployments(ctx)
	if err != nil {
		return providers.Lease{}, fmt.Errorf("akash: launch: %w", err)
	}
	if d, l := findLeased(before, key); d != nil {
		c.log.InfoContext(ctx, "akash launch found existing lease", "job", spec.JobID, "key", key, "dseq", d.Deployment.ID.DSeq)
		return c.leaseOf(spec, d, l), nil
	}

	data := map[string]any{"sdl": sdl}
	if c.cfg.DepositUSD > 0 {
		data["deposit"] = c.cfg.DepositUSD // deprecated; see Config.DepositUSD
	}
	req, err := httpx.JSON(http.MethodPost, "/v1/deployments", map[string]any{"data": data})
	if err != nil {
		return providers.Lease{}, fmt.Errorf("akash: %w", err)
	}
	req.Op = "create deployment" // a repeat makes a second deployment: 429 retries only
	req.Redact = spec.Redactions()
	resp, err := c.http.Do(ctx, req)
	if err != nil {
		return providers.Lease{}, err
	}
	created, err := parseCreated(resp.Body)
	if err != nil {
		return providers.Lease{}, err
	}
	dseq := created.DSeq
	c.log.InfoContext(ctx, "akash created deployment", "job", spec.JobID, "key", key, "dseq", dseq, "max_per_block", maxAmount, "denom", c.cfg.Denom)

	// Earlier attempts of this job left deployments with the same SDL hash.
	if lease, done, err := c.reconcile(ctx, spec, dseq, before); done || err != nil {
		return lease, err
	}

	chosen, sawBids, err := c.awaitBid(ctx, dseq, spec.MaxPricePerHour, accept)
	if err != nil || chosen == nil {
		if cerr := c.cleanup(ctx, dseq); cerr != nil {
			c.log.WarnContext(ctx, "akash could not close unleased deployment", "dseq", dseq, "err", cerr)
		}
		if err != nil {
			return providers.Lease{}, err
		}
		why := providers.ErrNoCapacity
		if sawBids {
			why = providers.ErrOverPrice
		}
		return providers.Lease{}, fmt.Errorf("akash: launch: no acceptable bid for dseq %s in %s within %v/h after %d polls: %w", dseq, at, capPerHour, c.cfg.BidPolls, why)
	}

	id := chosen.Bid.ID
	gseq, _ := strconv.ParseInt(string(id.GSeq), 10, 64)
	oseq, _ := strconv.ParseInt(string(id.OSeq), 10, 64)
	lreq, err := httpx.JSON(http.MethodPost, "/v1/leases", map[string]any{
		"manifest": created.Manifest,
		"leases":   []map[string]any{{"dseq": dseq, "gseq": gseq, "oseq": oseq, "provider": id.Provider}},
	})
	if err != nil {
		return providers.Lease{}, fmt.Errorf("akash: %w", err)
	}
	lreq.Op = "create lease"
	resp, err = c.http.Do(ctx, lreq)
	var d *deployment
	if err == nil {
		d, err = parseDeployment(resp.Body)
	}
	if err != nil {
		if errors.Is(err, providers.ErrAuth) || ctx.Err() != nil {
			return providers.Lease{}, err
		}
		// The lease may exist although its answer was lost.
		d2, gerr := c.getDeployment(ctx, dseq)
		if gerr != nil || d2.activeLease() == nil {
			if cerr := c.cleanup(ctx, dseq); cerr != nil {
				c.log.WarnContext(ctx, "akash could not close unleased deployment", "dseq", dseq, "err", cerr)
			}
			return providers.Lease{}, err
		}
		c.log.InfoContext(ctx, "akash lease found after a failed create", "dseq", dseq, "err", err)
		d = d2
	}
	l := d.activeLease()
	if l == nil {
		return providers.Lease{}, fmt.Errorf("akash: create lease for dseq %s: deployment has no active lease", dseq)
	}
	lease := c.leaseOf(spec, d, l)
	c.log.InfoContext(ctx, "akash leased", "job", spec.JobID, "dseq", dseq, "provider", l.ID.Provider,
		"price", l.Price.Amount, "denom", l.Price.Denom, "price_per_hour", lease.PricePerHour)
	return lease, nil
}

// reconcile handles deployments of earlier attempts of the same job (same
// SDL, so same hash): one that is leased wins and the new one is closed;
// unleased ones are closed as orphans.
func (c *Client) reconcile(ctx context.Context, spec providers.LaunchSpec, dseq string, before []deployment) (providers.Lease, bool, error) {
	if len(before) == 0 {
		return providers.Lease{}, false, nil
	}
	fresh, err := c.getDeployment(ctx, dseq)
	if err != nil {
		return providers.Lease{}, false, fmt.Errorf("akash: launch: read new deployment %s: %w", dseq, err)
	}
	hash := fresh.Deployment.Hash
	if hash == "" {
		return providers.Lease{}, false, nil
	}
	for i := range before {
		d := &before[i]
		if d.Deployment.Hash != hash || d.Deployment.ID.DSeq == dseq {
			continue
		}
		if l := d.activeLease(); l != nil {
			c.log.InfoContext(ctx, "akash launch found leased twin; closing the new deployment", "job", spec.JobID, "dseq", d.Deployment.ID.DSeq, "new", dseq)
			if err := c.cleanup(ctx, dseq); err != nil {
				return providers.Lease{}, true, err
			}
			return c.leaseOf(spec, d, l), true, nil
		}
		c.log.InfoContext(ctx, "akash closing orphaned deployment of an earlier attempt", "job", spec.JobID, "dseq", d.Deployment.ID.DSeq)
		if err := c.close(ctx, d.Deployment.ID.DSeq); err != nil && !errors.Is(err, providers.ErrNotFound) {
			return providers.Lease{}, false, err
		}
	}
	return providers.Lease{}, false, nil
}

// awaitBid polls the bids of dseq and returns the cheapest open bid at or
// under capPerHour (0 = any) from a provider accept allows, after
// ExtraBidPolls more polls once one appears. sawBids reports whether any
// open bid from an allowed provider came at all.
func (c *Client) awaitBid(ctx context.Context, dseq string, capPerHour providers.Money, accept func(provider string) bool) (chosen *bid, sawBids bool, err error) {
	extra := -1 // polls left after the first acceptable bid; -1 = none seen yet
	for poll := 0; extra >= 0 || poll < c.cfg.BidPolls; poll++ {
		if poll > 0 {
			if err := c.sleep(ctx, c.cfg.BidPollInterval); err != nil {
				return nil, sawBids, fmt.Errorf("akash: waiting for bids on dseq %s: %w", dseq, err)
			}
		}
		resp, err := c.http.Do(ctx, httpx.Request{Method: http.MethodGet, Path: "/v1/bids", Query: map[string][]string{"dseq": {dseq}}, Op: "list bids"})
		if err != nil {
			return nil, sawBids, err
		}
		bids, err := parseBids(resp.Body)
		if err != nil {
			return nil, sawBids, err
		}
		var bestPrice providers.Money
		var best *bid
		for i := range bids {
			b := &bids[i]
			if b.Bid.State != "open" || b.Bid.ID.DSeq != dseq || b.Bid.ID.Provider == "" {
				continue
			}
			if !accept(b.Bid.ID.Provider) {
				c.log.DebugContext(ctx, "akash: skipping bid from a provider outside the placement", "provider", b.Bid.ID.Provider)
				continue
			}
			sawBids = true
			p, err := c.pricer.PerHour(b.Bid.Price.Amount, b.Bid.Price.Denom)
			if err != nil {
				c.log.DebugContext(ctx, "akash: skipping bid", "provider", b.Bid.ID.Provider, "err", err)
				continue
			}
			if capPerHour > 0 && p > capPerHour {
				continue
			}
			if best == nil || p < bestPrice || p == bestPrice && b.Bid.ID.Provider < best.Bid.ID.Provider {
				best, bestPrice = b, p
			}
		}
		if best != nil {
			chosen = best // the latest view wins
		}
		if chosen != nil {
			if extra < 0 {
				extra = c.cfg.ExtraBidPolls
			} else {
				extra--
			}
			if extra <= 0 {
				return chosen, true, nil
			}
		}
	}
	return nil, sawBids, nil
}

// jsonNumber accepts a JSON number, a string holding one, or null, and keeps
// the text: the Console sends prices as numbers and sequence numbers as
// either. At most 64 characters.
type jsonNumber string

func (n *jsonNumber) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		*n = ""
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if len(s) > 64 {
		return fmt.Errorf("akash: number %q… too long", s[:16])
	}
	if s != "" {
		if _, err := providers.ParseDecimal(s); err != nil {
			return err
		}
	}
	*n = jsonNumber(s)
	return nil
}

var _ providers.NoLogs = (*Client)(nil)

// NoLogsReason says why the adapter reads no logs (providers.NoLogs).
func (c *Client) NoLogsReason() string {
	return "Akash lease logs are streamed by the provider itself (a websocket under /lease/{dseq}/{gseq}/{oseq}/, authenticated as the deployment owner); the Console managed-wallet API this adapter uses does not relay them"
}

// nameOr is name, or Name when it is empty.
func nameOr(name string) string {
	if name == "" {
		return Name
	}
	return name
}
