package node

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Files in a node home.
const (
	KeyFile    = "key.pem"     // the operator's Ed25519 key, PKCS #8 PEM, mode 0600
	ConfigFile = "config.toml" // strict: unknown keys are errors
	TokenFile  = "api.token"   // bearer token for operator endpoints, mode 0600
	DataDir    = "data"        // the badger DB
	CacheDir   = "cache"       // policy compilation cache
	BackupDir  = "backups"     // scheduled backups
)

// Duration is a time.Duration that reads and writes as "10s" in TOML.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Config is a node's configuration: config.toml in the home, overridden by
// AURORA_* environment variables (AURORA_API_LISTEN for api.listen, lists
// comma-separated), overridden by flags.
type Config struct {
	// Federation names the federation; it is part of gossip topics and log
	// origins. Default "testnet".
	Federation string           `toml:"federation"`
	API        APIConfig        `toml:"api"`
	P2P        P2PConfig        `toml:"p2p"`
	Law        LawConfig        `toml:"law"`
	Policy     PolicyConfig     `toml:"policy"`
	Provenance ProvenanceConfig `toml:"provenance"`
	Backup     BackupConfig     `toml:"backup"`
	Launch     LaunchConfig     `toml:"launch"`
	Store      StoreConfig      `toml:"store"`
	Tracing    TracingConfig    `toml:"tracing"`
	Log        LogConfig        `toml:"log"`
	Providers  []ProviderConfig `toml:"providers"`
}

// APIConfig is the HTTP API.
type APIConfig struct {
	// Listen is the API address. Default "127.0.0.1:7070".
	Listen string `toml:"listen"`
	// MaxBodyBytes bounds request bodies. Default 256 KiB.
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	// Tenants, when not empty, is the allow-list of client DIDs whose orders
	// are accepted.
	Tenants []string `toml:"tenants"`
	// EventsBuffer is how many events one GET /v1/jobs/{id}/events stream
	// holds unsent before the node drops it as lagged. Default 64.
	EventsBuffer int `toml:"events_buffer"`
	// MaxEventStreamsPerClient bounds the event streams one client address
	// holds open at once (429 beyond). Default 4.
	MaxEventStreamsPerClient int `toml:"max_event_streams_per_client"`
	// MaxEventStreams bounds every client's event streams together.
	// Default 1024.
	MaxEventStreams int `toml:"max_event_streams"`
	// EventsHeartbeat is how often an idle event stream gets a comment
	// line, so proxies keep it open. Default 15s.
	EventsHeartbeat Duration `toml:"events_heartbeat"`
}

// P2PConfig is the libp2p host.
type P2PConfig struct {
	// Listen multiaddrs. Default TCP and QUIC on 0.0.0.0:4001.
	Listen []string `toml:"listen"`
	// Announce, when set, are the addresses announced to peers instead of
	// the listen addresses (a public address, or a NAT's port forward to
	// the listen port), without /p2p/. Default: the listen addresses.
	Announce []string `toml:"announce"`
	// Bootstrap multiaddrs (with /p2p/<peer ID>).
	Bootstrap []string `toml:"bootstrap"`
	// MDNS enables LAN discovery. Default true.
	MDNS bool `toml:"mdns"`
	// DHT enables a Kademlia DHT with the /aurora protocol prefix. Default false.
	DHT bool `toml:"dht"`
	// PSKFile names a private-network key (TCP only: QUIC refuses PSKs, so
	// QUIC listeners are dropped when it is set).
	PSKFile string `toml:"psk_file"`
	// Members, when not empty, is the connection-gater allow-list of peer DIDs.
	Members []string `toml:"members"`
	// Auditors are peer IDs (an auditor's kubo, say) that bitswap serves
	// the trail to read-only without a treaty. Everyone else must be a
	// party to an active treaty with this node.
	Auditors []string `toml:"auditors"`
}

// LawConfig is the law applied to orders no treaty covers: the node's own
// clients submitting to it directly.
type LawConfig struct {
	Regions               []string `toml:"regions"`
	MinProviderReputation int64    `toml:"min_provider_reputation"`
	MaxPricePerGPUHour    int64    `toml:"max_price_per_gpu_hour"`
	MaxInflight           int64    `toml:"max_inflight"`
	OrdersPerMin          int64    `toml:"orders_per_min"`
	GPUHoursPerDay        int64    `toml:"gpu_hours_per_day"`
}

// PolicyConfig tunes the WASM policy engine and where modules come from.
type PolicyConfig struct {
	// Module is the default law's module (orders of the node's own
	// clients): "" or "std" = the embedded standard law, a module CID (in
	// Dir), or a file path.
	Module string `toml:"module"`
	// Params is a file of the default module's params (canonical CBOR,
	// e.g. from `aurora policy params`); "" = the standard law's params
	// from [law].
	Params string `toml:"params"`
	// DeadlineMS per evaluation. Default 50.
	DeadlineMS int64 `toml:"deadline_ms"`
	// Dir holds the node's own modules, each named <CID>.wasm (`aurora
	// policy add`); they are published to treaty partners over bitswap.
	// Default <home>/policies.
	Dir string `toml:"dir"`
	// MaxModules bounds the modules kept compiled besides the standard
	// law. Default 16.
	MaxModules int `toml:"max_modules"`
	// MaxFetchBytes bounds a module fetched by CID. Default and maximum
	// 4 MiB - 64 KiB (what one bitswap message carries).
	MaxFetchBytes int `toml:"max_fetch_bytes"`
	// FetchTimeout bounds fetching a module a treaty names from the
	// policy dir, the blockstore and treaty partners. Default 10s.
	FetchTimeout Duration `toml:"fetch_timeout"`
}

// ProvenanceConfig is the log's epoch and its timestamp authorities.
type ProvenanceConfig struct {
	// Epoch is the checkpoint interval. Default 60s (testnets use 10s).
	Epoch Duration `toml:"epoch"`
	// TSA lists RFC 3161 endpoints; two independent ones make an epoch
	// "attested". Empty = no timestamps.
	TSA []string `toml:"tsa"`
	// TSARoots is a PEM file of TSA root certificates.
	TSARoots string `toml:"tsa_roots"`
	// MaxFetchBlocks bounds the blocks of one peer epoch fetched for
	// cross-anchoring (one epoch: its root, record tree, records and the
	// blocks they link). Default 1048576.
	MaxFetchBlocks int `toml:"max_fetch_blocks"`
	// ExternalWitnesses ([[provenance.external_witnesses]]) are C2SP
	// tlog-witnesses outside the federation that every witness round also
	// asks, over HTTP, to cosign the checkpoint (see witnesses.go). At most
	// MaxExternalWitnesses; none by default. Set in the file only.
	ExternalWitnesses []ExternalWitnessConfig `toml:"external_witnesses,omitempty"`
}

// LaunchConfig bounds launching on local providers.
type LaunchConfig struct {
	// Workers is how many provider calls (launch, status poll, terminate)
	// run at once. Waiting for a lease to run holds no worker. Default 64.
	Workers int `toml:"workers"`
	// Queue is how many local jobs may be accepted and not yet running or
	// failed; beyond it orders are refused with 503 and Retry-After, with
	// nothing committed. Default 16384.
	Queue int `toml:"queue"`
	// PollMax caps the wait between status polls of a booting lease
	// (they start at 100ms and double). Default 5s.
	PollMax Duration `toml:"poll_max"`
	// MaxWait bounds how long a lease may take to reach running (never
	// past the order's expiry). Default 15m.
	MaxWait Duration `toml:"max_wait"`
}

// StoreConfig guards the data volume's free space.
type StoreConfig struct {
	// ReserveBytes and ReservePercent (of the volume) set the free space
	// below which new orders are refused with 507: the larger of the two.
	// Defaults 1 GiB and 5.
	ReserveBytes   int64   `toml:"reserve_bytes"`
	ReservePercent float64 `toml:"reserve_percent"`
	// CheckInterval is how often free space is measured. Default 1s.
	CheckInterval Duration `toml:"check_interval"`
}

// BackupConfig schedules incremental ledger backups.
type BackupConfig struct {
	// Interval between incremental backups; 0 disables. Default 15m (RPO).
	Interval Duration `toml:"interval"`
	// Dir receives backups. Default <home>/backups.
	Dir string `toml:"dir"`
	// StreamIdleTimeout bounds a backup streamed over the API (POST
	// /v1/ledger/backup) in place of the API's write timeout: the client
	// must take each 64 KiB within it, however long the whole backup
	// takes. Default (and 0) 1m; 1s to 1h.
	StreamIdleTimeout Duration `toml:"stream_idle_timeout"`
}

// TracingConfig turns on OpenTelemetry OTLP export (standard OTEL_* env
// variables configure the exporter).
type TracingConfig struct {
	Enabled bool `toml:"enabled"`
}

// LogConfig sets the log level: debug, info, warn, error. Default info.
type LogConfig struct {
	Level string `toml:"level"`
}

// ProviderConfig attaches one compute network.
type ProviderConfig struct {
	// Kind is the adapter: sim, vastai, salad, akash, ionet, render, flux, aethir.
	Kind string `toml:"kind"`
	// Name is unique per node; default = Kind.
	Name    string `toml:"name"`
	BaseURL string `toml:"base_url"`
	// CredentialEnv / CredentialFile name where the API credential lives;
	// the config never holds the secret itself.
	CredentialEnv  string   `toml:"credential_env"`
	CredentialFile string   `toml:"credential_file"`
	Regions        []string `toml:"regions"`
	// Options are adapter-specific settings (sim: seed, fail, latency_ms,
	// price; vastai: pace; salad: organization, project; akash: akt_usd).
	Options map[string]string `toml:"options"`
}

// DefaultConfig returns the configuration `aurora init` writes.
func DefaultConfig() Config {
	return Config{
		Federation: "testnet",
		API: APIConfig{Listen: "127.0.0.1:7070", MaxBodyBytes: 256 << 10, Tenants: []string{},
			EventsBuffer: 64, MaxEventStreamsPerClient: 4, MaxEventStreams: 1024, EventsHeartbeat: Duration(15 * time.Second)},
		P2P: P2PConfig{
			Listen:    []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"},
			Bootstrap: []string{}, MDNS: true, Members: []string{}, Auditors: []string{},
		},
		Law:        LawConfig{Regions: []string{}},
		Policy:     PolicyConfig{DeadlineMS: 50, MaxModules: 16, MaxFetchBytes: maxFetchBytes, FetchTimeout: Duration(10 * time.Second)},
		Provenance: ProvenanceConfig{Epoch: Duration(60 * time.Second), TSA: []string{}, MaxFetchBlocks: 1 << 20},
		Backup:     BackupConfig{Interval: Duration(15 * time.Minute), StreamIdleTimeout: Duration(time.Minute)},
		Store:      StoreConfig{ReserveBytes: 1 << 30, ReservePercent: 5, CheckInterval: Duration(time.Second)},
		Launch:     LaunchConfig{Workers: 64, Queue: 16384, PollMax: Duration(5 * time.Second), MaxWait: Duration(15 * time.Minute)},
		Log:        LogConfig{Level: "info"},
		Providers: []ProviderConfig{
			{Kind: "sim", Name: "sim-eu", Regions: []string{"eu-west"}, Options: map[string]string{"seed": "1", "fail": "0.05"}},
			{Kind: "sim", Name: "sim-us", Regions: []string{"us-east"}, Options: map[string]string{"seed": "2", "fail": "0.05"}},
		},
	}
}

// ConfigError reports a bad configuration value, with the file position
// where there is one.
type ConfigError struct {
	File   string
	Line   int
	Key    string
	Reason string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Reason)
	}
	if e.File != "" {
		return fmt.Sprintf("%s: %s: %s", e.File, e.Key, e.Reason)
	}
	return fmt.Sprintf("config: %s: %s", e.Key, e.Reason)
}

// maxConfigBytes bounds config.toml.
const maxConfigBytes = 1 << 20

// LoadConfig reads home/config.toml over the defaults, then applies
// AURORA_* variables from env (os.Environ() form). Unknown keys are errors
// naming the key and its line.
func LoadConfig(home string, env []string) (Config, error) {
	cfg := DefaultConfig()
	path := filepath.Join(home, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("node: read config: %w", err)
	}
	if err := DecodeConfig(path, data, &cfg); err != nil {
		return cfg, err
	}
	if err := ApplyEnv(&cfg, env); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// DecodeConfig strictly decodes TOML data into cfg (which holds defaults).
func DecodeConfig(file string, data []byte, cfg *Config) error {
	if len(data) > maxConfigBytes {
		return &ConfigError{File: file, Key: "(file)", Reason: fmt.Sprintf("%d bytes, limit %d", len(data), maxConfigBytes)}
	}
	// Lists in the file replace the defaults rather than merging into them.
	cfg.Providers = nil
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) && len(strict.Errors) > 0 {
			e := strict.Errors[0]
			row, _ := e.Position()
			return &ConfigError{File: file, Line: row, Key: strings.Join(e.Key(), "."), Reason: "unknown key"}
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return &ConfigError{File: file, Line: row, Key: strings.Join(de.Key(), "."), Reason: de.Error()}
		}
		return &ConfigError{File: file, Key: "(file)", Reason: err.Error()}
	}
	return nil
}

// ApplyEnv overrides cfg with AURORA_<SECTION>_<KEY> variables for every
// scalar and string-list key (not the providers table). Empty variables count
// as unset. AURORA_HOME is not a config key and is ignored here.
func ApplyEnv(cfg *Config, env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && v != "" && strings.HasPrefix(k, "AURORA_") && k != "AURORA_HOME" {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil
	}
	known, sections := map[string]bool{}, map[string]bool{}
	err := walkKeys(reflect.ValueOf(cfg).Elem(), "", func(key string, f reflect.Value) error {
		sections[strings.ToUpper(strings.SplitN(key, ".", 2)[0])] = true
		name := "AURORA_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		known[name] = true
		v, ok := vars[name]
		if !ok {
			return nil
		}
		if err := setScalar(f, v); err != nil {
			return &ConfigError{File: "$" + name, Key: key, Reason: err.Error()}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// A variable naming a config section but no key in it is a typo and an
	// error; other AURORA_* variables (AURORA_BIN of a wrapper script) are
	// not ours and are left alone.
	for name := range vars {
		if !known[name] && sections[strings.SplitN(strings.TrimPrefix(name, "AURORA_"), "_", 2)[0]] {
			return &ConfigError{File: "$" + name, Key: name, Reason: "unknown environment variable (no such config key)"}
		}
	}
	return nil
}

// Set applies one "section.key=value" override (flags use it).
func (c *Config) Set(key, value string) error {
	found := false
	err := walkKeys(reflect.ValueOf(c).Elem(), "", func(k string, f reflect.Value) error {
		if k != key {
			return nil
		}
		found = true
		return setScalar(f, value)
	})
	if err != nil {
		return &ConfigError{Key: key, Reason: err.Error()}
	}
	if !found {
		return &ConfigError{Key: key, Reason: "unknown key"}
	}
	return nil
}

var durationType = reflect.TypeOf(Duration(0))

func walkKeys(v reflect.Value, prefix string, fn func(key string, f reflect.Value) error) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("toml"), ",")[0]
		if tag == "" || tag == "providers" {
			continue
		}
		if sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Kind() == reflect.Struct {
			continue // arrays of tables ([[provenance.external_witnesses]]) are set in the file only
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct && f.Type() != durationType {
			if err := walkKeys(f, key, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(key, f); err != nil {
			return err
		}
	}
	return nil
}

func setScalar(f reflect.Value, s string) error {
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(s)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case f.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		f.SetFloat(x)
	case f.Kind() == reflect.Int64 || f.Kind() == reflect.Int:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		parts := []string{}
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		f.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot set a %s from text", f.Type())
	}
	return nil
}

// Validate rejects impossible values and fills derived defaults.
func (c *Config) Validate() error {
	if c.Federation == "" {
		return &ConfigError{Key: "federation", Reason: "must not be empty"}
	}
	if c.API.Listen == "" {
		return &ConfigError{Key: "api.listen", Reason: "must not be empty"}
	}
	if c.API.MaxBodyBytes <= 0 || c.API.MaxBodyBytes > 16<<20 {
		return &ConfigError{Key: "api.max_body_bytes", Reason: "want 1 to 16 MiB"}
	}
	if c.API.EventsBuffer < 1 || c.API.EventsBuffer > 4096 {
		return &ConfigError{Key: "api.events_buffer", Reason: "want 1 to 4096"}
	}
	if c.API.MaxEventStreamsPerClient < 1 || c.API.MaxEventStreamsPerClient > 1024 {
		return &ConfigError{Key: "api.max_event_streams_per_client", Reason: "want 1 to 1024"}
	}
	if c.API.MaxEventStreams < c.API.MaxEventStreamsPerClient || c.API.MaxEventStreams > 65536 {
		return &ConfigError{Key: "api.max_event_streams", Reason: "want max_event_streams_per_client to 65536"}
	}
	if hb := c.API.EventsHeartbeat.Std(); hb < time.Second || hb > 10*time.Minute {
		return &ConfigError{Key: "api.events_heartbeat", Reason: "want 1s to 10m"}
	}
	if c.Policy.DeadlineMS <= 0 || c.Policy.DeadlineMS > 1000 {
		return &ConfigError{Key: "policy.deadline_ms", Reason: "want 1 to 1000"}
	}
	if err := c.Policy.validate(); err != nil {
		return err
	}
	if c.Provenance.MaxFetchBlocks < 16 || c.Provenance.MaxFetchBlocks > 1<<24 {
		return &ConfigError{Key: "provenance.max_fetch_blocks", Reason: fmt.Sprintf("%d: want 16 to 16777216", c.Provenance.MaxFetchBlocks)}
	}
	if c.Backup.StreamIdleTimeout == 0 {
		c.Backup.StreamIdleTimeout = Duration(time.Minute)
	}
	if d := c.Backup.StreamIdleTimeout.Std(); d < time.Second || d > time.Hour {
		return &ConfigError{Key: "backup.stream_idle_timeout", Reason: fmt.Sprintf("%s: want 1s to 1h", d)}
	}
	if err := validateExternalWitnesses(c.Provenance.ExternalWitnesses); err != nil {
		return err
	}
	if c.Provenance.Epoch.Std() < 100*time.Millisecond {
		return &ConfigError{Key: "provenance.epoch", Reason: "want at least 100ms"}
	}
	switch s := c.Store; {
	case s.ReserveBytes < 0:
		return &ConfigError{Key: "store.reserve_bytes", Reason: "must not be negative"}
	case s.ReservePercent < 0 || s.ReservePercent > 50:
		return &ConfigError{Key: "store.reserve_percent", Reason: fmt.Sprintf("%g: want 0 to 50", s.ReservePercent)}
	case s.CheckInterval.Std() < 10*time.Millisecond:
		return &ConfigError{Key: "store.check_interval", Reason: "want at least 10ms"}
	}
	switch l := c.Launch; {
	case l.Workers < 1 || l.Workers > 4096:
		return &ConfigError{Key: "launch.workers", Reason: fmt.Sprintf("%d: want 1 to 4096", l.Workers)}
	case l.Queue < 1 || l.Queue > 1<<20:
		return &ConfigError{Key: "launch.queue", Reason: fmt.Sprintf("%d: want 1 to 1048576", l.Queue)}
	case l.PollMax.Std() < 100*time.Millisecond:
		return &ConfigError{Key: "launch.poll_max", Reason: "want at least 100ms"}
	case l.MaxWait.Std() < time.Second:
		return &ConfigError{Key: "launch.max_wait", Reason: "want at least 1s"}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return &ConfigError{Key: "log.level", Reason: fmt.Sprintf("%q is not debug, info, warn or error", c.Log.Level)}
	}
	names := map[string]bool{}
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.Kind == "" {
			return &ConfigError{Key: fmt.Sprintf("providers[%d].kind", i), Reason: "must not be empty"}
		}
		if p.Name == "" {
			p.Name = p.Kind
		}
		if names[p.Name] {
			return &ConfigError{Key: fmt.Sprintf("providers[%d].name", i), Reason: fmt.Sprintf("duplicate name %q", p.Name)}
		}
		names[p.Name] = true
	}
	return nil
}

// TOML returns the config as TOML with secrets hidden. The config names
// credentials rather than holding them; provider options whose key looks
// secret (key, secret, token, password) are shown as REDACTED anyway, in
// case an operator put one there.
func (c Config) TOML() ([]byte, error) {
	provs := make([]ProviderConfig, len(c.Providers))
	for i, p := range c.Providers {
		opts := make(map[string]string, len(p.Options))
		for k, v := range p.Options {
			if secretKey(k) {
				v = "REDACTED"
			}
			opts[k] = v
		}
		p.Options = opts
		provs[i] = p
	}
	c.Providers = provs
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(true)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"key", "secret", "token", "password", "passphrase"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
