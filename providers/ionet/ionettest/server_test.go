package ionettest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func do(s *Server, method, path, key, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, Prefix+path, strings.NewReader(body))
	if key != "" {
		r.Header.Set("x-api-key", key)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

func TestWireShapes(t *testing.T) {
	tests := []struct {
		name, method, path, key, body string
		status                        int
		contains                      string
	}{
		{"no key", "GET", "/hardware/max-gpus-per-container", "", "", http.StatusForbidden, `"detail":"Not authenticated"`},
		{"wrong key", "GET", "/hardware/max-gpus-per-container", "x", "", http.StatusUnauthorized, `"detail":"Invalid API key"`},
		{"hardware", "GET", "/hardware/max-gpus-per-container", DefaultAPIKey, "", http.StatusOK, `"hardware_name":"H100 80GB"`},
		{"price needs params", "GET", "/price", DefaultAPIKey, "", http.StatusUnprocessableEntity, `"loc":["query","hardware_id"]`},
		{"price", "GET", "/price?location_ids=[11]&hardware_id=9&duration_hours=2&gpus_per_container=1&replica_count=1", DefaultAPIKey, "", http.StatusOK, `"total_cost_usdc":0.700000`},
		{"nested deploy is extra_forbidden", "POST", "/deploy", DefaultAPIKey,
			`{"resource_private_name":"a","duration_hours":1,"gpus_per_container":1,"hardware_id":9,"location_ids":[11],"container_config":{"replica_count":1,"traffic_port":8000},"registry_config":{"image_url":"x:1"}}`,
			http.StatusUnprocessableEntity, `"extra_forbidden"`},
		{"flat deploy", "POST", "/deploy", DefaultAPIKey,
			`{"resource_private_name":"b","duration_hours":1,"gpus_per_container":1,"hardware_id":9,"location_ids":[11],"replica_count":1,"entrypoint":[],"traffic_port":8000,"image_url":"x:1"}`,
			http.StatusOK, `"deployment_id":`},
		{"unknown field", "POST", "/deploy", DefaultAPIKey, `{"resource_private_name":"c","bogus":1}`, http.StatusUnprocessableEntity, `"json_invalid"`},
		{"missing fields", "POST", "/deploy", DefaultAPIKey, `{}`, http.StatusUnprocessableEntity, `"resource_private_name"`},
		{"unknown deployment", "GET", "/deployment/nope", DefaultAPIKey, "", http.StatusNotFound, `"detail":"Not found"`},
		{"page size cap", "GET", "/deployments?page_size=101", DefaultAPIKey, "", http.StatusUnprocessableEntity, `less_than_equal`},
	}
	s := NewServer(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(s, tt.method, tt.path, tt.key, tt.body)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.contains) {
				t.Errorf("%s %s = %d %s, want %d containing %s", tt.method, tt.path, w.Code, w.Body, tt.status, tt.contains)
			}
		})
	}
	if n := s.Workloads(); n != 1 {
		t.Errorf("%d workloads, want 1", n)
	}
}

func TestFaults(t *testing.T) {
	s := NewServer(Options{})
	s.RateLimitNext(1)
	if w := do(s, "GET", "/hardware/max-gpus-per-container", DefaultAPIKey, ""); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("rate limited = %d %v", w.Code, w.Header())
	}
	s.FailNextLaunch(1)
	body := `{"resource_private_name":"a","duration_hours":1,"gpus_per_container":1,"hardware_id":9,"location_ids":[11],"replica_count":1,"entrypoint":[],"traffic_port":8000,"image_url":"x:1"}`
	if w := do(s, "POST", "/deploy", DefaultAPIKey, body); w.Code != http.StatusInternalServerError || w.Body.String() != "Internal Server Error\n" {
		t.Errorf("failed launch = %d %q", w.Code, w.Body)
	}
	if s.Workloads() != 0 {
		t.Error("failed launch created a deployment")
	}
	s.LoseNextLaunch(1)
	if w := do(s, "POST", "/deploy", DefaultAPIKey, body); w.Code != http.StatusInternalServerError {
		t.Errorf("lost launch = %d", w.Code)
	}
	if s.Workloads() != 1 {
		t.Error("lost launch created nothing")
	}
}
