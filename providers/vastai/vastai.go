// Package vastai is the Aurora adapter for Vast.ai's REST API
// (https://console.vast.ai/api/v0, notes/PROVIDER_APIS.md §1): it searches
// offers (POST /bundles/), rents an ask (PUT /asks/{id}/) labelled with the
// launch's idempotency key, reads instance status and destroys instances.
//
// Money: Vast quotes dph_total in USD per hour for the whole offer; it is
// converted exactly to micro-USD per hour and kept as received in RawPrice
// (unit "usd/hour").
//
// Regions: Vast reports a free-text geolocation ending in an ISO 3166-1
// alpha-2 country code ("Texas, US"). An offer's Country is that code as
// given; its Region is the Aurora region of the country, refined by the US
// state when one is named (providers.RegionForPlace). Regions in queries and
// in Config.Regions are Aurora region names; searches send Vast the
// countries in them (providers.CountriesIn) and drop results whose region
// is outside them.
//
// Parsing: responses are decoded tolerantly (Vast adds fields) but with
// fixed types and bounded sizes (httpx limits bodies to 4 MiB by default);
// ids must be positive integers.
package vastai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
)

// Name is the adapter's name.
const Name = "vastai"

// DefaultBaseURL is Vast.ai's API host; paths carry /api/v0.
const DefaultBaseURL = "https://console.vast.ai"

// Config configures a Client. Credential is required; the rest defaults.
type Config struct {
	// Name is the provider's name in routes, offers, reputation and
	// metrics: the [[providers]] entry's name. Default Name ("vastai").
	Name string
	// BaseURL of the API, without /api/v0. Default DefaultBaseURL.
	BaseURL string
	// Credential is the Vast.ai API key, sent as a Bearer token. Required.
	Credential providers.Credential
	// Regions limits placement to these Aurora regions (providers.Regions);
	// nil = anywhere.
	Regions []string
	// Logger receives launches at info and HTTP retries at debug level.
	// Default: discard.
	Logger *slog.Logger
	// HTTP tunes retries, timeouts and limits; see httpx.Config.
	HTTP httpx.Config
	// OfferType is the rental type searched and rented: "on-demand" or
	// "bid" (interruptible). Default "on-demand".
	OfferType string
	// SearchLimit caps offers per search. Default 64.
	SearchLimit int
	// Pace scales the documented minimum intervals between requests to
	// each endpoint (MinIntervals): 0 means 1 (as documented); a negative
	// Pace turns pacing off, which only a fake accepts.
	Pace float64
	// StatusTTL is how long one listing of every instance answers Status
	// calls: Vast allows one showInstance per 2 s per key, so a node
	// polling many leases reads them from one paged listing instead.
	// Default 5s; negative asks for each instance alone (showInstance).
	StatusTTL time.Duration
	// MinReliability filters offers below this reliability score (0..1),
	// the search field Vast documents (api-reference/openapi.yaml, search
	// offers). Default 0.95; negative disables the filter.
	MinReliability float64
	// GPUNames maps a canonical GPU model (providers.CanonicalGPUModel) to
	// the gpu_name spellings Vast uses, so a search for "A100" asks for
	// "A100 SXM4" and "A100 PCIE". Entries add to and override
	// DefaultGPUNames(). A model in neither is searched as given.
	GPUNames map[string][]string
	// MinDiskGB is the smallest disk requested at launch. Default 10.
	MinDiskGB float64
}

// DefaultGPUNames returns Vast's spellings of common models, by canonical
// model. The map is new on each call.
func DefaultGPUNames() map[string][]string {
	return map[string][]string{
		"rtx4090":  {"RTX 4090"},
		"rtx4080":  {"RTX 4080"},
		"rtx3090":  {"RTX 3090"},
		"rtx3080":  {"RTX 3080"},
		"rtx5090":  {"RTX 5090"},
		"rtxa6000": {"RTX A6000"},
		"a6000":    {"RTX A6000"},
		"a100":     {"A100 SXM4", "A100 PCIE", "A100X"},
		"h100":     {"H100 SXM", "H100 PCIE", "H100 NVL"},
		"h200":     {"H200"},
		"l40s":     {"L40S"},
		"l4":       {"L4"},
		"a10":      {"A10"},
		"v100":     {"Tesla V100"},
	}
}

// Client is a Vast.ai adapter. Safe for concurrent use.
type Client struct {
	name    string // Config.Name
	http    *httpx.Client
	log     *slog.Logger
	regions []string // Config.Regions, validated
	cfg     Config
	names   map[string][]string
	now     func() time.Time

	mu   sync.Mutex      // protects following
	seen map[string]bool // regions of every offer Vast has listed

	snapMu sync.Mutex // serializes listings; protects snap
	snap   *statusSnapshot
}

var _ providers.Provider = (*Client)(nil)

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Credential.IsZero() {
		return nil, errors.New("vastai: credential is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	switch cfg.OfferType {
	case "":
		cfg.OfferType = "on-demand"
	case "on-demand", "bid":
	default:
		return nil, fmt.Errorf("vastai: offer type %q: want on-demand or bid", cfg.OfferType)
	}
	if cfg.SearchLimit == 0 {
		cfg.SearchLimit = 64
	}
	if cfg.SearchLimit < 0 || cfg.SearchLimit > 1000 {
		return nil, fmt.Errorf("vastai: search limit %d out of 1..1000", cfg.SearchLimit)
	}
	if cfg.MinReliability == 0 {
		cfg.MinReliability = 0.95
	}
	if cfg.MinDiskGB == 0 {
		cfg.MinDiskGB = 10
	}
	regions, err := providers.ParseRegions(cfg.Regions)
	if err != nil {
		return nil, fmt.Errorf("vastai: %w", err)
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
		BaseURL: strings.TrimSuffix(cfg.BaseURL, "/"),
		Authorize: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+cred.Reveal())
			return nil
		},
		Classify: classify,
		Limit:    pacer(cfg.Pace),
	})
	if err != nil {
		return nil, err
	}
	names := DefaultGPUNames()
	for k, v := range cfg.GPUNames {
		names[providers.CanonicalGPUModel(k)] = v
	}
	now := cfg.HTTP.Now
	if now == nil {
		now = time.Now
	}
	return &Client{name: nameOr(cfg.Name), http: hc, log: log.With("provider", Name), regions: regions, cfg: cfg, names: names, now: now, seen: map[string]bool{}}, nil
}

// classify adds Vast's quirks to httpx.Classify: an invalid key on /bundles/
// is a 404 "Invalid user key"; a vanished or taken ask is no capacity rather
// than not found. Vast documents the vanished ask as a 404 whose error is
// "invalid_args" and whose msg says no_such_ask ("error 404/3603:
// no_such_ask ..."), the taken one as a 410 with error "no_such_ask"
// (vast-ai/docs api-reference/openapi.yaml, createInstance).
func classify(e *httpx.APIError) error {
	switch {
	case e.Code == "auth_error" || strings.Contains(e.Message, "Invalid user key"):
		return providers.ErrAuth
	case e.Code == "no_such_ask" || strings.Contains(e.Message, "no_such_ask"):
		return providers.ErrNoCapacity
	}
	return httpx.Classify(e)
}

// Operations, named as in Vast's OpenAPI description.
const (
	opSearch    = "search offers"
	opCreate    = "rent ask"
	opShow      = "instance status"
	opList      = "list instances"
	opDestroy   = "destroy instance"
	opAttachSSH = "attach ssh-key"
	opLogs      = "show logs"
	apiV0       = "/api/v0"
	listPageMax = 25 // /api/v1/instances/ limit maximum
)

// MinIntervals returns the minimum interval Vast enforces between two
// requests of one key to each endpoint the adapter calls, by operation: the
// "threshold" seconds of each operation's documented 429 (vast-ai/docs
// api-reference/openapi.yaml; rate-limits-and-errors.mdx: limits are per
// endpoint and identity, with no Retry-After). Search documents none; 1 s
// is assumed. The map is new on each call.
func MinIntervals() map[string]time.Duration {
	return map[string]time.Duration{
		opSearch:    time.Second,             // not documented
		opCreate:    4500 * time.Millisecond, // createInstance threshold=4.5
		opShow:      2 * time.Second,         // showInstance threshold=2.0
		opList:      time.Second,             // showInstances threshold=1.0
		opDestroy:   3 * time.Second,         // destroyInstance threshold=3.0
		opAttachSSH: time.Second,             // not documented
		opLogs:      time.Second,             // not documented
	}
}

// pacer spaces each endpoint's requests by its minimum interval (scaled by
// pace), so that neither first attempts nor 429 retries come faster than
// Vast accepts.
func pacer(pace float64) func(r httpx.Request) httpx.Limit {
	if pace == 0 {
		pace = 1
	}
	iv := MinIntervals()
	return func(r httpx.Request) httpx.Limit {
		d, ok := iv[r.Op]
		if !ok || pace < 0 {
			return httpx.Limit{}
		}
		return httpx.Limit{Key: r.Op, N: 1, Per: time.Duration(float64(d) * pace)}
	}
}

// Name returns Config.Name, by default "vastai".
func (c *Client) Name() string { return c.name }

// Capabilities reports offers, launch, terminate, GPUs and idempotent launch.
// Regions are Config.Regions when set; otherwise (Vast rents worldwide) the
// regions of the inventory seen so far: every region of an offer any search
// has listed, sorted, empty before the first search.
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
		Features: []providers.Feature{providers.FeatureSSH, providers.FeatureRegistryAuth, providers.FeatureSecretEnv, providers.FeaturePorts, providers.FeatureEndpoints},
	}
}

// unsupported gives the reason for each feature Vast's adapter lacks.
var unsupported = map[providers.Feature]string{
	// vast-ai/docs api-reference/creating-instances-with-api.mdx "Attaching
	// Volumes": volume_info links a volume that already exists, or
	// (create_new) one rented from a volume offer on the same machine
	// (search volumes); the adapter does not rent volume offers.
	providers.FeatureStorage: "Vast volumes are local to a machine and must be rented from a volume offer there (search volumes, volume_info); this adapter does not rent them",
}

// countries returns the country codes Vast's geolocation filter needs to
// find hosts in regions, sorted.
func countries(regions []string) []string {
	var out []string
	for _, r := range regions {
		out = append(out, providers.CountriesIn(r)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// op is one search condition.
type op map[string]any

// SearchQuery builds the POST /bundles/ body for q. ok is false when q can
// match no offer here (a region outside the configured ones). Exposed for
// tests and for operators debugging a search.
func (c *Client) SearchQuery(q providers.Query) (body map[string]any, ok bool) {
	regions, ok := providers.NarrowRegions(q.Regions, c.regions)
	if !ok {
		return nil, false
	}
	body = map[string]any{
		"verified": op{"eq": true},
		"rentable": op{"eq": true},
		"rented":   op{"eq": false},
		"external": op{"eq": false},
		"order":    [][]string{{"dph_total", "asc"}},
		"type":     c.cfg.OfferType,
		"limit":    c.cfg.SearchLimit,
	}
	if c.cfg.MinReliability > 0 {
		body["reliability"] = op{"gte": c.cfg.MinReliability}
	}
	if q.GPUModel != "" {
		if names, known := c.names[providers.CanonicalGPUModel(q.GPUModel)]; known {
			body["gpu_name"] = op{"in": names}
		} else {
			body["gpu_name"] = op{"eq": q.GPUModel}
		}
	}
	if q.GPUCount > 0 {
		body["num_gpus"] = op{"eq": q.GPUCount}
	}
	if q.MinVRAMMiB > 0 {
		body["gpu_ram"] = op{"gte": q.MinVRAMMiB} // MB in REST; Vast's MB are MiB
	}
	if q.MemoryMiB > 0 {
		body["cpu_ram"] = op{"gte": q.MemoryMiB}
	}
	if q.CPUMillis > 0 {
		body["cpu_cores_effective"] = op{"gte": float64(q.CPUMillis) / 1000}
	}
	if q.DiskMiB > 0 {
		body["disk_space"] = op{"gte": float64(q.DiskMiB) / 1024}
		body["allocated_storage"] = float64(q.DiskMiB) / 1024
	}
	if len(regions) > 0 {
		body["geolocation"] = op{"in": countries(regions)}
	}
	if q.MaxPricePerHour > 0 {
		body["dph_total"] = op{"lte": q.MaxPricePerHour.USD()}
	}
	return body, true
}

// offer is the part of a search result Aurora reads.
type offer struct {
	ID          int64       `json:"id"`
	GPUName     string      `json:"gpu_name"`
	NumGPUs     int64       `json:"num_gpus"`
	GPURAM      json.Number `json:"gpu_ram"`
	DPHTotal    json.Number `json:"dph_total"`
	Geolocation string      `json:"geolocation"`
}

type searchResponse struct {
	Offers []offer `json:"offers"`
}

// parseOffers decodes a /bundles/ response. Tolerant of added fields.
func parseOffers(body []byte) ([]offer, error) {
	var r searchResponse
	if err := httpx.DecodeJSON(body, &r); err != nil {
		return nil, fmt.Errorf("vastai: search response: %w", err)
	}
	return r.Offers, nil
}

func (c *Client) toOffer(o offer) (providers.Offer, error) {
	if o.ID <= 0 {
		return providers.Offer{}, fmt.Errorf("vastai: offer id %d", o.ID)
	}
	price, err := providers.ParseUSD(o.DPHTotal.String())
	if err != nil || price <= 0 {
		return providers.Offer{}, fmt.Errorf("vastai: offer %d: dph_total %q: %v", o.ID, o.DPHTotal, err)
	}
	var vram int64
	if o.GPURAM != "" {
		f, err := o.GPURAM.Float64()
		if err == nil && f > 0 && f < 1<<40 {
			vram = int64(f)
		}
	}
	region, country := Locate(o.Geolocation)
	return providers.Offer{
		Provider: Name, ID: strconv.FormatInt(o.ID, 10), GPUModel: o.GPUName, GPUCount: o.NumGPUs,
		VRAMMiB: vram, Region: region, PricePerHour: price,
		Raw: providers.RawPrice{Amount: o.DPHTotal.String(), Unit: "usd/hour"}, Available: 1,
		Country: country,
	}, nil
}

// Locate reads Vast's free-text geolocation: "Texas, US", "Dallas, Texas,
// US" or "US". country is the trailing ISO 3166-1 alpha-2 code as given
// ("" if the text does not end in an assigned one); region is its Aurora
// region, refined by a US state named in any earlier part.
func Locate(geo string) (region, country string) {
	parts := strings.Split(geo, ",")
	cc := strings.TrimSpace(parts[len(parts)-1])
	region = providers.RegionForCountry(cc)
	if region == "" {
		return "", ""
	}
	if len(parts) > 1 {
		places := parts[:len(parts)-1]
		slices.Reverse(places) // nearest the country first: "Washington, DC, US" is DC
		region = providers.RegionForPlace(cc, places...)
	}
	return region, cc
}

// Offers searches rentable asks matching q, cheapest first. Offers that
// violate q after parsing (a looser server-side match) are dropped. The
// returned slice is the caller's.
func (c *Client) Offers(ctx context.Context, q providers.Query) ([]providers.Offer, error) {
	body, ok := c.SearchQuery(q)
	if !ok {
		return nil, nil
	}
	req, err := httpx.JSON(http.MethodPost, apiV0+"/bundles/", body)
	if err != nil {
		return nil, fmt.Errorf("vastai: %w", err)
	}
	req.Op, req.Retry = opSearch, httpx.RetryIdempotent // a search has no effects
	resp, err := c.http.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	raw, err := parseOffers(resp.Body)
	if err != nil {
		return nil, err
	}
	regions, _ := providers.NarrowRegions(q.Regions, c.regions)
	out := make([]providers.Offer, 0, len(raw))
	var seen []string
	for _, r := range raw {
		o, err := c.toOffer(r)
		if err != nil {
			c.log.DebugContext(ctx, "vastai: skipping offer", "err", err)
			continue
		}
		if o.Region != "" && !slices.Contains(seen, o.Region) {
			seen = append(seen, o.Region)
		}
		switch {
		case q.GPUModel != "" && !providers.SameGPUModel(q.GPUModel, o.GPUModel):
		case q.GPUCount > 0 && o.GPUCount != q.GPUCount:
		case len(regions) > 0 && !slices.Contains(regions, o.Region):
		case q.MaxPricePerHour > 0 && o.PricePerHour > q.MaxPricePerHour:
		case q.MinVRAMMiB > 0 && o.VRAMMiB < q.MinVRAMMiB:
		default:
			out = append(out, o)
		}
	}
	c.mu.Lock()
	for _, r := range seen {
		c.seen[r] = true
	}
	c.mu.Unlock()
	c.log.DebugContext(ctx, "vastai offers", "found", len(raw), "matching", len(out))
	return out, nil
}

// instance is the part of an instance record Aurora reads.
type instance struct {
	ID             int64       `json:"id"`
	ActualStatus   *string     `json:"actual_status"`
	IntendedStatus string      `json:"intended_status"`
	CurState       string      `json:"cur_state"`
	StatusMsg      string      `json:"status_msg"`
	Label          *string     `json:"label"`
	GPUName        string      `json:"gpu_name"`
	NumGPUs        int64       `json:"num_gpus"`
	DPHTotal       json.Number `json:"dph_total"`
	Geolocation    string      `json:"geolocation"`
	StartDate      json.Number `json:"start_date"`
	// Where it is reached (api-reference/openapi.yaml, showInstances):
	// ssh_host/ssh_port is Vast's SSH proxy; ports maps "8080/tcp" to host
	// bindings on public_ipaddr, present on running instances only.
	PublicIPAddr string                   `json:"public_ipaddr"`
	SSHHost      string                   `json:"ssh_host"`
	SSHPort      int                      `json:"ssh_port"`
	ImageRuntype string                   `json:"image_runtype"`
	Ports        map[string][]portBinding `json:"ports"`
}

// portBinding is one host binding of a container port.
type portBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// endpoints returns where in is reached: each bound container port on the
// public address (22/tcp as ssh, the rest tcp), and Vast's SSH proxy when
// the instance runs an SSH or Jupyter runtype. Sorted by container port.
func endpoints(in *instance) []providers.Endpoint {
	var eps []providers.Endpoint
	if strings.Contains(in.ImageRuntype, "ssh") || strings.Contains(in.ImageRuntype, "jupyter") {
		if in.SSHHost != "" && in.SSHPort > 0 {
			eps = append(eps, providers.Endpoint{Kind: providers.EndpointSSH, Host: in.SSHHost, Port: in.SSHPort, ContainerPort: 22,
				URL: fmt.Sprintf("ssh://root@%s:%d", in.SSHHost, in.SSHPort)})
		}
	}
	keys := make([]string, 0, len(in.Ports))
	for k := range in.Ports {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		num, proto, _ := strings.Cut(k, "/")
		cport, err := strconv.Atoi(num)
		if err != nil || proto != "" && proto != "tcp" || in.PublicIPAddr == "" {
			continue
		}
		for _, b := range in.Ports[k] {
			hp, err := strconv.Atoi(b.HostPort)
			if err != nil || hp <= 0 || hp > 65535 {
				continue
			}
			e := providers.Endpoint{Kind: providers.EndpointTCP, Host: in.PublicIPAddr, Port: hp, ContainerPort: cport}
			if cport == 22 {
				e.Kind, e.URL = providers.EndpointSSH, fmt.Sprintf("ssh://root@%s:%d", in.PublicIPAddr, hp)
			}
			eps = append(eps, e)
			break // one binding per port (Docker may list IPv4 and IPv6)
		}
	}
	return eps
}

// parseInstance decodes GET /instances/{id}/: {"instances":{...}} or
// {"instances":null} for an id that is not ours. Tolerant of added fields.
func parseInstance(body []byte) (*instance, error) {
	var r struct {
		Instances *instance `json:"instances"`
	}
	if err := httpx.DecodeJSON(body, &r); err != nil {
		return nil, fmt.Errorf("vastai: instance response: %w", err)
	}
	return r.Instances, nil
}

// instancePage is one page of GET /api/v1/instances/.
type instancePage struct {
	Instances []instance `json:"instances"`
	NextToken *string    `json:"next_token"`
}

// parseInstances decodes a page of GET /api/v1/instances/.
func parseInstances(body []byte) (instancePage, error) {
	var r instancePage
	if err := httpx.DecodeJSON(body, &r); err != nil {
		return r, fmt.Errorf("vastai: instance list: %w", err)
	}
	return r, nil
}

// State maps Vast's instance status to a providers.State:
//
//	actual_status null (provisioning, not yet placed) → pending
//	"loading", "created", "scheduling"                → launching
//	"running" (intended running)                      → running
//	"exited"/"stopped" after a stop we asked for      → terminated
//	"exited", "offline", "unknown" otherwise          → failed ("will never reach running")
func State(actual *string, intended string) providers.State {
	if actual == nil || *actual == "" {
		if intended == "stopped" {
			return providers.StateTerminated
		}
		return providers.StatePending
	}
	switch strings.ToLower(*actual) {
	case "loading", "created", "scheduling", "creating":
		return providers.StateLaunching
	case "running":
		if intended == "stopped" {
			return providers.StateTerminated // stopping
		}
		return providers.StateRunning
	case "exited", "stopped":
		if intended == "stopped" {
			return providers.StateTerminated
		}
		return providers.StateFailed
	case "offline", "unknown":
		return providers.StateFailed
	}
	return providers.StateLaunching
}

func parseID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != id {
		return 0, fmt.Errorf("vastai: instance id %q: want a positive integer", httpx.Excerpt([]byte(id), 40))
	}
	return n, nil
}

// Status reads an instance's state.
func (c *Client) Status(ctx context.Context, id string) (providers.Status, error) {
	n, err := parseID(id)
	if err != nil {
		return providers.Status{}, err
	}
	var in *instance
	if c.cfg.StatusTTL < 0 {
		in, err = c.getInstance(ctx, n)
	} else {
		in, err = c.snapshotInstance(ctx, n)
	}
	if err != nil {
		return providers.Status{}, err
	}
	msg := in.StatusMsg
	if in.ActualStatus != nil && msg == "" {
		msg = *in.ActualStatus
	}
	return providers.Status{ID: id, State: State(in.ActualStatus, in.IntendedStatus), Message: msg, UpdatedAt: c.now(), Endpoints: endpoints(in)}, nil
}

func (c *Client) getInstance(ctx context.Context, n int64) (*instance, error) {
	resp, err := c.http.Do(ctx, httpx.Request{
		Method: http.MethodGet, Path: fmt.Sprintf(apiV0+"/instances/%d/", n),
		Query: map[string][]string{"owner": {"me"}}, Op: opShow,
	})
	if err != nil {
		return nil, err
	}
	in, err := parseInstance(resp.Body)
	if err != nil {
		return nil, err
	}
	if in == nil || in.ID != n {
		return nil, fmt.Errorf("vastai: instance %d: %w", n, providers.ErrNotFound)
	}
	return in, nil
}

// maxStatusPages bounds one listing of every instance (25 per page).
const maxStatusPages = 400

// statusSnapshot is one listing of every instance of the key.
type statusSnapshot struct {
	at   time.Time
	byID map[int64]instance
}

// snapshotInstance reads instance n from a listing of every instance no
// older than StatusTTL, listing again when it is older; an instance the
// fresh listing lacks (just created, or gone) is asked for by itself.
func (c *Client) snapshotInstance(ctx context.Context, n int64) (*instance, error) {
	c.snapMu.Lock()
	defer c.snapMu.Unlock()
	ttl := c.cfg.StatusTTL
	if ttl == 0 {
		ttl = 5 * time.Second
	}
	fresh := c.snap != nil && c.now().Sub(c.snap.at) < ttl
	if !fresh {
		snap, err := c.listAll(ctx)
		if err != nil {
			return nil, err
		}
		c.snap, fresh = snap, true
	}
	if in, ok := c.snap.byID[n]; ok {
		return &in, nil
	}
	if c.now().Sub(c.snap.at) >= MinIntervals()[opList] {
		// Created since the listing, perhaps: list again before asking alone.
		snap, err := c.listAll(ctx)
		if err != nil {
			return nil, err
		}
		c.snap = snap
		if in, ok := c.snap.byID[n]; ok {
			return &in, nil
		}
	}
	return c.getInstance(ctx, n)
}

// forget drops instance n from the status listing (it was destroyed).
func (c *Client) forget(n int64) {
	c.snapMu.Lock()
	if c.snap != nil {
		delete(c.snap.byID, n)
	}
	c.snapMu.Unlock()
}

// listAll lists every instance of the key through the paged v1 listing.
func (c *Client) listAll(ctx context.Context) (*statusSnapshot, error) {
	snap := &statusSnapshot{at: c.now(), byID: map[int64]instance{}}
	q := map[string][]string{"order_by": {`[{"col":"id","dir":"asc"}]`}, "limit": {strconv.Itoa(listPageMax)}}
	for range maxStatusPages {
		resp, err := c.http.Do(ctx, httpx.Request{Method: http.MethodGet, Path: "/api/v1/instances/", Query: q, Op: opList})
		if err != nil {
			return nil, err
		}
		page, err := parseInstances(resp.Body)
		if err != nil {
			return nil, err
		}
		for _, in := range page.Instances {
			snap.byID[in.ID] = in
		}
		if page.NextToken == nil || *page.NextToken == "" {
			return snap, nil
		}
		q["after_token"] = []string{*page.NextToken}
	}
	return nil, fmt.Errorf("vastai: list instances: more than %d pages", maxStatusPages)
}

// maxListPages bounds the pages findByLabel reads: a label is one job's
// key, so more than a few instances carrying it means something is wrong.
const maxListPages = 40

// findByLabel returns the live instance labelled key, if any. It asks the
// paged v1 listing for that label only (select_filters, filterable on
// label per Vast's description), oldest first, as the CLI's show_instances
// does (vast-cli vastai/api/instances.py).
func (c *Client) findByLabel(ctx context.Context, key string) (*instance, error) {
	filters, err := json.Marshal(map[string]any{"label": op{"eq": key}})
	if err != nil {
		return nil, fmt.Errorf("vastai: %w", err)
	}
	q := map[string][]string{
		"select_filters": {string(filters)},
		"order_by":       {`[{"col":"id","dir":"asc"}]`},
		"limit":          {strconv.Itoa(listPageMax)},
	}
	for range maxListPages {
		resp, err := c.http.Do(ctx, httpx.Request{Method: http.MethodGet, Path: "/api/v1/instances/", Query: q, Op: opList})
		if err != nil {
			return nil, err
		}
		page, err := parseInstances(resp.Body)
		if err != nil {
			return nil, err
		}
		for i := range page.Instances {
			in := &page.Instances[i]
			// The filter is the server's; check it here too.
			if in.Label != nil && *in.Label == key && in.IntendedStatus != "stopped" {
				return in, nil // ordered by id: the oldest is the original
			}
		}
		if page.NextToken == nil || *page.NextToken == "" {
			return nil, nil
		}
		q["after_token"] = []string{*page.NextToken}
	}
	return nil, fmt.Errorf("vastai: list instances labelled %q: more than %d pages", key, maxListPages)
}

// rentRequest is the PUT /asks/{id}/ body, as the Vast CLI sends it.
type rentRequest struct {
	ClientID      string            `json:"client_id"`
	Image         string            `json:"image"`
	Disk          float64           `json:"disk"`
	Label         string            `json:"label"`
	Runtype       string            `json:"runtype"`
	Args          []string          `json:"args,omitempty"`
	Onstart       string            `json:"onstart,omitempty"`
	ImageLogin    string            `json:"image_login,omitempty"`
	Env           map[string]string `json:"env"`
	TargetState   string            `json:"target_state"`
	CancelUnavail bool              `json:"cancel_unavail"`
	Price         *float64          `json:"price"`
}

// RentRequest builds the PUT /asks/{id}/ body of spec. Env is the CLI's JSON
// object form, with ports as "-p P:P" keys.
//
// With SSH keys the runtype is ssh_direct, which replaces the image's
// entrypoint with Vast's (sshd on port 22), and the command runs as onstart
// (vast-ai/docs api-reference/creating-instances-with-api.mdx, "Runtype and
// Connection Options"); the keys are attached after creation. A registry
// login is image_login in docker-login flag form, "-u USER -p SECRET HOST"
// (same page, field table and "private registry" example).
func (c *Client) RentRequest(spec providers.LaunchSpec) any {
	w := spec.Workload
	env := make(map[string]string, len(w.Env)+len(w.Ports))
	for _, e := range w.Env {
		env[e.Name] = e.Value
	}
	for _, e := range spec.SecretEnv {
		// The instance's env is the account's: GET /instances shows it to
		// the owner only (FeatureSecretEnv).
		env[e.Name] = e.Value.Reveal()
	}
	for _, p := range w.Ports {
		env[fmt.Sprintf("-p %d:%d", p, p)] = "1"
	}
	disk := max(float64(w.Disk)/1024, c.cfg.MinDiskGB)
	r := rentRequest{
		ClientID: "me", Image: w.Image, Disk: disk, Label: spec.IdempotencyKey, Runtype: "args",
		Args: w.Cmd, Env: env, TargetState: "running", CancelUnavail: true,
	}
	if len(spec.SSHKeys) > 0 {
		r.Runtype, r.Args, r.Onstart = "ssh_direct", nil, shellJoin(w.Cmd)
	}
	if a := spec.Registry; a != nil {
		r.ImageLogin = "-u " + a.Username + " -p " + a.Secret.Reveal() + " " + a.Host(w.Image)
	}
	if c.cfg.OfferType == "bid" && spec.MaxPricePerHour > 0 {
		p := spec.MaxPricePerHour.USD()
		r.Price = &p
	}
	return r
}

// shellJoin quotes args for sh, each in single quotes.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// attachKeys authorizes spec's SSH keys on instance n (POST
// /api/v0/instances/{id}/ssh/, attachSshKey in api-reference/openapi.yaml).
func (c *Client) attachKeys(ctx context.Context, n int64, keys []string) error {
	for _, k := range keys {
		req, err := httpx.JSON(http.MethodPost, fmt.Sprintf(apiV0+"/instances/%d/ssh/", n), map[string]string{"ssh_key": k})
		if err != nil {
			return fmt.Errorf("vastai: %w", err)
		}
		req.Op = opAttachSSH
		if _, err := c.http.Do(ctx, req); err != nil {
			return fmt.Errorf("vastai: attach ssh key to instance %d: %w", n, err)
		}
	}
	return nil
}

func (c *Client) lease(spec providers.LaunchSpec, in *instance) providers.Lease {
	price := spec.Offer.PricePerHour
	if p, err := providers.ParseUSD(in.DPHTotal.String()); err == nil && p > 0 {
		price = p
	}
	return providers.Lease{
		ID: strconv.FormatInt(in.ID, 10), Provider: Name, Offer: spec.Offer, PricePerHour: price,
		State: State(in.ActualStatus, in.IntendedStatus),
	}
}

// Launch rents spec.Offer (an ask id) for spec.Workload. It first looks for
// a live instance labelled spec.IdempotencyKey and returns it if found; if
// the rent call fails in a way that may have created the instance (a 5xx, a
// lost connection) it looks again before reporting the error. A vanished or
// taken ask is providers.ErrNoCapacity; an offer above spec.MaxPricePerHour
// is providers.ErrOverPrice.
func (c *Client) Launch(ctx context.Context, spec providers.LaunchSpec) (providers.Lease, error) {
	if spec.IdempotencyKey == "" {
		return providers.Lease{}, errors.New("vastai: launch: idempotency key is required")
	}
	if spec.Workload.Image == "" {
		return providers.Lease{}, errors.New("vastai: launch: workload image is required")
	}
	if err := providers.CheckFeatures(Name, c.Capabilities(), spec, unsupported); err != nil {
		return providers.Lease{}, err
	}
	if len(spec.SSHKeys) > 0 && len(shellJoin(spec.Workload.Cmd)) > 4048 {
		return providers.Lease{}, errors.New("vastai: launch: with SSH keys the command runs as onstart, at most 4048 characters")
	}
	askID, err := strconv.ParseInt(spec.Offer.ID, 10, 64)
	if err != nil || askID <= 0 {
		return providers.Lease{}, fmt.Errorf("vastai: launch: offer id %q is not an ask id", httpx.Excerpt([]byte(spec.Offer.ID), 40))
	}
	// An ask is one machine: it runs where its offer said. With regions
	// configured, an offer of unknown place is refused too.
	if len(c.regions) > 0 && !slices.Contains(c.regions, spec.Offer.Region) {
		return providers.Lease{}, fmt.Errorf("vastai: launch: region %q is not one of the configured %q", spec.Offer.Region, c.regions)
	}
	if err := ctx.Err(); err != nil {
		return providers.Lease{}, fmt.Errorf("vastai: launch: %w", err)
	}
	if existing, err := c.findByLabel(ctx, spec.IdempotencyKey); err != nil {
		return providers.Lease{}, fmt.Errorf("vastai: launch: %w", err)
	} else if existing != nil {
		c.log.InfoContext(ctx, "vastai launch found existing instance", "job", spec.JobID, "key", spec.IdempotencyKey, "instance", existing.ID)
		// A crash may have come between creation and the key attachment.
		if err := c.attachKeys(ctx, existing.ID, spec.SSHKeys); err != nil {
			return providers.Lease{}, err
		}
		return c.lease(spec, existing), nil
	}
	if spec.MaxPricePerHour > 0 && spec.Offer.PricePerHour > spec.MaxPricePerHour {
		return providers.Lease{}, fmt.Errorf("vastai: launch: ask %d at %v/h above cap %v/h: %w", askID, spec.Offer.PricePerHour, spec.MaxPricePerHour, providers.ErrOverPrice)
	}
	req, err := httpx.JSON(http.MethodPut, fmt.Sprintf(apiV0+"/asks/%d/", askID), c.RentRequest(spec))
	if err != nil {
		return providers.Lease{}, fmt.Errorf("vastai: %w", err)
	}
	// Renting twice is not harmless: retry only 429s, then look by label.
	req.Op, req.Retry = opCreate, httpx.RetryRateLimitOnly
	req.Redact = spec.Redactions()
	resp, err := c.http.Do(ctx, req)
	if err != nil {
		if errors.Is(err, providers.ErrAuth) || errors.Is(err, providers.ErrNoCapacity) || errors.Is(err, providers.ErrRateLimited) || ctx.Err() != nil {
			return providers.Lease{}, err
		}
		if existing, ferr := c.findByLabel(ctx, spec.IdempotencyKey); ferr == nil && existing != nil {
			c.log.InfoContext(ctx, "vastai launch recovered instance after failed rent", "job", spec.JobID, "instance", existing.ID, "err", err)
			if err := c.attachKeys(ctx, existing.ID, spec.SSHKeys); err != nil {
				return providers.Lease{}, err
			}
			return c.lease(spec, existing), nil
		}
		return providers.Lease{}, err
	}
	var created struct {
		Success     bool  `json:"success"`
		NewContract int64 `json:"new_contract"`
	}
	if err := resp.DecodeJSON(&created); err != nil {
		return providers.Lease{}, fmt.Errorf("vastai: rent response: %w", err)
	}
	if !created.Success || created.NewContract <= 0 {
		return providers.Lease{}, fmt.Errorf("vastai: rent ask %d: success=%v new_contract=%d", askID, created.Success, created.NewContract)
	}
	if err := c.attachKeys(ctx, created.NewContract, spec.SSHKeys); err != nil {
		// An instance nobody can log in to is not what was asked for.
		if derr := c.Terminate(ctx, strconv.FormatInt(created.NewContract, 10)); derr != nil {
			c.log.WarnContext(ctx, "vastai could not destroy instance after failed key attachment", "instance", created.NewContract, "err", derr)
		}
		return providers.Lease{}, err
	}
	c.log.InfoContext(ctx, "vastai launched", "job", spec.JobID, "key", spec.IdempotencyKey, "ask", askID, "instance", created.NewContract, "price_per_hour", spec.Offer.PricePerHour)
	return providers.Lease{
		ID: strconv.FormatInt(created.NewContract, 10), Provider: Name, Offer: spec.Offer,
		PricePerHour: spec.Offer.PricePerHour, State: providers.StatePending,
	}, nil
}

// Terminate destroys an instance. An unknown instance is
// providers.ErrNotFound.
func (c *Client) Terminate(ctx context.Context, id string) error {
	n, err := parseID(id)
	if err != nil {
		return err
	}
	_, err = c.http.Do(ctx, httpx.Request{Method: http.MethodDelete, Path: fmt.Sprintf(apiV0+"/instances/%d/", n), Op: opDestroy})
	if err != nil {
		return err
	}
	c.forget(n)
	c.log.InfoContext(ctx, "vastai destroyed instance", "instance", n)
	return nil
}

var _ providers.LogReader = (*Client)(nil)

// Log fetching: vast-cli's logs command (vast-ai/vast-cli @ 5567983,
// vast.py logs) fetches result_url up to 30 times, 0.3 s apart.
const (
	logFetches    = 30
	logFetchEvery = 300 * time.Millisecond
)

// Logs implements providers.LogReader with showLogs (PUT
// /api/v0/instances/request_logs/{id}/, body {"tail": "N"}: vast-ai/docs
// api-reference/openapi.yaml): Vast uploads the container log's last tail
// lines to S3 and answers with the file's URL (result_url), which holds
// the file once the upload is done (404 until then). The file is fetched
// without credentials, only over https or from the API's own host.
func (c *Client) Logs(ctx context.Context, id string, tail int) (providers.LogResult, error) {
	n, err := parseID(id)
	if err != nil {
		return providers.LogResult{}, err
	}
	body, err := json.Marshal(map[string]string{"tail": strconv.Itoa(tail)})
	if err != nil {
		return providers.LogResult{}, err
	}
	resp, err := c.http.Do(ctx, httpx.Request{Method: http.MethodPut, Path: fmt.Sprintf(apiV0+"/instances/request_logs/%d/", n), Body: body, Op: opLogs})
	if err != nil {
		return providers.LogResult{}, err
	}
	var r struct {
		Success   bool   `json:"success"`
		ResultURL string `json:"result_url"`
		Msg       string `json:"msg"`
	}
	if err := json.Unmarshal(resp.Body, &r); err != nil || r.ResultURL == "" {
		return providers.LogResult{}, fmt.Errorf("vastai: %s: no result_url in %q", opLogs, httpx.Excerpt(resp.Body, 200))
	}
	u, err := url.Parse(r.ResultURL)
	base, _ := url.Parse(c.cfg.BaseURL)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == base.Scheme && u.Host == base.Host) {
		return providers.LogResult{}, fmt.Errorf("vastai: %s: result_url %q is neither https nor on the API's host", opLogs, httpx.Excerpt([]byte(r.ResultURL), 200))
	}
	hc := c.cfg.HTTP.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	sleep := c.cfg.HTTP.Sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	for range logFetches {
		if err := sleep(ctx, logFetchEvery); err != nil {
			return providers.LogResult{}, err
		}
		res, done, err := fetchLogFile(ctx, hc, u.String())
		if err != nil || done {
			return res, err
		}
	}
	return providers.LogResult{}, fmt.Errorf("vastai: %s: instance %d: the log was not uploaded within %d fetches (%s)", opLogs, n, logFetches, httpx.Excerpt([]byte(r.Msg), 200))
}

// fetchLogFile GETs an uploaded log file: done with its text on 200, not
// done on 404 or 403 (S3 answers those before the upload), an error
// otherwise. A file over MaxLogBytes keeps its last MaxLogBytes.
func fetchLogFile(ctx context.Context, hc *http.Client, u string) (providers.LogResult, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return providers.LogResult{}, false, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return providers.LogResult{}, false, fmt.Errorf("vastai: %s: fetch the log file: %w", opLogs, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusForbidden:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return providers.LogResult{}, false, nil
	default:
		return providers.LogResult{}, false, fmt.Errorf("vastai: %s: fetch the log file: http %d", opLogs, resp.StatusCode)
	}
	// Keep the end: read in chunks, holding at most 2×MaxLogBytes.
	var buf []byte
	truncated := false
	chunk := make([]byte, 64<<10)
	for {
		k, rerr := resp.Body.Read(chunk)
		buf = append(buf, chunk[:k]...)
		if len(buf) > 2*providers.MaxLogBytes {
			buf = append(buf[:0], buf[len(buf)-providers.MaxLogBytes:]...)
			truncated = true
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return providers.LogResult{}, false, fmt.Errorf("vastai: %s: read the log file: %w", opLogs, rerr)
		}
	}
	if len(buf) > providers.MaxLogBytes {
		buf = buf[len(buf)-providers.MaxLogBytes:]
		truncated = true
	}
	if truncated {
		// Start at a whole line.
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	return providers.LogResult{Text: buf, Truncated: truncated}, true, nil
}

// nameOr is name, or Name when it is empty.
func nameOr(name string) string {
	if name == "" {
		return Name
	}
	return name
}
