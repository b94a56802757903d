// Package ionettest is a fake io.net IO Cloud CaaS server speaking the wire
// format documented in io.net's OpenAPI fragments (paths, bodies, FastAPI
// error shapes), for the ionet adapter's tests and for
// `aurora testnet fake-provider --kind ionet`. It does not import testing.
//
// Served under /enterprise/v1/io-cloud/caas (URL() includes the prefix):
//
//	GET    /hardware/max-gpus-per-container   {"data":{"hardware":[...],"total":N}}
//	GET    /available-replicas?hardware_id=&hardware_qty=   {"data":[{id,iso2,name,available_replicas}]}
//	GET    /price?location_ids=[..]&hardware_id=&duration_hours=&gpus_per_container=&replica_count=
//	       {"data":{...,"total_cost_usdc":N}}
//	POST   /deploy            {"status":"deployment requested","deployment_id":"<uuid>"} (flat body; see Constraints)
//	GET    /deployments?status=&page=(0-based)&page_size=(≤100)
//	GET    /deployment/{id}   {"data":{id,status,...,"container_config":{...,"secret_env_keys"}}}
//	GET    /deployment/{id}/containers   {"data":{"total","workers":[{container_id,...,public_url}]}}
//	DELETE /deployment/{id}   {"status":"termination requested","deployment_id":"<uuid>"}
//
// Every request needs x-api-key: missing → 403 {"detail":"Not authenticated"}
// (FastAPI's APIKeyHeader), wrong → 401 {"detail":"Invalid API key"}; the
// exact codes are not documented. Validation errors are 422 FastAPI
// {"detail":[{"loc","msg","type"}]}, unknown ids 404 {"detail":"Not found"},
// 429 {"detail":"Too many requests"} with Retry-After, injected server
// errors the plain-text "Internal Server Error" FastAPI sends.
//
// Status progression, one step per Advance: deployment requested → running;
// termination requested → destroyed. Prices: Hardware.USDPerGPUHour × GPUs
// × hours × replicas × the dearest chosen location's PricePercent/100.
package ionettest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aurora-federation/aurora/providers/providertest"
	"github.com/aurora-federation/aurora/providers/providertest/fakekit"
)

var _ providertest.LaunchInspector = (*Server)(nil)

// Prefix is the API path prefix the fake serves under.
const Prefix = "/enterprise/v1/io-cloud/caas"

// DefaultAPIKey is the key the fake accepts unless Options.APIKey says otherwise.
const DefaultAPIKey = "ionet-fake-key"

// Hardware is one GPU type in the fake's inventory.
type Hardware struct {
	ID                  int64
	Name, Brand         string
	MaxGPUsPerContainer int64
	// USDPerGPUHour is the base price, decimal text ("2.19").
	USDPerGPUHour string
	// Replicas is the free replicas per location id (one replica = one
	// container with up to MaxGPUsPerContainer GPUs).
	Replicas map[int64]int64
}

// Location is one io.net location.
type Location struct {
	ID   int64
	ISO2 string
	Name string
	// PricePercent scales prices there; 100 = base price.
	PricePercent int64
}

// Options configure a Server. The zero value serves DefaultHardware and
// DefaultLocations with DefaultAPIKey on 127.0.0.1:0.
type Options struct {
	APIKey    string
	Hardware  []Hardware
	Locations []Location
	// Now is the fake's clock (created/started/finished times). Default time.Now.
	Now func() time.Time
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
}

// DefaultLocations are three locations with different price levels.
func DefaultLocations() []Location {
	return []Location{
		{ID: 11, ISO2: "US", Name: "United States", PricePercent: 100},
		{ID: 12, ISO2: "DE", Name: "Germany", PricePercent: 115},
		{ID: 13, ISO2: "SG", Name: "Singapore", PricePercent: 130},
	}
}

// DefaultHardware is a small inventory: RTX 4090s in the US and Germany,
// H100s everywhere, A100s out of stock.
func DefaultHardware() []Hardware {
	return []Hardware{
		{ID: 7, Name: "H100 80GB", Brand: "NVIDIA", MaxGPUsPerContainer: 8, USDPerGPUHour: "2.19",
			Replicas: map[int64]int64{11: 4, 12: 2, 13: 1}},
		{ID: 9, Name: "RTX 4090", Brand: "NVIDIA", MaxGPUsPerContainer: 4, USDPerGPUHour: "0.35",
			Replicas: map[int64]int64{11: 6, 12: 3}},
		{ID: 12, Name: "A100 40GB", Brand: "NVIDIA", MaxGPUsPerContainer: 8, USDPerGPUHour: "1.29",
			Replicas: map[int64]int64{}},
	}
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	fakekit.Faults

	key string
	now func() time.Time
	log *slog.Logger

	mu        sync.Mutex // protects following
	hardware  []Hardware
	locations []Location
	deps      []*deployment // in creation order
	byID      map[string]*deployment
	loop      fakekit.Loopback
}

type deployment struct {
	ID, Name, Status             string
	HardwareID                   int64
	HardwareName, Brand          string
	GPUs, Replicas, Hours        int64
	Locations                    []Location
	Taken                        map[int64]int64 // replicas taken per location
	Paid                         string
	Image                        string
	Entrypoint                   []string
	Env                          map[string]string
	SecretEnv                    map[string]string // secret_env_variables: never served back
	TrafficPort                  int64
	RegistryUser, RegistrySecret string
	Created, Started, Done       time.Time
}

// NewServer returns a fake with opts applied; call Start to listen or use
// Handler directly.
func NewServer(opts Options) *Server {
	s := &Server{
		key:       opts.APIKey,
		now:       opts.Now,
		log:       opts.Logger,
		hardware:  opts.Hardware,
		locations: opts.Locations,
		byID:      map[string]*deployment{},
	}
	if s.key == "" {
		s.key = DefaultAPIKey
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.hardware == nil {
		s.hardware = DefaultHardware()
	}
	if s.locations == nil {
		s.locations = DefaultLocations()
	}
	// Own copies: the fake mutates stock.
	hw := make([]Hardware, len(s.hardware))
	for i, h := range s.hardware {
		h.Replicas = cloneMap(h.Replicas)
		hw[i] = h
	}
	s.hardware = hw
	return s
}

func cloneMap(m map[int64]int64) map[int64]int64 {
	c := make(map[int64]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// APIKey returns the key the fake accepts.
func (s *Server) APIKey() string { return s.key }

// Start serves on a loopback port (until Close) and returns the base URL
// for the adapter's Config.BaseURL. To serve elsewhere (a process, a
// chosen address), use Handler with your own listener.
func (s *Server) Start() string {
	return s.loop.Start(s.Handler, Prefix)
}

// URL returns the base URL of a started server, or "".
func (s *Server) URL() string {
	return s.loop.URL(Prefix)
}

// Close stops a started server and waits for its handlers.
func (s *Server) Close() {
	s.loop.Close()
}

// Advance moves every deployment one step: deployment requested → running,
// termination requested → destroyed.
func (s *Server) Advance() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	for _, d := range s.deps {
		switch d.Status {
		case "deployment requested":
			d.Status, d.Started = "running", now
		case "termination requested":
			d.Status, d.Done = "destroyed", now
		}
	}
}

// Workloads counts deployments that are requested or running.
func (s *Server) Workloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.deps {
		if d.Status == "deployment requested" || d.Status == "running" {
			n++
		}
	}
	return n
}

// Deployment is a snapshot of one deployment on the fake.
type Deployment struct {
	ID, Name, Status string
	HardwareID       int64
	GPUs, Replicas   int64
	Hours            int64
	LocationIDs      []int64
	PaidUSDC         string
	Image            string
	Entrypoint       []string
	Env              map[string]string
	TrafficPort      int64
}

// Deployments returns snapshots of every deployment, oldest first.
func (s *Server) Deployments() []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Deployment, 0, len(s.deps))
	for _, d := range s.deps {
		ids := make([]int64, len(d.Locations))
		for i, l := range d.Locations {
			ids[i] = l.ID
		}
		env := make(map[string]string, len(d.Env))
		for k, v := range d.Env {
			env[k] = v
		}
		out = append(out, Deployment{
			ID: d.ID, Name: d.Name, Status: d.Status, HardwareID: d.HardwareID,
			GPUs: d.GPUs, Replicas: d.Replicas, Hours: d.Hours, LocationIDs: ids, PaidUSDC: d.Paid,
			Image: d.Image, Entrypoint: slices.Clone(d.Entrypoint), Env: env, TrafficPort: d.TrafficPort,
		})
	}
	return out
}

// Complete ends a running deployment as io.net does when its prepaid hours
// run out (status completed). It reports whether id was running.
func (s *Server) Complete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.byID[id]
	if d == nil || d.Status != "running" {
		return false
	}
	d.Status, d.Done = "completed", s.now().UTC()
	s.releaseLocked(d)
	return true
}

// Handler serves the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix+"/hardware/max-gpus-per-container", s.handleHardware)
	mux.HandleFunc("GET "+Prefix+"/available-replicas", s.handleReplicas)
	mux.HandleFunc("GET "+Prefix+"/price", s.handlePrice)
	mux.HandleFunc("POST "+Prefix+"/deploy", s.handleDeploy)
	mux.HandleFunc("GET "+Prefix+"/deployments", s.handleList)
	mux.HandleFunc("GET "+Prefix+"/deployment/{id}", s.handleGet)
	mux.HandleFunc("GET "+Prefix+"/deployment/{id}/containers", s.handleContainers)
	mux.HandleFunc("DELETE "+Prefix+"/deployment/{id}", s.handleDelete)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Debug("ionettest request", "method", r.Method, "path", r.URL.Path)
		if !s.Delay(r.Context()) {
			return
		}
		switch k := r.Header.Get("x-api-key"); {
		case k == "":
			detail(w, http.StatusForbidden, "Not authenticated")
			return
		case k != s.key:
			detail(w, http.StatusUnauthorized, "Invalid API key")
			return
		}
		if s.TakeRateLimit() {
			w.Header().Set("Retry-After", "1")
			detail(w, http.StatusTooManyRequests, "Too many requests")
			return
		}
		if !strings.HasPrefix(r.URL.Path, Prefix+"/") {
			detail(w, http.StatusNotFound, "Not found")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func detail(w http.ResponseWriter, status int, msg string) {
	fakekit.WriteJSON(w, status, map[string]any{"detail": msg})
}

type fieldError struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

func invalid(w http.ResponseWriter, errs ...fieldError) {
	fakekit.WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": errs})
}

func queryInt(w http.ResponseWriter, r *http.Request, name string, required bool) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		if required {
			invalid(w, fieldError{[]string{"query", name}, "Field required", "missing"})
			return 0, false
		}
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		invalid(w, fieldError{[]string{"query", name}, "Input should be a valid integer", "int_parsing"})
		return 0, false
	}
	return n, true
}

func (s *Server) handleHardware(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type hw struct {
		HardwareID          int64  `json:"hardware_id"`
		HardwareName        string `json:"hardware_name"`
		BrandName           string `json:"brand_name"`
		MaxGPUsPerContainer int64  `json:"max_gpus_per_container"`
		Available           int64  `json:"available"`
	}
	out := make([]hw, 0, len(s.hardware))
	for _, h := range s.hardware {
		var avail int64
		for _, n := range h.Replicas {
			avail += n
		}
		out = append(out, hw{h.ID, h.Name, h.Brand, h.MaxGPUsPerContainer, avail})
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"hardware": out, "total": len(out)}})
}

func (s *Server) hardwareLocked(id int64) *Hardware {
	for i := range s.hardware {
		if s.hardware[i].ID == id {
			return &s.hardware[i]
		}
	}
	return nil
}

func (s *Server) locationLocked(id int64) *Location {
	for i := range s.locations {
		if s.locations[i].ID == id {
			return &s.locations[i]
		}
	}
	return nil
}

func (s *Server) handleReplicas(w http.ResponseWriter, r *http.Request) {
	hwID, ok := queryInt(w, r, "hardware_id", true)
	if !ok {
		return
	}
	qty, ok := queryInt(w, r, "hardware_qty", true)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hardwareLocked(hwID)
	type loc struct {
		ID                int64  `json:"id"`
		ISO2              string `json:"iso2"`
		Name              string `json:"name"`
		AvailableReplicas int64  `json:"available_replicas"`
	}
	out := []loc{}
	if h != nil && qty >= 1 && qty <= h.MaxGPUsPerContainer {
		for _, l := range s.locations {
			if n := h.Replicas[l.ID]; n > 0 {
				out = append(out, loc{l.ID, l.ISO2, l.Name, n})
			}
		}
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": out})
}

// totalLocked prices a deployment in micro-USD.
func (s *Server) totalLocked(h *Hardware, locs []Location, gpus, hours, replicas int64) (*big.Rat, error) {
	base, ok := new(big.Rat).SetString(h.USDPerGPUHour)
	if !ok {
		return nil, fmt.Errorf("bad price %q", h.USDPerGPUHour)
	}
	pct := int64(0)
	for _, l := range locs {
		pct = max(pct, l.PricePercent)
	}
	t := new(big.Rat).Mul(base, big.NewRat(gpus*hours*replicas*pct, 100))
	return t, nil
}

func (s *Server) parseLocations(w http.ResponseWriter, raw string) ([]Location, bool) {
	var ids []int64
	if err := json.Unmarshal([]byte(raw), &ids); err != nil || len(ids) == 0 {
		invalid(w, fieldError{[]string{"query", "location_ids"}, "Value error, expected a JSON list of location ids", "value_error"})
		return nil, false
	}
	var out []Location
	for _, id := range ids {
		l := s.locationLocked(id)
		if l == nil {
			invalid(w, fieldError{[]string{"query", "location_ids"}, fmt.Sprintf("Unknown location id %d", id), "value_error"})
			return nil, false
		}
		out = append(out, *l)
	}
	return out, true
}

func (s *Server) handlePrice(w http.ResponseWriter, r *http.Request) {
	var n [4]int64
	for i, name := range []string{"hardware_id", "duration_hours", "gpus_per_container", "replica_count"} {
		v, ok := queryInt(w, r, name, true)
		if !ok {
			return
		}
		n[i] = v
	}
	hwID, hours, gpus, replicas := n[0], n[1], n[2], n[3]
	s.mu.Lock()
	defer s.mu.Unlock()
	locs, ok := s.parseLocations(w, r.URL.Query().Get("location_ids"))
	if !ok {
		return
	}
	h := s.hardwareLocked(hwID)
	if h == nil {
		detail(w, http.StatusNotFound, "Hardware not found")
		return
	}
	if hours < 1 || gpus < 1 || replicas < 1 || gpus > h.MaxGPUsPerContainer {
		invalid(w, fieldError{[]string{"query"}, "duration_hours, gpus_per_container and replica_count must be >= 1 and within the hardware's limit", "value_error"})
		return
	}
	total, err := s.totalLocked(h, locs, gpus, hours, replicas)
	if err != nil {
		detail(w, http.StatusInternalServerError, err.Error())
		return
	}
	avail := make([]int64, len(locs))
	for i, l := range locs {
		avail[i] = h.Replicas[l.ID]
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"replica_count":                   replicas,
		"gpus_per_container":              gpus,
		"available_replica_count":         avail,
		"discount":                        0,
		"ionet_fee":                       0,
		"ionet_fee_percent":               0,
		"currency_conversion_fee":         0,
		"currency_conversion_fee_percent": 0,
		"total_cost_usdc":                 json.Number(total.FloatString(6)),
	}})
}

// deployBody is the flat deploy body of the current API (Constraints);
// unknown fields are rejected, the nested wrappers with extra_forbidden.
type deployBody struct {
	ResourcePrivateName string            `json:"resource_private_name"`
	DurationHours       int64             `json:"duration_hours"`
	GPUsPerContainer    int64             `json:"gpus_per_container"`
	HardwareID          int64             `json:"hardware_id"`
	LocationIDs         []int64           `json:"location_ids"`
	ReplicaCount        int64             `json:"replica_count"`
	EnvVariables        map[string]string `json:"env_variables"`
	SecretEnvVariables  map[string]string `json:"secret_env_variables"`
	Entrypoint          *[]string         `json:"entrypoint"`
	Args                []string          `json:"args"`
	TrafficPort         *int64            `json:"traffic_port"`
	ImageURL            string            `json:"image_url"`
	RegistryUsername    string            `json:"registry_username"`
	RegistrySecret      string            `json:"registry_secret"`
}

// nestedWrappers are the keys of the older nested form. The current API
// wants every configuration field at the top level and answers a
// container_config key with extra_forbidden (io.net docs,
// reference/caas/update-deployment-configuration); registry_config is the
// same older form, refused alike [I].
var nestedWrappers = []string{"container_config", "registry_config"}

func (s *Server) handleDeploy(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, fakekit.MaxRequestBytes+1))
	if err != nil || len(raw) > fakekit.MaxRequestBytes {
		invalid(w, fieldError{[]string{"body"}, "body unreadable or too large", "json_invalid"})
		return
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(raw, &keys) == nil {
		var extra []fieldError
		for _, k := range nestedWrappers {
			if _, ok := keys[k]; ok {
				extra = append(extra, fieldError{[]string{"body", k}, "Extra inputs are not permitted", "extra_forbidden"})
			}
		}
		if len(extra) > 0 {
			invalid(w, extra...)
			return
		}
	}
	var b deployBody
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		invalid(w, fieldError{[]string{"body"}, err.Error(), "json_invalid"})
		return
	}
	var errs []fieldError
	req := func(ok bool, field, msg string) {
		if !ok {
			errs = append(errs, fieldError{[]string{"body", field}, msg, "value_error"})
		}
	}
	missing := func(present bool, field string) {
		if !present {
			errs = append(errs, fieldError{[]string{"body", field}, "Field required", "missing"})
		}
	}
	// entrypoint and traffic_port are required (io.net docs,
	// reference/caas/deploy-a-container).
	missing(b.Entrypoint != nil, "entrypoint")
	missing(b.TrafficPort != nil, "traffic_port")
	var entrypoint []string
	if b.Entrypoint != nil {
		entrypoint = *b.Entrypoint
	}
	var port int64
	if b.TrafficPort != nil {
		port = *b.TrafficPort
		req(port >= 1 && port <= 65535, "traffic_port", "Input should be a valid port")
	}
	// A private image needs both halves of its login [inference: the docs
	// list registry_username and registry_secret together, neither required].
	req((b.RegistryUsername == "") == (b.RegistrySecret == ""), "registry_secret", "registry_username and registry_secret go together")
	req(b.ResourcePrivateName != "" && len(b.ResourcePrivateName) <= 63, "resource_private_name", "Field required (1-63 characters)")
	req(b.DurationHours >= 1, "duration_hours", "Input should be greater than or equal to 1")
	req(b.GPUsPerContainer >= 1, "gpus_per_container", "Input should be greater than or equal to 1")
	req(b.HardwareID > 0, "hardware_id", "Field required")
	req(len(b.LocationIDs) > 0, "location_ids", "List should have at least 1 item")
	req(b.ReplicaCount >= 1, "replica_count", "Input should be greater than or equal to 1")
	req(b.ImageURL != "", "image_url", "Field required")
	if len(errs) > 0 {
		invalid(w, errs...)
		return
	}
	if s.TakeLaunchFailure() {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	h := s.hardwareLocked(b.HardwareID)
	if h == nil {
		s.mu.Unlock()
		detail(w, http.StatusNotFound, "Hardware not found")
		return
	}
	if b.GPUsPerContainer > h.MaxGPUsPerContainer {
		s.mu.Unlock()
		invalid(w, fieldError{[]string{"body", "gpus_per_container"}, fmt.Sprintf("At most %d GPUs per container on this hardware", h.MaxGPUsPerContainer), "value_error"})
		return
	}
	locs, ok := s.parseLocationIDsLocked(w, b.LocationIDs)
	if !ok {
		s.mu.Unlock()
		return
	}
	// Take replicas from the listed locations in order.
	need := b.ReplicaCount
	var have int64
	for _, l := range locs {
		have += h.Replicas[l.ID]
	}
	if have < need {
		s.mu.Unlock()
		detail(w, http.StatusBadRequest, fmt.Sprintf("Not enough available replicas: %d requested, %d available in the selected locations", need, have))
		return
	}
	total, err := s.totalLocked(h, locs, b.GPUsPerContainer, b.DurationHours, need)
	if err != nil {
		s.mu.Unlock()
		detail(w, http.StatusInternalServerError, err.Error())
		return
	}
	var used []Location
	taken := map[int64]int64{}
	for _, l := range locs {
		take := min(need, h.Replicas[l.ID])
		if take > 0 {
			h.Replicas[l.ID] -= take
			taken[l.ID] = take
			need -= take
			used = append(used, l)
		}
	}
	d := &deployment{
		ID: newUUID(), Name: b.ResourcePrivateName, Status: "deployment requested",
		HardwareID: h.ID, HardwareName: h.Name, Brand: h.Brand,
		GPUs: b.GPUsPerContainer, Replicas: b.ReplicaCount, Hours: b.DurationHours,
		Locations: used, Taken: taken, Paid: total.FloatString(6),
		Image: b.ImageURL, Entrypoint: entrypoint, Env: b.EnvVariables, SecretEnv: b.SecretEnvVariables, TrafficPort: port,
		RegistryUser: b.RegistryUsername, RegistrySecret: b.RegistrySecret,
		Created: s.now().UTC(),
	}
	s.deps = append(s.deps, d)
	s.byID[d.ID] = d
	s.mu.Unlock()
	if s.TakeLaunchLoss() {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"status": d.Status, "deployment_id": d.ID})
}

func (s *Server) parseLocationIDsLocked(w http.ResponseWriter, ids []int64) ([]Location, bool) {
	var out []Location
	for _, id := range ids {
		l := s.locationLocked(id)
		if l == nil {
			invalid(w, fieldError{[]string{"body", "location_ids"}, fmt.Sprintf("Unknown location id %d", id), "value_error"})
			return nil, false
		}
		out = append(out, *l)
	}
	return out, true
}

func (s *Server) releaseLocked(d *deployment) {
	h := s.hardwareLocked(d.HardwareID)
	if h == nil {
		return
	}
	for id, n := range d.Taken {
		h.Replicas[id] += n
	}
	d.Taken = nil
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	page, ok := queryInt(w, r, "page", false)
	if !ok {
		return
	}
	size, ok := queryInt(w, r, "page_size", false)
	if !ok {
		return
	}
	if size == 0 {
		size = 10
	}
	if size > 100 {
		invalid(w, fieldError{[]string{"query", "page_size"}, "Input should be less than or equal to 100", "less_than_equal"})
		return
	}
	status := r.URL.Query().Get("status")
	s.mu.Lock()
	defer s.mu.Unlock()
	type item struct {
		ID                      string `json:"id"`
		Status                  string `json:"status"`
		Name                    string `json:"name"`
		CompletedPercent        int64  `json:"completed_percent"`
		HardwareQuantity        int64  `json:"hardware_quantity"`
		BrandName               string `json:"brand_name"`
		HardwareName            string `json:"hardware_name"`
		ComputeMinutesServed    int64  `json:"compute_minutes_served"`
		ComputeMinutesRemaining int64  `json:"compute_minutes_remaining"`
		CreatedAt               string `json:"created_at"`
	}
	// Newest first, as the console lists them.
	all := slices.Clone(s.deps)
	slices.Reverse(all)
	all = slices.DeleteFunc(all, func(d *deployment) bool { return status != "" && d.Status != status })
	statuses := map[string]int{}
	for _, d := range s.deps {
		statuses[d.Status]++
	}
	out := []item{}
	for i := page * size; i < int64(len(all)) && i < (page+1)*size; i++ {
		d := all[i]
		out = append(out, item{d.ID, d.Status, d.Name, 0, d.GPUs * d.Replicas, d.Brand, d.HardwareName, 0, d.Hours * 60, d.Created.Format(time.RFC3339)})
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"deployments": out, "total": len(all), "statuses": statuses}})
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.byID[r.PathValue("id")]
	if d == nil {
		detail(w, http.StatusNotFound, "Not found")
		return
	}
	ts := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.Format(time.RFC3339)
	}
	locs := make([]map[string]any, len(d.Locations))
	for i, l := range d.Locations {
		locs[i] = map[string]any{"id": l.ID, "iso2": l.ISO2, "name": l.Name}
	}
	env := d.Env
	if env == nil {
		env = map[string]string{}
	}
	// Secret variables come back by name only (container_config.secret_env_keys).
	secretKeys := make([]string, 0, len(d.SecretEnv))
	for k := range d.SecretEnv {
		secretKeys = append(secretKeys, k)
	}
	slices.Sort(secretKeys)
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"id": d.ID, "status": d.Status,
		"created_at": ts(d.Created), "started_at": ts(d.Started), "finished_at": ts(d.Done),
		"amount_paid": json.Number(d.Paid), "completed_percent": 0,
		"total_gpus": d.GPUs * d.Replicas, "gpus_per_container": d.GPUs, "total_containers": d.Replicas,
		"hardware_name": d.HardwareName, "hardware_id": d.HardwareID, "brand_name": d.Brand,
		"locations":                 locs,
		"compute_minutes_served":    0,
		"compute_minutes_remaining": d.Hours * 60,
		"container_config": map[string]any{
			"entrypoint": d.Entrypoint, "env_variables": env, "traffic_port": d.TrafficPort,
			"image_url": d.Image, "secret_env_keys": secretKeys,
		},
	}})
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.byID[r.PathValue("id")]
	if d == nil {
		detail(w, http.StatusNotFound, "Not found")
		return
	}
	switch d.Status {
	case "deployment requested", "running":
		d.Status = "termination requested"
		s.releaseLocked(d)
	default:
		detail(w, http.StatusBadRequest, fmt.Sprintf("Deployment is %s and cannot be terminated", d.Status))
		return
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"status": d.Status, "deployment_id": d.ID})
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Received implements providertest.LaunchInspector: the registry login of
// deployment id, from registry_username and registry_secret, and its
// secret_env_variables.
func (s *Server) Received(id string) (providertest.Received, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.deps {
		if d.ID == id {
			r := providertest.Received{RegistryUsername: d.RegistryUser, RegistrySecret: d.RegistrySecret, SecretEnv: map[string]string{}}
			for k, v := range d.SecretEnv {
				r.SecretEnv[k] = v
			}
			return r, true
		}
	}
	return providertest.Received{}, false
}

// ContainerURL is the public URL the fake gives replica i of deployment
// id. io.net serves each CaaS container's traffic_port over HTTPS at a
// public_url (GET deployment/{id}/containers); the host name pattern is
// the fake's own.
func ContainerURL(id string, i int64) string {
	return fmt.Sprintf("https://%s-%d.caas.fake.io.solutions", id[:8], i)
}

// handleContainers serves GET deployment/{id}/containers in the shape of
// the third-party client QuantumNous/new-api (pkg/ionet/container.go,
// types.go Container: {"data":{"total","workers":[{container_id,
// device_id, status, hardware, brand_name, created_at, uptime_percent,
// gpus_per_container, public_url, container_events}]}}): io.net's own
// reference names the path (…/deployment/{id}/containers-jobs/{container_id}
// and the log stream use container ids) but renders no response schema
// [3P]. Workers are listed once the deployment runs, with a public_url.
func (s *Server) handleContainers(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.byID[r.PathValue("id")]
	if d == nil {
		detail(w, http.StatusNotFound, "Not found")
		return
	}
	workers := []map[string]any{}
	if d.Status == "running" {
		for i := int64(0); i < d.Replicas; i++ {
			workers = append(workers, map[string]any{
				"container_id": fmt.Sprintf("%s-c%d", d.ID[:8], i), "device_id": fmt.Sprintf("dev-%s-%d", d.ID[:8], i),
				"status": "running", "hardware": d.HardwareName, "brand_name": d.Brand, "created_at": d.Started.Format(time.RFC3339),
				"uptime_percent": 100, "gpus_per_container": d.GPUs, "public_url": ContainerURL(d.ID, i),
				"container_events": []map[string]any{{"time": d.Started.Format(time.RFC3339), "message": "Container started"}},
			})
		}
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"total": len(workers), "workers": workers}})
}
