package node

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/aethir"
	"github.com/aurora-federation/aurora/providers/akash"
	"github.com/aurora-federation/aurora/providers/flux"
	"github.com/aurora-federation/aurora/providers/ionet"
	"github.com/aurora-federation/aurora/providers/render"
	"github.com/aurora-federation/aurora/providers/salad"
	"github.com/aurora-federation/aurora/providers/sim"
	"github.com/aurora-federation/aurora/providers/vastai"
)

// providerBuilder constructs one adapter from its config entry.
type providerBuilder func(pc ProviderConfig, log *slog.Logger) (providers.Provider, error)

// builders maps a [[providers]] kind to its adapter constructor.
func builders() map[string]providerBuilder {
	return map[string]providerBuilder{
		"sim":    buildSim,
		"vastai": buildVastai,
		"salad":  buildSalad,
		"akash":  buildAkash,
		"ionet":  buildIonet,
		"render": buildRender,
		"flux":   buildFlux,
		"aethir": buildAethir,
	}
}

// BuildProviders constructs every configured provider.
func BuildProviders(pcs []ProviderConfig, log *slog.Logger) ([]providers.Provider, error) {
	bs := builders()
	out := make([]providers.Provider, 0, len(pcs))
	for i, pc := range pcs {
		b, ok := bs[pc.Kind]
		if !ok {
			kinds := make([]string, 0, len(bs))
			for k := range bs {
				kinds = append(kinds, k)
			}
			slices.Sort(kinds)
			return nil, &ConfigError{Key: fmt.Sprintf("providers[%d].kind", i), Reason: fmt.Sprintf("unknown kind %q (have %s)", pc.Kind, strings.Join(kinds, ", "))}
		}
		p, err := b(pc, log.With("provider", pc.Name))
		if err != nil {
			return nil, &ConfigError{Key: fmt.Sprintf("providers[%d]", i), Reason: err.Error()}
		}
		out = append(out, p)
	}
	return out, nil
}

// options reads typed adapter options, rejecting unknown ones.
type options struct {
	m    map[string]string
	used map[string]bool
	err  error
}

func newOptions(m map[string]string) *options { return &options{m: m, used: map[string]bool{}} }

func (o *options) str(k, def string) string {
	o.used[k] = true
	if v, ok := o.m[k]; ok {
		return v
	}
	return def
}

func (o *options) float(k string, def float64) float64 {
	s := o.str(k, "")
	if s == "" {
		return def
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && o.err == nil {
		o.err = fmt.Errorf("options.%s: %q is not a number", k, s)
	}
	return f
}

func (o *options) int(k string, def int64) int64 {
	s := o.str(k, "")
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil && o.err == nil {
		o.err = fmt.Errorf("options.%s: %q is not an integer", k, s)
	}
	return n
}

func (o *options) done() error {
	if o.err != nil {
		return o.err
	}
	for k := range o.m {
		if !o.used[k] {
			return fmt.Errorf("options.%s: unknown option", k)
		}
	}
	return nil
}

// credential loads the provider's API credential from the env var or file
// the config names; the config itself never holds it.
func credential(pc ProviderConfig) (providers.Credential, error) {
	if pc.CredentialEnv == "" && pc.CredentialFile == "" {
		return providers.Credential{}, fmt.Errorf("credential_env or credential_file is required")
	}
	return providers.LoadCredential(pc.CredentialEnv, pc.CredentialFile)
}

func buildVastai(pc ProviderConfig, log *slog.Logger) (providers.Provider, error) {
	cred, err := credential(pc)
	if err != nil {
		return nil, err
	}
	// pace scales Vast's documented per-endpoint request intervals (1);
	// a negative pace turns them off, for a fake only.
	o := newOptions(pc.Options)
	pace := o.float("pace", 1)
	if err := o.done(); err != nil {
		return nil, err
	}
	if pace < 0 {
		log.Warn("vastai request pacing is off: only a fake accepts that", "base_url", pc.BaseURL)
	}
	return vastai.New(vastai.Config{Name: pc.Name, BaseURL: pc.BaseURL, Credential: cred, Regions: pc.Regions, Logger: log, Pace: pace})
}

// buildSalad: options organization, project (required).
func buildSalad(pc ProviderConfig, log *slog.Logger) (providers.Provider, error) {
	cred, err := credential(pc)
	if err != nil {
		return nil, err
	}
	o := newOptions(pc.Options)
	org, proj := o.str("organization", ""), o.str("project", "")
	if err := o.done(); err != nil {
		return nil, err
	}
	return salad.New(salad.Config{Name: pc.Name, BaseURL: pc.BaseURL, Credential: cred, Organization: org, Project: proj, Regions: pc.Regions, Logger: log})
}

// buildAkash: options akt_usd (the AKT price in USD used to convert uakt bids),
// denom (the Console's grant denom: uact, the default, or uakt on a local network).
func buildAkash(pc ProviderConfig, log *slog.Logger) (providers.Provider, error) {
	cred, err := credential(pc)
	if err != nil {
		return nil, err
	}
	o := newOptions(pc.Options)
	rate, denom := o.str("akt_usd", ""), o.str("denom", "")
	if err := o.done(); err != nil {
		return nil, err
	}
	return akash.New(akash.Config{Name: pc.Name, BaseURL: pc.BaseURL, Credential: cred, Regions: pc.Regions, AKTUSD: rate, Denom: denom, Logger: log})
}

func buildIonet(pc ProviderConfig, log *slog.Logger) (providers.Provider, error) {
	cred, err := credential(pc)
	if err != nil {
		return nil, err
	}
	o := newOptions(pc.Options)
	hours := o.int("default_hours", 0)
	if err := o.done(); err != nil {
		return nil, err
	}
	return ionet.New(ionet.Config{Name: pc.Name, Credential: cred, BaseURL: pc.BaseURL, Regions: pc.Regions, DefaultHours: hours, Logger: log})
}

// buildRender: option public_key (the pk_ half; the credential is the HMAC
// secret).
func buildRender(pc ProviderConfig, log *slog.Logger) (providers.Provider, error) {
	cred, err := credential(pc)
	if err != nil {
		return nil, err
	}
	o := newOptions(pc.Options)
	pk := o.str("public_key", "")
	if err := o.done(); err != nil {
		return nil, err
	}
	return render.New(render.Config{Name: pc.Name, PublicKey: pk, Credential: cred, BaseURL: pc.BaseURL, Regions: pc.Regions, Logger: log})
}

// buildFlux: the credential is the Flux ID's WIF key; option pay_url names a
// wallet service that pays registrations (without it, Launch is
// ErrNotSupported: Flux needs an on-chain payment).
func buildFlux(pc ProviderConfig, log *slog.Logger) (providers.Provider, error) {
	cred, err := credential(pc)
	if err != nil {
		return nil, err
	}
	o := newOptions(pc.Options)
	payURL := o.str("pay_url", "")
	if err := o.done(); err != nil {
		return nil, err
	}
	cfg := flux.Config{Name: pc.Name, Credential: cred, BaseURL: pc.BaseURL, Regions: pc.Regions, Logger: log}
	if payURL != "" {
		pay, err := flux.PayViaHTTP(flux.PayHTTPConfig{URL: payURL})
		if err != nil {
			return nil, err
		}
		cfg.Pay = pay
	}
	return flux.New(cfg)
}

// buildAethir: Aethir has no public compute API; the adapter is ManualOnly
// and says so on every call.
func buildAethir(pc ProviderConfig, log *slog.Logger) (providers.Provider, error) {
	return aethir.New(aethir.Config{Name: pc.Name, Logger: log})
}

// buildSim: options seed, fail (0..1), latency_ms, capacity, price (micro-USD
// per GPU-hour, default 1,500,000), gpus (comma list of models, default
// A100,H100,RTX4090).
func buildSim(pc ProviderConfig, _ *slog.Logger) (providers.Provider, error) {
	o := newOptions(pc.Options)
	seed := o.int("seed", 1)
	fail := o.float("fail", 0)
	lat := time.Duration(o.int("latency_ms", 0)) * time.Millisecond
	capacity := o.int("capacity", 0)
	price := o.int("price", 1_500_000)
	models := o.str("gpus", "A100,H100,RTX4090")
	if err := o.done(); err != nil {
		return nil, err
	}
	regions := pc.Regions
	if len(regions) == 0 {
		regions = []string{"local"}
	}
	vram := map[string]int64{"A100": 81920, "H100": 81920, "RTX4090": 24576, "L40S": 49152, "A10": 24576}
	var gpus []sim.GPU
	for _, m := range strings.Split(models, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		v := vram[m]
		if v == 0 {
			v = 24576
		}
		for _, n := range []int64{1, 2, 4, 8} {
			gpus = append(gpus, sim.GPU{Model: m, Count: n, VRAMMiB: v, PricePerHour: providers.Money(price * n)})
		}
	}
	return sim.New(sim.Config{Name: pc.Name, Seed: uint64(seed), Regions: regions, GPUs: gpus, Capacity: int(capacity),
		FailureRate: fail, LaunchLatency: sim.Latency{Min: lat, Max: lat, Median: lat}})
}
