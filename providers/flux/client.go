package flux

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/flux/internal/btcmsg"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/treaty"
)

// Name is the adapter's name in offers, leases and errors.
const Name = "flux"

// DefaultBaseURL is Flux's API load balancer in front of the FluxOS nodes.
const DefaultBaseURL = "https://api.runonflux.io"

// CredentialEnv is the conventional environment variable for the Flux ID key.
const CredentialEnv = "FLUX_ID_PRIVATE_KEY"

const (
	// BlockTime is the Flux block interval after the PON fork.
	BlockTime     = 30 * time.Second
	blocksPerHour = int64(time.Hour / BlockTime)
	// defaultExpireBlocks is one network month, the FluxOS default term.
	defaultExpireBlocks = 88_000
	// DefaultContainerData is the component's data mount when Config names none.
	DefaultContainerData = "/data"
	specVersion          = 8
	messageVersion       = 1
	typeRegister         = "fluxappregister"
	typeUpdate           = "fluxappupdate"
	// cancelExpire is the one-block term FluxOS accepts in an update "for
	// cancellation purposes".
	cancelExpire  = 1
	minPublicPort = 31000
	publicPorts   = 9000
)

// openEndedTerms are the prepaid terms offered for a workload without a
// duration: one, three, six and twelve network months. Longer terms earn
// FluxOS's term discounts, so their hourly price is lower.
var openEndedTerms = []int64{88_000, 264_000, 528_000, 1_056_000}

// Quote is what the payment hook must pay: the FLUX amount (or its USD
// value) to the deployment address, with the message hash as OP_RETURN data.
type Quote struct {
	// Kind is "register" (Launch) or "update" (Terminate's expire=1 update).
	Kind    string
	AppName string
	// Hash is the 64-hex message hash to put in the payment's OP_RETURN.
	Hash string
	// Address is the network's deployment address (deploymentinformation).
	Address string
	// USD is the Flux Cloud quote for the whole term, in micro-USD.
	USD providers.Money
	// FLUX is the quote in FLUX, as the network wrote it (already with the
	// pay-in-FLUX discount); FLUXDiscount is that discount in percent.
	FLUX, FLUXDiscount string
	// MinimumFLUX is the least consensus accepts for the message (the
	// chain's price table at the next blocks), "" when the table did not
	// say; PayFLUX is what to pay: max(FLUX, MinimumFLUX). Paying less than
	// the minimum loses the payment.
	MinimumFLUX, PayFLUX string
	ExpireBlocks         int64
	Instances            int64
	// Resumed is set when an earlier attempt (a crashed process, a lost
	// answer) already registered this exact message: the hook must check
	// whether it has paid Hash before and, if so, return that txid rather
	// than pay again. Paying one hash twice loses the second payment.
	Resumed bool
}

// PayFunc pays a Quote on chain and returns the transaction id. It must be
// idempotent per Quote.Hash (see Quote.Resumed).
type PayFunc func(ctx context.Context, q Quote) (txid string, err error)

// Config configures a Client. Credential is required; every other zero value
// is replaced by the default its comment names.
type Config struct {
	// Name is the provider's name in routes, offers, reputation and
	// metrics: the [[providers]] entry's name. Default Name ("flux").
	Name string
	// Credential is the Flux ID's private key in WIF. Required. It owns the
	// apps and signs zelidauth sessions and app messages. Load it with
	// providers.LoadCredential(CredentialEnv, "") or from a file. A value
	// that is not a valid WIF key is reported (providers.ErrAuth) by every
	// call, not by New, so a misconfigured node still starts.
	Credential providers.Credential
	// Pay makes Launch and Terminate possible: both publish a message the
	// network only acts on once it is paid for on chain. Nil makes them
	// return providers.ErrNotSupported with a message saying so.
	Pay PayFunc
	// BaseURL of a FluxOS API. Default DefaultBaseURL.
	BaseURL string
	// Regions limits placement to these regions (ISO country codes,
	// continent codes or "ac..." rules); nil = anywhere.
	Regions []string
	// HTTP tunes timeouts, retries and body limits; its zero value works.
	// HTTP.Logger defaults to Logger.
	HTTP httpx.Config
	// Clock stamps login phrases and messages. Default the system clock.
	Clock providers.Clock
	// Rand fills login phrases. Default crypto/rand.
	Rand io.Reader
	// Instances per app. Default the network's minimumInstances.
	Instances int64
	// Geolocation rules added to every app ("acEU", "a!cNA_US"). Default none.
	Geolocation []string
	// ContainerData is the component's data mount. Default DefaultContainerData.
	// A launch with a persistent volume mounts it at its own path with
	// this mount's sync flags ("r:/data" replicates through Syncthing).
	ContainerData string
	// MaxNodeProbes bounds the FluxOS nodes probed when the load balancer
	// cannot take a message. Default DefaultMaxNodeProbes.
	MaxNodeProbes int
	// HealthyNodes is how many healthy nodes to find and try then. Default
	// DefaultHealthyNodes.
	HealthyNodes int
	// AllowLocalNodes accepts node and instance addresses that are not
	// public (loopback, private ranges): testnets only. Default false.
	AllowLocalNodes bool
	// Logger receives debug lines; nil discards them.
	Logger *slog.Logger
}

// Client is the Flux adapter. It is safe for concurrent use.
type Client struct {
	name          string // Config.Name
	http          *httpx.Client
	httpCfg       httpx.Config
	baseURL       string
	allowLocal    bool
	maxProbes     int
	healthyWant   int
	log           *slog.Logger
	key           *btcmsg.Key
	keyErr        error
	pay           PayFunc
	clock         providers.Clock
	rand          io.Reader
	instances     int64
	regions       []string
	geolocation   []string
	containerData string
}

var _ providers.Provider = (*Client)(nil)

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Credential.IsZero() {
		return nil, errors.New("flux: Config.Credential is required (set " + CredentialEnv + " or a credential file)")
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
	if cfg.Instances < 0 {
		return nil, errors.New("flux: negative Instances")
	}
	if cfg.ContainerData == "" {
		cfg.ContainerData = DefaultContainerData
	}
	if len(cfg.ContainerData) < 2 || len(cfg.ContainerData) > 200 {
		return nil, errors.New("flux: ContainerData must be 2-200 characters")
	}
	if cfg.MaxNodeProbes < 0 || cfg.HealthyNodes < 0 {
		return nil, errors.New("flux: negative MaxNodeProbes or HealthyNodes")
	}
	if cfg.MaxNodeProbes == 0 {
		cfg.MaxNodeProbes = DefaultMaxNodeProbes
	}
	if cfg.HealthyNodes == 0 {
		cfg.HealthyNodes = DefaultHealthyNodes
	}
	for _, g := range cfg.Geolocation {
		if !geoRule.MatchString(g) {
			return nil, fmt.Errorf("flux: geolocation rule %q is neither ac<CONT>[_<CC>[_<region>]] nor its a!c negation", g)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTP
	if hc.Logger == nil {
		hc.Logger = log
	}
	h, err := httpx.New(hc, httpx.API{Name: Name, BaseURL: cfg.BaseURL})
	if err != nil {
		return nil, err
	}
	c := &Client{
		name: nameOr(cfg.Name), http: h, httpCfg: hc, baseURL: cfg.BaseURL, allowLocal: cfg.AllowLocalNodes, maxProbes: cfg.MaxNodeProbes, healthyWant: cfg.HealthyNodes,
		log: log, pay: cfg.Pay, clock: cfg.Clock, rand: cfg.Rand,
		instances: cfg.Instances, regions: slices.Clone(cfg.Regions), geolocation: slices.Clone(cfg.Geolocation), containerData: cfg.ContainerData,
	}
	c.key, err = btcmsg.ParseWIF(cfg.Credential.Reveal())
	if err != nil {
		c.keyErr = fmt.Errorf("flux: owner key (%s) is not a WIF private key: %w", cfg.Credential.Source(), providers.ErrAuth)
		log.Warn("flux owner key is not a WIF private key; every call will fail", "source", cfg.Credential.Source())
	}
	return c, nil
}

var geoRule = regexp.MustCompile(`^a!?c[A-Z]{2}(_[A-Z]{2}(_[^_]{1,64})?)?$`)

// Name returns Config.Name, by default "flux".
func (c *Client) Name() string { return c.name }

// Capabilities: live price quotes (no GPUs: FluxOS app specifications have
// no GPU field); Launch and Terminate only with a payment hook.
func (c *Client) Capabilities() providers.Capabilities {
	can := c.pay != nil
	return providers.Capabilities{Offers: true, Launch: can, Terminate: can, Idempotent: can, Regions: slices.Clone(c.regions),
		Features: []providers.Feature{providers.FeatureStorage, providers.FeaturePorts, providers.FeatureEndpoints}}
}

// Owner returns the Flux ID (zelid) the adapter acts as.
func (c *Client) Owner() (string, error) {
	k, err := c.identity()
	if err != nil {
		return "", err
	}
	return k.Address(), nil
}

func (c *Client) identity() (*btcmsg.Key, error) {
	if c.keyErr != nil {
		return nil, c.keyErr
	}
	return c.key, nil
}

// zelidauth returns a self-issued FluxOS session: a login phrase of the
// current Unix milliseconds and 32 random hex characters (45 characters;
// FluxOS accepts 40-70, at most 16 h old, 2 h for app-owner actions), signed
// by the Flux ID. Any node accepts it without a login round trip.
func (c *Client) zelidauth(k *btcmsg.Key) (string, error) {
	var r [16]byte
	if _, err := io.ReadFull(c.rand, r[:]); err != nil {
		return "", fmt.Errorf("flux: login phrase: %w", err)
	}
	phrase := strconv.FormatInt(c.clock.Now().UnixMilli(), 10) + hex.EncodeToString(r[:])
	b, err := json.Marshal(struct {
		Zelid       string `json:"zelid"`
		Signature   string `json:"signature"`
		LoginPhrase string `json:"loginPhrase"`
	}{k.Address(), k.Sign([]byte(phrase)), phrase})
	return string(b), err
}

func (c *Client) get(ctx context.Context, op, path string, q url.Values) (json.RawMessage, error) {
	resp, err := c.http.Do(ctx, httpx.Request{Path: path, Query: q, Op: op})
	if err != nil {
		return nil, err
	}
	return unwrapEnvelope(op, resp.Body)
}

// post sends body as text/plain to the node h: FluxOS's handlers read the
// raw stream, and with application/json the request hangs.
func (c *Client) post(ctx context.Context, h *httpx.Client, op, path string, body []byte, auth string, retry httpx.Retry) (json.RawMessage, error) {
	r := httpx.Request{Method: http.MethodPost, Path: path, Body: body, ContentType: "text/plain", Op: op, Retry: retry}
	if auth != "" {
		r.Header = http.Header{"Zelidauth": {auth}}
	}
	resp, err := h.Do(ctx, r)
	if err != nil {
		return nil, err
	}
	return unwrapEnvelope(op, resp.Body)
}

func (c *Client) deploymentInfo(ctx context.Context) (deploymentInfo, error) {
	data, err := c.get(ctx, "deployment information", "/apps/deploymentinformation", nil)
	if err != nil {
		return deploymentInfo{}, err
	}
	return parseDeploymentInfo(data)
}

func (c *Client) instancesFor(info deploymentInfo) int64 {
	n := c.instances
	if n == 0 {
		n = max(info.MinimumInstances, 1)
	}
	if info.MaximumInstances > 0 {
		n = min(n, info.MaximumInstances)
	}
	return n
}

// blocksFor is the prepaid term covering d: whole blocks, at least the
// network's minimum allowance, rounded up to its allowance interval.
func blocksFor(d time.Duration, info deploymentInfo) (int64, error) {
	if d <= 0 {
		return defaultExpireBlocks, nil
	}
	blocks := int64((d + BlockTime - 1) / BlockTime)
	blocks = max(blocks, info.MinBlocksAllowance)
	if iv := info.BlocksAllowanceInterval; iv > 1 {
		blocks = (blocks + iv - 1) / iv * iv
	}
	if info.MaxBlocksAllowance > 0 && blocks > info.MaxBlocksAllowance {
		return 0, fmt.Errorf("flux: duration %s needs %d blocks, more than the network's maximum term of %d: %w", d, blocks, info.MaxBlocksAllowance, providers.ErrNoCapacity)
	}
	return blocks, nil
}

func termOf(blocks int64) string {
	d := time.Duration(blocks) * BlockTime
	if days := d / (24 * time.Hour); days > 0 {
		return fmt.Sprintf("~%dd%dh", days, (d%(24*time.Hour))/time.Hour)
	}
	return "~" + d.String()
}

// resources is a workload's size in FluxOS units.
type resources struct {
	cpu float64 // cores, 0.1 steps
	ram int64   // MB, 100 MB steps
	hdd int64   // GB
}

func resourcesOf(cpuMillis, memMiB, diskMiB int64) resources {
	tenths := max(1, (cpuMillis+99)/100)
	mb := int64(math.Ceil(float64(memMiB) * 1.048576))
	gb := int64(math.Ceil(float64(diskMiB) * 1.048576 / 1000))
	return resources{
		cpu: float64(tenths) / 10,
		ram: max(100, (mb+99)/100*100),
		hdd: max(1, gb),
	}
}

// appSpec is a v8 application specification in FluxOS's key order
// (specificationFormatter); FluxOS re-formats what it receives anyway, and
// the owner signs the node's formatted copy.
type appSpec struct {
	Version     int64       `json:"version"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Owner       string      `json:"owner"`
	Compose     []component `json:"compose"`
	Instances   int64       `json:"instances"`
	Contacts    []string    `json:"contacts"`
	Geolocation []string    `json:"geolocation"`
	Expire      int64       `json:"expire"`
	Nodes       []string    `json:"nodes"`
	Staticip    bool        `json:"staticip"`
	Enterprise  string      `json:"enterprise"`
}

type component struct {
	Name                  string   `json:"name"`
	Description           string   `json:"description"`
	Repotag               string   `json:"repotag"`
	Ports                 []int64  `json:"ports"`
	Domains               []string `json:"domains"`
	EnvironmentParameters []string `json:"environmentParameters"`
	Commands              []string `json:"commands"`
	ContainerPorts        []int64  `json:"containerPorts"`
	ContainerData         string   `json:"containerData"`
	CPU                   float64  `json:"cpu"`
	RAM                   int64    `json:"ram"`
	HDD                   int64    `json:"hdd"`
	Repoauth              string   `json:"repoauth"`
}

func (c *Client) buildSpec(owner, name string, w treaty.Workload, instances, expire int64, geo []string, st *providers.Storage) appSpec {
	disk := w.Disk
	if st != nil {
		// The component's hdd is its app volume (FluxOS allocates it with
		// fallocate -l <hdd>G: appLifecycle/advancedWorkflows.js
		// createAppVolume), mounted at the primary containerData path.
		disk = max(disk, st.SizeMiB)
	}
	r := resourcesOf(w.CPU, w.Memory, disk)
	comp := component{
		Name:                  componentName(name),
		Description:           "Aurora workload " + name,
		Repotag:               withTag(w.Image),
		Ports:                 []int64{},
		Domains:               []string{},
		EnvironmentParameters: []string{},
		Commands:              slices.Clone(w.Cmd),
		ContainerPorts:        []int64{},
		ContainerData:         c.containerDataFor(st),
		CPU:                   r.cpu,
		RAM:                   r.ram,
		HDD:                   r.hdd,
	}
	if comp.Commands == nil {
		comp.Commands = []string{}
	}
	for _, e := range w.Env {
		comp.EnvironmentParameters = append(comp.EnvironmentParameters, e.Name+"="+e.Value)
	}
	used := map[int64]bool{}
	for i, p := range w.Ports {
		comp.Ports = append(comp.Ports, publicPort(name, i, used))
		comp.ContainerPorts = append(comp.ContainerPorts, p)
		comp.Domains = append(comp.Domains, "")
	}
	return appSpec{
		Version: specVersion, Name: name, Description: "Aurora workload " + name, Owner: owner,
		Compose: []component{comp}, Instances: instances, Contacts: []string{},
		Geolocation: append(slices.Clone(c.geolocation), geo...), Expire: expire, Nodes: []string{},
	}
}

// componentName is the compose component's name for an app: the app name
// without its hyphens. FluxOS allows internal hyphens in v8 app names but
// only letters and digits in component names (RunOnFlux/flux @ 845aa9b
// ZelBack/src/services/utils/appConstants.js APP_NAME_REGEX_LEGACY, applied
// to components in appRequirements/appValidator.js).
func componentName(app string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, app)
}

// publicPort derives a stable public port in 31000-39999 from the app name,
// so a relaunch asks for the same ports.
func publicPort(name string, i int, used map[int64]bool) int64 {
	for j := 0; ; j++ {
		h := fnv.New32a()
		fmt.Fprintf(h, "%s:%d:%d", name, i, j)
		p := minPublicPort + int64(h.Sum32()%publicPorts)
		if !used[p] {
			used[p] = true
			return p
		}
	}
}

// withTag makes the image reference's tag explicit, as FluxOS requires.
func withTag(ref string) string {
	if strings.Contains(ref, "@") {
		return ref
	}
	if strings.LastIndex(ref, ":") > strings.LastIndex(ref, "/") {
		return ref
	}
	return ref + ":latest"
}

// appName is the Flux app name for a launch key: the key itself
// ("aur-" and 16 base32 characters) fits FluxOS's name rules.
func appName(spec providers.LaunchSpec) (string, error) {
	key := spec.IdempotencyKey
	if key == "" {
		if spec.JobID == "" {
			return "", errors.New("flux: launch: JobID or IdempotencyKey is required")
		}
		key = providers.IdempotencyKey(spec.JobID)
	}
	if !validName(key) {
		return "", fmt.Errorf("flux: launch: idempotency key %q is not a valid Flux app name", key)
	}
	return key, nil
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

func validName(s string) bool {
	low := strings.ToLower(s)
	return nameRE.MatchString(s) && !strings.HasPrefix(low, "zel") && !strings.HasPrefix(low, "flux") && low != "watchtower"
}

func (c *Client) quote(ctx context.Context, spec []byte) (price, error) {
	data, err := c.post(ctx, c.http, "price", "/apps/calculatefiatandfluxprice", spec, "", httpx.RetryIdempotent)
	if err != nil {
		return price{}, err
	}
	return parsePrice(data)
}

// Offers quotes the workload described by q on Flux Cloud. Flux has no
// offer list and no GPUs: a query for a GPU gets no offers. A query with a
// duration gets one offer, the shortest prepaid term that covers it; an
// open-ended one gets a one-, three-, six- and twelve-month term, cheaper
// per hour as the term grows. With regions, each region that names a Flux
// place (ISO country code, continent code, or a Flux "ac..." rule: see
// regionRule) gets its own offers, which Launch turns into a geolocation
// rule; without regions there are offers for anywhere (Region "") and for
// each inhabited continent (Region "acEU", "acNA", ...: rule form, since
// "NA" is also Namibia's code). FluxOS publishes no table of where its nodes
// are (geo.go), so no region is checked for nodes. Offer.ID is
// "term-<blocks>".
func (c *Client) Offers(ctx context.Context, q providers.Query) ([]providers.Offer, error) {
	if q.GPUModel != "" || q.GPUCount > 0 {
		return nil, nil
	}
	var ok bool
	if q.Regions, ok = providers.SearchRegions(c.regions, q.Regions); !ok {
		return nil, nil
	}
	k, err := c.identity()
	if err != nil {
		return nil, err
	}
	info, err := c.deploymentInfo(ctx)
	if err != nil {
		return nil, err
	}
	// Anywhere, and each inhabited continent.
	regions := []string{"", "acAF", "acAS", "acEU", "acNA", "acOC", "acSA"}
	if len(q.Regions) > 0 {
		if regions, _ = c.resolveRegions(q.Regions); len(regions) == 0 {
			return nil, nil
		}
	}
	terms := openEndedTerms
	if q.Duration > 0 {
		b, err := blocksFor(q.Duration, info)
		if err != nil {
			return nil, err
		}
		terms = []int64{b}
	}
	instances := c.instancesFor(info)
	w := treaty.Workload{Image: "aurora/quote:1", CPU: q.CPUMillis, Memory: q.MemoryMiB, Disk: q.DiskMiB}
	sum := sha256.Sum256([]byte(k.Address()))
	quoteName := "auroraquote" + hex.EncodeToString(sum[:6])
	var offers []providers.Offer
	overPrice := false
	for _, blocks := range terms {
		if info.MaxBlocksAllowance > 0 && blocks > info.MaxBlocksAllowance {
			continue
		}
		body, err := json.Marshal(c.buildSpec(k.Address(), quoteName, w, instances, blocks, nil, nil))
		if err != nil {
			return nil, err
		}
		p, err := c.quote(ctx, body)
		if err != nil {
			return nil, err
		}
		usd, err := microUSD(p.USD.String())
		if err != nil {
			return nil, err
		}
		ph := perHourOfTerm(usd, blocks)
		if q.MaxPricePerHour > 0 && ph > q.MaxPricePerHour {
			overPrice = true
			continue
		}
		for _, r := range regions {
			offers = append(offers, providers.Offer{
				Provider:     Name,
				ID:           fmt.Sprintf("term-%d", blocks),
				Region:       r,
				PricePerHour: ph,
				Raw: providers.RawPrice{Amount: p.USD.String(), Unit: fmt.Sprintf(
					"usd per %d-block prepaid term (%s at 30 s blocks) for %d instances", blocks, termOf(blocks), instances)},
			})
		}
	}
	if len(offers) == 0 && overPrice {
		return nil, fmt.Errorf("flux: every term is above %s/hour: %w", q.MaxPricePerHour, providers.ErrOverPrice)
	}
	slices.SortStableFunc(offers, func(a, b providers.Offer) int { return cmp.Compare(a.PricePerHour, b.PricePerHour) })
	return offers, nil
}

// resolveRegions keeps the regions that name a Flux place (see regionRule)
// and returns them with their geolocation rules. FluxOS has no table of
// where its nodes are (geo.go), so nothing is asked of the network.
func (c *Client) resolveRegions(regions []string) (kept, rules []string) {
	for _, r := range regions {
		if rule, ok := regionRule(r); ok {
			kept, rules = append(kept, r), append(rules, rule)
		}
	}
	return kept, rules
}

var termID = regexp.MustCompile(`^term-([1-9][0-9]{0,7})$`)

// unsupported gives the reason for each workload feature the adapter lacks,
// from RunOnFlux/flux@845aa9b ZelBack/src/services/appRequirements/
// appValidator.js and the official client RunOnFlux/flux-cloud-mcp.
var unsupported = map[providers.Feature]string{
	providers.FeatureSSH: "FluxOS app specifications have no SSH key field (appValidator.js v8 component keys)",
	// appValidator.js L793-796: a v8 repoauth on a non-enterprise app is
	// refused. Enterprise specs carry compose encrypted to an RSA key only
	// ArcaneOS nodes hold (enterpriseHelper.js; flux-cloud-mcp
	// src/enterprise.ts), registered through Arcane nodes, not the
	// balancer; this adapter writes public specs only.
	providers.FeatureRegistryAuth: "FluxOS refuses repoauth outside enterprise apps (\"Private repositories are only allowed for Enterprise Applications\"), and this adapter writes public app specifications",
	// A public spec's environmentParameters are served to anyone by
	// GET /apps/appspecifications/{name} and kept in every node's
	// permanent messages; only enterprise specs hide them.
	providers.FeatureSecretEnv: "FluxOS app specifications are public (GET /apps/appspecifications serves environmentParameters to anyone); only enterprise specs, which this adapter does not write, hide them",
}

// Launch registers the workload as a Flux app named after the launch key
// and pays for it through Config.Pay. Without Pay it returns
// providers.ErrNotSupported. An app of that name already published by this
// Flux ID is returned as is; a registration message of that name still
// waiting for payment (an earlier attempt that crashed or lost its answer)
// is paid (Quote.Resumed) instead of registering a second one.
func (c *Client) Launch(ctx context.Context, spec providers.LaunchSpec) (providers.Lease, error) {
	if err := providers.CheckFeatures(Name, c.Capabilities(), spec, unsupported); err != nil {
		return providers.Lease{}, err
	}
	if c.pay == nil {
		return providers.Lease{}, fmt.Errorf("flux: launch needs an on-chain FLUX payment of the registration message "+
			"(to the deployment address, message hash as OP_RETURN) and no payment hook is configured (flux.Config.Pay): %w",
			providers.ErrNotSupported)
	}
	if spec.Workload.GPU != nil {
		return providers.Lease{}, fmt.Errorf("flux: launch: FluxOS app specifications have no GPU field: %w", providers.ErrNotSupported)
	}
	if spec.Workload.Image == "" {
		return providers.Lease{}, errors.New("flux: launch: workload has no image")
	}
	name, err := appName(spec)
	if err != nil {
		return providers.Lease{}, err
	}
	k, err := c.identity()
	if err != nil {
		return providers.Lease{}, err
	}
	offer := spec.Offer
	offer.Provider = Name
	if l, ok, err := c.existingApp(ctx, k, name, offer); err != nil || ok {
		return l, err
	}
	info, err := c.deploymentInfo(ctx)
	if err != nil {
		return providers.Lease{}, err
	}
	if pending, ok, err := c.pendingMessage(ctx, k, name, typeRegister); err != nil {
		return providers.Lease{}, err
	} else if ok {
		return c.resume(ctx, spec, name, pending, info, offer)
	}

	blocks := int64(0)
	if m := termID.FindStringSubmatch(spec.Offer.ID); m != nil && (spec.Offer.Provider == "" || spec.Offer.Provider == Name) {
		blocks, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if blocks == 0 {
		if blocks, err = blocksFor(time.Duration(spec.Workload.Duration)*time.Second, info); err != nil {
			return providers.Lease{}, err
		}
	}
	var geo []string
	want := c.regions
	if spec.Offer.Region != "" {
		if !providers.RegionConfigured(c.regions, spec.Offer.Region) {
			return providers.Lease{}, fmt.Errorf("flux: launch: region %q is not one of the configured %q", spec.Offer.Region, c.regions)
		}
		want = []string{spec.Offer.Region}
	}
	if len(want) > 0 {
		_, rules := c.resolveRegions(want)
		if len(rules) == 0 {
			return providers.Lease{}, fmt.Errorf("flux: launch: regions %q name no Flux place: %w", want, providers.ErrNoCapacity)
		}
		geo = rules
	}
	body, err := json.Marshal(c.buildSpec(k.Address(), name, spec.Workload, c.instancesFor(info), blocks, geo, spec.Storage))
	if err != nil {
		return providers.Lease{}, err
	}
	var (
		p  price
		q  Quote
		ph providers.Money
	)
	formatted, hash, err := c.publish(ctx, name, typeRegister, "/apps/verifyappregistrationspecifications", "/apps/appregister", body, func(formatted json.RawMessage) error {
		var err error
		if p, err = c.quote(ctx, formatted); err != nil {
			return err
		}
		if q, ph, err = quoteOf(typeRegister, name, info, p, formatted); err != nil {
			return err
		}
		if spec.MaxPricePerHour > 0 && ph > spec.MaxPricePerHour {
			return fmt.Errorf("flux: launch: %s for %d blocks is %s/hour, cap %s: %w", p.USD, q.ExpireBlocks, ph, spec.MaxPricePerHour, providers.ErrOverPrice)
		}
		return nil
	})
	if err != nil {
		return providers.Lease{}, err
	}
	q.Hash = hash
	if err := c.payAmount(ctx, &q, formatted, info); err != nil {
		return providers.Lease{}, fmt.Errorf("flux: launch %s: %w (message %s stays payable for 1 h)", name, err, hash)
	}
	offer.ID, offer.PricePerHour = fmt.Sprintf("term-%d", q.ExpireBlocks), ph
	offer.Raw = providers.RawPrice{Amount: p.USD.String(), Unit: fmt.Sprintf("usd per %d-block prepaid term (%s at 30 s blocks) for %d instances", q.ExpireBlocks, termOf(q.ExpireBlocks), q.Instances)}
	txid, err := c.pay(ctx, q)
	if err != nil {
		return providers.Lease{}, fmt.Errorf("flux: launch %s: payment hook (message %s stays payable for 1 h): %w", name, hash, err)
	}
	c.log.InfoContext(ctx, "flux app registered and paid", "job", spec.JobID, "app", name, "hash", hash, "txid", txid,
		"expire_blocks", q.ExpireBlocks, "usd", p.USD.String())
	return providers.Lease{ID: name, Provider: Name, Offer: offer, PricePerHour: ph, State: providers.StatePending}, nil
}

// quoteOf builds the payment quote and the hourly price of a formatted spec.
func quoteOf(kind, name string, info deploymentInfo, p price, formatted json.RawMessage) (Quote, providers.Money, error) {
	var s publishedSpec
	if err := json.Unmarshal(formatted, &s); err != nil || s.Expire <= 0 {
		return Quote{}, 0, fmt.Errorf("flux: formatted specification without expire: %s", httpx.Excerpt(formatted, 120))
	}
	usd, err := microUSD(p.USD.String())
	if err != nil {
		return Quote{}, 0, err
	}
	k := "register"
	if kind == typeUpdate {
		k = "update"
	}
	q := Quote{Kind: k, AppName: name, Address: info.Address, USD: usd, FLUX: p.FLUX.String(),
		FLUXDiscount: p.FLUXDiscount.String(), ExpireBlocks: s.Expire, Instances: s.Instances}
	return q, perHourOfTerm(usd, s.Expire), nil
}

// submit signs and sends an app message and returns its hash. If the answer
// is lost (transport error, 5xx) it looks for the message among the
// temporary ones before giving up.
func (c *Client) submit(ctx context.Context, h *httpx.Client, k *btcmsg.Key, kind, path, name string, formatted json.RawMessage) (string, error) {
	canon, err := jsStringify(formatted)
	if err != nil {
		return "", err
	}
	ts := c.clock.Now().UnixMilli()
	sig := k.Sign([]byte(kind + strconv.Itoa(messageVersion) + string(canon) + strconv.FormatInt(ts, 10)))
	body, err := json.Marshal(struct {
		Type             string          `json:"type"`
		Version          int             `json:"version"`
		AppSpecification json.RawMessage `json:"appSpecification"`
		Timestamp        int64           `json:"timestamp"`
		Signature        string          `json:"signature"`
	}{kind, messageVersion, json.RawMessage(canon), ts, sig})
	if err != nil {
		return "", err
	}
	auth, err := c.zelidauth(k)
	if err != nil {
		return "", err
	}
	data, err := c.post(ctx, h, kind, path, body, auth, httpx.RetryByMethod)
	if err != nil {
		var fe *APIError
		if ctx.Err() == nil && !errors.As(err, &fe) && !errors.Is(err, providers.ErrAuth) {
			if m, ok, ferr := c.pendingMessage(ctx, k, name, kind); ferr == nil && ok && m.Timestamp == ts {
				c.log.InfoContext(ctx, "flux message answer lost; found it among temporary messages", "app", name, "hash", m.Hash)
				return m.Hash, nil
			}
		}
		return "", err
	}
	return parseHashData(data)
}

// resume pays a registration message an earlier attempt left unpaid (or
// paid without the network having published it yet).
func (c *Client) resume(ctx context.Context, spec providers.LaunchSpec, name string, m message, info deploymentInfo, offer providers.Offer) (providers.Lease, error) {
	p, err := c.quote(ctx, m.AppSpecifications)
	if err != nil {
		return providers.Lease{}, err
	}
	q, ph, err := quoteOf(typeRegister, name, info, p, m.AppSpecifications)
	if err != nil {
		return providers.Lease{}, err
	}
	if spec.MaxPricePerHour > 0 && ph > spec.MaxPricePerHour {
		return providers.Lease{}, fmt.Errorf("flux: launch: pending message %s now costs %s/hour, cap %s: %w", m.Hash, ph, spec.MaxPricePerHour, providers.ErrOverPrice)
	}
	q.Hash, q.Resumed = m.Hash, true
	if err := c.payAmount(ctx, &q, m.AppSpecifications, info); err != nil {
		return providers.Lease{}, fmt.Errorf("flux: launch %s: %w", name, err)
	}
	txid, err := c.pay(ctx, q)
	if err != nil {
		return providers.Lease{}, fmt.Errorf("flux: launch %s: payment hook (resumed message %s): %w", name, m.Hash, err)
	}
	c.log.InfoContext(ctx, "flux registration resumed", "job", spec.JobID, "app", name, "hash", m.Hash, "txid", txid)
	offer.ID, offer.PricePerHour = fmt.Sprintf("term-%d", q.ExpireBlocks), ph
	return providers.Lease{ID: name, Provider: Name, Offer: offer, PricePerHour: ph, State: providers.StatePending}, nil
}

// existingApp returns the published app named name if this Flux ID owns it.
func (c *Client) existingApp(ctx context.Context, k *btcmsg.Key, name string, offer providers.Offer) (providers.Lease, bool, error) {
	s, _, ok, err := c.published(ctx, name)
	if err != nil || !ok {
		return providers.Lease{}, false, err
	}
	if s.Owner != k.Address() {
		return providers.Lease{}, false, fmt.Errorf("flux: app name %s is owned by %s, not by this Flux ID", name, s.Owner)
	}
	st, err := c.Status(ctx, name)
	if err != nil {
		return providers.Lease{}, false, err
	}
	c.log.InfoContext(ctx, "flux app exists for this launch key", "app", name, "state", st.State)
	return providers.Lease{ID: name, Provider: Name, Offer: offer, PricePerHour: offer.PricePerHour, State: st.State}, true, nil
}

// published reads the global specification of name; ok is false when the
// network does not know it (never registered, or expired and pruned).
func (c *Client) published(ctx context.Context, name string) (publishedSpec, json.RawMessage, bool, error) {
	data, err := c.get(ctx, "app specification", "/apps/appspecifications/"+name, nil)
	if errors.Is(err, providers.ErrNotFound) {
		return publishedSpec{}, nil, false, nil
	}
	if err != nil {
		return publishedSpec{}, nil, false, err
	}
	s, err := parsePublished(data)
	if err != nil {
		return publishedSpec{}, nil, false, err
	}
	if !strings.EqualFold(s.Name, name) {
		return publishedSpec{}, nil, false, fmt.Errorf("flux: asked for app %s, got %s", name, httpx.Excerpt([]byte(s.Name), 64))
	}
	return s, data, true, nil
}

// pendingMessage finds this owner's newest temporary message of kind for name.
func (c *Client) pendingMessage(ctx context.Context, k *btcmsg.Key, name, kind string) (message, bool, error) {
	data, err := c.get(ctx, "temporary messages", "/apps/temporarymessages", nil)
	if err != nil {
		return message{}, false, err
	}
	ms, err := parseMessages(data)
	if err != nil {
		return message{}, false, err
	}
	var found message
	ok := false
	for _, m := range ms {
		legacy := map[string]string{typeRegister: "zelappregister", typeUpdate: "zelappupdate"}[kind]
		if (m.Type == kind || m.Type == legacy) && strings.EqualFold(m.spec.Name, name) && m.spec.Owner == k.Address() &&
			(!ok || m.Timestamp > found.Timestamp) {
			found, ok = m, true
		}
	}
	return found, ok, nil
}

func (c *Client) height(ctx context.Context) (int64, error) {
	data, err := c.get(ctx, "block count", "/daemon/getblockcount", nil)
	if err != nil {
		return 0, err
	}
	return parseHeight(data)
}

// Status derives the app's state: a registration still in the temporary
// message store is pending; a published app with no running instance is
// launching, with one or more running; one past its expiry block, or no
// longer published but on record in the permanent messages, is terminated.
// A name the network has no record of is providers.ErrNotFound, as is an
// app owned by another Flux ID.
func (c *Client) Status(ctx context.Context, id string) (providers.Status, error) {
	if !validName(id) {
		return providers.Status{}, fmt.Errorf("flux: malformed app name %q: %w", httpx.Excerpt([]byte(id), 80), providers.ErrNotFound)
	}
	k, err := c.identity()
	if err != nil {
		return providers.Status{}, err
	}
	s, raw, ok, err := c.published(ctx, id)
	if err != nil {
		return providers.Status{}, err
	}
	now := c.clock.Now()
	if ok {
		if s.Owner != k.Address() {
			return providers.Status{}, fmt.Errorf("flux: app %s belongs to another Flux ID: %w", id, providers.ErrNotFound)
		}
		h, err := c.height(ctx)
		if err != nil {
			return providers.Status{}, err
		}
		end := s.Height + s.Expire
		if h >= end {
			return providers.Status{ID: id, State: providers.StateTerminated, Message: fmt.Sprintf("expired at block %d (now %d)", end, h), UpdatedAt: now}, nil
		}
		data, err := c.get(ctx, "app locations", "/apps/location/"+id, nil)
		if err != nil {
			return providers.Status{}, err
		}
		locs, err := parseLocations(data)
		if err != nil {
			return providers.Status{}, err
		}
		msg := fmt.Sprintf("%d/%d instances running; term ends at block %d (now %d)", len(locs), s.Instances, end, h)
		if len(locs) == 0 {
			return providers.Status{ID: id, State: providers.StateLaunching, Message: msg, UpdatedAt: now}, nil
		}
		return providers.Status{ID: id, State: providers.StateRunning, Message: msg, UpdatedAt: now, Endpoints: endpoints(locs, raw, c.allowLocal)}, nil
	}
	data, err := c.get(ctx, "permanent messages", "/apps/permanentmessages", url.Values{"appname": {id}})
	if err != nil && !errors.Is(err, providers.ErrNotFound) {
		return providers.Status{}, err
	}
	if err == nil {
		ms, err := parseMessages(data)
		if err != nil {
			return providers.Status{}, err
		}
		for _, m := range ms {
			if strings.EqualFold(m.spec.Name, id) && m.spec.Owner == k.Address() {
				return providers.Status{ID: id, State: providers.StateTerminated, Message: "no longer published (expired or cancelled)", UpdatedAt: now}, nil
			}
		}
	}
	if m, ok, err := c.pendingMessage(ctx, k, id, typeRegister); err != nil {
		return providers.Status{}, err
	} else if ok {
		return providers.Status{ID: id, State: providers.StatePending, Message: "registration " + m.Hash + " waiting for its payment to confirm", UpdatedAt: now}, nil
	}
	return providers.Status{}, fmt.Errorf("flux: no app %s: %w", id, providers.ErrNotFound)
}

// Terminate cancels the app by publishing an update with a one-block term
// (expire=1, FluxOS's cancellation form), paid through Config.Pay. Without
// Pay it returns providers.ErrNotSupported: the app then runs until its
// prepaid term ends. An app that has already ended is left alone.
func (c *Client) Terminate(ctx context.Context, id string) error {
	st, err := c.Status(ctx, id)
	if err != nil {
		return err
	}
	if st.State.Terminal() {
		return nil
	}
	if c.pay == nil {
		return fmt.Errorf("flux: terminate %s: cancelling needs an on-chain payment for an expire=1 update message and no payment hook is configured (flux.Config.Pay); the app runs until its prepaid term ends (%s): %w",
			id, st.Message, providers.ErrNotSupported)
	}
	k, err := c.identity()
	if err != nil {
		return err
	}
	info, err := c.deploymentInfo(ctx)
	if err != nil {
		return err
	}
	if m, ok, err := c.pendingMessage(ctx, k, id, typeUpdate); err != nil {
		return err
	} else if ok && m.spec.Expire == cancelExpire {
		p, err := c.quote(ctx, m.AppSpecifications)
		if err != nil {
			return err
		}
		q, _, err := quoteOf(typeUpdate, id, info, p, m.AppSpecifications)
		if err != nil {
			return err
		}
		q.Hash, q.Resumed = m.Hash, true
		if err := c.payAmount(ctx, &q, m.AppSpecifications, info); err != nil {
			return fmt.Errorf("flux: terminate %s: %w", id, err)
		}
		if _, err := c.pay(ctx, q); err != nil {
			return fmt.Errorf("flux: terminate %s: payment hook (resumed message %s): %w", id, m.Hash, err)
		}
		return nil
	}
	_, raw, ok, err := c.published(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		// Registered but never published: the unpaid message expires by itself.
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return fmt.Errorf("flux: terminate %s: %w", id, err)
	}
	delete(fields, "hash")
	delete(fields, "height")
	fields["expire"] = json.RawMessage(strconv.Itoa(cancelExpire))
	body, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	var q Quote
	formatted, hash, err := c.publish(ctx, id, typeUpdate, "/apps/verifyappupdatespecifications", "/apps/appupdate", body, func(formatted json.RawMessage) error {
		p, err := c.quote(ctx, formatted)
		if err != nil {
			return err
		}
		q, _, err = quoteOf(typeUpdate, id, info, p, formatted)
		return err
	})
	if err != nil {
		return err
	}
	q.Hash = hash
	if err := c.payAmount(ctx, &q, formatted, info); err != nil {
		return fmt.Errorf("flux: terminate %s: %w (message %s stays payable for 1 h)", id, err, hash)
	}
	txid, err := c.pay(ctx, q)
	if err != nil {
		return fmt.Errorf("flux: terminate %s: payment hook (message %s stays payable for 1 h): %w", id, hash, err)
	}
	c.log.InfoContext(ctx, "flux app cancelled (expire=1 update paid)", "app", id, "hash", hash, "txid", txid)
	return nil
}

var _ providers.NoLogs = (*Client)(nil)

// NoLogsReason says why the adapter reads no logs (providers.NoLogs).
func (c *Client) NoLogsReason() string {
	return "FluxOS serves an app's log from each node that runs it (GET /apps/applog/:appname/:lines in ZelBack/src/routes.js, for the owner's session); this adapter does not read it yet"
}

// nameOr is name, or Name when it is empty.
func nameOr(name string) string {
	if name == "" {
		return Name
	}
	return name
}
