package fluxtest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/flux/internal/btcmsg"
)

func key(t *testing.T, d byte) *btcmsg.Key {
	t.Helper()
	b := make([]byte, 32)
	b[31] = d
	k, err := btcmsg.NewKey(b, true)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var epoch = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func session(k *btcmsg.Key, signer *btcmsg.Key, at time.Time, pad int) string {
	phrase := strconv.FormatInt(at.UnixMilli(), 10) + strings.Repeat("ab", pad)
	b, _ := json.Marshal(map[string]string{"zelid": k.Address(), "signature": signer.Sign([]byte(phrase)), "loginPhrase": phrase})
	return string(b)
}

func testSpec(owner string) fspec {
	return fspec{Version: 8, Name: "aurtest", Description: "d", Owner: owner,
		Compose: []fcomp{{Name: "aurtest", Description: "d", Repotag: "nginx:1.27", Ports: []int64{}, Domains: []string{},
			EnvironmentParameters: []string{}, Commands: []string{}, ContainerPorts: []int64{}, ContainerData: "/data", CPU: 0.5, RAM: 1000, HDD: 5}},
		Instances: 3, Contacts: []string{}, Geolocation: []string{}, Expire: 88000, Nodes: []string{}}
}

func register(s *Server, auth string, sp fspec, ts time.Time, signer *btcmsg.Key, mutate func(*fspec)) map[string]any {
	formatted := string(stringify(sp))
	tsText := strconv.FormatInt(ts.UnixMilli(), 10)
	sig := signer.Sign([]byte("fluxappregister1" + formatted + tsText))
	if mutate != nil {
		mutate(&sp)
	}
	body := fmt.Sprintf(`{"type":"fluxappregister","version":1,"appSpecification":%s,"timestamp":%s,"signature":%q}`, stringify(sp), tsText, sig)
	req := httptest.NewRequest(http.MethodPost, "/apps/appregister", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain")
	if auth != "" {
		req.Header.Set("zelidauth", auth)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	out["http"] = rec.Code
	return out
}

func TestRegisterChecksSessionAndSignature(t *testing.T) {
	owner, other := key(t, 3), key(t, 2)
	clock := providers.NewVirtualClock(epoch)
	tests := []struct {
		name    string
		auth    string
		ts      time.Time
		signer  *btcmsg.Key
		mutate  func(*fspec)
		wantErr string
	}{
		{"valid", session(owner, owner, epoch.Add(-time.Minute), 16), epoch, owner, nil, ""},
		{"session by another key", session(other, owner, epoch, 16), epoch, owner, nil, "Unauthorized"},
		{"no session", "", epoch, owner, nil, "Unauthorized"},
		{"phrase 17 hours old", session(owner, owner, epoch.Add(-17*time.Hour), 16), epoch, owner, nil, "Unauthorized"},
		{"phrase from the future", session(owner, owner, epoch.Add(time.Minute), 16), epoch, owner, nil, "Unauthorized"},
		{"phrase too short", session(owner, owner, epoch, 10), epoch, owner, nil, "Unauthorized"},
		{"phrase too long", session(owner, owner, epoch, 30), epoch, owner, nil, "Unauthorized"},
		{"message signed by another key", session(owner, owner, epoch, 16), epoch, other, nil, "Received message is invalid"},
		{"spec changed after signing", session(owner, owner, epoch, 16), epoch, owner, func(s *fspec) { s.Compose[0].CPU = 1 }, "Received message is invalid"},
		{"message over an hour old", session(owner, owner, epoch, 16), epoch.Add(-61 * time.Minute), owner, nil, "over 1 hour old"},
		{"message from the future", session(owner, owner, epoch, 16), epoch.Add(6 * time.Minute), owner, nil, "from future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(Options{Now: clock.Now})
			out := register(s, tt.auth, testSpec(owner.Address()), tt.ts, tt.signer, tt.mutate)
			if out["http"] != http.StatusOK {
				t.Fatalf("HTTP %v: FluxOS answers errors with 200", out["http"])
			}
			if tt.wantErr == "" {
				h, _ := out["data"].(string)
				if out["status"] != "success" || len(h) != 64 {
					t.Fatalf("register = %v", out)
				}
				if _, err := hex.DecodeString(h); err != nil {
					t.Fatal(err)
				}
				return
			}
			data, _ := out["data"].(map[string]any)
			if out["status"] != "error" || !strings.Contains(fmt.Sprint(data["name"], data["message"]), tt.wantErr) {
				t.Errorf("register = %v, want an error mentioning %q", out, tt.wantErr)
			}
			if s.Workloads() != 0 {
				t.Error("a refused message was stored")
			}
		})
	}
}

func TestSameMessageSameHashAndQueryStringSession(t *testing.T) {
	owner := key(t, 3)
	clock := providers.NewVirtualClock(epoch)
	s := NewServer(Options{Now: clock.Now})
	phrase := strconv.FormatInt(epoch.UnixMilli(), 10) + strings.Repeat("cd", 16)
	qs := "zelid=" + owner.Address() + "&signature=" + strings.ReplaceAll(strings.ReplaceAll(owner.Sign([]byte(phrase)), "+", "%2B"), "/", "%2F") + "&loginPhrase=" + phrase
	a := register(s, qs, testSpec(owner.Address()), epoch, owner, nil)
	b := register(s, qs, testSpec(owner.Address()), epoch, owner, nil)
	if a["status"] != "success" || a["data"] != b["data"] {
		t.Fatalf("registers = %v, %v", a, b)
	}
	if n := s.Workloads(); n != 1 {
		t.Errorf("%d workloads, want 1", n)
	}
}

func TestPostsMustBeTextPlain(t *testing.T) {
	s := NewServer(Options{})
	body, _ := json.Marshal(testSpec(key(t, 3).Address()))
	req := httptest.NewRequest(http.MethodPost, "/apps/verifyappregistrationspecifications", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"status":"error"`) || !strings.Contains(rec.Body.String(), "text/plain") {
		t.Errorf("JSON post = %d %s", rec.Code, rec.Body)
	}
}

func TestPricing(t *testing.T) {
	sp := testSpec(key(t, 3).Address())
	// 0.5 cpu, 1000 MB, 5 GB: (0.5*1.5 + 0.5 + 0.1)/3 = 0.45/instance/month,
	// 3 instances 1.35, small-app discount 20 % = 1.08.
	if got := usd(sp, 0.99); got != 1.08 {
		t.Errorf("usd = %v, want 1.08", got)
	}
	sp.Expire = 264000 // three months, 3 % off
	if got := usd(sp, 0.99); got != 3.14 {
		t.Errorf("usd(3 months) = %v, want 3.14", got)
	}
	sp.Expire = 5000
	if got := usd(sp, 0.99); got != 0.99 {
		t.Errorf("usd(short) = %v, want the 0.99 floor", got)
	}
}
