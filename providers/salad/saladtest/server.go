// Package saladtest is a fake SaladCloud public API
// (https://api.salad.com/api/public, OpenAPI 0.9.0-alpha.17; notes §2) for
// tests and for `aurora testnet fake-provider --kind salad`. Paths, relative
// to the base URL that Start returns (it ends in /api/public):
//
//	GET    /organizations/{org}/gpu-classes                        {"items":[GpuClass]}
//	POST   /organizations/{org}/availability/sce-gpu-availability  counts per priority
//	POST   /organizations/{org}/availability/sce-cpu-availability  CPU-only capacity (batch)
//	GET    /organizations/{org}/projects/{proj}/containers         {"items":[ContainerGroup]}
//	POST   /organizations/{org}/projects/{proj}/containers         201 ContainerGroup; 400 name_conflict
//	GET    /organizations/{org}/projects/{proj}/containers/{name}  ContainerGroup
//	POST   .../containers/{name}/start | /stop                     202, empty body
//	DELETE .../containers/{name}                                   202, empty body
//	GET    .../containers/{name}/instances                         {"instances":[...]}
//
// Auth is the Salad-Api-Key header (401 without a valid key; 403 for an
// organization or project the key does not belong to). Errors are RFC 7807
// ProblemDetails {"type","title","status","detail","instance"} served as
// application/json as the published description has them (validation
// errors add "errors":{field:[msg]}; a taken name is 400 with type
// "name_conflict"), or, with Options.HTMLErrors or after
// HTMLNext, HTML pages as the notes warn Salad's edge sometimes sends. 429s
// are ProblemDetails; Options.RequestsPerMinute enables Salad's 240/min
// limit.
//
// Container group current_state.status: a group created with
// autostart_policy false is "stopped" until started; start_time and
// finish_time are always present (required in ContainerGroupState), the
// creation time until the group starts; start → "pending";
// each Advance then moves pending → "deploying" (instances allocating) →
// "running" (running_count = replicas). stop → "stopped".
package saladtest

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aurora-federation/aurora/providers/providertest"
	"github.com/aurora-federation/aurora/providers/providertest/fakekit"
)

var _ providertest.LaunchInspector = (*Server)(nil)

// Defaults.
const (
	DefaultAPIKey       = "salad-fake-key-0123456789abcdef"
	DefaultOrganization = "aurora"
	DefaultProject      = "default"
)

// GPUClass is one GPU class with its prices (USD/hour per replica, as
// decimal strings, per priority) and free GPUs per country and priority.
type GPUClass struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Prices       []Price        `json:"prices"`
	IsHighDemand bool           `json:"is_high_demand"`
	GPUClassType string         `json:"gpu_class_type"`
	GPUCount     int            `json:"gpu_count"`
	MinVCPU      int            `json:"min_vcpu"`
	MaxVCPU      int            `json:"max_vcpu"`
	MinRAM       int            `json:"min_ram"`
	MaxRAM       int            `json:"max_ram"`
	MinStorage   int64          `json:"min_storage"`
	MaxStorage   int64          `json:"max_storage"`
	Available    map[string]int `json:"-"` // country code → free GPUs (all priorities)
}

// Price is one priority's price.
type Price struct {
	Priority string `json:"priority"`
	Price    string `json:"price"`
}

// Options configures a Server. The zero value works.
type Options struct {
	// APIKey is the accepted Salad-Api-Key. Default DefaultAPIKey.
	APIKey string
	// Organization and Project the key may use. Defaults DefaultOrganization
	// and DefaultProject.
	Organization, Project string
	// GPUClasses is the inventory. Default DefaultGPUClasses().
	GPUClasses []GPUClass
	// CPUAvailable is the CPU-only capacity (replicas at batch priority) by
	// country. Default DefaultCPUAvailable().
	CPUAvailable map[string]int
	// HTMLErrors makes every error response an HTML page. Default false.
	HTMLErrors bool
	// RequestsPerMinute enables a per-key limit (Salad's is 240). Default 0
	// (off).
	RequestsPerMinute int
	// Now is the clock for timestamps and the rate limit. Default time.Now.
	Now func() time.Time
	// Logger logs each request. Default: discard.
	Logger *slog.Logger
}

// Server is the fake; a providertest.Fake. Safe for concurrent use.
type Server struct {
	fakekit.Faults
	opts Options
	log  *slog.Logger

	mu       sync.Mutex // protects following
	classes  []GPUClass
	groups   map[string]*group
	nextID   int
	htmlNext int
	window   []time.Time // RequestsPerMinute
	loop     fakekit.Loopback
}

type group struct {
	registry        *registryAuth     // as created; not echoed [inference]
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	DisplayName     string            `json:"display_name"`
	Organization    string            `json:"organization_name"`
	Project         string            `json:"project_name"`
	Priority        *string           `json:"priority"`
	ScheduledScale  bool              `json:"scheduled-scaling-enabled"`
	ScalingActions  []any             `json:"scaling-actions"`
	Container       container         `json:"container"`
	AutostartPolicy bool              `json:"autostart_policy"`
	RestartPolicy   string            `json:"restart_policy"`
	Replicas        int               `json:"replicas"`
	CurrentState    currentState      `json:"current_state"`
	CountryCodes    []string          `json:"country_codes"`
	Networking      *networking       `json:"networking,omitempty"`
	PendingChange   bool              `json:"pending_change"`
	Version         int               `json:"version"`
	CreateTime      string            `json:"create_time"`
	UpdateTime      string            `json:"update_time"`
	Labels          map[string]string `json:"-"`
}

type container struct {
	Image                string            `json:"image"`
	Resources            resources         `json:"resources"`
	Command              []string          `json:"command"`
	Priority             *string           `json:"priority"`
	EnvironmentVariables map[string]string `json:"environment_variables"`
	Size                 int64             `json:"size"`
	Hash                 string            `json:"hash"`
}

type resources struct {
	CPU           int      `json:"cpu"`
	Memory        int      `json:"memory"`
	GPUClasses    []string `json:"gpu_classes"`
	StorageAmount *int64   `json:"storage_amount,omitempty"`
	ShmSize       *int     `json:"shm_size,omitempty"`
}

type networking struct {
	Protocol     string `json:"protocol"`
	Port         int    `json:"port"`
	Auth         bool   `json:"auth"`
	DNS          string `json:"dns"`
	LoadBalancer string `json:"load_balancer"`
}

type currentState struct {
	Status               string       `json:"status"`
	Description          *string      `json:"description"`
	StartTime            string       `json:"start_time"`
	FinishTime           string       `json:"finish_time"`
	InstanceStatusCounts statusCounts `json:"instance_status_counts"`
}

type statusCounts struct {
	AllocatingCount int `json:"allocating_count"`
	CreatingCount   int `json:"creating_count"`
	RunningCount    int `json:"running_count"`
	StoppingCount   int `json:"stopping_count"`
}

// NewServer returns a fake with opts.
func NewServer(opts Options) *Server {
	if opts.APIKey == "" {
		opts.APIKey = DefaultAPIKey
	}
	if opts.Organization == "" {
		opts.Organization = DefaultOrganization
	}
	if opts.Project == "" {
		opts.Project = DefaultProject
	}
	if opts.GPUClasses == nil {
		opts.GPUClasses = DefaultGPUClasses()
	}
	if opts.CPUAvailable == nil {
		opts.CPUAvailable = DefaultCPUAvailable()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, log: log, classes: slices.Clone(opts.GPUClasses), groups: map[string]*group{}}
}

// DefaultGPUClasses is a seeded spread of classes, prices (USD/hour per
// replica, at 2025–26 SaladCloud levels) and free GPUs per country. In
// Aurora regions (providers.RegionForCountry; Salad knows only the country):
//
//	RTX 4090   us (us-east), ca, de (eu-central), gb (eu-west), jp
//	RTX 4080   us, de
//	RTX 3090   us, ca, br
//	RTX 3060   us, ph (not among the adapter's default countries)
//	A100       us, de, nl (eu-west)
//	H100       us, de, gb
func DefaultGPUClasses() []GPUClass {
	mk := func(n int, name, typ string, high, med, low, batch string, avail map[string]int) GPUClass {
		return GPUClass{
			ID: fmt.Sprintf("%08x-5a1a-4d00-8000-%012x", n, n), Name: name,
			Prices:       []Price{{"high", high}, {"medium", med}, {"low", low}, {"batch", batch}},
			GPUClassType: typ, GPUCount: 1, MinVCPU: 1, MaxVCPU: 16, MinRAM: 1024, MaxRAM: 61440,
			MinStorage: 0, MaxStorage: 53687091200, Available: avail,
		}
	}
	return []GPUClass{
		mk(1, "RTX 4090 (24 GB)", "community", "0.30", "0.25", "0.20", "0.16", map[string]int{"us": 12, "ca": 3, "de": 4, "gb": 2, "jp": 2}),
		mk(2, "RTX 4080 (16 GB)", "community", "0.22", "0.18", "0.14", "0.11", map[string]int{"us": 6, "de": 1}),
		mk(3, "RTX 3090 (24 GB)", "community", "0.18", "0.15", "0.12", "0.10", map[string]int{"us": 20, "ca": 5, "br": 3}),
		mk(4, "RTX 3060 (12 GB)", "community", "0.10", "0.08", "0.06", "0.05", map[string]int{"us": 40, "ph": 10}),
		mk(5, "A100 (80 GB)", "secure", "1.20", "1.05", "0.95", "0.80", map[string]int{"us": 3, "de": 2, "nl": 2}),
		mk(6, "H100 (80 GB)", "secure", "2.49", "2.19", "1.99", "1.79", map[string]int{"us": 4, "de": 2, "gb": 2}),
	}
}

// DefaultCPUAvailable is the seeded CPU-only capacity by country.
func DefaultCPUAvailable() map[string]int {
	return map[string]int{"us": 200, "ca": 40, "de": 60, "gb": 30, "br": 20}
}

// Start listens on loopback and returns the API base URL, ending in
// /api/public. Close stops it.
func (s *Server) Start() string {
	return s.loop.Start(s.Handler, "/api/public")
}

// URL returns the base URL of a started server (ending in /api/public), or "".
func (s *Server) URL() string {
	return s.loop.URL("/api/public")
}

// Close stops a started server.
func (s *Server) Close() {
	s.loop.Close()
}

// HTMLNext answers the next n requests with a 502 HTML page, as an edge
// proxy would.
func (s *Server) HTMLNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.htmlNext = max(n, 0)
}

// Advance moves started groups one step: pending → deploying → running.
func (s *Server) Advance() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, g := range s.groups {
		st := &g.CurrentState
		switch st.Status {
		case "pending":
			st.Status = "deploying"
			st.InstanceStatusCounts = statusCounts{AllocatingCount: g.Replicas}
		case "deploying":
			st.Status = "running"
			st.InstanceStatusCounts = statusCounts{RunningCount: g.Replicas}
		}
		g.UpdateTime = now
	}
}

// SetStatus forces a group's current_state.status ("failed", "succeeded",
// ...). It reports whether the group exists.
func (s *Server) SetStatus(name, status string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[name]
	if ok {
		g.CurrentState.Status = status
	}
	return ok
}

// Workloads counts existing container groups.
func (s *Server) Workloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.groups)
}

// Group returns a copy of a container group as JSON-ready map fields, for
// tests: image, command, env, gpu classes, priority, country codes, status.
func (s *Server) Group(name string) (GroupView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[name]
	if !ok {
		return GroupView{}, false
	}
	v := GroupView{
		Name: g.Name, Image: g.Container.Image, Command: slices.Clone(g.Container.Command),
		Env: g.Container.EnvironmentVariables, GPUClasses: slices.Clone(g.Container.Resources.GPUClasses),
		CPU: g.Container.Resources.CPU, Memory: g.Container.Resources.Memory,
		CountryCodes: slices.Clone(g.CountryCodes), Status: g.CurrentState.Status, Autostart: g.AutostartPolicy,
		RestartPolicy: g.RestartPolicy, Replicas: g.Replicas,
	}
	if g.Container.Priority != nil {
		v.Priority = *g.Container.Priority
	}
	if g.Networking != nil {
		v.Port = g.Networking.Port
	}
	return v, true
}

// GroupView is a test's view of a container group.
type GroupView struct {
	Name, Image, Priority, Status, RestartPolicy string
	Command, GPUClasses, CountryCodes            []string
	Env                                          map[string]string
	CPU, Memory, Port, Replicas                  int
	Autostart                                    bool
}

func (s *Server) now() string { return s.opts.Now().UTC().Format(time.RFC3339) }

// Handler returns the API handler (paths under /api/public).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	const org = "/api/public/organizations/{org}"
	const proj = org + "/projects/{proj}/containers"
	mux.HandleFunc("GET "+org+"/gpu-classes", s.gpuClasses)
	mux.HandleFunc("POST "+org+"/availability/sce-gpu-availability", s.availability)
	mux.HandleFunc("POST "+org+"/availability/sce-cpu-availability", s.cpuAvailability)
	mux.HandleFunc("GET "+proj, s.listGroups)
	mux.HandleFunc("POST "+proj, s.createGroup)
	mux.HandleFunc("GET "+proj+"/{name}", s.getGroup)
	mux.HandleFunc("POST "+proj+"/{name}/start", s.startGroup)
	mux.HandleFunc("POST "+proj+"/{name}/stop", s.stopGroup)
	mux.HandleFunc("DELETE "+proj+"/{name}", s.deleteGroup)
	mux.HandleFunc("GET "+proj+"/{name}/instances", s.instances)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.DelayRequest(r) {
			return
		}
		s.mu.Lock()
		html := s.htmlNext > 0
		if html {
			s.htmlNext--
		}
		s.mu.Unlock()
		switch {
		case html:
			writeHTML(w, http.StatusBadGateway, "502 Bad Gateway")
		case s.TakeRateLimit() || s.overLimit():
			s.problem(w, http.StatusTooManyRequests, "Too Many Requests", "rate limit exceeded: 240 requests per minute", nil)
		case r.Header.Get("Salad-Api-Key") != s.opts.APIKey || s.opts.APIKey == "":
			s.problem(w, http.StatusUnauthorized, "Unauthorized", "missing or invalid Salad-Api-Key", nil)
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

func (s *Server) overLimit() bool {
	if s.opts.RequestsPerMinute <= 0 {
		return false
	}
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.window[:0]
	for _, t := range s.window {
		if now.Sub(t) < time.Minute {
			kept = append(kept, t)
		}
	}
	s.window = kept
	if len(s.window) >= s.opts.RequestsPerMinute {
		return true
	}
	s.window = append(s.window, now)
	return false
}

func writeHTML(w http.ResponseWriter, status int, title string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>%s</title></head><body><h1>%s</h1><p>salad.com edge</p></body></html>", title, title)
}

func (s *Server) problem(w http.ResponseWriter, status int, title, detail string, errs map[string][]string) {
	s.problemType(w, status, "https://docs.salad.com/errors/"+strings.ToLower(strings.ReplaceAll(title, " ", "-")), title, detail, errs)
}

func (s *Server) problemType(w http.ResponseWriter, status int, typ, title, detail string, errs map[string][]string) {
	if s.opts.HTMLErrors {
		writeHTML(w, status, fmt.Sprintf("%d %s", status, title))
		return
	}
	body := map[string]any{"type": typ, "title": title, "status": status, "detail": detail}
	if errs != nil {
		body["errors"] = errs
	}
	fakekit.WriteJSON(w, status, body)
}

// scope checks org and project; the key belongs to one of each.
func (s *Server) scope(w http.ResponseWriter, r *http.Request, needProject bool) bool {
	if r.PathValue("org") != s.opts.Organization || needProject && r.PathValue("proj") != s.opts.Project {
		s.problem(w, http.StatusForbidden, "Forbidden", "the API key has no access to this organization or project", nil)
		return false
	}
	return true
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,61}[a-z0-9]$`)

// Storage bounds of CreateContainerResourceRequirements.storage_amount, in
// bytes (salad-cloud-docs @ 504c704 api-specs/salad-cloud.yaml).
const (
	minStorage = 1 << 30
	maxStorage = 1 << 50
)

func (s *Server) cpuAvailability(w http.ResponseWriter, r *http.Request) {
	if !s.scope(w, r, false) {
		return
	}
	var req struct {
		CountryCodes  []string `json:"country_codes"`
		CPU           *int     `json:"cpu"`
		Memory        *int     `json:"memory"`
		StorageAmount *int64   `json:"storage_amount"`
	}
	if err := fakekit.ReadJSON(r, &req); err != nil {
		s.problem(w, http.StatusBadRequest, "Bad Request", err.Error(), nil)
		return
	}
	total := 0
	for cc, n := range s.opts.CPUAvailable {
		if len(req.CountryCodes) == 0 || slices.Contains(req.CountryCodes, cc) {
			total += n
		}
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"available_cpu_batch": total, "on_call_cpu": total / 4})
}

func (s *Server) gpuClasses(w http.ResponseWriter, r *http.Request) {
	if !s.scope(w, r, false) {
		return
	}
	s.mu.Lock()
	items := slices.Clone(s.classes)
	s.mu.Unlock()
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) availability(w http.ResponseWriter, r *http.Request) {
	if !s.scope(w, r, false) {
		return
	}
	var req struct {
		GPUClasses    []string `json:"gpu_classes"`
		CountryCodes  []string `json:"country_codes"`
		CPU           int      `json:"cpu"`
		Memory        int      `json:"memory"`
		StorageAmount int64    `json:"storage_amount"`
	}
	if err := fakekit.ReadJSON(r, &req); err != nil {
		s.problem(w, http.StatusBadRequest, "Bad Request", err.Error(), nil)
		return
	}
	if len(req.GPUClasses) == 0 {
		s.problem(w, http.StatusBadRequest, "Validation Error", "gpu_classes is required", map[string][]string{"gpu_classes": {"at least one"}})
		return
	}
	total := 0
	s.mu.Lock()
	for _, c := range s.classes {
		if !slices.Contains(req.GPUClasses, c.ID) {
			continue
		}
		for cc, n := range c.Available {
			if len(req.CountryCodes) == 0 || slices.Contains(req.CountryCodes, cc) {
				total += n
			}
		}
	}
	s.mu.Unlock()
	// Higher priorities get fewer GPUs: they displace lower ones.
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{
		"available_gpu_high": total / 2, "available_gpu_medium": total * 2 / 3,
		"available_gpu_low": total, "available_gpu_batch": total, "on_call_gpu": total / 4,
	})
}

// createRequest is the documented ContainerGroupCreationRequest (subset of
// optional fields Aurora could send; unknown fields are rejected).
type createRequest struct {
	Name                   string            `json:"name"`
	DisplayName            string            `json:"display_name"`
	Container              createContainer   `json:"container"`
	AutostartPolicy        *bool             `json:"autostart_policy"`
	RestartPolicy          string            `json:"restart_policy"`
	Replicas               *int              `json:"replicas"`
	CountryCodes           []string          `json:"country_codes"`
	Networking             *createNetworking `json:"networking"`
	LivenessProbe          any               `json:"liveness_probe"`
	ReadinessProbe         any               `json:"readiness_probe"`
	StartupProbe           any               `json:"startup_probe"`
	QueueConnection        any               `json:"queue_connection"`
	QueueAutoscaler        any               `json:"queue_autoscaler"`
	RegistryAuthentication any               `json:"registry_authentication"`
}

type createContainer struct {
	Image                  string            `json:"image"`
	Resources              resources         `json:"resources"`
	Command                []string          `json:"command"`
	Priority               *string           `json:"priority"`
	EnvironmentVariables   map[string]string `json:"environment_variables"`
	Logging                any               `json:"logging"`
	RegistryAuthentication *registryAuth     `json:"registry_authentication"`
	ImageCaching           *bool             `json:"image_caching"`
}

// registryAuth is ContainerRegistryAuthentication (api-specs/salad-cloud.yaml):
// one of five kinds; basic and docker_hub are the username/secret ones.
type registryAuth struct {
	AwsEcr *struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	} `json:"aws_ecr"`
	Basic *struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"basic"`
	DockerHub *struct {
		Username            string `json:"username"`
		PersonalAccessToken string `json:"personal_access_token"`
	} `json:"docker_hub"`
	GcpGar *struct {
		ServiceKey string `json:"service_key"`
	} `json:"gcp_gar"`
	GcpGcr *struct {
		ServiceKey string `json:"service_key"`
	} `json:"gcp_gcr"`
}

// check applies the schema's required fields and 1..10000 lengths, and
// refuses more than one kind at once [inference: the spec lists them as
// alternatives and does not say which would win].
func (a *registryAuth) check() string {
	ok := func(v string) bool { return len(v) >= 1 && len(v) <= 10000 && !strings.ContainsAny(v, "\r\n") }
	n := 0
	bad := ""
	if a.AwsEcr != nil {
		n++
		if !ok(a.AwsEcr.AccessKeyID) || !ok(a.AwsEcr.SecretAccessKey) {
			bad = "aws_ecr needs access_key_id and secret_access_key"
		}
	}
	if a.Basic != nil {
		n++
		if !ok(a.Basic.Username) || !ok(a.Basic.Password) {
			bad = "basic needs username and password"
		}
	}
	if a.DockerHub != nil {
		n++
		if !ok(a.DockerHub.Username) || !ok(a.DockerHub.PersonalAccessToken) {
			bad = "docker_hub needs username and personal_access_token"
		}
	}
	if a.GcpGar != nil {
		n++
		if !ok(a.GcpGar.ServiceKey) {
			bad = "gcp_gar needs service_key"
		}
	}
	if a.GcpGcr != nil {
		n++
		if !ok(a.GcpGcr.ServiceKey) {
			bad = "gcp_gcr needs service_key"
		}
	}
	switch {
	case bad != "":
		return bad
	case n != 1:
		return "exactly one of aws_ecr, basic, docker_hub, gcp_gar, gcp_gcr"
	}
	return ""
}

type createNetworking struct {
	Protocol              string `json:"protocol"`
	Port                  int    `json:"port"`
	Auth                  bool   `json:"auth"`
	LoadBalancer          string `json:"load_balancer"`
	SingleConnectionLimit bool   `json:"single_connection_limit"`
	ClientRequestTimeout  int    `json:"client_request_timeout"`
	ServerResponseTimeout int    `json:"server_response_timeout"`
}

var (
	restartPolicies = []string{"always", "on_failure", "never"}
	priorities      = []string{"high", "medium", "low", "batch"}
	countryRE       = regexp.MustCompile(`^[a-z]{2}$`)
)

func (s *Server) validate(req *createRequest) map[string][]string {
	errs := map[string][]string{}
	add := func(f, m string) { errs[f] = append(errs[f], m) }
	if !nameRE.MatchString(req.Name) {
		add("name", "must match ^[a-z][a-z0-9-]{0,61}[a-z0-9]$")
	}
	c := req.Container
	if c.Image == "" {
		add("container.image", "is required")
	}
	if c.Resources.CPU < 1 || c.Resources.CPU > 1024 {
		add("container.resources.cpu", "must be in 1..1024")
	}
	if c.Resources.Memory < 1024 {
		add("container.resources.memory", "must be at least 1024 (MB)")
	}
	if n := c.Resources.StorageAmount; n != nil && (*n < minStorage || *n > maxStorage) {
		add("container.resources.storage_amount", "must be 1073741824..1125899906842624 bytes")
	}
	s.mu.Lock()
	for _, id := range c.Resources.GPUClasses {
		if !slices.ContainsFunc(s.classes, func(g GPUClass) bool { return g.ID == id }) {
			add("container.resources.gpu_classes", "unknown gpu class "+id)
		}
	}
	s.mu.Unlock()
	if c.Priority != nil && !slices.Contains(priorities, *c.Priority) {
		add("container.priority", "must be high, medium, low or batch")
	}
	if req.AutostartPolicy == nil {
		add("autostart_policy", "is required")
	}
	if !slices.Contains(restartPolicies, req.RestartPolicy) {
		add("restart_policy", "must be always, on_failure or never")
	}
	if req.Replicas == nil || *req.Replicas < 0 || *req.Replicas > 500 {
		add("replicas", "is required, 0..500")
	}
	for _, cc := range req.CountryCodes {
		if !countryRE.MatchString(cc) {
			add("country_codes", "lowercase ISO 3166-1 alpha-2 codes only: "+cc)
		}
	}
	if n := req.Networking; n != nil && (n.Protocol != "http" || n.Port < 1 || n.Port > 65535) {
		add("networking", "protocol must be http and port 1..65535")
	}
	if a := c.RegistryAuthentication; a != nil {
		if bad := a.check(); bad != "" {
			add("container.registry_authentication", bad)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) {
	if !s.scope(w, r, true) {
		return
	}
	var req createRequest
	if err := fakekit.ReadJSON(r, &req); err != nil {
		s.problem(w, http.StatusBadRequest, "Bad Request", "invalid request body: "+err.Error(), nil)
		return
	}
	if errs := s.validate(&req); errs != nil {
		s.problem(w, http.StatusBadRequest, "Validation Error", "one or more fields are invalid", errs)
		return
	}
	if s.TakeLaunchFailure() {
		if s.opts.HTMLErrors {
			writeHTML(w, http.StatusInternalServerError, "500 Internal Server Error")
			return
		}
		s.problem(w, http.StatusInternalServerError, "Internal Server Error", "an unexpected error occurred", nil)
		return
	}
	s.mu.Lock()
	if _, taken := s.groups[req.Name]; taken {
		s.mu.Unlock()
		s.problemType(w, http.StatusBadRequest, "name_conflict", "Name Conflict", "a container group named "+req.Name+" already exists", nil)
		return
	}
	s.nextID++
	now := s.now()
	g := &group{
		ID: fmt.Sprintf("%08x-c0de-4000-8000-%012x", s.nextID, s.nextID), Name: req.Name, DisplayName: req.DisplayName,
		Container: container{
			Image: req.Container.Image, Resources: req.Container.Resources, Command: req.Container.Command,
			Priority: req.Container.Priority, EnvironmentVariables: req.Container.EnvironmentVariables,
			Size: 1 << 30, Hash: fmt.Sprintf("sha256:%064x", s.nextID),
		},
		AutostartPolicy: *req.AutostartPolicy, RestartPolicy: req.RestartPolicy, Replicas: *req.Replicas,
		CountryCodes: req.CountryCodes, Version: 1, CreateTime: now, UpdateTime: now,
		Organization: s.opts.Organization, Project: s.opts.Project, Priority: req.Container.Priority,
		ScalingActions: []any{},
		CurrentState:   currentState{Status: "stopped", StartTime: now, FinishTime: now},
		registry:       req.Container.RegistryAuthentication,
	}
	if g.Container.EnvironmentVariables == nil {
		g.Container.EnvironmentVariables = map[string]string{}
	}
	if g.Container.Resources.GPUClasses == nil {
		g.Container.Resources.GPUClasses = []string{}
	}
	if g.CountryCodes == nil {
		g.CountryCodes = []string{}
	}
	if g.DisplayName == "" {
		g.DisplayName = g.Name
	}
	if n := req.Networking; n != nil {
		lb := n.LoadBalancer
		if lb == "" {
			lb = "round_robin"
		}
		g.Networking = &networking{Protocol: n.Protocol, Port: n.Port, Auth: n.Auth, DNS: g.Name + ".salad.cloud", LoadBalancer: lb}
	}
	if g.AutostartPolicy {
		startLocked(g, now)
	}
	s.groups[g.Name] = g
	body := *g
	s.mu.Unlock()
	if s.TakeLaunchLoss() {
		writeHTML(w, http.StatusBadGateway, "502 Bad Gateway")
		return
	}
	fakekit.WriteJSON(w, http.StatusCreated, body)
}

func startLocked(g *group, now string) {
	g.CurrentState = currentState{Status: "pending", StartTime: now, FinishTime: now}
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (*group, bool) {
	if !s.scope(w, r, true) {
		return nil, false
	}
	name := r.PathValue("name")
	if !nameRE.MatchString(name) {
		s.problem(w, http.StatusBadRequest, "Validation Error", "container group name is invalid", map[string][]string{"name": {"invalid"}})
		return nil, false
	}
	s.mu.Lock()
	g, ok := s.groups[name]
	s.mu.Unlock()
	if !ok {
		s.problem(w, http.StatusNotFound, "Not Found", "container group "+name+" not found", nil)
		return nil, false
	}
	return g, true
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	if !s.scope(w, r, true) {
		return
	}
	s.mu.Lock()
	items := make([]group, 0, len(s.groups))
	for _, g := range s.groups {
		items = append(items, *g)
	}
	s.mu.Unlock()
	slices.SortFunc(items, func(a, b group) int { return strings.Compare(a.Name, b.Name) })
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) {
	g, ok := s.lookup(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	body := *g
	s.mu.Unlock()
	fakekit.WriteJSON(w, http.StatusOK, body)
}

func (s *Server) startGroup(w http.ResponseWriter, r *http.Request) {
	g, ok := s.lookup(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	if g.CurrentState.Status == "stopped" {
		startLocked(g, s.now())
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) stopGroup(w http.ResponseWriter, r *http.Request) {
	g, ok := s.lookup(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	now := s.now()
	g.CurrentState = currentState{Status: "stopped", StartTime: g.CurrentState.StartTime, FinishTime: now}
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) {
	g, ok := s.lookup(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	delete(s.groups, g.Name)
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) instances(w http.ResponseWriter, r *http.Request) {
	g, ok := s.lookup(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	state := map[string]string{"pending": "allocating", "deploying": "downloading", "running": "running"}[g.CurrentState.Status]
	list := []map[string]any{}
	if state != "" {
		for i := range g.Replicas {
			list = append(list, map[string]any{
				"id": fmt.Sprintf("%s-%d", g.ID[:8], i), "machine_id": fmt.Sprintf("m-%d", i), "state": state,
				"ready": state == "running", "started": state == "running", "update_time": g.UpdateTime, "version": g.Version,
			})
		}
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"instances": list})
}

// Received implements providertest.LaunchInspector: the registry login of
// group name, from its basic or docker_hub registry_authentication.
func (s *Server) Received(name string) (providertest.Received, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[name]
	if !ok {
		return providertest.Received{}, false
	}
	var r providertest.Received
	r.SecretEnv = make(map[string]string, len(g.Container.EnvironmentVariables))
	for k, v := range g.Container.EnvironmentVariables {
		r.SecretEnv[k] = v
	}
	if a := g.registry; a != nil {
		switch {
		case a.Basic != nil:
			r.RegistryUsername, r.RegistrySecret = a.Basic.Username, a.Basic.Password
		case a.DockerHub != nil:
			r.RegistryServer, r.RegistryUsername, r.RegistrySecret = "docker.io", a.DockerHub.Username, a.DockerHub.PersonalAccessToken
		}
	}
	return r, true
}
