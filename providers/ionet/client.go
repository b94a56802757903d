package ionet

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
)

// Name is the adapter's name in offers, leases and errors.
const Name = "ionet"

// DefaultBaseURL is io.net's CaaS API.
const DefaultBaseURL = "https://api.io.solutions/enterprise/v1/io-cloud/caas"

// CredentialEnv is the conventional environment variable for the API key.
const CredentialEnv = "IONET_API_KEY"

// Defaults of Config.
const (
	DefaultRequestsPerSecond = 15 // io.net documents 150 requests per 10 s
	DefaultHours             = 1
	DefaultMaxLocations      = 4
	maxDeploymentPages       = 20
	deploymentsPageSize      = 100
)

// Config configures a Client. Only Credential is required; every other zero
// value is replaced by the default its comment names.
type Config struct {
	// Name is the provider's name in routes, offers, reputation and
	// metrics: the [[providers]] entry's name. Default Name ("ionet").
	Name string
	// Credential is the API key, sent as x-api-key. Required. Load it with
	// providers.LoadCredential(CredentialEnv, "") or from a file.
	Credential providers.Credential
	// BaseURL of the CaaS API. Default DefaultBaseURL.
	BaseURL string
	// Regions limits placement to these ISO 3166-1 alpha-2 location codes;
	// nil = anywhere.
	Regions []string
	// HTTP tunes timeouts, retries and body limits; its zero value works.
	// HTTP.Logger defaults to Logger.
	HTTP httpx.Config
	// RequestsPerSecond throttles requests (every attempt) to stay under the
	// documented limit; the burst is ten seconds' worth. Default 15; negative
	// disables the limiter.
	RequestsPerSecond float64
	// DefaultHours is the prepaid duration of a workload that states none.
	// Default 1 (the minimum io.net sells).
	DefaultHours int64
	// MaxLocations bounds the locations (and so the price lookups) per
	// hardware type in one Offers call, the best-stocked first. Default 4.
	MaxLocations int
	// Logger receives debug lines; nil discards them.
	Logger *slog.Logger
}

// Client is the io.net adapter. It is safe for concurrent use.
type Client struct {
	name         string // Config.Name
	http         *httpx.Client
	log          *slog.Logger
	regions      []string
	defaultHours int64
	maxLocations int
}

var _ providers.Provider = (*Client)(nil)

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Credential.IsZero() {
		return nil, errors.New("ionet: Config.Credential is required (set " + CredentialEnv + " or a credential file)")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.DefaultHours < 0 || cfg.MaxLocations < 0 {
		return nil, errors.New("ionet: negative DefaultHours or MaxLocations")
	}
	if cfg.DefaultHours == 0 {
		cfg.DefaultHours = DefaultHours
	}
	if cfg.MaxLocations == 0 {
		cfg.MaxLocations = DefaultMaxLocations
	}
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = DefaultRequestsPerSecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTP
	if hc.Logger == nil {
		hc.Logger = log
	}
	if cfg.RequestsPerSecond > 0 {
		hc.HTTPClient = limited(hc.HTTPClient, cfg.RequestsPerSecond)
	}
	key := cfg.Credential
	h, err := httpx.New(hc, httpx.API{
		Name:    Name,
		BaseURL: cfg.BaseURL,
		Authorize: func(r *http.Request) error {
			r.Header.Set("x-api-key", key.Reveal())
			return nil
		},
		Classify: classify,
	})
	if err != nil {
		return nil, err
	}
	return &Client{name: nameOr(cfg.Name), http: h, log: log, regions: slices.Clone(cfg.Regions), defaultHours: cfg.DefaultHours, maxLocations: cfg.MaxLocations}, nil
}

// classify adds io.net's quirks to httpx.Classify: capacity refusals come as
// 400/409/422 whose detail talks about availability [inferred: the docs do
// not list them].
func classify(e *httpx.APIError) error {
	if err := httpx.Classify(e); err != nil {
		return err
	}
	switch e.Status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity:
		m := strings.ToLower(e.Message)
		if strings.Contains(m, "available") || strings.Contains(m, "capacity") {
			return providers.ErrNoCapacity
		}
	}
	return nil
}

// Name returns Config.Name, by default "ionet".
func (c *Client) Name() string { return c.name }

// Capabilities: live offers, launch, terminate, GPUs, idempotent launch by
// name. Regions are io.net's ISO-3166 alpha-2 location codes.
func (c *Client) Capabilities() providers.Capabilities {
	return providers.Capabilities{Offers: true, Launch: true, Terminate: true, GPU: true, Idempotent: true, Regions: slices.Clone(c.regions),
		Features: []providers.Feature{providers.FeatureRegistryAuth, providers.FeatureSecretEnv, providers.FeaturePorts, providers.FeatureEndpoints}}
}

// hours is the whole number of prepaid hours for a duration, rounded up.
func (c *Client) hours(d time.Duration) int64 {
	if d <= 0 {
		return c.defaultHours
	}
	return int64((d + time.Hour - 1) / time.Hour)
}

func (c *Client) priceUnit(d time.Duration, hours int64) string {
	if d > 0 && time.Duration(hours)*time.Hour != d {
		return fmt.Sprintf("usdc total for %d prepaid hours (duration %s rounded up to whole hours)", hours, d)
	}
	return fmt.Sprintf("usdc total for %d prepaid hours", hours)
}

// Offers returns one offer per hardware type and location that can run
// q.GPUCount GPUs (at least 1: io.net only sells GPU containers) for
// q.Duration, cheapest first. With every match above q.MaxPricePerHour it
// returns providers.ErrOverPrice; with no match, an empty slice.
func (c *Client) Offers(ctx context.Context, q providers.Query) ([]providers.Offer, error) {
	regions, ok := providers.SearchRegions(c.regions, q.Regions)
	if !ok {
		return nil, nil
	}
	gpus := max(q.GPUCount, 1)
	hours := c.hours(q.Duration)
	hw, err := c.hardware(ctx)
	if err != nil {
		return nil, err
	}
	var offers []providers.Offer
	overPrice := false
	for _, h := range hw {
		if q.GPUModel != "" && !providers.SameGPUModel(q.GPUModel, h.HardwareName) {
			continue
		}
		if h.MaxGPUsPerContainer > 0 && h.MaxGPUsPerContainer < gpus || h.Available == 0 {
			continue
		}
		vram := vramMiB(h.HardwareName)
		if q.MinVRAMMiB > 0 && vram > 0 && vram < q.MinVRAMMiB {
			continue
		}
		locs, err := c.replicas(ctx, h.HardwareID, gpus)
		if err != nil {
			return nil, err
		}
		locs = slices.DeleteFunc(locs, func(l location) bool {
			return l.AvailableReplicas <= 0 || !regionAllowed(regions, l.ISO2)
		})
		if len(locs) == 0 {
			continue
		}
		slices.SortFunc(locs, func(a, b location) int { return cmp.Compare(b.AvailableReplicas, a.AvailableReplicas) })
		locs = locs[:min(len(locs), c.maxLocations)]
		// Prices differ by location, so each is quoted on its own.
		for _, l := range locs {
			total, raw, err := c.price(ctx, h.HardwareID, []int64{l.ID}, gpus, hours)
			if err != nil {
				return nil, err
			}
			ph := perHour(total, hours)
			if q.MaxPricePerHour > 0 && ph > q.MaxPricePerHour {
				overPrice = true
				continue
			}
			offers = append(offers, providers.Offer{
				Provider:     Name,
				ID:           offerID(h.HardwareID, l.ID, gpus),
				GPUModel:     h.HardwareName,
				GPUCount:     gpus,
				VRAMMiB:      vram,
				Region:       strings.ToUpper(l.ISO2),
				PricePerHour: ph,
				Raw:          providers.RawPrice{Amount: raw, Unit: c.priceUnit(q.Duration, hours)},
				Available:    l.AvailableReplicas,
			})
		}
	}
	if len(offers) == 0 && overPrice {
		return nil, fmt.Errorf("ionet: every matching offer is above %s/hour: %w", q.MaxPricePerHour, providers.ErrOverPrice)
	}
	slices.SortStableFunc(offers, func(a, b providers.Offer) int { return cmp.Compare(a.PricePerHour, b.PricePerHour) })
	return offers, nil
}

func regionAllowed(regions []string, iso2 string) bool {
	if len(regions) == 0 {
		return true
	}
	for _, r := range regions {
		if strings.EqualFold(r, iso2) {
			return true
		}
	}
	return false
}

// vramMiB reads a memory size out of a hardware name ("A100 80GB"); 0 when
// the name does not say.
func vramMiB(name string) int64 {
	f := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	for i, w := range f {
		var num string
		switch {
		case len(w) > 2 && strings.HasSuffix(w, "gb"):
			num = strings.TrimSuffix(w, "gb")
		case i+1 < len(f) && f[i+1] == "gb":
			num = w
		default:
			continue
		}
		if n, err := strconv.ParseInt(num, 10, 64); err == nil && n > 0 && n <= 1024 {
			return n * 1024
		}
	}
	return 0
}

func offerID(hw, loc, gpus int64) string { return fmt.Sprintf("%d:%d:%d", hw, loc, gpus) }

func parseOfferID(id string) (hw, loc, gpus int64, err error) {
	parts := strings.Split(id, ":")
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("ionet: offer id %q is not hardware:location:gpus", id)
	}
	var n [3]int64
	for i, p := range parts {
		n[i], err = strconv.ParseInt(p, 10, 64)
		if err != nil || n[i] <= 0 {
			return 0, 0, 0, fmt.Errorf("ionet: offer id %q is not hardware:location:gpus", id)
		}
	}
	return n[0], n[1], n[2], nil
}

func (c *Client) hardware(ctx context.Context) ([]hardware, error) {
	resp, err := c.http.Do(ctx, httpx.Request{Path: "/hardware/max-gpus-per-container", Op: "list hardware"})
	if err != nil {
		return nil, err
	}
	return parseHardware(resp.Body)
}

func (c *Client) replicas(ctx context.Context, hw, gpus int64) ([]location, error) {
	resp, err := c.http.Do(ctx, httpx.Request{
		Path:  "/available-replicas",
		Query: url.Values{"hardware_id": {itoa(hw)}, "hardware_qty": {itoa(gpus)}},
		Op:    "available replicas",
	})
	if err != nil {
		return nil, err
	}
	return parseReplicas(resp.Body)
}

// price returns the prepaid total in micro-USD and as the network wrote it.
func (c *Client) price(ctx context.Context, hw int64, locs []int64, gpus, hours int64) (providers.Money, string, error) {
	ids, _ := json.Marshal(locs)
	resp, err := c.http.Do(ctx, httpx.Request{
		Path: "/price",
		Query: url.Values{
			"location_ids":       {string(ids)},
			"hardware_id":        {itoa(hw)},
			"duration_hours":     {itoa(hours)},
			"gpus_per_container": {itoa(gpus)},
			"replica_count":      {"1"},
			"currency":           {"usdc"},
		},
		Op: "price",
	})
	if err != nil {
		return 0, "", err
	}
	raw, err := parsePrice(resp.Body)
	if err != nil {
		return 0, "", err
	}
	total, err := microUSD(raw.String())
	if err != nil {
		return 0, "", err
	}
	return total, raw.String(), nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// unsupported gives the reason for each feature IO Cloud CaaS lacks.
var unsupported = map[providers.Feature]string{
	// reference/caas/deploy-a-container: the deploy body has image,
	// entrypoint, args, env, one traffic_port and the registry login; no
	// key or volume field.
	providers.FeatureSSH:     "IO Cloud CaaS containers take no SSH keys: the deploy body has no field for them",
	providers.FeatureStorage: "IO Cloud CaaS has no persistent volumes: the deploy body has no field for them",
}

// Launch deploys spec.Workload on spec.Offer (or, without one, on the
// cheapest current offer) for the workload's duration rounded up to whole
// hours. It first looks for a deployment named after the idempotency key and
// returns it if one exists, and looks again when the deploy call fails in a
// way that may have created one (5xx, transport error).
func (c *Client) Launch(ctx context.Context, spec providers.LaunchSpec) (providers.Lease, error) {
	key := spec.IdempotencyKey
	if key == "" {
		if spec.JobID == "" {
			return providers.Lease{}, errors.New("ionet: launch: JobID or IdempotencyKey is required")
		}
		key = providers.IdempotencyKey(spec.JobID)
	}
	if spec.Workload.Image == "" {
		return providers.Lease{}, errors.New("ionet: launch: workload has no image")
	}
	if err := providers.CheckFeatures(Name, c.Capabilities(), spec, unsupported); err != nil {
		return providers.Lease{}, err
	}
	if len(spec.Workload.Ports) == 0 {
		// traffic_port is required: CaaS runs HTTP servers only, on one
		// port it health-checks (io.net docs reference/caas/deploy-a-container).
		return providers.Lease{}, fmt.Errorf("ionet: launch: io.net CaaS runs an HTTP server on one traffic port and the workload exposes none: %w", providers.ErrNotSupported)
	}
	if l, ok, err := c.existing(ctx, key, spec.Offer); err != nil || ok {
		if ok {
			c.log.InfoContext(ctx, "ionet deployment exists for this job", "job", spec.JobID, "deployment", l.ID)
		}
		return l, err
	}
	offer := spec.Offer
	if offer.ID == "" || offer.Provider != "" && offer.Provider != Name {
		q := providers.Query{
			MaxPricePerHour: spec.MaxPricePerHour,
			CPUMillis:       spec.Workload.CPU, MemoryMiB: spec.Workload.Memory, DiskMiB: spec.Workload.Disk,
			Duration: time.Duration(spec.Workload.Duration) * time.Second,
		}
		if g := spec.Workload.GPU; g != nil {
			q.GPUModel, q.GPUCount, q.MinVRAMMiB = g.Model, g.Count, g.MinVRAM
		}
		offers, err := c.Offers(ctx, q)
		if err != nil {
			return providers.Lease{}, err
		}
		if len(offers) == 0 {
			return providers.Lease{}, fmt.Errorf("ionet: launch: no offer fits the workload: %w", providers.ErrNoCapacity)
		}
		offer = offers[0]
	}
	hw, loc, gpus, err := parseOfferID(offer.ID)
	if err != nil {
		return providers.Lease{}, err
	}
	if offer.Region != "" && !providers.RegionConfigured(c.regions, offer.Region) {
		return providers.Lease{}, fmt.Errorf("ionet: launch: region %q is not one of the configured %q", offer.Region, c.regions)
	}
	d := time.Duration(spec.Workload.Duration) * time.Second
	hours := c.hours(d)
	total, raw, err := c.price(ctx, hw, []int64{loc}, gpus, hours)
	if err != nil {
		return providers.Lease{}, err
	}
	ph := perHour(total, hours)
	if spec.MaxPricePerHour > 0 && ph > spec.MaxPricePerHour {
		return providers.Lease{}, fmt.Errorf("ionet: launch: offer %s costs %s/hour, cap %s: %w", offer.ID, ph, spec.MaxPricePerHour, providers.ErrOverPrice)
	}
	offer.Provider, offer.PricePerHour = Name, ph
	offer.Raw = providers.RawPrice{Amount: raw, Unit: c.priceUnit(d, hours)}

	body := deployRequest{
		ResourcePrivateName: key,
		DurationHours:       hours,
		GPUsPerContainer:    gpus,
		HardwareID:          hw,
		LocationIDs:         []int64{loc},
		ReplicaCount:        1,
		Entrypoint:          slices.Clone(spec.Workload.Cmd),
		TrafficPort:         spec.Workload.Ports[0],
		ImageURL:            spec.Workload.Image,
	}
	if a := spec.Registry; a != nil {
		// The flat registry_username/registry_secret of the deploy body
		// (io.net docs reference/caas/deploy-a-container).
		body.RegistryUsername, body.RegistrySecret = a.Username, a.Secret.Reveal()
	}
	if body.Entrypoint == nil {
		body.Entrypoint = []string{}
	}
	if len(spec.Workload.Env) > 0 {
		body.EnvVariables = make(map[string]string, len(spec.Workload.Env))
		for _, e := range spec.Workload.Env {
			body.EnvVariables[e.Name] = e.Value
		}
	}
	if len(spec.SecretEnv) > 0 {
		// secret_env_variables: "same as env_variables", their values not
		// shown again (GET deployment lists container_config.secret_env_keys
		// only) — io.net docs reference/caas/deploy-a-container.
		body.SecretEnvVariables = make(map[string]string, len(spec.SecretEnv))
		for _, e := range spec.SecretEnv {
			body.SecretEnvVariables[e.Name] = e.Value.Reveal()
		}
	}
	if len(spec.Workload.Ports) > 1 {
		c.log.WarnContext(ctx, "ionet exposes one traffic port; extra ports ignored", "job", spec.JobID, "ports", spec.Workload.Ports)
	}
	req, err := httpx.JSON(http.MethodPost, "/deploy", body)
	if err != nil {
		return providers.Lease{}, err
	}
	req.Op = "deploy"
	req.Redact = spec.Redactions()
	resp, err := c.http.Do(ctx, req)
	if err != nil {
		var ae *httpx.APIError
		if ctx.Err() == nil && (!errors.As(err, &ae) || ae.Status >= 500) {
			// The deployment may exist although the answer was lost.
			if l, ok, ferr := c.existing(ctx, key, offer); ferr == nil && ok {
				c.log.InfoContext(ctx, "ionet deploy answer lost; found the deployment by name", "job", spec.JobID, "deployment", l.ID)
				return l, nil
			}
		}
		return providers.Lease{}, fmt.Errorf("ionet: launch: %w", err)
	}
	dr, err := parseDeploy(resp.Body)
	if err != nil {
		return providers.Lease{}, err
	}
	st := stateOf(dr.Status)
	if st == "" {
		st = providers.StatePending
	}
	c.log.InfoContext(ctx, "ionet deployment created", "job", spec.JobID, "deployment", dr.DeploymentID,
		"offer", offer.ID, "hours", hours, "price_per_hour", ph)
	return providers.Lease{ID: dr.DeploymentID, Provider: Name, Offer: offer, PricePerHour: ph, State: st}, nil
}

// existing finds a deployment named key, newest first.
func (c *Client) existing(ctx context.Context, key string, offer providers.Offer) (providers.Lease, bool, error) {
	for page := 0; page < maxDeploymentPages; page++ {
		resp, err := c.http.Do(ctx, httpx.Request{
			Path:  "/deployments",
			Query: url.Values{"page": {strconv.Itoa(page)}, "page_size": {strconv.Itoa(deploymentsPageSize)}},
			Op:    "list deployments",
		})
		if err != nil {
			return providers.Lease{}, false, err
		}
		list, err := parseDeployments(resp.Body)
		if err != nil {
			return providers.Lease{}, false, err
		}
		for _, d := range list.Data.Deployments {
			if d.Name != key {
				continue
			}
			st := stateOf(d.Status)
			if st == "" {
				st = providers.StatePending
			}
			offer.Provider = Name
			return providers.Lease{ID: d.ID, Provider: Name, Offer: offer, PricePerHour: offer.PricePerHour, State: st}, true, nil
		}
		seen := int64((page + 1) * deploymentsPageSize)
		if len(list.Data.Deployments) < deploymentsPageSize || seen >= list.Data.Total {
			return providers.Lease{}, false, nil
		}
	}
	c.log.WarnContext(ctx, "ionet deployment list longer than the idempotency scan", "pages", maxDeploymentPages)
	return providers.Lease{}, false, nil
}

// stateOf maps CaaSResourceStatus; "" for a status it does not know.
func stateOf(status string) providers.State {
	switch normStatus(status) {
	case statusRequested:
		return providers.StatePending
	case statusRunning:
		return providers.StateRunning
	case statusCompleted:
		return providers.StateSucceeded
	case statusFailed:
		return providers.StateFailed
	case statusTermination, statusDestroyed:
		// Termination requested: billing has stopped and nothing will run.
		return providers.StateTerminated
	}
	return ""
}

// Status reads the deployment. An unknown id is providers.ErrNotFound.
func (c *Client) Status(ctx context.Context, id string) (providers.Status, error) {
	if !validID(id) {
		return providers.Status{}, fmt.Errorf("ionet: status: malformed deployment id %q: %w", id, providers.ErrNotFound)
	}
	resp, err := c.http.Do(ctx, httpx.Request{Path: "/deployment/" + id, Op: "get deployment"})
	if err != nil {
		return providers.Status{}, err
	}
	d, err := parseDeployment(resp.Body)
	if err != nil {
		return providers.Status{}, err
	}
	st := stateOf(d.Status)
	if st == "" {
		return providers.Status{}, fmt.Errorf("ionet: deployment %s has unknown status %q", id, httpx.Excerpt([]byte(d.Status), 60))
	}
	out := providers.Status{ID: d.ID, State: st, Message: d.Status, UpdatedAt: latest(d.CreatedAt, d.StartedAt, d.FinishedAt)}
	if st == providers.StateRunning {
		// Each running container serves the traffic port at its public_url.
		resp, err := c.http.Do(ctx, httpx.Request{Path: "/deployment/" + id + "/containers", Op: "list containers"})
		if err != nil {
			return providers.Status{}, err
		}
		if out.Endpoints, err = parseContainers(resp.Body, d.ContainerConfig.TrafficPort); err != nil {
			return providers.Status{}, err
		}
	}
	return out, nil
}

// latest returns the latest of the RFC 3339 times given (zero if none parse).
func latest(ts ...string) time.Time {
	var t time.Time
	for _, s := range ts {
		if v, err := time.Parse(time.RFC3339Nano, s); err == nil && v.After(t) {
			t = v
		}
	}
	return t
}

// Terminate destroys the deployment. Terminating one that has already ended
// (destroyed, completed, failed, termination requested) succeeds without a
// call; an unknown id is providers.ErrNotFound.
func (c *Client) Terminate(ctx context.Context, id string) error {
	st, err := c.Status(ctx, id)
	if err != nil {
		return err
	}
	if st.State.Terminal() {
		return nil
	}
	_, err = c.http.Do(ctx, httpx.Request{Method: http.MethodDelete, Path: "/deployment/" + id, Op: "delete deployment"})
	if err == nil {
		return nil
	}
	// A concurrent terminate may have won; what counts is the end state.
	if st, serr := c.Status(ctx, id); serr == nil && st.State.Terminal() {
		return nil
	}
	return fmt.Errorf("ionet: terminate %s: %w", id, err)
}

// limited returns a copy of hc (or a default client) whose transport waits
// for a rate limiter before each request.
func limited(hc *http.Client, rps float64) *http.Client {
	var c http.Client
	if hc != nil {
		c = *hc
	} else {
		c.Timeout = httpx.DefaultTimeout
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = &limitTransport{lim: rate.NewLimiter(rate.Limit(rps), max(1, int(rps*10))), next: next}
	return &c
}

type limitTransport struct {
	lim  *rate.Limiter
	next http.RoundTripper
}

func (t *limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.lim.Wait(r.Context()); err != nil {
		return nil, err
	}
	return t.next.RoundTrip(r)
}

var _ providers.NoLogs = (*Client)(nil)

// NoLogsReason says why the adapter reads no logs (providers.NoLogs).
func (c *Client) NoLogsReason() string {
	return "the io.net CaaS material this adapter follows documents no endpoint for a deployment's container log"
}

// nameOr is name, or Name when it is empty.
func nameOr(name string) string {
	if name == "" {
		return Name
	}
	return name
}
