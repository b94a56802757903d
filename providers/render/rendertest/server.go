// Package rendertest is a fake Render Compute ("Dispersed") API server for
// the render adapter's tests and for
// `aurora testnet fake-provider --kind render`. It does not import testing.
//
// It serves, under /v1 (URL() includes it):
//
//	GET /v1/compute/offers?limit=(1-50)&page=(1-)&filter[gpu_name]=&filter[gpu_count]=&filter[min_vram_gb]=&filter[allowed_region_codes]=a,b
//	    {"data":[{offer_id,region_code,pricing{hourly_rate_usd,quoted_at},hardware_summary{...},availability{}}],"limit","page","total"}
//	POST /v1/jobs                 → 201 Job object (status PENDING)
//	GET  /v1/jobs?limit=&page=    → {"data":[Job...],"limit","page","total"}, newest first
//	GET  /v1/jobs/{uuid}          → Job
//	PUT  /v1/jobs/{uuid}/cancel   {"reason":"..."} → Job (CANCELLED)
//	GET  /v1/job-runs?filter[job_uuid]= → {"data":[{uuid,status,started_at_ms,node_urls}],"page","limit","total"}
//
// Every request must carry a valid HMAC signature (X-API-Key, X-Time within
// ±5 min of the fake's clock, an unused 32-hex X-Nonce, X-Signature), checked
// by Verifier, an implementation independent of the adapter's signer.
//
// The API documents neither its error body nor its rate limits; the fake
// answers errors as {"error":{"code":"...","message":"..."}} and 429 with
// Retry-After: 1 — a hypothetical shape, labelled as such.
//
// Job progression, one step per Advance: PENDING → ASSIGNED (or FAILED when
// no offer matches the job's hardware) → RUNNING; a BATCH job stays
// RUNNING until Complete. Cancel moves any live job to CANCELLED.
//
// GPUs: a job names its GPU by gpu_name, the name of a GPU in the network's
// GpuRegistry ("NVIDIA RTX 4090"), or by gpu_registry_uuid, that GPU's uuid
// ("for exact GPU targeting"), never both (docs api-reference/jobs/
// create-job). The fake matches them exactly against its offers'
// gpu_models[].name and gpu_registry_uuid (RegistryUUID of the model): a
// looser spelling ("RTX 4090", "rtx4090") names no registry GPU, so the job
// is never assigned and fails. Constraints lists the rules.
package rendertest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
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

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/providertest"
	"github.com/aurora-federation/aurora/providers/providertest/fakekit"
)

// Defaults of Options.
const (
	DefaultPublicKey = "pk_fake_aurora"
	DefaultSecretKey = "sk_fake_aurora_secret"
)

// Offer is one entry of the fake's market.
type Offer struct {
	ID         string
	Region     string
	GPUModel   string
	GPUCount   int64
	VRAMGiB    int64
	CPUCores   int64
	RAMGiB     int64
	StorageGiB int64
	HourlyUSD  string // decimal text
}

// DefaultOffers is a small market: RTX 4090s at three prices in two US
// regions, an A100 in Frankfurt and an 8×H100 node.
func DefaultOffers() []Offer {
	return []Offer{
		{ID: "off-4090-use1", Region: "us-east-1", GPUModel: "NVIDIA RTX 4090", GPUCount: 1, VRAMGiB: 24, CPUCores: 16, RAMGiB: 64, StorageGiB: 500, HourlyUSD: "0.39"},
		{ID: "off-4090-usw2-a", Region: "us-west-2", GPUModel: "NVIDIA RTX 4090", GPUCount: 1, VRAMGiB: 24, CPUCores: 16, RAMGiB: 64, StorageGiB: 500, HourlyUSD: "0.45"},
		{ID: "off-4090-usw2-b", Region: "us-west-2", GPUModel: "NVIDIA RTX 4090", GPUCount: 2, VRAMGiB: 24, CPUCores: 32, RAMGiB: 128, StorageGiB: 1000, HourlyUSD: "0.86"},
		{ID: "off-a100-euc1", Region: "eu-central-1", GPUModel: "NVIDIA A100 80GB", GPUCount: 1, VRAMGiB: 80, CPUCores: 24, RAMGiB: 128, StorageGiB: 1000, HourlyUSD: "1.60"},
		{ID: "off-h100x8-usw2", Region: "us-west-2", GPUModel: "NVIDIA H100", GPUCount: 8, VRAMGiB: 80, CPUCores: 192, RAMGiB: 1536, StorageGiB: 8000, HourlyUSD: "18.40"},
	}
}

// Options configure a Server. The zero value serves DefaultOffers with the
// default key pair on 127.0.0.1:0.
type Options struct {
	PublicKey, SecretKey string
	Offers               []Offer
	// Now is the fake's clock (X-Time checks and timestamps). Default time.Now.
	Now func() time.Time
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
}

// Server is the fake. Safe for concurrent use.
type Server struct {
	fakekit.Faults

	verifier *Verifier
	now      func() time.Time
	log      *slog.Logger

	mu     sync.Mutex // protects following
	offers []Offer
	jobs   []*Job
	byID   map[string]*Job
	loop   fakekit.Loopback
}

// Job is a job on the fake. Snapshots returned by Jobs are copies.
type Job struct {
	UUID, Status, StatusReason, Task, Title string
	CPUCount, GPUCount                      int64
	GPUName, GPURegistryUUID                string
	MinRAMGB, MinStorageGB, MinVRAMGB       int64
	MaxTimeoutRunMS                         *int64
	Image, Tag                              string
	Env                                     map[string]string
	Ports                                   []int64
	Created, Updated, Started, Completed    time.Time
	Offer                                   string // offer it was assigned to
}

// NewServer returns a fake; call Start to listen or use Handler.
func NewServer(opts Options) *Server {
	if opts.PublicKey == "" {
		opts.PublicKey = DefaultPublicKey
	}
	if opts.SecretKey == "" {
		opts.SecretKey = DefaultSecretKey
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Offers == nil {
		opts.Offers = DefaultOffers()
	}
	return &Server{
		verifier: &Verifier{PublicKey: opts.PublicKey, SecretKey: opts.SecretKey, Now: opts.Now},
		now:      opts.Now, log: opts.Logger,
		offers: slices.Clone(opts.Offers), byID: map[string]*Job{},
	}
}

// PublicKey and SecretKey return the key pair the fake accepts.
func (s *Server) PublicKey() string { return s.verifier.PublicKey }

// SecretKey returns the HMAC secret the fake accepts.
func (s *Server) SecretKey() string { return s.verifier.SecretKey }

// Start serves on a loopback port (until Close) and returns the base URL
// for the adapter's Config.BaseURL. To serve elsewhere (a process, a
// chosen address), use Handler with your own listener.
func (s *Server) Start() string {
	return s.loop.Start(s.Handler, "/v1")
}

// URL returns the base URL of a started server, or "".
func (s *Server) URL() string {
	return s.loop.URL("/v1")
}

// Close stops a started server and waits for its handlers.
func (s *Server) Close() {
	s.loop.Close()
}

// Advance moves every job one step along PENDING → ASSIGNED → RUNNING.
func (s *Server) Advance() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	for _, j := range s.jobs {
		switch j.Status {
		case "PENDING":
			if o := s.matchLocked(j); o != nil {
				j.Status, j.Offer = "ASSIGNED", o.ID
			} else {
				j.Status, j.StatusReason, j.Completed = "FAILED", "no node matched the job's hardware within max_timeout_assign_ms", now
			}
			j.Updated = now
		case "ASSIGNED":
			j.Status, j.Started, j.Updated = "RUNNING", now, now
		}
	}
}

// Complete finishes a running job normally. It reports whether it was running.
func (s *Server) Complete(uuid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.byID[uuid]
	if j == nil || j.Status != "RUNNING" {
		return false
	}
	now := s.now().UTC()
	j.Status, j.Completed, j.Updated = "COMPLETED", now, now
	return true
}

// Workloads counts jobs that are PENDING, ASSIGNED or RUNNING.
func (s *Server) Workloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, j := range s.jobs {
		if live(j.Status) {
			n++
		}
	}
	return n
}

func live(status string) bool {
	return status == "PENDING" || status == "ASSIGNED" || status == "RUNNING"
}

// Jobs returns copies of every job, oldest first.
func (s *Server) Jobs() []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Job, len(s.jobs))
	for i, j := range s.jobs {
		c := *j
		c.Env = make(map[string]string, len(j.Env))
		for k, v := range j.Env {
			c.Env[k] = v
		}
		c.Ports = slices.Clone(j.Ports)
		out[i] = c
	}
	return out
}

// RegistryUUID is the fake GpuRegistry's uuid of a GPU model: a name-based
// (version 5 layout) uuid of the model name, stable across runs.
func RegistryUUID(model string) string {
	h := sha256.Sum256([]byte("aurora-rendertest-gpu-registry/" + model))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// gpuMatches reports whether offer o has the GPU job j names, exactly.
func gpuMatches(j *Job, o *Offer) bool {
	switch {
	case j.GPURegistryUUID != "":
		return j.GPURegistryUUID == RegistryUUID(o.GPUModel)
	case j.GPUName != "":
		return j.GPUName == o.GPUModel
	}
	return true // "the system will choose the first available GPU"
}

func (s *Server) matchLocked(j *Job) *Offer {
	for i := range s.offers {
		o := &s.offers[i]
		if j.GPUCount > 0 && (o.GPUCount < j.GPUCount || !gpuMatches(j, o)) {
			continue
		}
		if j.MinVRAMGB > o.VRAMGiB && j.GPUCount > 0 || j.CPUCount > o.CPUCores || j.MinRAMGB > o.RAMGiB || j.MinStorageGB > o.StorageGiB {
			continue
		}
		return o
	}
	return nil
}

// Handler serves the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/compute/offers", s.handleOffers)
	mux.HandleFunc("POST /v1/jobs", s.handleCreate)
	mux.HandleFunc("GET /v1/jobs", s.handleList)
	mux.HandleFunc("GET /v1/jobs/{uuid}", s.handleGet)
	mux.HandleFunc("PUT /v1/jobs/{uuid}/cancel", s.handleCancel)
	mux.HandleFunc("GET /v1/job-runs", s.handleRuns)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Debug("rendertest request", "method", r.Method, "path", r.URL.Path)
		if !s.Delay(r.Context()) {
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, fakekit.MaxRequestBytes+1))
		if err != nil || len(body) > fakekit.MaxRequestBytes {
			apiError(w, http.StatusRequestEntityTooLarge, "payload_too_large", "request body too large")
			return
		}
		if err := s.verifier.Verify(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header, body); err != nil {
			var se *SignatureError
			if errors.As(err, &se) {
				apiError(w, http.StatusUnauthorized, "unauthorized", se.Reason)
				return
			}
			apiError(w, http.StatusUnauthorized, "unauthorized", "invalid signature")
			return
		}
		if s.TakeRateLimit() {
			w.Header().Set("Retry-After", "1")
			apiError(w, http.StatusTooManyRequests, "rate_limited", "too many requests")
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		mux.ServeHTTP(w, r)
	})
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	fakekit.WriteJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (s *Server) handleOffers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, page, ok := paging(w, q.Get("limit"), q.Get("page"))
	if !ok {
		return
	}
	var count, vram int64
	for name, p := range map[string]*int64{"filter[gpu_count]": &count, "filter[min_vram_gb]": &vram} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				apiError(w, http.StatusBadRequest, "validation_error", name+" must be a non-negative integer")
				return
			}
			*p = n
		}
	}
	name := q.Get("filter[gpu_name]")
	var regions []string
	if v := q.Get("filter[allowed_region_codes]"); v != "" {
		regions = strings.Split(v, ",")
	}
	s.mu.Lock()
	var match []Offer
	for _, o := range s.offers {
		if name != "" && !providers.SameGPUModel(name, o.GPUModel) || o.GPUCount < count || o.VRAMGiB < vram ||
			len(regions) > 0 && !slices.Contains(regions, o.Region) {
			continue
		}
		match = append(match, o)
	}
	now := s.now().UTC().Format(time.RFC3339)
	s.mu.Unlock()
	data := []any{}
	for i := (page - 1) * limit; i < int64(len(match)) && i < page*limit; i++ {
		o := match[i]
		data = append(data, map[string]any{
			"offer_id":    o.ID,
			"region_code": o.Region,
			"pricing":     map[string]any{"hourly_rate_usd": json.Number(o.HourlyUSD), "quoted_at": now},
			"hardware_summary": map[string]any{
				"cpu_cores": o.CPUCores, "gpu_count": o.GPUCount, "gpu_model_label": o.GPUModel,
				"gpu_models":        []any{map[string]any{"count": o.GPUCount, "gpu_registry_uuid": RegistryUUID(o.GPUModel), "min_vram_gib": o.VRAMGiB, "name": o.GPUModel}},
				"gpu_registry_uuid": RegistryUUID(o.GPUModel),
				"ram_gib":           o.RAMGiB, "storage_gib": o.StorageGiB, "min_gpu_vram_gib": o.VRAMGiB,
			},
			"availability": map[string]any{},
		})
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": data, "limit": limit, "page": page, "total": len(match)})
}

func paging(w http.ResponseWriter, l, p string) (limit, page int64, ok bool) {
	limit, page = 10, 1
	if l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 1 || n > 50 {
			apiError(w, http.StatusBadRequest, "validation_error", "limit must be between 1 and 50")
			return 0, 0, false
		}
		limit = n
	}
	if p != "" {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 1 {
			apiError(w, http.StatusBadRequest, "validation_error", "page must be at least 1")
			return 0, 0, false
		}
		page = n
	}
	return limit, page, true
}

// createBody is the documented create-job schema; unknown fields are refused.
type createBody struct {
	Task               string `json:"task"`
	Title              string `json:"title"`
	CPUCount           int64  `json:"cpu_count"`
	GPUCount           int64  `json:"gpu_count"`
	GPUName            string `json:"gpu_name"`
	GPURegistryUUID    string `json:"gpu_registry_uuid"`
	MinRAMGB           int64  `json:"min_ram_gb"`
	MinStorageGB       int64  `json:"min_storage_gb"`
	MinVRAMGB          int64  `json:"min_vram_gb"`
	MaxTimeoutRunMS    *int64 `json:"max_timeout_run_ms"`
	MaxNodeCount       int64  `json:"max_node_count"`
	MaxRetryCount      int64  `json:"max_retry_count"`
	MaxTimeoutAssignMS int64  `json:"max_timeout_assign_ms"`
	MaxTimeoutStartMS  int64  `json:"max_timeout_start_ms"`
	Parameters         struct {
		Type       string `json:"type"`
		Parameters struct {
			Image      string            `json:"image"`
			Tag        string            `json:"tag"`
			Env        map[string]string `json:"env"`
			Ports      []int64           `json:"ports"`
			SSHKey     string            `json:"sshkey"`
			AllowedIPs []string          `json:"allowed_ips"`
			User       string            `json:"user"`
			Secret     string            `json:"secret"`
		} `json:"parameters"`
	} `json:"parameters"`
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var b createBody
	if err := fakekit.ReadJSON(r, &b); err != nil {
		apiError(w, http.StatusBadRequest, "validation_error", "invalid body: "+err.Error())
		return
	}
	if msg := validate(&b); msg != "" {
		apiError(w, http.StatusBadRequest, "validation_error", msg)
		return
	}
	if s.TakeLaunchFailure() {
		apiError(w, http.StatusInternalServerError, "internal_error", "internal server error")
		return
	}
	now := s.now().UTC()
	p := b.Parameters.Parameters
	j := &Job{
		UUID: newUUID(), Status: "PENDING", Task: b.Task, Title: b.Title,
		CPUCount: b.CPUCount, GPUCount: b.GPUCount, GPUName: b.GPUName, GPURegistryUUID: b.GPURegistryUUID,
		MinRAMGB: b.MinRAMGB, MinStorageGB: b.MinStorageGB, MinVRAMGB: b.MinVRAMGB, MaxTimeoutRunMS: b.MaxTimeoutRunMS,
		Image: p.Image, Tag: p.Tag, Env: p.Env, Ports: p.Ports, Created: now, Updated: now,
	}
	s.mu.Lock()
	s.jobs = append(s.jobs, j)
	s.byID[j.UUID] = j
	out := jobJSON(j)
	s.mu.Unlock()
	if s.TakeLaunchLoss() {
		apiError(w, http.StatusBadGateway, "bad_gateway", "upstream connection reset")
		return
	}
	fakekit.WriteJSON(w, http.StatusCreated, out)
}

func validate(b *createBody) string {
	switch {
	case b.Task != "BATCH" && b.Task != "PERSISTENT":
		return "task must be BATCH or PERSISTENT"
	case b.Task == "BATCH" && (b.MaxTimeoutRunMS == nil || *b.MaxTimeoutRunMS < 60000):
		return "max_timeout_run_ms must be at least 60000 for BATCH jobs"
	case b.Task == "PERSISTENT" && b.MaxTimeoutRunMS != nil:
		return "max_timeout_run_ms must be null for PERSISTENT jobs"
	case b.Title == "" || len(b.Title) > 200:
		return "title is required (at most 200 characters)"
	case b.GPUName != "" && b.GPURegistryUUID != "":
		return "gpu_name and gpu_registry_uuid are mutually exclusive"
	case b.GPURegistryUUID != "" && !uuidRE.MatchString(b.GPURegistryUUID):
		return "gpu_registry_uuid must be a uuid"
	case b.CPUCount < 1 || b.GPUCount < 0 || b.MinRAMGB < 1 || b.MinStorageGB < 0 || b.MinVRAMGB < 0:
		return "resource counts out of range"
	case b.MaxNodeCount < 1 || b.MaxRetryCount < 0 || b.MaxTimeoutAssignMS < 0 || b.MaxTimeoutStartMS < 0:
		return "limits out of range"
	case b.Parameters.Type != "docker":
		return `parameters.type must be "docker"`
	case b.Parameters.Parameters.Image == "":
		return "parameters.parameters.image is required"
	}
	for _, p := range b.Parameters.Parameters.Ports {
		if p < 1 || p > 65535 {
			return "ports out of range"
		}
	}
	return ""
}

func jobJSON(j *Job) map[string]any {
	ts := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.Format(time.RFC3339Nano)
	}
	env := j.Env
	if env == nil {
		env = map[string]string{}
	}
	return map[string]any{
		"object": "job", "uuid": j.UUID, "status": j.Status, "task": j.Task, "title": j.Title,
		"cpu_count": j.CPUCount, "gpu_count": j.GPUCount, "min_ram_gb": j.MinRAMGB, "min_vram_gb": j.MinVRAMGB,
		"min_storage_gb": j.MinStorageGB, "gpu_name": j.GPUName, "gpu_registry_uuid": j.GPURegistryUUID,
		"max_timeout_run_ms": j.MaxTimeoutRunMS,
		"parameters":         map[string]any{"type": "docker", "parameters": map[string]any{"image": j.Image, "tag": j.Tag, "env": env, "ports": j.Ports}},
		"created_at":         ts(j.Created), "updated_at": ts(j.Updated), "started_at": ts(j.Started), "completed_at": ts(j.Completed),
		"status_reason": j.StatusReason, "container_access_tokens": []any{}, "source_recipe_uuid": nil,
	}
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	limit, page, ok := paging(w, r.URL.Query().Get("limit"), r.URL.Query().Get("page"))
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all := slices.Clone(s.jobs)
	slices.Reverse(all)
	data := []any{}
	for i := (page - 1) * limit; i < int64(len(all)) && i < page*limit; i++ {
		data = append(data, jobJSON(all[i]))
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": data, "limit": limit, "page": page, "total": len(all)})
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.byID[r.PathValue("uuid")]
	if j == nil {
		apiError(w, http.StatusNotFound, "not_found", "job not found")
		return
	}
	fakekit.WriteJSON(w, http.StatusOK, jobJSON(j))
}

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Reason string `json:"reason"`
	}
	if err := fakekit.ReadJSON(r, &b); err != nil {
		apiError(w, http.StatusBadRequest, "validation_error", "invalid body: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.byID[r.PathValue("uuid")]
	if j == nil {
		apiError(w, http.StatusNotFound, "not_found", "job not found")
		return
	}
	if !live(j.Status) {
		apiError(w, http.StatusConflict, "conflict", "job is "+j.Status)
		return
	}
	now := s.now().UTC()
	j.Status, j.StatusReason, j.Completed, j.Updated = "CANCELLED", b.Reason, now, now
	fakekit.WriteJSON(w, http.StatusOK, jobJSON(j))
}

// NodeHost is the host name the fake's node for job uuid has in its runs'
// node_urls.
func NodeHost(uuid string) string { return "node-" + uuid[:8] + ".fake.render" }

// handleRuns serves the job's runs as service-consumers/job-monitoring
// shows them: {uuid, status, started_at_ms, node_urls: [{description,
// hostname, port, protocol}]}; the node exposes each of the job's ports as
// itself (the docs' example: "ssh" on 22).
func (s *Server) handleRuns(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("filter[job_uuid]")
	s.mu.Lock()
	defer s.mu.Unlock()
	data := []any{}
	if j := s.byID[id]; j != nil && !j.Started.IsZero() {
		urls := []any{}
		for _, p := range j.Ports {
			urls = append(urls, map[string]any{"description": "port " + strconv.FormatInt(p, 10), "hostname": NodeHost(j.UUID), "port": p, "protocol": "tcp"})
		}
		status := j.Status
		data = append(data, map[string]any{"uuid": "run-" + j.UUID, "status": status, "started_at_ms": j.Started.UnixMilli(), "node_urls": urls})
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": data, "page": 1, "limit": 50, "total": len(data)})
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var _ providertest.LaunchInspector = (*Server)(nil)

// Received implements providertest.LaunchInspector: job uuid's env, as
// parameters.parameters.env carried it (the only env field of a job).
func (s *Server) Received(uuid string) (providertest.Received, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.byID[uuid]
	if j == nil {
		return providertest.Received{}, false
	}
	env := make(map[string]string, len(j.Env))
	for k, v := range j.Env {
		env[k] = v
	}
	return providertest.Received{SecretEnv: env}, true
}
