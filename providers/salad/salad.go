// Package salad is the Aurora adapter for SaladCloud's public REST API
// (https://api.salad.com/api/public; notes/PROVIDER_APIS.md §2). Offers come
// from the organization's GPU classes: one offer per class, priority and
// country with live availability; a query without a GPU gets CPU-only
// offers instead (sce-cpu-availability, one per country, priced per vCPU
// and GB of memory); Launch creates a container group named by
// the launch's idempotency key in the configured organization and project,
// restricted to the offer's country, then starts it; Status reads the
// group's current_state; Terminate deletes the group.
//
// Money: a GPU class price is a decimal string in USD per hour per replica
// (per-second metering); it is converted exactly to micro-USD per hour and
// kept in RawPrice (unit "usd/hour").
//
// Regions: Salad places work by country only (country_codes, lowercase ISO
// 3166-1 alpha-2) and has no call that lists where capacity is, so the
// adapter asks the availability endpoint about each country in
// Config.Countries: one request per matching GPU class and country per
// Offers call. An offer's Country is the code as Salad spells it ("us") and
// its Region the country's Aurora region (providers.RegionForCountry): a US
// offer is us-east although the machine may be anywhere in the US. Query
// and Config regions are Aurora region names; only countries in them are
// asked about.
//
// Rate limit: SaladCloud allows 240 requests per minute per API key
// (salad-cloud-docs reference/api-usage.mdx); the client keeps every call,
// retries included, under Config.RequestsPerMinute.
//
// Parsing: responses are decoded tolerantly (unknown fields ignored) but with
// fixed types and bounded bodies; errors may be RFC 7807 JSON or HTML pages,
// and both are classified by status.
package salad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
)

// Name is the adapter's name.
const Name = "salad"

// DefaultBaseURL is SaladCloud's public API.
const DefaultBaseURL = "https://api.salad.com/api/public"

// allPriorities returns the priorities Salad sells, highest first.
func allPriorities() []string { return []string{"high", "medium", "low", "batch"} }

func isPriority(p string) bool { return slices.Contains(allPriorities(), p) }

// Config configures a Client. Credential, Organization and Project are
// required.
type Config struct {
	// Name is the provider's name in routes, offers, reputation and
	// metrics: the [[providers]] entry's name. Default Name ("salad").
	Name string
	// BaseURL of the API. Default DefaultBaseURL.
	BaseURL string
	// Credential is the Salad API key (Salad-Api-Key header). Required.
	Credential providers.Credential
	// Organization and Project scope every container group. Required; names
	// match ^[a-z][a-z0-9-]{0,61}[a-z0-9]$.
	Organization, Project string
	// Regions limits placement to these Aurora regions (providers.Regions);
	// nil = anywhere in Countries.
	Regions []string
	// Countries are the countries offers are sought in, as lowercase ISO
	// 3166-1 alpha-2 codes; each costs one availability request per GPU
	// class per Offers call. Those outside Regions are ignored. Default
	// DefaultCountries().
	Countries []string
	// Priorities offered, from "high", "medium", "low", "batch". Lower
	// priorities are cheaper and may be preempted. Default all four.
	Priorities []string
	// RestartPolicy of created groups: "always", "on_failure" or "never".
	// Default "on_failure".
	RestartPolicy string
	// Logger receives launches at info and HTTP retries at debug level.
	// Default: discard.
	Logger *slog.Logger
	// HTTP tunes retries, timeouts and limits; see httpx.Config.
	HTTP httpx.Config
	// RequestsPerMinute caps the client's requests in any minute: the API
	// key's limit. Default 240, SaladCloud's published limit; negative
	// disables the limiter.
	RequestsPerMinute int
	// VCPUPricePerHour and MemoryGBPricePerHour price CPU-only container
	// groups, which bill per vCPU and per GB of memory (GPU classes include
	// both). Defaults 0.004 and 0.001 USD per hour, SaladCloud's published
	// rates (salad-cloud-docs container-engine/explanation/billing-pricing/
	// billing.mdx).
	VCPUPricePerHour, MemoryGBPricePerHour providers.Money
}

// Published CPU-only rates and the request limit (see Config).
const (
	defaultVCPUPrice      providers.Money = 4000 // µUSD per vCPU-hour
	defaultMemoryGBPrice  providers.Money = 1000 // µUSD per GB-hour
	defaultRequestsPerMin                 = 240
	minStorageBytes                       = 1 << 30 // storage_amount minimum
	cpuClass                              = "cpu"   // OfferID class of CPU-only offers
	cpuPriority                           = "batch" // CPU capacity is counted at batch priority
)

// DefaultCountries returns the countries asked about unless
// Config.Countries says otherwise: SaladCloud's larger markets, at least one
// in each of us-east, ca-central, sa-east, eu-west, eu-central, eu-north,
// eu-south, oc-southeast and ap-northeast. The slice is new on each call.
func DefaultCountries() []string {
	return []string{"us", "ca", "br", "gb", "fr", "nl", "de", "pl", "se", "es", "au", "jp"}
}

// Client is a Salad adapter. Safe for concurrent use.
type Client struct {
	name      string // Config.Name
	http      *httpx.Client
	log       *slog.Logger
	cfg       Config
	regions   []string // Config.Regions
	countries []string // Config.Countries within regions, in order
	prio      []string
	now       func() time.Time
}

var _ providers.Provider = (*Client)(nil)

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,61}[a-z0-9]$`)
	countryRE = regexp.MustCompile(`^[a-z]{2}$`)
)

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Credential.IsZero() {
		return nil, errors.New("salad: credential is required")
	}
	if !nameRE.MatchString(cfg.Organization) || !nameRE.MatchString(cfg.Project) {
		return nil, fmt.Errorf("salad: organization %q and project %q must be Salad names", cfg.Organization, cfg.Project)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	switch cfg.RestartPolicy {
	case "":
		cfg.RestartPolicy = "on_failure"
	case "always", "on_failure", "never":
	default:
		return nil, fmt.Errorf("salad: restart policy %q: want always, on_failure or never", cfg.RestartPolicy)
	}
	prio := cfg.Priorities
	if len(prio) == 0 {
		prio = allPriorities()
	}
	for _, p := range prio {
		if !isPriority(p) {
			return nil, fmt.Errorf("salad: priority %q: want high, medium, low or batch", p)
		}
	}
	regions, err := providers.ParseRegions(cfg.Regions)
	if err != nil {
		return nil, fmt.Errorf("salad: %w", err)
	}
	cfgCountries := cfg.Countries
	if len(cfgCountries) == 0 {
		cfgCountries = DefaultCountries()
	}
	var countries []string
	for _, cc := range cfgCountries {
		r := providers.RegionForCountry(cc)
		if !countryRE.MatchString(cc) || r == "" {
			return nil, fmt.Errorf("salad: country %q: want a lowercase ISO 3166-1 alpha-2 code", cc)
		}
		if (len(regions) == 0 || slices.Contains(regions, r)) && !slices.Contains(countries, cc) {
			countries = append(countries, cc)
		}
	}
	if len(countries) == 0 {
		return nil, fmt.Errorf("salad: none of the countries %q is in the regions %q", cfgCountries, regions)
	}
	if cfg.RequestsPerMinute == 0 {
		cfg.RequestsPerMinute = defaultRequestsPerMin
	}
	if cfg.VCPUPricePerHour == 0 {
		cfg.VCPUPricePerHour = defaultVCPUPrice
	}
	if cfg.MemoryGBPricePerHour == 0 {
		cfg.MemoryGBPricePerHour = defaultMemoryGBPrice
	}
	if cfg.VCPUPricePerHour < 0 || cfg.MemoryGBPricePerHour < 0 {
		return nil, errors.New("salad: CPU prices must not be negative")
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
			r.Header.Set("Salad-Api-Key", cred.Reveal())
			return nil
		},
		Limit: func(httpx.Request) httpx.Limit {
			if cfg.RequestsPerMinute < 0 {
				return httpx.Limit{}
			}
			return httpx.Limit{N: cfg.RequestsPerMinute, Per: time.Minute}
		},
	})
	if err != nil {
		return nil, err
	}
	now := hcfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{name: nameOr(cfg.Name), http: hc, log: log.With("provider", Name), cfg: cfg, regions: regions, countries: countries, prio: slices.Clone(prio), now: now}, nil
}

// Name returns Config.Name, by default "salad".
func (c *Client) Name() string { return c.name }

// Capabilities reports offers, launch, terminate, GPUs and idempotent launch.
// Regions are those of the countries offers are sought in (Config.Countries
// within Config.Regions), sorted: Salad has no inventory listing to learn
// them from.
func (c *Client) Capabilities() providers.Capabilities {
	var regions []string
	for _, cc := range c.countries {
		regions = append(regions, providers.RegionForCountry(cc))
	}
	slices.Sort(regions)
	return providers.Capabilities{
		Offers: true, Launch: true, Terminate: true, GPU: true, Idempotent: true,
		Regions:  slices.Compact(regions),
		Features: []providers.Feature{providers.FeatureRegistryAuth, providers.FeatureSecretEnv, providers.FeaturePorts, providers.FeatureEndpoints},
	}
}

// unsupported gives the reason for each feature SaladCloud lacks
// (SaladTechnologies/salad-cloud-docs @ 504c704a8828f7f489c46523dc9fae106e83245f).
var unsupported = map[providers.Feature]string{
	// container-engine/explanation/container-groups/ssh-and-terminal.mdx:
	// keys are added in the Portal; api-specs/salad-cloud.yaml has no key
	// field (an instance only reports ssh_ip/ssh_port).
	providers.FeatureSSH: "SaladCloud takes SSH keys in its Portal only; the public API has no field for them",
	// container-engine/explanation/core-concepts/overview.mdx, "Persistent
	// Storage": not supported; instance storage is ephemeral.
	providers.FeatureStorage: "SaladCloud has no persistent storage for container instances; their disks are ephemeral",
}

func (c *Client) orgPath() string { return "/organizations/" + url.PathEscape(c.cfg.Organization) }

func (c *Client) groupsPath() string {
	return c.orgPath() + "/projects/" + url.PathEscape(c.cfg.Project) + "/containers"
}

// gpuClass is the part of a GpuClass Aurora reads.
type gpuClass struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Prices []struct {
		Priority string `json:"priority"`
		Price    string `json:"price"`
	} `json:"prices"`
	GPUCount *int64 `json:"gpu_count"`
}

// parseGPUClasses decodes GET gpu-classes ({"items":[...]}).
func parseGPUClasses(body []byte) ([]gpuClass, error) {
	var r struct {
		Items []gpuClass `json:"items"`
	}
	if err := httpx.DecodeJSON(body, &r); err != nil {
		return nil, fmt.Errorf("salad: gpu classes: %w", err)
	}
	return r.Items, nil
}

type availability struct {
	High   int64 `json:"available_gpu_high"`
	Medium int64 `json:"available_gpu_medium"`
	Low    int64 `json:"available_gpu_low"`
	Batch  int64 `json:"available_gpu_batch"`
}

func (a availability) of(priority string) int64 {
	switch priority {
	case "high":
		return a.High
	case "medium":
		return a.Medium
	case "low":
		return a.Low
	}
	return a.Batch
}

// parseAvailability decodes the sce-gpu-availability response.
func parseAvailability(body []byte) (availability, error) {
	var a availability
	if err := httpx.DecodeJSON(body, &a); err != nil {
		return a, fmt.Errorf("salad: availability: %w", err)
	}
	return a, nil
}

var vramRE = regexp.MustCompile(`\((\d{1,4})\s*GB\)`)

// vramMiB reads the memory from a class name such as "RTX 4090 (24 GB)".
func vramMiB(name string) int64 {
	m := vramRE.FindStringSubmatch(name)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n * 1024
}

// countriesFor returns the countries to ask about for a query's regions:
// those of the configured ones whose region the query names (all of them
// when it names none). Names that are not Aurora regions match nothing.
func (c *Client) countriesFor(q []string) []string {
	if len(q) == 0 {
		return c.countries
	}
	var out []string
	for _, cc := range c.countries {
		if slices.Contains(q, providers.RegionForCountry(cc)) {
			out = append(out, cc)
		}
	}
	return out
}

// OfferID joins a GPU class id, a priority and a country code (lowercase,
// as Salad's country_codes) into an Offer.ID: "<class>:<priority>@<cc>".
func OfferID(classID, priority, country string) string {
	return classID + ":" + priority + "@" + country
}

// splitOfferID reads an OfferID. The country is "" for the older
// "<class>:<priority>" form, which launches anywhere.
func splitOfferID(id string) (classID, priority, country string, ok bool) {
	rest, country, hasCountry := strings.Cut(id, "@")
	if hasCountry && (!countryRE.MatchString(country) || providers.RegionForCountry(country) == "") {
		return "", "", "", false
	}
	classID, priority, ok = strings.Cut(rest, ":")
	return classID, priority, country, ok && classID != "" && isPriority(priority)
}

// Offers lists one offer per matching GPU class, priority and country that
// has free GPUs, cheapest first (ties in Config.Countries order). The
// returned slice is the caller's.
func (c *Client) Offers(ctx context.Context, q providers.Query) ([]providers.Offer, error) {
	countries := c.countriesFor(q.Regions)
	if len(countries) == 0 {
		return nil, nil
	}
	if q.GPUModel == "" && q.GPUCount == 0 {
		return c.cpuOffers(ctx, q, countries)
	}
	resp, err := c.http.Do(ctx, httpx.Request{Method: http.MethodGet, Path: c.orgPath() + "/gpu-classes", Op: "list gpu classes"})
	if err != nil {
		return nil, err
	}
	classes, err := parseGPUClasses(resp.Body)
	if err != nil {
		return nil, err
	}
	var out []providers.Offer
	for _, gc := range classes {
		count := int64(1)
		if gc.GPUCount != nil && *gc.GPUCount > 0 {
			count = *gc.GPUCount
		}
		vram := vramMiB(gc.Name)
		switch {
		case gc.ID == "":
			continue
		case q.GPUModel != "" && !providers.SameGPUModel(q.GPUModel, gc.Name):
			continue
		case q.GPUCount > count:
			continue
		case q.MinVRAMMiB > 0 && vram > 0 && vram < q.MinVRAMMiB:
			continue
		}
		type priced struct {
			prio  string
			price providers.Money
			raw   string
		}
		var prices []priced
		for _, p := range gc.Prices {
			if !slices.Contains(c.prio, p.Priority) {
				continue
			}
			m, err := providers.ParseUSD(p.Price)
			if err != nil || m <= 0 {
				c.log.DebugContext(ctx, "salad: skipping price", "class", gc.ID, "priority", p.Priority, "err", err)
				continue
			}
			if q.MaxPricePerHour > 0 && m > q.MaxPricePerHour {
				continue
			}
			prices = append(prices, priced{p.Priority, m, p.Price})
		}
		if len(prices) == 0 {
			continue
		}
		for _, cc := range countries {
			avail, err := c.availability(ctx, gc.ID, cc, q)
			if err != nil {
				return nil, err
			}
			for _, p := range prices {
				n := avail.of(p.prio)
				if n < max(q.GPUCount, 1) {
					continue
				}
				out = append(out, providers.Offer{
					Provider: Name, ID: OfferID(gc.ID, p.prio, cc), GPUModel: gc.Name, GPUCount: count, VRAMMiB: vram,
					Region: providers.RegionForCountry(cc), PricePerHour: p.price,
					Raw: providers.RawPrice{Amount: p.raw, Unit: "usd/hour"}, Available: n, Country: cc,
				})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b providers.Offer) int { return int(a.PricePerHour - b.PricePerHour) })
	c.log.DebugContext(ctx, "salad offers", "classes", len(classes), "matching", len(out))
	return out, nil
}

func (c *Client) availability(ctx context.Context, classID, country string, q providers.Query) (availability, error) {
	body := map[string]any{"gpu_classes": []string{classID}, "country_codes": []string{country}}
	if q.CPUMillis > 0 {
		body["cpu"] = cpuUnits(q.CPUMillis)
	}
	if q.MemoryMiB > 0 {
		body["memory"] = memoryMB(q.MemoryMiB)
	}
	if q.DiskMiB > 0 {
		body["storage_amount"] = storageBytes(q.DiskMiB)
	}
	req, err := httpx.JSON(http.MethodPost, c.orgPath()+"/availability/sce-gpu-availability", body)
	if err != nil {
		return availability{}, fmt.Errorf("salad: %w", err)
	}
	req.Op, req.Retry = "gpu availability", httpx.RetryIdempotent // a read
	resp, err := c.http.Do(ctx, req)
	if err != nil {
		return availability{}, err
	}
	return parseAvailability(resp.Body)
}

func cpuUnits(millis int64) int64 { return min(max((millis+999)/1000, 1), 1024) }

// memoryMB is Salad's memory request: MB, at least 1024.
func memoryMB(mib int64) int64 { return max(mib, 1024) }

// storageBytes is a storage_amount: bytes, at least the 1 GiB SaladCloud
// accepts (CreateContainerResourceRequirements, minimum 1073741824).
func storageBytes(mib int64) int64 { return max(mib<<20, minStorageBytes) }

// CPUPrice is the hourly price of one CPU-only replica with the given
// resources: vCPUs × VCPUPricePerHour + memory GB × MemoryGBPricePerHour,
// memory rounded up to whole GB.
func (c *Client) CPUPrice(cpuMillis, memoryMiB int64) providers.Money {
	gb := (memoryMB(memoryMiB) + 1023) / 1024
	return providers.Money(cpuUnits(cpuMillis))*c.cfg.VCPUPricePerHour + providers.Money(gb)*c.cfg.MemoryGBPricePerHour
}

// usdDecimal writes micro-USD as a decimal USD string ("0.006").
func usdDecimal(m providers.Money) string {
	frac := strings.TrimRight(fmt.Sprintf("%06d", int64(m)%1e6), "0")
	if frac == "" {
		return strconv.FormatInt(int64(m)/1e6, 10)
	}
	return strconv.FormatInt(int64(m)/1e6, 10) + "." + frac
}

// cpuOffers lists CPU-only capacity: one offer per country with a free
// replica, priced by CPUPrice for q's resources.
func (c *Client) cpuOffers(ctx context.Context, q providers.Query, countries []string) ([]providers.Offer, error) {
	price := c.CPUPrice(q.CPUMillis, q.MemoryMiB)
	if q.MaxPricePerHour > 0 && price > q.MaxPricePerHour {
		return nil, nil
	}
	var out []providers.Offer
	for _, cc := range countries {
		body := map[string]any{"country_codes": []string{cc}, "cpu": cpuUnits(q.CPUMillis), "memory": memoryMB(q.MemoryMiB)}
		if q.DiskMiB > 0 {
			body["storage_amount"] = storageBytes(q.DiskMiB)
		}
		req, err := httpx.JSON(http.MethodPost, c.orgPath()+"/availability/sce-cpu-availability", body)
		if err != nil {
			return nil, fmt.Errorf("salad: %w", err)
		}
		req.Op, req.Retry = "cpu availability", httpx.RetryIdempotent // a read
		resp, err := c.http.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		var a struct {
			Batch int64 `json:"available_cpu_batch"`
		}
		if err := httpx.DecodeJSON(resp.Body, &a); err != nil {
			return nil, fmt.Errorf("salad: cpu availability: %w", err)
		}
		if a.Batch < 1 {
			continue
		}
		out = append(out, providers.Offer{
			Provider: Name, ID: OfferID(cpuClass, cpuPriority, cc), Region: providers.RegionForCountry(cc),
			PricePerHour: price, Raw: providers.RawPrice{Amount: usdDecimal(price), Unit: "usd/hour"}, Available: a.Batch, Country: cc,
		})
	}
	c.log.DebugContext(ctx, "salad cpu offers", "countries", len(countries), "matching", len(out))
	return out, nil
}

// containerGroup is the part of a ContainerGroup Aurora reads.
type containerGroup struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Replicas     int64  `json:"replicas"`
	CurrentState struct {
		Status      string  `json:"status"`
		Description *string `json:"description"`
		StartTime   *string `json:"start_time"`
		Counts      struct {
			Allocating int64 `json:"allocating_count"`
			Creating   int64 `json:"creating_count"`
			Running    int64 `json:"running_count"`
			Stopping   int64 `json:"stopping_count"`
		} `json:"instance_status_counts"`
	} `json:"current_state"`
	UpdateTime string `json:"update_time"`
	// Networking is the Container Gateway: dns is the access domain name
	// (ContainerGroupNetworking, api-specs/salad-cloud.yaml).
	Networking *struct {
		DNS  string `json:"dns"`
		Port int    `json:"port"`
	} `json:"networking"`
}

// parseGroup decodes a ContainerGroup.
func parseGroup(body []byte) (*containerGroup, error) {
	var g containerGroup
	if err := httpx.DecodeJSON(body, &g); err != nil {
		return nil, fmt.Errorf("salad: container group: %w", err)
	}
	if g.Name == "" {
		return nil, errors.New("salad: container group without a name")
	}
	return &g, nil
}

// State maps a container group's current_state to a providers.State:
//
//	pending                       → pending
//	deploying                     → launching
//	running with a running replica → running (else launching)
//	stopped                       → terminated
//	succeeded / failed            → succeeded / failed
func State(status string, running int64) providers.State {
	switch status {
	case "pending":
		return providers.StatePending
	case "deploying":
		return providers.StateLaunching
	case "running":
		if running > 0 {
			return providers.StateRunning
		}
		return providers.StateLaunching
	case "stopped":
		return providers.StateTerminated
	case "succeeded":
		return providers.StateSucceeded
	case "failed":
		return providers.StateFailed
	}
	return providers.StatePending
}

func checkName(id string) error {
	if !nameRE.MatchString(id) {
		return fmt.Errorf("salad: container group name %q is not a Salad name", httpx.Excerpt([]byte(id), 70))
	}
	return nil
}

func (c *Client) getGroup(ctx context.Context, name string) (*containerGroup, error) {
	resp, err := c.http.Do(ctx, httpx.Request{Method: http.MethodGet, Path: c.groupsPath() + "/" + name, Op: "get container group"})
	if err != nil {
		return nil, err
	}
	return parseGroup(resp.Body)
}

// Status reads a container group's state; id is the group name.
func (c *Client) Status(ctx context.Context, id string) (providers.Status, error) {
	if err := checkName(id); err != nil {
		return providers.Status{}, err
	}
	g, err := c.getGroup(ctx, id)
	if err != nil {
		return providers.Status{}, err
	}
	return c.status(g), nil
}

func (c *Client) status(g *containerGroup) providers.Status {
	st := providers.Status{ID: g.Name, State: State(g.CurrentState.Status, g.CurrentState.Counts.Running), Message: g.CurrentState.Status, UpdatedAt: c.now()}
	if d := g.CurrentState.Description; d != nil && *d != "" {
		st.Message += ": " + *d
	}
	if t, err := time.Parse(time.RFC3339, g.UpdateTime); err == nil {
		st.UpdatedAt = t
	}
	// The gateway serves HTTPS on the access domain name
	// (container-engine/explanation/gateway/*.mdx) and forwards to the port.
	if n := g.Networking; n != nil && n.DNS != "" {
		st.Endpoints = []providers.Endpoint{{Kind: providers.EndpointHTTP, Host: n.DNS, Port: 443, ContainerPort: n.Port, URL: "https://" + n.DNS + "/"}}
	}
	return st
}

// CreateRequest builds the container group creation body of spec: GPU
// class and priority as given, and country_codes [country] so the group
// lands where the offer was ("" = anywhere).
func (c *Client) CreateRequest(spec providers.LaunchSpec, classID, priority, country string) map[string]any {
	w := spec.Workload
	env := make(map[string]string, len(w.Env))
	for _, e := range w.Env {
		env[e.Name] = e.Value
	}
	for _, e := range spec.SecretEnv {
		// Container group env is the organization's, shown to its members
		// only (FeatureSecretEnv).
		env[e.Name] = e.Value.Reveal()
	}
	res := map[string]any{"cpu": cpuUnits(max(w.CPU, 1)), "memory": memoryMB(w.Memory), "gpu_classes": []string{classID}}
	if classID == cpuClass {
		res["gpu_classes"] = []string{} // a CPU-only group
	}
	if w.Disk > 0 {
		res["storage_amount"] = storageBytes(w.Disk)
	}
	ctr := map[string]any{"image": w.Image, "resources": res, "priority": priority, "environment_variables": env}
	// ContainerRegistryAuthentication (api-specs/salad-cloud.yaml): Docker
	// Hub takes username and personal_access_token, other registries basic.
	if a := spec.Registry; a != nil {
		if a.Host(w.Image) == "docker.io" {
			ctr["registry_authentication"] = map[string]any{"docker_hub": map[string]string{"username": a.Username, "personal_access_token": a.Secret.Reveal()}}
		} else {
			ctr["registry_authentication"] = map[string]any{"basic": map[string]string{"username": a.Username, "password": a.Secret.Reveal()}}
		}
	}
	if len(w.Cmd) > 0 {
		ctr["command"] = w.Cmd
	}
	body := map[string]any{
		"name": spec.IdempotencyKey, "display_name": spec.IdempotencyKey, "container": ctr,
		"autostart_policy": false, "restart_policy": c.cfg.RestartPolicy, "replicas": 1,
	}
	if country != "" {
		body["country_codes"] = []string{country}
	}
	if len(w.Ports) > 0 {
		body["networking"] = map[string]any{"protocol": "http", "port": w.Ports[0], "auth": false}
	}
	return body
}

// Launch creates (or finds) the container group named spec.IdempotencyKey
// for spec.Offer (a GPU class, priority and country, see OfferID) and
// starts it, in the offer's country. A group that exists already is not
// created again; one that was created but never started (a crash between
// the two calls) is started.
func (c *Client) Launch(ctx context.Context, spec providers.LaunchSpec) (providers.Lease, error) {
	if err := checkName(spec.IdempotencyKey); err != nil {
		return providers.Lease{}, fmt.Errorf("salad: launch: idempotency key: %w", err)
	}
	if spec.Workload.Image == "" {
		return providers.Lease{}, errors.New("salad: launch: workload image is required")
	}
	if err := providers.CheckFeatures(Name, c.Capabilities(), spec, unsupported); err != nil {
		return providers.Lease{}, err
	}
	classID, priority, country, ok := splitOfferID(spec.Offer.ID)
	if !ok {
		return providers.Lease{}, fmt.Errorf("salad: launch: offer id %q is not class:priority@country", httpx.Excerpt([]byte(spec.Offer.ID), 80))
	}
	// The country in the id is where the group will run.
	if region := providers.RegionForCountry(country); len(c.regions) > 0 && !slices.Contains(c.regions, region) {
		return providers.Lease{}, fmt.Errorf("salad: launch: offer %s is in region %q, not one of the configured %q", spec.Offer.ID, region, c.regions)
	}
	if err := ctx.Err(); err != nil {
		return providers.Lease{}, fmt.Errorf("salad: launch: %w", err)
	}
	name := spec.IdempotencyKey
	g, err := c.getGroup(ctx, name)
	switch {
	case err == nil:
		c.log.InfoContext(ctx, "salad launch found existing container group", "job", spec.JobID, "group", name, "status", g.CurrentState.Status)
	case errors.Is(err, providers.ErrNotFound):
		if spec.MaxPricePerHour > 0 && spec.Offer.PricePerHour > spec.MaxPricePerHour {
			return providers.Lease{}, fmt.Errorf("salad: launch: offer %s at %v/h above cap %v/h: %w", spec.Offer.ID, spec.Offer.PricePerHour, spec.MaxPricePerHour, providers.ErrOverPrice)
		}
		if g, err = c.create(ctx, spec, classID, priority, country); err != nil {
			return providers.Lease{}, err
		}
	default:
		return providers.Lease{}, err
	}
	// Groups are created with autostart_policy false, so a new one is
	// stopped until started. A stopped group found by its key is one whose
	// start was lost (Aurora never stops groups; Terminate deletes them).
	// start_time cannot tell: it is required and always set
	// (ContainerGroupState in SaladCloud's OpenAPI description).
	if g.CurrentState.Status == "stopped" {
		if _, err := c.http.Do(ctx, httpx.Request{Method: http.MethodPost, Path: c.groupsPath() + "/" + name + "/start", Op: "start container group", Retry: httpx.RetryIdempotent}); err != nil {
			return providers.Lease{}, err
		}
		g.CurrentState.Status = "pending"
	}
	return providers.Lease{
		ID: name, Provider: Name, Offer: spec.Offer, PricePerHour: spec.Offer.PricePerHour,
		State: State(g.CurrentState.Status, g.CurrentState.Counts.Running),
	}, nil
}

func (c *Client) create(ctx context.Context, spec providers.LaunchSpec, classID, priority, country string) (*containerGroup, error) {
	req, err := httpx.JSON(http.MethodPost, c.groupsPath(), c.CreateRequest(spec, classID, priority, country))
	if err != nil {
		return nil, fmt.Errorf("salad: %w", err)
	}
	// The unique name makes a repeated create harmless: SaladCloud answers a
	// taken name with a 400 ProblemDetails of type name_conflict.
	req.Op, req.Retry = "create container group", httpx.RetryIdempotent
	req.Redact = spec.Redactions()
	resp, err := c.http.Do(ctx, req)
	if err != nil {
		if errors.Is(err, providers.ErrAuth) || ctx.Err() != nil {
			return nil, err
		}
		// A name_conflict (an earlier attempt created it and its answer
		// was lost) or a failure that may have created it: look before
		// reporting.
		if g, gerr := c.getGroup(ctx, spec.IdempotencyKey); gerr == nil {
			c.log.InfoContext(ctx, "salad launch recovered container group", "job", spec.JobID, "group", g.Name, "err", err)
			return g, nil
		}
		return nil, err
	}
	g, err := parseGroup(resp.Body)
	if err != nil {
		return nil, err
	}
	c.log.InfoContext(ctx, "salad created container group", "job", spec.JobID, "group", g.Name, "id", g.ID, "class", classID, "priority", priority, "country", country, "price_per_hour", spec.Offer.PricePerHour)
	return g, nil
}

// Terminate deletes a container group (stopping its replicas). An unknown
// group is providers.ErrNotFound.
func (c *Client) Terminate(ctx context.Context, id string) error {
	if err := checkName(id); err != nil {
		return err
	}
	if _, err := c.http.Do(ctx, httpx.Request{Method: http.MethodDelete, Path: c.groupsPath() + "/" + id, Op: "delete container group"}); err != nil {
		return err
	}
	c.log.InfoContext(ctx, "salad deleted container group", "group", id)
	return nil
}

var _ providers.NoLogs = (*Client)(nil)

// NoLogsReason says why the adapter reads no logs (providers.NoLogs).
func (c *Client) NoLogsReason() string {
	return "Salad serves logs through POST /organizations/{organization_name}/log-entries (query_log_entries in api-specs/salad-cloud.yaml, salad-cloud-docs @ 504c704); this adapter does not read them yet"
}

// nameOr is name, or Name when it is empty.
func nameOr(name string) string {
	if name == "" {
		return Name
	}
	return name
}
