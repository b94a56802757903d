package akashtest

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestSDLConstraintsEnforced(t *testing.T) {
	b, err := os.ReadFile("../testdata/sdl-features.yaml")
	if err != nil {
		t.Fatal(err)
	}
	post := func(sdl string) (int, string) {
		q, _ := json.Marshal(sdl)
		rec := serve(NewServer(Options{}).Handler(), http.MethodPost, "/v1/deployments", `{"data":{"sdl":`+string(q)+`}}`, nil)
		return rec.Code, rec.Body.String()
	}
	if code, body := post(string(b)); code != http.StatusCreated {
		t.Fatalf("the valid SDL with a volume and credentials: %d %s", code, body)
	}
	for _, c := range SDLConstraints() {
		t.Run(c.Name, func(t *testing.T) {
			if !strings.Contains(c.Source, "akash-network/chain-sdk@") {
				t.Errorf("row cites no source: %q", c.Source)
			}
			bad := c.Edit(string(b))
			if bad == string(b) {
				t.Fatal("the edit changed nothing")
			}
			if code, body := post(bad); code != http.StatusBadRequest || !strings.Contains(body, "Invalid SDL") {
				t.Errorf("create = %d %s, want 400 Invalid SDL (%s)", code, body, c.Source)
			}
		})
	}
}
