package render

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
)

// Name is the adapter's name in offers, leases and errors.
const Name = "render"

// DefaultBaseURL is the Render Compute API (the guides also show
// https://api.dispersed.com/v1).
const DefaultBaseURL = "https://api.compute.x.io/v1"

// Conventional environment variables for the key pair.
const (
	PublicKeyEnv = "RENDER_API_KEY"    // pk_...
	SecretKeyEnv = "RENDER_API_SECRET" // the HMAC secret
)

// Defaults of Config.
const (
	DefaultMaxPages  = 10
	offersPageLimit  = 50
	jobsPageLimit    = 50
	assignTimeoutMS  = 300_000
	startTimeoutMS   = 300_000
	minBatchRunMS    = 60_000
	cancelReason     = "cancelled by Aurora"
	maxPublicKeySize = 256
)

// Config configures a Client. PublicKey and Credential are required; every
// other zero value is replaced by the default its comment names.
type Config struct {
	// Name is the provider's name in routes, offers, reputation and
	// metrics: the [[providers]] entry's name. Default Name ("render").
	Name string
	// PublicKey is the API key's public half (pk_...), sent as X-API-Key.
	PublicKey string
	// Credential is the API key's secret half: it signs requests and never
	// leaves the process. Required. Load it with
	// providers.LoadCredential(SecretKeyEnv, "") or from a file.
	Credential providers.Credential
	// BaseURL of the API including /v1. Default DefaultBaseURL.
	BaseURL string
	// Regions limits placement to these region codes ("us-west-2"); nil =
	// anywhere.
	Regions []string
	// HTTP tunes timeouts, retries and body limits; its zero value works.
	// HTTP.Logger defaults to Logger.
	HTTP httpx.Config
	// Clock stamps X-Time. Default the system clock.
	Clock providers.Clock
	// Rand supplies nonces. Default crypto/rand.
	Rand io.Reader
	// MaxPages bounds the pages read per offer listing and per
	// idempotency scan of the job list. Default 10.
	MaxPages int
	// Logger receives debug lines; nil discards them.
	Logger *slog.Logger
}

// Client is the Render Compute adapter. It is safe for concurrent use.
type Client struct {
	name     string // Config.Name
	http     *httpx.Client
	log      *slog.Logger
	regions  []string
	maxPages int
}

var _ providers.Provider = (*Client)(nil)

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.PublicKey == "" || cfg.Credential.IsZero() {
		return nil, errors.New("render: Config.PublicKey and Config.Credential are required (set " + PublicKeyEnv + " and " + SecretKeyEnv + " or credential files)")
	}
	if len(cfg.PublicKey) > maxPublicKeySize || strings.ContainsAny(cfg.PublicKey, "|\r\n") {
		return nil, errors.New("render: Config.PublicKey is malformed")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Clock == nil {
		cfg.Clock = providers.SystemClock{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.MaxPages < 0 {
		return nil, errors.New("render: negative MaxPages")
	}
	if cfg.MaxPages == 0 {
		cfg.MaxPages = DefaultMaxPages
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTP
	if hc.Logger == nil {
		hc.Logger = log
	}
	s := &signer{pub: cfg.PublicKey, secret: cfg.Credential, clock: cfg.Clock, rand: cfg.Rand}
	h, err := httpx.New(hc, httpx.API{Name: Name, BaseURL: cfg.BaseURL, Authorize: s.authorize})
	if err != nil {
		return nil, err
	}
	return &Client{name: nameOr(cfg.Name), http: h, log: log, regions: slices.Clone(cfg.Regions), maxPages: cfg.MaxPages}, nil
}

// signer signs each attempt of a request.
type signer struct {
	pub    string
	secret providers.Credential
	clock  providers.Clock
	rand   io.Reader
}

func (s *signer) authorize(req *http.Request) error {
	var nonce [16]byte
	if _, err := io.ReadFull(s.rand, nonce[:]); err != nil {
		return fmt.Errorf("render: nonce: %w", err)
	}
	var body []byte
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return fmt.Errorf("render: read body to sign: %w", err)
		}
		body, err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("render: read body to sign: %w", err)
		}
	}
	q, err := CanonicalQuery(req.URL.RawQuery)
	if err != nil {
		return err
	}
	// Send the query exactly as signed.
	req.URL.RawQuery = q
	in := SigningInput{
		PublicKey: s.pub,
		TimeMS:    s.clock.Now().UnixMilli(),
		Nonce:     hex.EncodeToString(nonce[:]),
		Method:    req.Method,
		Path:      req.URL.EscapedPath(),
		RawQuery:  q,
		Body:      body,
	}
	sig, err := Sign(s.secret.Reveal(), in)
	if err != nil {
		return err
	}
	req.Header.Set(HeaderKey, s.pub)
	req.Header.Set(HeaderTime, strconv.FormatInt(in.TimeMS, 10))
	req.Header.Set(HeaderNonce, in.Nonce)
	req.Header.Set(HeaderSignature, sig)
	return nil
}

// Name returns Config.Name, by default "render".
func (c *Client) Name() string { return c.name }

// Capabilities: live offers, launch, terminate, GPUs, idempotent launch by
// job title. Regions are the network's AWS-style region codes
// ("us-west-2").
func (c *Client) Capabilities() providers.Capabilities {
	return providers.Capabilities{Offers: true, Launch: true, Terminate: true, GPU: true, Idempotent: true, Regions: slices.Clone(c.regions),
		Features: []providers.Feature{providers.FeatureSecretEnv, providers.FeaturePorts, providers.FeatureEndpoints}}
}

// Offers lists matching offers, cheapest first. The documented filters go to
// the server and every result is re-checked here (model by
// providers.SameGPUModel, count, VRAM, region, price cap). With every match
// above q.MaxPricePerHour it returns providers.ErrOverPrice.
func (c *Client) Offers(ctx context.Context, q providers.Query) ([]providers.Offer, error) {
	picks, err := c.offers(ctx, q)
	out := make([]providers.Offer, len(picks))
	for i, p := range picks {
		out[i] = p.Offer
	}
	return out, err
}

// pick is an offer with the GPU its create-job request must name: the
// network's registry uuid for exact targeting, or the registry's name for
// the GPU (render docs api-reference/jobs/create-job: gpu_name xor
// gpu_registry_uuid; api-reference/compute/list-compute-offers:
// hardware_summary.gpu_models[].{name,gpu_registry_uuid}). Neither is
// Offer.GPUModel, which is the offer's display label.
type pick struct {
	providers.Offer
	gpuRegistryUUID, gpuName string
}

func (c *Client) offers(ctx context.Context, q providers.Query) ([]pick, error) {
	regions, ok := providers.SearchRegions(c.regions, q.Regions)
	if !ok {
		return nil, nil
	}
	q.Regions = regions
	raw, err := c.listOffers(ctx, q)
	if err != nil {
		return nil, err
	}
	var out []pick
	overPrice := false
	for _, o := range raw {
		po, err := toOffer(o)
		if err != nil {
			c.log.DebugContext(ctx, "render offer skipped", "offer", o.OfferID, "err", err)
			continue
		}
		if !matches(q, po) {
			continue
		}
		if q.MaxPricePerHour > 0 && po.PricePerHour > q.MaxPricePerHour {
			overPrice = true
			continue
		}
		out = append(out, pick{Offer: po, gpuRegistryUUID: o.registryUUID(), gpuName: o.registryName()})
	}
	if len(out) == 0 && overPrice {
		return nil, fmt.Errorf("render: every matching offer is above %s/hour: %w", q.MaxPricePerHour, providers.ErrOverPrice)
	}
	slices.SortStableFunc(out, func(a, b pick) int { return cmp.Compare(a.PricePerHour, b.PricePerHour) })
	return out, nil
}

func (c *Client) listOffers(ctx context.Context, q providers.Query) ([]offer, error) {
	base := url.Values{"limit": {strconv.Itoa(offersPageLimit)}}
	if q.GPUModel != "" {
		base.Set("filter[gpu_name]", q.GPUModel)
	}
	if q.GPUCount > 0 {
		base.Set("filter[gpu_count]", strconv.FormatInt(q.GPUCount, 10))
	}
	if q.MinVRAMMiB > 0 {
		base.Set("filter[min_vram_gb]", strconv.FormatInt(ceilDiv64(q.MinVRAMMiB, 1024), 10))
	}
	if len(q.Regions) > 0 {
		base.Set("filter[allowed_region_codes]", strings.Join(q.Regions, ","))
	}
	var all []offer
	for page := 1; page <= c.maxPages; page++ {
		v := cloneValues(base)
		v.Set("page", strconv.Itoa(page))
		resp, err := c.http.Do(ctx, httpx.Request{Path: "/compute/offers", Query: v, Op: "list offers"})
		if err != nil {
			return nil, err
		}
		r, err := parseOffers(resp.Body)
		if err != nil {
			return nil, err
		}
		all = append(all, r.Data...)
		if len(r.Data) == 0 || int64(page)*offersPageLimit >= r.Total {
			return all, nil
		}
	}
	c.log.DebugContext(ctx, "render offer listing truncated", "pages", c.maxPages)
	return all, nil
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = slices.Clone(vs)
	}
	return c
}

func ceilDiv64(a, b int64) int64 { return (a + b - 1) / b }

func toOffer(o offer) (providers.Offer, error) {
	price, err := microUSD(o.Pricing.HourlyRateUSD.String())
	if err != nil {
		return providers.Offer{}, err
	}
	if price <= 0 {
		return providers.Offer{}, errors.New("render: offer without a price")
	}
	return providers.Offer{
		Provider:     Name,
		ID:           o.OfferID,
		GPUModel:     o.gpuModel(),
		GPUCount:     o.HardwareSummary.GPUCount,
		VRAMMiB:      o.vramMiB(),
		Region:       o.RegionCode,
		PricePerHour: price,
		Raw:          providers.RawPrice{Amount: o.Pricing.HourlyRateUSD.String(), Unit: "usd/hour"},
	}, nil
}

func matches(q providers.Query, o providers.Offer) bool {
	if q.GPUModel != "" && !providers.SameGPUModel(q.GPUModel, o.GPUModel) {
		return false
	}
	if q.GPUCount > 0 && o.GPUCount < q.GPUCount {
		return false
	}
	if q.MinVRAMMiB > 0 && o.VRAMMiB > 0 && o.VRAMMiB < q.MinVRAMMiB {
		return false
	}
	if len(q.Regions) > 0 && !slices.ContainsFunc(q.Regions, func(r string) bool { return strings.EqualFold(r, o.Region) }) {
		return false
	}
	return true
}

// unsupported gives the reason for each workload feature the adapter lacks.
var unsupported = map[providers.Feature]string{
	// The job API (api.compute.x.io/v1 jobs, docs notes §6) takes an image,
	// env, ports and a GPU; it has no SSH key, registry login or volume field.
	providers.FeatureSSH:          "the Render Compute job API has no SSH key field",
	providers.FeatureRegistryAuth: "the Render Compute job API has no registry login field",
	providers.FeatureStorage:      "the Render Compute job API has no persistent volume field",
}

// Launch creates a job for spec.Workload. See the package documentation for
// how the offer, price cap and idempotency key are used.
func (c *Client) Launch(ctx context.Context, spec providers.LaunchSpec) (providers.Lease, error) {
	if err := providers.CheckFeatures(Name, c.Capabilities(), spec, unsupported); err != nil {
		return providers.Lease{}, err
	}
	key := spec.IdempotencyKey
	if key == "" {
		if spec.JobID == "" {
			return providers.Lease{}, errors.New("render: launch: JobID or IdempotencyKey is required")
		}
		key = providers.IdempotencyKey(spec.JobID)
	}
	w := spec.Workload
	if w.Image == "" {
		return providers.Lease{}, errors.New("render: launch: workload has no image")
	}
	if len(w.Cmd) > 0 {
		return providers.Lease{}, fmt.Errorf("render: launch: the job API has no command field; build the command %q into the image's entrypoint: %w", w.Cmd, providers.ErrNotSupported)
	}
	if l, ok, err := c.existing(ctx, key, spec.Offer); err != nil || ok {
		if ok {
			c.log.InfoContext(ctx, "render job exists for this launch key", "job", spec.JobID, "render_job", l.ID)
		}
		return l, err
	}
	q := providers.Query{MaxPricePerHour: spec.MaxPricePerHour}
	if g := w.GPU; g != nil {
		q.GPUModel, q.GPUCount, q.MinVRAMMiB = g.Model, g.Count, g.MinVRAM
	}
	chosen, err := c.currentOffer(ctx, q, spec.Offer)
	if err != nil {
		return providers.Lease{}, err
	}
	offer := chosen.Offer
	body, err := c.jobBody(key, spec, chosen)
	if err != nil {
		return providers.Lease{}, err
	}
	cb, err := jsonCanonical(body)
	if err != nil {
		return providers.Lease{}, err
	}
	resp, err := c.http.Do(ctx, httpx.Request{Method: http.MethodPost, Path: "/jobs", Body: cb, Op: "create job", Redact: spec.Redactions()})
	if err != nil {
		var ae *httpx.APIError
		if ctx.Err() == nil && (!errors.As(err, &ae) || ae.Status >= 500) {
			if l, ok, ferr := c.existing(ctx, key, offer); ferr == nil && ok {
				c.log.InfoContext(ctx, "render create answer lost; found the job by title", "job", spec.JobID, "render_job", l.ID)
				return l, nil
			}
		}
		return providers.Lease{}, fmt.Errorf("render: launch: %w", err)
	}
	j, err := parseJob(resp.Body)
	if err != nil {
		return providers.Lease{}, err
	}
	st := stateOf(j.Status)
	if st == "" {
		st = providers.StatePending
	}
	c.log.InfoContext(ctx, "render job created", "job", spec.JobID, "render_job", j.UUID, "task", body.Task,
		"offer", offer.ID, "price_per_hour", offer.PricePerHour)
	return providers.Lease{ID: j.UUID, Provider: Name, Offer: offer, PricePerHour: offer.PricePerHour, State: st}, nil
}

// currentOffer re-reads the market for the workload's hardware and returns
// the chosen offer at its current price (or, if it is gone or none was
// chosen, the cheapest match), refusing one above the cap.
func (c *Client) currentOffer(ctx context.Context, q providers.Query, chosen providers.Offer) (pick, error) {
	mine := chosen.ID != "" && (chosen.Provider == "" || chosen.Provider == Name)
	if mine && chosen.Region != "" && !providers.RegionConfigured(c.regions, chosen.Region) {
		return pick{}, fmt.Errorf("render: launch: region %q is not one of the configured %q", chosen.Region, c.regions)
	}
	if mine && chosen.Region != "" {
		q.Regions = []string{chosen.Region}
	}
	if mine && q.GPUModel == "" {
		q.GPUModel, q.GPUCount = chosen.GPUModel, chosen.GPUCount
	}
	capPrice := q.MaxPricePerHour
	q.MaxPricePerHour = 0
	offers, err := c.offers(ctx, q)
	if err != nil {
		return pick{}, err
	}
	if len(offers) == 0 {
		return pick{}, fmt.Errorf("render: launch: no offer matches the workload: %w", providers.ErrNoCapacity)
	}
	o := offers[0]
	if mine {
		if i := slices.IndexFunc(offers, func(x pick) bool { return x.ID == chosen.ID }); i >= 0 {
			o = offers[i]
		}
	}
	if capPrice > 0 && o.PricePerHour > capPrice {
		return pick{}, fmt.Errorf("render: launch: offer %s costs %s/hour, cap %s: %w", o.ID, o.PricePerHour, capPrice, providers.ErrOverPrice)
	}
	return o, nil
}

func (c *Client) jobBody(key string, spec providers.LaunchSpec, o pick) (jobRequest, error) {
	w := spec.Workload
	image, tag := splitImage(w.Image)
	b := jobRequest{
		Task:               "PERSISTENT",
		Title:              key,
		CPUCount:           max(1, ceilDiv64(w.CPU, 1000)),
		MinRAMGB:           max(1, ceilDiv64(w.Memory, 1024)),
		MinStorageGB:       max(1, ceilDiv64(w.Disk, 1024)),
		MaxNodeCount:       1,
		MaxRetryCount:      0,
		MaxTimeoutAssignMS: assignTimeoutMS,
		MaxTimeoutStartMS:  startTimeoutMS,
		Parameters: jobParameters{Type: "docker", Parameters: dockerParams{
			Image: image, Tag: tag, Env: map[string]string{}, Ports: slices.Clone(w.Ports),
		}},
	}
	if b.Parameters.Parameters.Ports == nil {
		b.Parameters.Parameters.Ports = []int64{}
	}
	for _, e := range w.Env {
		b.Parameters.Parameters.Env[e.Name] = e.Value
	}
	for _, e := range spec.SecretEnv {
		// A job's parameters are its owner's (the API key's account).
		b.Parameters.Parameters.Env[e.Name] = e.Value.Reveal()
	}
	if w.Duration > 0 {
		ms := max(w.Duration*1000, minBatchRunMS)
		b.Task, b.MaxTimeoutRunMS = "BATCH", &ms
	}
	if g := w.GPU; g != nil {
		b.GPUCount = max(g.Count, 1)
		if g.MinVRAM > 0 {
			b.MinVRAMGB = ceilDiv64(g.MinVRAM, 1024)
		}
	} else if o.GPUCount > 0 {
		b.GPUCount = o.GPUCount
	}
	if b.GPUCount > 0 {
		// The GPU as the network's registry knows it, never the order's
		// model string: the registry uuid when the offer has one, else the
		// registry name.
		switch {
		case o.gpuRegistryUUID != "":
			b.GPURegistryUUID = o.gpuRegistryUUID
		case o.gpuName != "":
			b.GPUName = o.gpuName
		default:
			return jobRequest{}, fmt.Errorf("render: launch: offer %s names no GPU from the registry (gpu_models[].name or gpu_registry_uuid)", o.ID)
		}
	}
	return b, nil
}

// splitImage splits "registry:5000/repo/name:tag" into name and tag; a
// digest reference keeps the digest in the image and an empty tag, and no
// tag means "latest".
func splitImage(ref string) (image, tag string) {
	if strings.Contains(ref, "@") {
		return ref, ""
	}
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, "latest"
}

func jsonCanonical(v any) ([]byte, error) {
	r, err := httpx.JSON(http.MethodPost, "/", v)
	if err != nil {
		return nil, err
	}
	return CanonicalJSON(r.Body)
}

// existing finds a job titled key.
func (c *Client) existing(ctx context.Context, key string, offer providers.Offer) (providers.Lease, bool, error) {
	for page := 1; page <= c.maxPages; page++ {
		resp, err := c.http.Do(ctx, httpx.Request{
			Path:  "/jobs",
			Query: url.Values{"limit": {strconv.Itoa(jobsPageLimit)}, "page": {strconv.Itoa(page)}},
			Op:    "list jobs",
		})
		if err != nil {
			return providers.Lease{}, false, err
		}
		r, err := parseJobs(resp.Body)
		if err != nil {
			return providers.Lease{}, false, err
		}
		for _, j := range r.Data {
			if j.Title != key {
				continue
			}
			st := stateOf(j.Status)
			if st == "" {
				st = providers.StatePending
			}
			offer.Provider = Name
			return providers.Lease{ID: j.UUID, Provider: Name, Offer: offer, PricePerHour: offer.PricePerHour, State: st}, true, nil
		}
		if len(r.Data) == 0 || int64(page)*jobsPageLimit >= r.Total {
			return providers.Lease{}, false, nil
		}
	}
	c.log.WarnContext(ctx, "render job list longer than the idempotency scan", "pages", c.maxPages)
	return providers.Lease{}, false, nil
}

// stateOf maps a job status; "" for one it does not know.
func stateOf(status string) providers.State {
	switch normStatus(status) {
	case statusPending:
		return providers.StatePending
	case statusAssigned:
		return providers.StateLaunching
	case statusRunning:
		return providers.StateRunning
	case statusCompleted:
		return providers.StateSucceeded
	case statusFailed:
		return providers.StateFailed
	case statusCancelling, statusCancelled:
		return providers.StateTerminated
	}
	return ""
}

// Status reads the job. An unknown uuid is providers.ErrNotFound.
func (c *Client) Status(ctx context.Context, id string) (providers.Status, error) {
	j, err := c.job(ctx, id)
	if err != nil {
		return providers.Status{}, err
	}
	st := stateOf(j.Status)
	if st == "" {
		return providers.Status{}, fmt.Errorf("render: job %s has unknown status %q", id, httpx.Excerpt([]byte(j.Status), 60))
	}
	msg := j.Status
	if j.StatusReason != "" {
		msg += ": " + j.StatusReason
	}
	upd := parseTime(j.UpdatedAt)
	for _, t := range []any{j.CompletedAt, j.StartedAt, j.CreatedAt} {
		if v := parseTime(t); v.After(upd) {
			upd = v
		}
	}
	out := providers.Status{ID: j.UUID, State: st, Message: msg, UpdatedAt: upd}
	if st == providers.StateRunning {
		if out.Endpoints, err = c.endpoints(ctx, j); err != nil {
			return providers.Status{}, err
		}
	}
	return out, nil
}

// endpoints reads the job's runs (GET /v1/job-runs?filter[job_uuid]=) and
// returns the node URLs of the newest running one: "After creating a Job,
// query for its Job Runs to get connection information", each node_url
// {description, hostname, port, protocol} (Render Compute docs
// service-consumers/job-monitoring). A URL described "ssh" is an SSH
// endpoint; one on a port the job asked for reaches that container port
// [I: the docs' example shows SSH on 22, i.e. node ports are the
// container's].
func (c *Client) endpoints(ctx context.Context, j job) ([]providers.Endpoint, error) {
	resp, err := c.http.Do(ctx, httpx.Request{Path: "/job-runs", Query: url.Values{"filter[job_uuid]": {j.UUID}}, Op: "list job runs"})
	if err != nil {
		return nil, err
	}
	runs, err := parseRuns(resp.Body)
	if err != nil {
		return nil, err
	}
	var pick *jobRun
	for i := range runs.Data {
		r := &runs.Data[i]
		if normStatus(r.Status) == statusRunning && (pick == nil || r.StartedAtMS > pick.StartedAtMS) {
			pick = r
		}
	}
	if pick == nil {
		return nil, nil
	}
	var eps []providers.Endpoint
	for _, u := range pick.NodeURLs {
		e := providers.Endpoint{Kind: providers.EndpointTCP, Host: u.Hostname, Port: int(u.Port)}
		switch {
		case strings.EqualFold(u.Description, "ssh"):
			e.Kind, e.ContainerPort, e.URL = providers.EndpointSSH, 22, "ssh://"+net.JoinHostPort(u.Hostname, strconv.FormatInt(u.Port, 10))
		case slices.Contains(j.Parameters.Parameters.Ports, u.Port):
			e.ContainerPort = int(u.Port)
		}
		eps = append(eps, e)
	}
	return eps, nil
}

func (c *Client) job(ctx context.Context, id string) (job, error) {
	if !validID(id) {
		return job{}, fmt.Errorf("render: malformed job id %q: %w", httpx.Excerpt([]byte(id), 80), providers.ErrNotFound)
	}
	resp, err := c.http.Do(ctx, httpx.Request{Path: "/jobs/" + id, Op: "get job"})
	if err != nil {
		return job{}, err
	}
	return parseJob(resp.Body)
}

// Terminate cancels the job. Cancelling one that has ended succeeds without
// a call; an unknown uuid is providers.ErrNotFound.
func (c *Client) Terminate(ctx context.Context, id string) error {
	st, err := c.Status(ctx, id)
	if err != nil {
		return err
	}
	if st.State.Terminal() {
		return nil
	}
	req, err := httpx.JSON(http.MethodPut, "/jobs/"+id+"/cancel", map[string]string{"reason": cancelReason})
	if err != nil {
		return err
	}
	req.Op = "cancel job"
	if _, err = c.http.Do(ctx, req); err == nil {
		c.log.InfoContext(ctx, "render job cancelled", "render_job", id)
		return nil
	}
	if st, serr := c.Status(ctx, id); serr == nil && st.State.Terminal() {
		return nil
	}
	return fmt.Errorf("render: terminate %s: %w", id, err)
}

var _ providers.NoLogs = (*Client)(nil)

// NoLogsReason says why the adapter reads no logs (providers.NoLogs).
func (c *Client) NoLogsReason() string {
	return "Render's job-run records are said to carry logs (GET /v1/job-runs/{uuid}), which no official source corroborates; this adapter does not read them"
}

// nameOr is name, or Name when it is empty.
func nameOr(name string) string {
	if name == "" {
		return Name
	}
	return name
}
