package render

import (
	"encoding/json"
	"testing"

	"github.com/aurora-federation/aurora/providers"
)

func TestSplitImage(t *testing.T) {
	tests := []struct{ in, image, tag string }{
		{"nginx", "nginx", "latest"},
		{"nginx:1.27", "nginx", "1.27"},
		{"ghcr.io/a/b:v1", "ghcr.io/a/b", "v1"},
		{"registry:5000/a/b", "registry:5000/a/b", "latest"},
		{"registry:5000/a/b:2", "registry:5000/a/b", "2"},
		{"a/b@sha256:abcd", "a/b@sha256:abcd", ""},
	}
	for _, tt := range tests {
		if image, tag := splitImage(tt.in); image != tt.image || tag != tt.tag {
			t.Errorf("splitImage(%q) = %q, %q, want %q, %q", tt.in, image, tag, tt.image, tt.tag)
		}
	}
}

func TestToOfferRejectsBadPrices(t *testing.T) {
	for _, price := range []string{"", "-1", "0", "1e999", "free"} {
		var o offer
		o.OfferID = "o"
		o.Pricing.HourlyRateUSD = jsonNumber(price)
		if _, err := toOffer(o); err == nil {
			t.Errorf("toOffer accepted price %q", price)
		}
	}
	var o offer
	o.OfferID, o.Pricing.HourlyRateUSD = "o", "0.4500006"
	po, err := toOffer(o)
	if err != nil || po.PricePerHour != 450001 || po.Raw != (providers.RawPrice{Amount: "0.4500006", Unit: "usd/hour"}) {
		t.Errorf("toOffer = %+v, %v", po, err)
	}
}

func FuzzParseOffers(f *testing.F) {
	f.Add([]byte(`{"data":[{"offer_id":"o1","region_code":"us-west-2","pricing":{"hourly_rate_usd":0.45},"hardware_summary":{"gpu_count":1,"gpu_model_label":"RTX 4090","min_gpu_vram_gib":24}}],"limit":50,"page":1,"total":1}`))
	f.Add([]byte(`{"data":[{"offer_id":"../x"}]}`))
	f.Add([]byte(`{"data":[{"offer_id":"o","pricing":{"hourly_rate_usd":"1e400"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseOffers(b)
		if err != nil {
			return
		}
		for _, o := range r.Data {
			if !validID(o.OfferID) {
				t.Fatalf("accepted offer id %q", o.OfferID)
			}
			if po, err := toOffer(o); err == nil && (po.PricePerHour <= 0 || po.VRAMMiB < 0) {
				t.Fatalf("toOffer produced %+v", po)
			}
		}
	})
}

func FuzzParseJob(f *testing.F) {
	f.Add([]byte(`{"object":"job","uuid":"j-1","status":"RUNNING","title":"aur-x","created_at":"2026-11-25T10:00:00Z"}`))
	f.Add([]byte(`{"data":[{"uuid":"j-1","status":"PENDING","title":"aur-x"}],"limit":50,"page":1,"total":1}`))
	f.Add([]byte(`{"uuid":"a/b","status":"RUNNING"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if j, err := parseJob(b); err == nil {
			if !validID(j.UUID) || j.Status == "" {
				t.Fatalf("parseJob accepted %+v", j)
			}
			_ = parseTime(j.CreatedAt)
		}
		if r, err := parseJobs(b); err == nil {
			for _, j := range r.Data {
				if !validID(j.UUID) {
					t.Fatalf("parseJobs accepted %+v", j)
				}
			}
		}
	})
}

func jsonNumber(s string) json.Number { return json.Number(s) }

func TestParseRunsHostile(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		wantErr    bool
	}{
		{"documented", `{"data":[{"uuid":"r","status":"ASSIGNED","started_at_ms":1705123456789,"node_urls":[{"description":"ssh","hostname":"123.45.67.89","port":22,"protocol":"tcp"}]}],"page":1,"limit":20,"total":1}`, false},
		{"host with a path", `{"data":[{"uuid":"r","node_urls":[{"hostname":"evil.example/x","port":22}]}]}`, true},
		{"port out of range", `{"data":[{"uuid":"r","node_urls":[{"hostname":"h","port":70000}]}]}`, true},
		{"empty host", `{"data":[{"uuid":"r","node_urls":[{"hostname":"","port":22}]}]}`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseRuns([]byte(tt.body)); (err != nil) != tt.wantErr {
				t.Fatalf("parseRuns = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}
