package ionettest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestConstraintsEnforced(t *testing.T) {
	post := func(body map[string]any) (int, string) {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rec := do(NewServer(Options{}), http.MethodPost, "/deploy", DefaultAPIKey, string(b))
		return rec.Code, rec.Body.String()
	}
	if code, body := post(ValidDeployBody()); code != http.StatusOK {
		t.Fatalf("the valid body is refused: %d %s", code, body)
	}
	for _, c := range Constraints() {
		t.Run(c.Name, func(t *testing.T) {
			if !strings.HasPrefix(c.Source, "io.net docs https://") {
				t.Errorf("row cites no source: %q", c.Source)
			}
			b := ValidDeployBody()
			c.Refuse(b)
			if code, body := post(b); code != c.Status {
				t.Errorf("the fake answers %d %s to a body breaking %q, want %d (%s)", code, body, c.Name, c.Status, c.Source)
			}
		})
	}
	// The nested wrapper is named in a FastAPI extra_forbidden detail.
	b := ValidDeployBody()
	b["container_config"] = map[string]any{}
	if _, body := post(b); !strings.Contains(body, `"loc":["body","container_config"]`) || !strings.Contains(body, `"type":"extra_forbidden"`) {
		t.Errorf("container_config answer %s, want an extra_forbidden detail at body.container_config", body)
	}
}
