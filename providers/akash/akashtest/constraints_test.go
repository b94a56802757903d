package akashtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// sdlJSON is a valid SDL (testdata/sdl-launch.yaml, priced 2500 "uact")
// as a JSON string, with its pricing replaced by denom and amount when set.
func sdlJSON(t *testing.T, denom, amount string) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/sdl-launch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if denom != "" {
		text = strings.Replace(text, `denom: "uact"`, `denom: "`+denom+`"`, 1)
	}
	if amount != "" {
		text = strings.Replace(text, "amount: 2500", "amount: "+amount, 1)
	}
	q, _ := json.Marshal(text)
	return string(q)
}

func serve(h http.Handler, method, path, body string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("x-api-key", DefaultAPIKey)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// create makes a deployment and returns its dseq.
func create(t *testing.T, h http.Handler, sdl string) string {
	t.Helper()
	rec := serve(h, http.MethodPost, "/v1/deployments", `{"data":{"sdl":`+sdl+`,"deposit":5}}`, nil)
	var out struct{ Data struct{ DSeq string } }
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Data.DSeq == "" {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	return out.Data.DSeq
}

func TestConstraintsEnforced(t *testing.T) {
	sdl := sdlJSON(t, "", "")
	for _, c := range Constraints() {
		t.Run(c.Name, func(t *testing.T) {
			if !strings.Contains(c.Source, "akash-network/console@") {
				t.Errorf("row cites no source: %q", c.Source)
			}
			var opts Options
			if c.Options != nil {
				c.Options(&opts)
			}
			h := NewServer(opts).Handler()
			active := create(t, h, sdl)
			closed := create(t, h, sdl)
			if rec := serve(h, http.MethodDelete, "/v1/deployments/"+closed, "", nil); rec.Code != http.StatusOK {
				t.Fatalf("close: %d %s", rec.Code, rec.Body)
			}
			fill := strings.NewReplacer("{sdl}", sdl, "{active}", active, "{closed}", closed)
			rec := serve(h, c.Method, fill.Replace(c.Path), fill.Replace(c.Body), c.Header)
			if rec.Code != c.Status || !strings.Contains(rec.Body.String(), c.Contains) {
				t.Errorf("%s %s = %d %s; want %d with %q (%s)", c.Method, c.Path, rec.Code, rec.Body, c.Status, c.Contains, c.Source)
			}
		})
	}
}

// TestPricingDenomIsTheGrantDenom: the Console rewrites the SDL's pricing
// denom to its grant denom and keeps the amount (akash-network/console @
// d84c9e9 apps/api/src/deployment/services/sdl/sdl.service.ts
// generateManifest), so a ceiling of 2100 "uakt" is a ceiling of 2100 uact
// and bids come in uact.
func TestPricingDenomIsTheGrantDenom(t *testing.T) {
	h := NewServer(Options{BidDelayPolls: -1}).Handler()
	dseq := create(t, h, sdlJSON(t, "uakt", "2100"))
	rec := serve(h, http.MethodGet, "/v1/bids?dseq="+dseq, "", nil)
	var out struct {
		Data []struct {
			Bid struct {
				Price struct{ Denom, Amount string }
			}
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Data) == 0 {
		t.Fatalf("bids: %d %s", rec.Code, rec.Body)
	}
	for _, b := range out.Data {
		// Every a100/80Gi bid (1915 to 2215 uact) up to the ceiling, in uact.
		if b.Bid.Price.Denom != "uact" || !strings.HasPrefix(b.Bid.Price.Amount, "19") && !strings.HasPrefix(b.Bid.Price.Amount, "20") {
			t.Errorf("bid %+v; want uact between 1900 and 2100", b.Bid.Price)
		}
	}
}
