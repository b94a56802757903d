// Package vastaitest is a fake Vast.ai REST API (console.vast.ai/api/v0) for
// tests and for `aurora testnet fake-provider --kind vastai`. It speaks the
// documented wire format (notes/PROVIDER_APIS.md §1):
//
//	POST /api/v0/bundles/            search offers; body {"field":{"op":value},...,"order","type","limit"}
//	GET  /api/v0/bundles/?q=<json>   the same query, URL-encoded (docs page form)
//	PUT  /api/v0/asks/{id}/          rent an ask → {"success":true,"new_contract":N}
//	GET  /api/v0/instances/          {"instances_found":N,"instances":[...]}
//	GET  /api/v1/instances/          paged: limit<=25, after_token, order_by, select_filters
//	GET  /api/v0/instances/{id}/     {"instances":{...}} (null for an id not ours)
//	PUT  /api/v0/instances/{id}/     {"state":"stopped"|"running"}
//	DELETE /api/v0/instances/{id}/   {"success":true,"msg":...}; 404 not_found
//	POST /api/v0/instances/{id}/ssh/ attach an SSH key {"ssh_key":...}
//
// Auth is "Authorization: Bearer <key>" (or ?api_key=). Search works without
// a key, but a wrong key there gets Vast's quirky 404 {"error":"auth_error",
// "msg":"Invalid user key"}; elsewhere a missing or wrong key is 401.
// 429s come without Retry-After, alternating between the plain-text body
// "API requests too frequent" and JSON {"detail":...}, as the real API does;
// Options.MinIntervals enforces Vast's per-endpoint minimum intervals
// (DocumentedMinIntervals). Renting an unknown ask is 404 with error
// "invalid_args" and a msg naming no_such_ask; renting a taken one is 410
// no_such_ask (both as Vast's OpenAPI description documents them).
// Filters support ops eq neq gt lt gte lte in notin on the documented
// search fields (SearchFields); any other filter field is 400 invalid_args.
// geolocation filters compare the country code. The v1 listing filters on
// the contract columns Vast allows (label, actual_status, id, gpu_name,
// verification, ...); computed ones (dph_total, num_gpus) are 400.
//
// Instance actual_status goes null → "loading" → "running", one step per
// Advance; SetStatus forces any value ("exited", "offline", ...).
package vastaitest

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aurora-federation/aurora/providers/providertest"
	"github.com/aurora-federation/aurora/providers/providertest/fakekit"
)

var _ providertest.LaunchInspector = (*Server)(nil)

// DefaultAPIKey is the key the fake accepts unless Options.APIKey is set.
const DefaultAPIKey = "vast-fake-key-0123456789abcdef"

// Ask is one rentable offer in the fake's inventory, with the fields of the
// real search results that Aurora reads or filters on.
type Ask struct {
	ID               int64   `json:"id"`
	AskContractID    int64   `json:"ask_contract_id"`
	MachineID        int64   `json:"machine_id"`
	HostID           int64   `json:"host_id"`
	GPUName          string  `json:"gpu_name"`
	NumGPUs          int64   `json:"num_gpus"`
	GPURAM           int64   `json:"gpu_ram"` // MB per GPU
	GPUTotalRAM      int64   `json:"gpu_total_ram"`
	CPUCoresEff      float64 `json:"cpu_cores_effective"`
	CPURAM           int64   `json:"cpu_ram"`    // MB
	DiskSpace        float64 `json:"disk_space"` // GB
	DPHTotal         float64 `json:"dph_total"`  // USD/hour, whole offer
	DPHBase          float64 `json:"dph_base"`
	MinBid           float64 `json:"min_bid"`
	StorageCost      float64 `json:"storage_cost"`
	Geolocation      string  `json:"geolocation"` // "City, CC"
	Reliability2     float64 `json:"reliability2"`
	Verification     string  `json:"verification"`
	Verified         bool    `json:"verified"`
	Rentable         bool    `json:"rentable"`
	Rented           bool    `json:"rented"`
	External         bool    `json:"external"`
	CUDAMaxGood      float64 `json:"cuda_max_good"`
	DirectPortCount  int64   `json:"direct_port_count"`
	PublicIPAddr     string  `json:"public_ipaddr"`
	StaticIP         bool    `json:"static_ip"`
	HostingType      int64   `json:"hosting_type"`
	DLPerf           float64 `json:"dlperf"`
	InetUpCost       float64 `json:"inet_up_cost"`
	InetDownCost     float64 `json:"inet_down_cost"`
	ComputeCap       int64   `json:"compute_cap"`
	DriverVersion    string  `json:"driver_version"`
	Datacenter       bool    `json:"datacenter"`
	DiskBW           float64 `json:"disk_bw"`
	ReliabilityScore float64 `json:"reliability"`
}

// Instance is a rented ask.
type Instance struct {
	ID             int64             `json:"id"`
	MachineID      int64             `json:"machine_id"`
	ActualStatus   *string           `json:"actual_status"`
	IntendedStatus string            `json:"intended_status"`
	CurState       string            `json:"cur_state"`
	NextState      string            `json:"next_state"`
	StatusMsg      string            `json:"status_msg"`
	Label          *string           `json:"label"`
	ImageUUID      string            `json:"image_uuid"`
	ImageArgs      []string          `json:"image_args"`
	Env            map[string]string `json:"-"` // kept for tests, not a Vast field
	GPUName        string            `json:"gpu_name"`
	NumGPUs        int64             `json:"num_gpus"`
	DPHTotal       float64           `json:"dph_total"`
	Geolocation    string            `json:"geolocation"`
	PublicIPAddr   string            `json:"public_ipaddr"`
	SSHHost        string            `json:"ssh_host"`
	SSHPort        int64             `json:"ssh_port"`
	StartDate      float64           `json:"start_date"`
	DiskSpace      float64           `json:"disk_space"`
	Onstart        string            `json:"onstart"`
	ImageRuntype   string            `json:"image_runtype"`
	// Ports maps "8080/tcp" to host bindings, only while running
	// (api-reference/openapi.yaml, showInstances).
	Ports map[string][]PortBinding `json:"ports"`
	// SSHKeys were attached (POST /api/v0/instances/{id}/ssh/); Login is
	// the parsed image_login. Kept for tests, not Vast fields.
	SSHKeys  []string   `json:"-"`
	Login    ImageLogin `json:"-"`
	askID    int64
	exposed  []int64  // container ports: "-p P:P" env keys, 22 for *_direct runtypes
	logLines []string // the container log, one line per status step (see Advance)
	hostBase int64
}

// PortBinding is Docker's host binding of a container port.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// ImageLogin is a parsed image_login: docker login flags "-u USER -p
// SECRET [REGISTRY]" (vast-ai/docs api-reference/creating-instances-with-api.mdx;
// cli/reference/create-instance.mdx --login).
type ImageLogin struct{ Username, Password, Registry string }

// parseImageLogin refuses anything but the documented flag form.
func parseImageLogin(s string) (ImageLogin, error) {
	var l ImageLogin
	f := strings.Fields(s)
	for i := 0; i < len(f); i++ {
		switch {
		case (f[i] == "-u" || f[i] == "--username") && i+1 < len(f):
			i++
			l.Username = f[i]
		case (f[i] == "-p" || f[i] == "--password") && i+1 < len(f):
			i++
			l.Password = f[i]
		case !strings.HasPrefix(f[i], "-") && l.Registry == "":
			l.Registry = f[i]
		default:
			return ImageLogin{}, fmt.Errorf("image_login: want \"-u USER -p SECRET REGISTRY\"")
		}
	}
	if l.Username == "" || l.Password == "" {
		return ImageLogin{}, fmt.Errorf("image_login: -u and -p are required")
	}
	return l, nil
}

// Options configures a Server. The zero value works.
type Options struct {
	// APIKey is the accepted bearer key. Default DefaultAPIKey.
	APIKey string
	// Asks is the inventory. Default DefaultInventory().
	Asks []Ask
	// MinIntervals are per-endpoint minimum intervals between requests of
	// one key, by "METHOD /path/{id}/" (see DocumentedMinIntervals); faster
	// requests get 429. Default nil (off).
	MinIntervals map[string]time.Duration
	// Now is the clock for MinIntervals and start dates. Default time.Now.
	Now func() time.Time
	// Logger logs each request (method, path, status). Default: discard.
	Logger *slog.Logger
	// LogUploadDelay is how many fetches of a requested log file answer
	// 404 before it is "uploaded" (see LogsPath). Default 0.
	LogUploadDelay int
}

// Server is the fake. Its hooks (FailNextLaunch, LoseNextLaunch,
// RateLimitNext, SetLatency from fakekit.Faults; Advance; Workloads) make it a
// providertest.Fake. Safe for concurrent use.
type Server struct {
	fakekit.Faults
	opts Options
	log  *slog.Logger

	mu        sync.Mutex // protects following
	asks      map[int64]*Ask
	instances map[int64]*Instance
	nextID    int64
	uploads   map[string]*upload   // result_url name → the log file "uploaded to S3"
	last      map[string]time.Time // MinIntervals: endpoint+key → last request
	n429      int
	loop      fakekit.Loopback
}

// NewServer returns a fake with opts; it does not listen until Start (or use
// Handler with your own listener).
func NewServer(opts Options) *Server {
	if opts.APIKey == "" {
		opts.APIKey = DefaultAPIKey
	}
	if opts.Asks == nil {
		opts.Asks = DefaultInventory()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log, asks: map[int64]*Ask{}, instances: map[int64]*Instance{}, nextID: 21_000_001, last: map[string]time.Time{}}
	for _, a := range opts.Asks {
		a := a
		s.asks[a.ID] = &a
	}
	return s
}

// DefaultInventory is a seeded spread of GPU models, places and prices
// (USD/hour for the whole ask, at 2025–26 Vast.ai market levels). In Aurora
// regions (providers.RegionForPlace of the geolocation):
//
//	us-east       RTX 4090 (VA), A100 (NJ; 8× VA), H100 (VA)
//	us-central    RTX 4090 (TX), H100 (TX), RTX 3090 2× (TX)
//	us-west       RTX 4090 (CA), A100 (OR), H100 8× (OR)
//	ca-central    RTX 4090 (QC), RTX 3090 (ON)
//	eu-west       RTX 4090 (NL), A100 (NL)
//	eu-central    RTX 4090 2× (DE), A100 (DE), H100 (DE)
//	eu-north      RTX A6000 (SE)
//	ap-northeast  RTX 4090 (JP)
func DefaultInventory() []Ask {
	mk := func(id int64, gpu string, n, ramMB int64, dph float64, geo string) Ask {
		return Ask{
			ID: id, AskContractID: id, MachineID: id / 10, HostID: id / 100, GPUName: gpu, NumGPUs: n,
			GPURAM: ramMB, GPUTotalRAM: ramMB * n, CPUCoresEff: float64(8 * n), CPURAM: 32768 * n,
			DiskSpace: 200, DPHTotal: dph, DPHBase: dph * 0.9, MinBid: dph * 0.5, StorageCost: 0.15,
			Geolocation: geo, Reliability2: 0.995, Verification: "verified", Verified: true, Rentable: true,
			CUDAMaxGood: 12.4, DirectPortCount: 20, PublicIPAddr: fmt.Sprintf("203.0.113.%d", id%250),
			HostingType: 1, DLPerf: 40, InetUpCost: 0.002, InetDownCost: 0.002, ComputeCap: 890,
			DriverVersion: "550.54.14", Datacenter: true, DiskBW: 2500, ReliabilityScore: 0.99,
		}
	}
	return []Ask{
		mk(7001001, "RTX 4090", 1, 24564, 0.35, "California, US"),
		mk(7001002, "RTX 4090", 1, 24564, 0.42, "Texas, US"),
		mk(7001003, "RTX 4090", 1, 24564, 0.31, "Quebec, CA"),
		mk(7001004, "RTX 4090", 2, 24564, 0.74, "Bavaria, DE"),
		mk(7001005, "RTX 4090", 1, 24564, 0.29, "North Holland, NL"),
		mk(7001006, "RTX 4090", 1, 24564, 0.55, "Virginia, US"),
		mk(7001007, "RTX 4090", 1, 24564, 0.38, "Tokyo, JP"),
		mk(7002001, "A100 SXM4", 1, 81920, 1.10, "Oregon, US"),
		mk(7002002, "A100 PCIE", 1, 40960, 0.78, "Hesse, DE"),
		mk(7002003, "A100 SXM4", 8, 81920, 8.40, "Virginia, US"),
		mk(7002004, "A100 SXM4", 1, 81920, 0.95, "Newark, New Jersey, US"),
		mk(7002005, "A100 PCIE", 1, 81920, 0.89, "North Holland, NL"),
		mk(7003001, "H100 SXM", 1, 81559, 2.25, "Texas, US"),
		mk(7003002, "H100 SXM", 8, 81559, 17.60, "Oregon, US"),
		mk(7003003, "H100 SXM", 1, 81559, 2.10, "Hesse, DE"),
		mk(7003004, "H100 PCIE", 1, 81559, 1.95, "Virginia, US"),
		mk(7004001, "RTX 3090", 1, 24576, 0.18, "Ontario, CA"),
		mk(7004002, "RTX 3090", 2, 24576, 0.34, "Texas, US"),
		mk(7005001, "RTX A6000", 1, 49140, 0.47, "Stockholm, SE"),
	}
}

// Handler returns the API handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v0/bundles/{$}", s.search)
	mux.HandleFunc("GET /api/v0/bundles/{$}", s.search)
	mux.HandleFunc("PUT /api/v0/asks/{id}/{$}", s.rent)
	mux.HandleFunc("GET /api/v0/instances/{$}", s.listInstances)
	mux.HandleFunc("GET /api/v1/instances/{$}", s.listInstancesV1)
	mux.HandleFunc("GET /api/v0/instances/{id}/{$}", s.getInstance)
	mux.HandleFunc("PUT /api/v0/instances/{id}/{$}", s.changeInstance)
	mux.HandleFunc("DELETE /api/v0/instances/{id}/{$}", s.destroy)
	mux.HandleFunc("POST /api/v0/instances/{id}/ssh/{$}", s.attachSSH)
	mux.HandleFunc("PUT /api/v0/instances/request_logs/{id}/{$}", s.requestLogs)
	mux.HandleFunc("GET "+LogsPath+"{name}", s.getLogFile)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		s.serve(mux, rec, r)
		s.log.Debug("vastai fake", "method", r.Method, "path", r.URL.Path, "status", rec.status)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(s int) { r.status = s; r.ResponseWriter.WriteHeader(s) }

func (s *Server) serve(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	if !s.DelayRequest(r) {
		return
	}
	if s.TakeRateLimit() || s.tooFast(r) {
		s.write429(w)
		return
	}
	mux.ServeHTTP(w, r)
}

// Start listens on a loopback port and returns the base URL (without
// /api/v0). Close stops it.
func (s *Server) Start() string {
	return s.loop.Start(s.Handler, "")
}

// URL returns the base URL of a started server, or "".
func (s *Server) URL() string {
	return s.loop.URL("")
}

// Close stops a started server and waits for its handlers.
func (s *Server) Close() {
	s.loop.Close()
}

// Advance moves every instance one step: null → loading → running.
func (s *Server) Advance() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.instances {
		if in.IntendedStatus != "running" {
			if in.ActualStatus != nil && *in.ActualStatus == "running" {
				in.ActualStatus = ptr("exited")
				in.CurState = "stopped"
			}
			continue
		}
		switch {
		case in.ActualStatus == nil:
			in.ActualStatus = ptr("loading")
			in.StatusMsg = "Pulling image " + in.ImageUUID
			in.logLines = append(in.logLines, "pulling "+in.ImageUUID)
		case *in.ActualStatus == "running":
			if len(in.logLines) < maxLogLines {
				in.logLines = append(in.logLines, fmt.Sprintf("workload %d: tick %d", in.ID, len(in.logLines)))
			}
		case *in.ActualStatus == "loading":
			in.logLines = append(in.logLines, "container started: "+in.ImageUUID)
			in.ActualStatus = ptr("running")
			in.CurState = "running"
			in.StatusMsg = "success, running " + in.ImageUUID
			in.Ports = map[string][]PortBinding{}
			for i, p := range in.exposed {
				hp := strconv.FormatInt(in.hostBase+int64(i), 10)
				in.Ports[fmt.Sprintf("%d/tcp", p)] = []PortBinding{{HostIP: "0.0.0.0", HostPort: hp}, {HostIP: "::", HostPort: hp}}
			}
		}
	}
}

// SetStatus forces an instance's actual_status ("exited", "offline",
// "unknown", ...). It reports whether the instance exists.
func (s *Server) SetStatus(id int64, actual string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[id]
	if ok {
		in.ActualStatus = ptr(actual)
	}
	return ok
}

// Workloads counts instances that are not destroyed.
func (s *Server) Workloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.instances)
}

// Instances returns a copy of the live instances, by id.
func (s *Server) Instances() []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Instance, 0, len(s.instances))
	for _, in := range s.instances {
		out = append(out, *in)
	}
	slices.SortFunc(out, func(a, b Instance) int { return int(a.ID - b.ID) })
	return out
}

// --- auth, limits, errors ---

// key returns the request's key and whether it is the accepted one.
func (s *Server) key(r *http.Request) (string, bool) {
	k, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		k = r.URL.Query().Get("api_key")
	}
	return k, k != "" && k == s.opts.APIKey
}

// DocumentedMinIntervals returns the minimum intervals Vast documents for
// the endpoints the fake serves: the threshold seconds in each operation's
// 429 example (vast-ai/docs @ c624622 api-reference/openapi.yaml). Search
// documents none. The map is new on each call.
func DocumentedMinIntervals() map[string]time.Duration {
	return map[string]time.Duration{
		"PUT /api/v0/asks/{id}/":         4500 * time.Millisecond, // createInstance
		"GET /api/v0/instances/{id}/":    2 * time.Second,         // showInstance
		"PUT /api/v0/instances/{id}/":    time.Second,             // manageInstance
		"DELETE /api/v0/instances/{id}/": 3 * time.Second,         // destroyInstance
		"GET /api/v1/instances/":         time.Second,             // showInstances
	}
}

func (s *Server) tooFast(r *http.Request) bool {
	endpoint := r.Method + " " + idSegment.ReplaceAllString(r.URL.Path, "/{id}/")
	interval := s.opts.MinIntervals[endpoint]
	if interval <= 0 {
		return false
	}
	k, _ := s.key(r)
	id := endpoint + "\x00" + k
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	last, seen := s.last[id]
	s.last[id] = now
	return seen && now.Sub(last) < interval
}

var idSegment = regexp.MustCompile(`/[0-9]+/`)

func (s *Server) write429(w http.ResponseWriter) {
	s.mu.Lock()
	s.n429++
	plain := s.n429%2 == 1
	s.mu.Unlock()
	if plain {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte("API requests too frequent"))
		return
	}
	fakekit.WriteJSON(w, http.StatusTooManyRequests, map[string]any{"detail": "API requests too frequent endpoint threshold=4.5"})
}

func vastError(w http.ResponseWriter, status int, code, msg string, extra map[string]any) {
	body := map[string]any{"success": false, "error": code, "msg": msg}
	for k, v := range extra {
		body[k] = v
	}
	fakekit.WriteJSON(w, status, body)
}

func (s *Server) requireAuth(w http.ResponseWriter, r *http.Request) bool {
	if _, ok := s.key(r); !ok {
		vastError(w, http.StatusUnauthorized, "auth_error", "Invalid user key", nil)
		return false
	}
	return true
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		vastError(w, http.StatusBadRequest, "invalid_args", "error 400: id must be a positive integer", nil)
		return 0, false
	}
	return id, true
}

func ptr[T any](v T) *T { return &v }

// --- search ---

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	if k, ok := s.key(r); k != "" && !ok {
		vastError(w, http.StatusNotFound, "auth_error", "Invalid user key", nil)
		return
	}
	var q map[string]json.RawMessage
	var err error
	if r.Method == http.MethodGet {
		raw := r.URL.Query().Get("q")
		if raw == "" {
			raw = "{}"
		}
		err = json.Unmarshal([]byte(raw), &q)
	} else {
		err = fakekit.ReadJSONLoose(r, &q)
	}
	if err != nil {
		vastError(w, http.StatusBadRequest, "invalid_args", "error 400: query is not a JSON object: "+err.Error(), nil)
		return
	}
	offers, err := s.filter(q)
	if err != nil {
		vastError(w, http.StatusBadRequest, "invalid_args", "error 400: "+err.Error(), nil)
		return
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"offers": offers})
}

func (s *Server) filter(q map[string]json.RawMessage) ([]map[string]any, error) {
	limit := 64
	var order [][]string
	for k, raw := range q {
		if !slices.Contains(SearchFields(), k) {
			return nil, fmt.Errorf("%s is not a valid search key", k)
		}
		switch k {
		case "type":
			var t string
			if json.Unmarshal(raw, &t) != nil || !slices.Contains([]string{"on-demand", "ondemand", "bid", "reserved"}, t) {
				return nil, fmt.Errorf("type must be on-demand, bid or reserved")
			}
		case "limit":
			if json.Unmarshal(raw, &limit) != nil || limit < 1 || limit > 1000 {
				return nil, fmt.Errorf("limit must be an integer in 1..1000")
			}
		case "order":
			if json.Unmarshal(raw, &order) != nil {
				return nil, fmt.Errorf(`order must be [["field","asc|desc"],...]`)
			}
		case "allocated_storage":
			var f float64
			if json.Unmarshal(raw, &f) != nil {
				return nil, fmt.Errorf("allocated_storage must be a number")
			}
		}
	}
	s.mu.Lock()
	asks := make([]map[string]any, 0, len(s.asks))
	for _, a := range s.asks {
		b, _ := json.Marshal(a)
		var m map[string]any
		json.Unmarshal(b, &m)
		asks = append(asks, m)
	}
	s.mu.Unlock()
	var out []map[string]any
	for _, a := range asks {
		ok, err := matches(a, q)
		if err != nil {
			return nil, err
		}
		if ok {
			a["search"] = map[string]any{"gpuCostPerHour": a["dph_base"], "totalHour": a["dph_total"], "diskHour": 0.0}
			out = append(out, a)
		}
	}
	if len(order) == 0 {
		order = [][]string{{"score", "desc"}}
	}
	slices.SortStableFunc(out, func(a, b map[string]any) int {
		for _, o := range order {
			if len(o) == 0 {
				continue
			}
			av, _ := a[o[0]].(float64)
			bv, _ := b[o[0]].(float64)
			c := 0
			if av < bv {
				c = -1
			} else if av > bv {
				c = 1
			}
			if len(o) > 1 && o[1] == "desc" {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		ai, _ := a["id"].(float64)
		bi, _ := b["id"].(float64)
		return int(ai - bi)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []map[string]any{}
	}
	return out, nil
}

var ops = []string{"eq", "neq", "gt", "lt", "gte", "lte", "in", "notin"}

// SearchFields returns the keys a search body may carry: the filter fields
// and options of Vast's search offers request (vast-ai/docs @ c624622
// api-reference/openapi.yaml, POST /api/v0/bundles), of which the offers
// the fake holds carry the ones Aurora could use. reliability2 is an offer
// field, not a documented filter. The slice is new on each call.
func SearchFields() []string {
	return []string{
		"limit", "type", "order", "allocated_storage", "disable_bundling", "show_incompatible",
		"verified", "rentable", "rented", "external", "gpu_name", "reliability", "num_gpus", "gpu_ram",
		"gpu_total_ram", "cpu_cores_effective", "cpu_ram", "disk_space", "dph_total", "geolocation",
		"machine_id", "host_id", "id", "datacenter", "verification", "direct_port_count", "static_ip",
		"cuda_max_good", "compute_cap", "min_bid", "storage_cost", "inet_up_cost", "inet_down_cost", "dlperf",
	}
}

func matches(a map[string]any, q map[string]json.RawMessage) (bool, error) {
	for field, raw := range q {
		switch field {
		case "type", "limit", "order", "allocated_storage", "disable_bundling", "show_incompatible":
			continue
		}
		have, known := a[field]
		if !known {
			return false, fmt.Errorf("unknown filter field %q", field)
		}
		var conds map[string]json.RawMessage
		if err := json.Unmarshal(raw, &conds); err != nil {
			return false, fmt.Errorf("filter %q must be an object of {op: value}", field)
		}
		if field == "geolocation" {
			g, _ := have.(string)
			if i := strings.LastIndex(g, ", "); i >= 0 {
				g = g[i+2:]
			}
			have = g
		}
		for op, rv := range conds {
			if !slices.Contains(ops, op) {
				return false, fmt.Errorf("filter %q: unknown op %q", field, op)
			}
			var want any
			if err := json.Unmarshal(rv, &want); err != nil {
				return false, fmt.Errorf("filter %q: bad value", field)
			}
			ok, err := compare(have, op, want)
			if err != nil {
				return false, fmt.Errorf("filter %q %s: %v", field, op, err)
			}
			if !ok {
				return false, nil
			}
		}
	}
	return true, nil
}

func compare(have any, op string, want any) (bool, error) {
	switch op {
	case "in", "notin":
		list, ok := want.([]any)
		if !ok {
			return false, fmt.Errorf("want a list")
		}
		found := false
		for _, w := range list {
			if equal(have, w) {
				found = true
			}
		}
		return found == (op == "in"), nil
	case "eq":
		return equal(have, want), nil
	case "neq":
		return !equal(have, want), nil
	}
	h, ok1 := have.(float64)
	w, ok2 := want.(float64)
	if !ok1 || !ok2 {
		return false, fmt.Errorf("ordering needs numbers")
	}
	switch op {
	case "gt":
		return h > w, nil
	case "lt":
		return h < w, nil
	case "gte":
		return h >= w, nil
	default:
		return h <= w, nil
	}
}

func equal(a, b any) bool {
	if as, ok := a.(string); ok {
		bs, ok := b.(string)
		return ok && strings.EqualFold(as, bs)
	}
	return a == b
}

// --- rent ---

// rentRequest is the documented create-instance body (OpenAPI + CLI).
type rentRequest struct {
	ClientID       string          `json:"client_id"`
	Image          string          `json:"image"`
	TemplateHashID string          `json:"template_hash_id"`
	Disk           float64         `json:"disk"`
	Label          string          `json:"label"`
	Runtype        string          `json:"runtype"`
	Args           []string        `json:"args"`
	ArgsStr        string          `json:"args_str"`
	Env            json.RawMessage `json:"env"`
	Onstart        string          `json:"onstart"`
	TargetState    string          `json:"target_state"`
	CancelUnavail  bool            `json:"cancel_unavail"`
	Price          *float64        `json:"price"`
	ImageLogin     *string         `json:"image_login"`
	PythonUTF8     bool            `json:"python_utf8"`
	LangUTF8       bool            `json:"lang_utf8"`
	UseJupyterLab  bool            `json:"use_jupyter_lab"`
	JupyterDir     *string         `json:"jupyter_dir"`
	Force          bool            `json:"force"`
	VM             bool            `json:"vm"`
}

var runtypes = []string{"ssh", "jupyter", "args", "ssh_proxy", "ssh_direct", "jupyter_proxy", "jupyter_direct"}

func (s *Server) rent(w http.ResponseWriter, r *http.Request) {
	if !s.requireAuth(w, r) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req rentRequest
	if err := fakekit.ReadJSON(r, &req); err != nil {
		vastError(w, http.StatusBadRequest, "invalid_args", "error 400/3467: "+err.Error(), map[string]any{"ask_id": id})
		return
	}
	env, err := parseEnv(req.Env)
	switch {
	case err != nil:
	case req.Image == "" && req.TemplateHashID == "":
		err = fmt.Errorf("image is required")
	case req.Runtype != "" && !slices.Contains(runtypes, req.Runtype):
		err = fmt.Errorf("runtype %q is not one of %v", req.Runtype, runtypes)
	case len(req.Onstart) > 4048:
		err = fmt.Errorf("onstart longer than 4048 characters")
	case req.Price != nil && (*req.Price < 0.001 || *req.Price > 128):
		err = fmt.Errorf("price out of range")
	case req.TargetState != "" && req.TargetState != "running" && req.TargetState != "stopped":
		err = fmt.Errorf("target_state must be running or stopped")
	}
	var login ImageLogin
	if err == nil && req.ImageLogin != nil && *req.ImageLogin != "" {
		login, err = parseImageLogin(*req.ImageLogin)
	}
	if err != nil {
		vastError(w, http.StatusBadRequest, "invalid_args", "error 400/3467: "+err.Error(), map[string]any{"ask_id": id})
		return
	}
	if s.TakeLaunchFailure() {
		vastError(w, http.StatusInternalServerError, "server_error", "error 500: internal error, please retry", nil)
		return
	}
	s.mu.Lock()
	a, exists := s.asks[id]
	switch {
	case !exists:
		s.mu.Unlock()
		// Documented: a 404 whose error is invalid_args; only msg names no_such_ask.
		vastError(w, http.StatusNotFound, "invalid_args", fmt.Sprintf("error 404/3603: no_such_ask Instance type by id %d is not available.", id), map[string]any{"ask_id": id})
		return
	case a.Rented || !a.Rentable:
		s.mu.Unlock()
		vastError(w, http.StatusGone, "no_such_ask", fmt.Sprintf("error 410/3907: no_such_ask Instance type %d is no longer available.", id), map[string]any{"ask_id": id})
		return
	}
	a.Rented, a.Rentable = true, false
	inID := s.nextID
	s.nextID++
	target := req.TargetState
	if target == "" {
		target = "running"
	}
	in := &Instance{
		ID: inID, MachineID: a.MachineID, IntendedStatus: target, CurState: "stopped", NextState: target,
		StatusMsg: "", ImageUUID: req.Image, ImageArgs: append([]string{}, req.Args...), Env: env, GPUName: a.GPUName, NumGPUs: a.NumGPUs,
		DPHTotal: a.DPHTotal, Geolocation: a.Geolocation, PublicIPAddr: a.PublicIPAddr,
		SSHHost: "ssh5.vast.ai", SSHPort: 10000 + inID%50000, StartDate: float64(s.opts.Now().Unix()),
		DiskSpace: req.Disk, Onstart: req.Onstart, askID: id, ImageRuntype: req.Runtype, Login: login,
		hostBase: 40000 + (inID%500)*20,
	}
	if strings.HasSuffix(req.Runtype, "_direct") {
		in.exposed = append(in.exposed, 22) // documented: _direct runtypes provision port 22
	}
	for k := range env {
		if p, ok := strings.CutPrefix(k, "-p "); ok {
			if cp, _, _ := strings.Cut(p, ":"); cp != "" {
				if n, err := strconv.ParseInt(cp, 10, 64); err == nil && !slices.Contains(in.exposed, n) {
					in.exposed = append(in.exposed, n)
				}
			}
		}
	}
	slices.Sort(in.exposed)
	if req.Label != "" {
		in.Label = ptr(req.Label)
	}
	s.instances[inID] = in
	s.mu.Unlock()
	if s.TakeLaunchLoss() {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"))
		return
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "new_contract": inID, "instance_api_key": fmt.Sprintf("inst-%x", inID)})
}

// parseEnv accepts both documented env encodings: the CLI's JSON object
// {"K":"V","-p 8000:8000":"1"} and the OpenAPI docker-flag string
// "-e K=V -p 8000:8000".
func parseEnv(raw json.RawMessage) (map[string]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err == nil {
		return m, nil
	}
	var flags string
	if err := json.Unmarshal(raw, &flags); err != nil {
		return nil, fmt.Errorf("env must be an object of strings or a docker flag string")
	}
	m = map[string]string{}
	f := strings.Fields(flags)
	for i := 0; i+1 < len(f); i += 2 {
		switch f[i] {
		case "-e":
			k, v, _ := strings.Cut(f[i+1], "=")
			m[k] = v
		case "-p":
			m["-p "+f[i+1]] = "1"
		default:
			return nil, fmt.Errorf("env flag %q not understood", f[i])
		}
	}
	return m, nil
}

// --- instances ---

func (s *Server) listInstances(w http.ResponseWriter, r *http.Request) {
	if !s.requireAuth(w, r) {
		return
	}
	list := s.Instances()
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"instances_found": len(list), "instances": list})
}

// v1Filterable are the contract columns the v1 listing filters on; computed
// fields (dph_total, num_gpus, ...) are 400 (vast-ai/docs @ c624622
// api-reference/openapi.yaml, showInstances select_filters).
var v1Filterable = []string{"actual_status", "gpu_name", "verification", "id", "label", "intended_status", "cur_state", "machine_id", "image_uuid"}

// listInstancesV1 serves GET /api/v1/instances/: keyset pages of at most 25
// (limit <= 0 means 5), ordered by id, filtered by select_filters. The
// after_token is the last id of the previous page, base64-free but opaque
// to clients.
func (s *Server) listInstancesV1(w http.ResponseWriter, r *http.Request) {
	if !s.requireAuth(w, r) {
		return
	}
	q := r.URL.Query()
	bad := func(code, msg string) {
		fakekit.WriteJSON(w, http.StatusBadRequest, map[string]any{"error": code, "msg": msg})
	}
	limit := 25
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			bad("invalid_request", "Error in query parameters: limit must be an integer")
			return
		case n <= 0:
			limit = 5
		default:
			limit = min(n, 25)
		}
	}
	filters := map[string]json.RawMessage{}
	if v := q.Get("select_filters"); v != "" {
		if err := json.Unmarshal([]byte(v), &filters); err != nil {
			bad("invalid_request", "Error in query parameters: select_filters is not a JSON object")
			return
		}
	}
	for k := range filters {
		if !slices.Contains(v1Filterable, k) {
			bad("invalid_request", fmt.Sprintf("Error in query parameters: %s is not a valid search key", k))
			return
		}
	}
	if v := q.Get("order_by"); v != "" {
		var order []struct {
			Col string `json:"col"`
			Dir string `json:"dir"`
		}
		if err := json.Unmarshal([]byte(v), &order); err != nil {
			bad("invalid_request", "Error in query parameters: order_by must be [{col,dir}]")
			return
		}
		for _, o := range order {
			if o.Col != "id" {
				bad("invalid_request", fmt.Sprintf("Error in query parameters: cannot order by %s in the fake", o.Col))
				return
			}
		}
	}
	var after int64
	if v := q.Get("after_token"); v != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(v, "after:"), 10, 64)
		if err != nil || !strings.HasPrefix(v, "after:") {
			bad("invalid_token", "invalid after_token")
			return
		}
		after = n
	}
	var matched []map[string]any
	labels := map[string]int{}
	for _, in := range s.Instances() {
		b, _ := json.Marshal(in)
		var m map[string]any
		json.Unmarshal(b, &m)
		ok, err := matches(m, filters)
		if err != nil {
			bad("invalid_request", "Error in query parameters: "+err.Error())
			return
		}
		if ok {
			matched = append(matched, m)
			label := ""
			if in.Label != nil {
				label = *in.Label
			}
			labels[label]++
		}
	}
	page := []map[string]any{}
	var next any
	for _, m := range matched {
		if id := int64(m["id"].(float64)); id > after {
			if len(page) == limit {
				last := int64(page[len(page)-1]["id"].(float64))
				next = fmt.Sprintf("after:%d", last)
				break
			}
			page = append(page, m)
		}
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{
		"success": true, "instances_found": len(page), "total_instances": len(matched),
		"label_counts": labels, "next_token": next, "instances": page,
	})
}

func (s *Server) getInstance(w http.ResponseWriter, r *http.Request) {
	if !s.requireAuth(w, r) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	in, exists := s.instances[id]
	var cp Instance
	if exists {
		cp = *in
	}
	s.mu.Unlock()
	if !exists {
		fakekit.WriteJSON(w, http.StatusOK, map[string]any{"instances": nil})
		return
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"instances": cp})
}

func (s *Server) changeInstance(w http.ResponseWriter, r *http.Request) {
	if !s.requireAuth(w, r) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req struct {
		State string  `json:"state"`
		Label *string `json:"label"`
	}
	if err := fakekit.ReadJSON(r, &req); err != nil || req.State != "" && req.State != "running" && req.State != "stopped" {
		vastError(w, http.StatusBadRequest, "invalid_args", "error 400: state must be running or stopped", nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, exists := s.instances[id]
	if !exists {
		vastError(w, http.StatusNotFound, "not_found", "Instance not found", nil)
		return
	}
	if req.State != "" {
		in.IntendedStatus, in.NextState = req.State, req.State
	}
	if req.Label != nil {
		in.Label = req.Label
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"success": true})
}

// attachSSH is attachSshKey: {"ssh_key": "..."} (minLength 1) on an
// instance of the key. Attaching a key twice keeps one copy [inference:
// Vast does not document a duplicate].
func (s *Server) attachSSH(w http.ResponseWriter, r *http.Request) {
	if !s.requireAuth(w, r) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req struct {
		SSHKey string `json:"ssh_key"`
	}
	if err := fakekit.ReadJSON(r, &req); err != nil || strings.TrimSpace(req.SSHKey) == "" {
		vastError(w, http.StatusBadRequest, "invalid_args", "error 400: ssh_key is required", nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, exists := s.instances[id]
	if !exists {
		vastError(w, http.StatusNotFound, "not_found", "Instance not found", nil)
		return
	}
	if !slices.Contains(in.SSHKeys, req.SSHKey) {
		in.SSHKeys = append(in.SSHKeys, req.SSHKey)
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "msg": "SSH key attached successfully"})
}

// Received implements providertest.LaunchInspector.
func (s *Server) Received(id string) (providertest.Received, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return providertest.Received{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[n]
	if !ok {
		return providertest.Received{}, false
	}
	env := make(map[string]string, len(in.Env))
	for k, v := range in.Env {
		env[k] = v
	}
	return providertest.Received{
		SSHKeys:        slices.Clone(in.SSHKeys),
		RegistryServer: in.Login.Registry, RegistryUsername: in.Login.Username, RegistrySecret: in.Login.Password,
		SecretEnv: env,
	}, true
}

func (s *Server) destroy(w http.ResponseWriter, r *http.Request) {
	if !s.requireAuth(w, r) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	in, exists := s.instances[id]
	if exists {
		delete(s.instances, id)
		if a := s.asks[in.askID]; a != nil {
			a.Rented, a.Rentable = false, true
		}
	}
	s.mu.Unlock()
	if !exists {
		vastError(w, http.StatusNotFound, "not_found", "Instance not found", nil)
		return
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "msg": fmt.Sprintf("destroying instance %d.", id)})
}

// --- logs ---

// LogsPath is where the fake serves the log files that showLogs points
// to: Vast answers with an S3 URL (api-reference/openapi.yaml showLogs:
// result_url, "https://s3.amazonaws.com/vast.ai/instance_logs/{hash}.log")
// that holds the file only once the host has uploaded it, so vast-cli
// fetches it until it answers 200 (vastai/api/instances.py logs).
const LogsPath = "/__fake/instance_logs/"

// maxLogLines caps one instance's fake container log.
const maxLogLines = 2000

// upload is one requested log file: 404 for its first pending fetches
// (not uploaded yet), then the text.
type upload struct {
	text    string
	pending int
}

// requestLogs serves showLogs (PUT /api/v0/instances/request_logs/{id}/):
// the body's fields are tail (a line count as a string), filter (a grep
// pattern) and daemon_logs ("true"); others are refused. The answer is
// {success, result_url, msg}; an unknown instance is 404 invalid_id.
func (s *Server) requestLogs(w http.ResponseWriter, r *http.Request) {
	if !s.requireAuth(w, r) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req struct {
		Tail       string `json:"tail"`
		Filter     string `json:"filter"`
		DaemonLogs string `json:"daemon_logs"`
	}
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			vastError(w, http.StatusBadRequest, "invalid_args", "error 400: "+err.Error(), nil)
			return
		}
	}
	tail := 1000 // vast-cli's documented default
	if req.Tail != "" {
		n, err := strconv.Atoi(req.Tail)
		if err != nil || n <= 0 {
			vastError(w, http.StatusBadRequest, "invalid_args", "error 400: tail must be a positive integer string", nil)
			return
		}
		tail = n
	}
	if req.DaemonLogs != "" && req.DaemonLogs != "true" {
		vastError(w, http.StatusBadRequest, "invalid_args", "error 400: daemon_logs must be \"true\"", nil)
		return
	}
	s.mu.Lock()
	in, exists := s.instances[id]
	var text string
	if exists {
		lines := in.logLines
		if req.DaemonLogs == "true" {
			lines = []string{"vast daemon: instance " + strconv.FormatInt(id, 10)}
		}
		var kept []string
		for _, l := range lines {
			if req.Filter == "" || strings.Contains(l, req.Filter) {
				kept = append(kept, l)
			}
		}
		if len(kept) > tail {
			kept = kept[len(kept)-tail:]
		}
		text = strings.Join(kept, "\n")
		if text != "" {
			text += "\n"
		}
		if s.uploads == nil {
			s.uploads = map[string]*upload{}
		}
	}
	name := fmt.Sprintf("%d-%d.log", id, len(s.uploads)+1)
	if exists {
		s.uploads[name] = &upload{text: text, pending: s.opts.LogUploadDelay}
	}
	s.mu.Unlock()
	if !exists {
		vastError(w, http.StatusNotFound, "invalid_id", "Invalid instance id.", nil)
		return
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"success": true, "result_url": s.baseOf(r) + LogsPath + name,
		"msg": "Logs will be uploaded to the result_url shortly."})
}

// getLogFile serves an "uploaded" log file, as S3 would: no credentials,
// 404 NoSuchKey until it is there.
func (s *Server) getLogFile(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	u := s.uploads[r.PathValue("name")]
	ready := u != nil && u.pending <= 0
	if u != nil && !ready {
		u.pending--
	}
	s.mu.Unlock()
	if !ready {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, u.text)
}

// baseOf is the scheme and host the request reached.
func (s *Server) baseOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
