package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/examples/gpulimit/gpulimittest"
	"github.com/aurora-federation/aurora/treaty"
)

// fakeTreatyAPI serves the treaty and peer endpoints of the node's API
// contract and records what it was asked.
type fakeTreatyAPI struct {
	token string
	mu    sync.Mutex // protects reqs
	reqs  []string   // "METHOD path body"
}

func (f *fakeTreatyAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.Path+" "+string(body))
	f.mu.Unlock()
	if r.Method == "POST" && r.Header.Get("Authorization") != "Bearer "+f.token {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"code":"unauthorized","message":"missing bearer token"}}`)
		return
	}
	view := `{"cid":"bafyfinal","state":"active","template":"bilateral","parties":["did:key:z6MkA","did:key:z6MkB"],"signed":["did:key:z6MkA","did:key:z6MkB"],"seq":1,"not_after":1800000000`
	switch r.Method + " " + r.URL.Path {
	case "POST /v1/treaties":
		io.WriteString(w, `{"cid":"bafyprop","state":"proposed","treaty":{"v":1}}`)
	case "POST /v1/treaties/bafyprop/sign":
		io.WriteString(w, view+`}`)
	case "POST /v1/treaties/bafyfinal/revoke":
		io.WriteString(w, strings.Replace(view, `"active"`, `"revoked"`, 1)+`}`)
	case "GET /v1/treaties":
		io.WriteString(w, `{"treaties":[`+view+`},{"cid":"bafyother","state":"proposed","template":"burst-overflow","parties":["did:key:z6MkA","did:key:z6MkC"],"signed":["did:key:z6MkA"],"seq":2,"not_after":0}]}`)
	case "GET /v1/treaties/bafyfinal":
		io.WriteString(w, view+`,"treaty":{"v":1,"seq":1}}`)
	case "GET /v1/peers":
		io.WriteString(w, `{"peers":[{"did":"did:key:z6MkB","peer_id":"12D3KooWB","addrs":["/ip4/127.0.0.1/tcp/4001","/ip4/127.0.0.1/udp/4001/quic-v1"],"connected":true,"treaties":["bafyfinal"]},`+
			`{"did":"did:key:z6MkC","peer_id":"12D3KooWC","addrs":[],"connected":false,"treaties":[]}]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":"not_found","message":"no such treaty","field":"cid"}}`)
	}
}

func TestTreatyCLI(t *testing.T) {
	home := t.TempDir()
	token := strings.Repeat("ab", 32)
	if err := os.WriteFile(filepath.Join(home, "api.token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	api := &fakeTreatyAPI{token: token}
	srv := httptest.NewServer(api)
	defer srv.Close()
	k, err := treaty.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	peer := string(k.DID())
	gpuModule := policy.ModuleCID(gpulimittest.Wasm()).String()
	gpuParams := gpulimittest.Params(1)
	paramsFile, bigParams := filepath.Join(home, "gpulimit.cbor"), filepath.Join(home, "big.cbor")
	if err := os.WriteFile(paramsFile, gpuParams, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bigParams, make([]byte, treaty.MaxParamsLen+1), 0o644); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (code int, stdout, stderr string) {
		var out, errb bytes.Buffer
		code = run(append(args, "--home", home, "--api", srv.URL), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string // substrings, in order
		wantErr  string
		wantReq  string
	}{
		{name: "new", args: []string{"treaty", "new", "--template", "bilateral", "--peer", peer, "--set", "validity_days=30"},
			wantOut: []string{"cid:   bafyprop", "state: proposed", "aurora treaty sign bafyprop"},
			wantReq: `POST /v1/treaties {"peer":"` + peer + `","set":{"validity_days":"30"},"template":"bilateral"}`},
		{name: "new naming a policy module", args: []string{"treaty", "new", "--template", "gpu-inference", "--peer", peer, "--policy-module", gpuModule, "--policy-params", paramsFile},
			wantOut: []string{"cid:   bafyprop"},
			wantReq: `POST /v1/treaties {"peer":"` + peer + `","set":{"policy_module":"` + gpuModule + `","policy_params":"` + base64.StdEncoding.EncodeToString(gpuParams) + `"},"template":"gpu-inference"}`},
		{name: "new: not a module CID", args: []string{"treaty", "new", "--template", "bilateral", "--peer", peer, "--policy-module", treaty.CIDOf([]byte("x")).String()}, wantCode: 1, wantErr: `--policy-module "bafyrei`},
		{name: "new: params file too large", args: []string{"treaty", "new", "--template", "bilateral", "--peer", peer, "--policy-params", bigParams}, wantCode: 1, wantErr: "--policy-params:"},
		{name: "new: unknown template", args: []string{"treaty", "new", "--template", "nope", "--peer", peer}, wantCode: 1, wantErr: `--template "nope": want one of`},
		{name: "new: bad peer", args: []string{"treaty", "new", "--template", "bilateral", "--peer", "did:key:zzz"}, wantCode: 1, wantErr: `--peer "did:key:zzz"`},
		{name: "new: unknown key", args: []string{"treaty", "new", "--template", "bilateral", "--peer", peer, "--set", "colour=red"}, wantCode: 1, wantErr: "unknown key"},
		{name: "sign", args: []string{"treaty", "sign", "bafyprop"}, wantOut: []string{"signed bafyprop (now bafyfinal, active)"}, wantReq: "POST /v1/treaties/bafyprop/sign "},
		{name: "revoke", args: []string{"treaty", "revoke", "bafyfinal", "--reason", "done"}, wantOut: []string{"revoked bafyfinal (revoked)"},
			wantReq: `POST /v1/treaties/bafyfinal/revoke {"reason":"done"}`},
		{name: "revoke: no reason", args: []string{"treaty", "revoke", "bafyfinal"}, wantCode: 1, wantErr: "--reason is required"},
		{name: "list", args: []string{"treaty", "list"}, wantOut: []string{
			"CID        STATE     TEMPLATE        SEQ  SIGNED  PARTIES",
			"bafyfinal  active    bilateral       1    2/2",
			"bafyother  proposed  burst-overflow  2    1/2", "-\n"}},
		{name: "show", args: []string{"treaty", "show", "bafyfinal"}, wantOut: []string{"cid:", "bafyfinal", "state:", "active", "parties:", "did:key:z6MkA", "signed", "record:", `"seq": 1`}},
		{name: "show: not found", args: []string{"treaty", "show", "bafymissing"}, wantCode: 1, wantErr: "aurora: 404 not_found: no such treaty (field cid)\n"},
		{name: "show: not a cid", args: []string{"treaty", "show", "a/b"}, wantCode: 1, wantErr: `"a/b" is not a treaty CID`},
		{name: "peers", args: []string{"peers"}, wantOut: []string{
			"DID            PEER ID    CONNECTED  TREATIES   ADDRESS",
			"did:key:z6MkB  12D3KooWB  yes        bafyfinal  /ip4/127.0.0.1/tcp/4001 (+1)",
			"did:key:z6MkC  12D3KooWC  no         -          -"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api.mu.Lock()
			api.reqs = nil
			api.mu.Unlock()
			code, out, errOut := cli(tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.wantCode, errOut)
			}
			rest := out
			for _, w := range tc.wantOut {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stdout lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if tc.wantErr != "" && !strings.Contains(errOut, tc.wantErr) {
				t.Fatalf("stderr %q lacks %q", errOut, tc.wantErr)
			}
			if tc.wantCode != 0 && strings.Count(errOut, "\n") != 1 {
				t.Errorf("error is not one line: %q", errOut)
			}
			if tc.wantReq != "" {
				api.mu.Lock()
				defer api.mu.Unlock()
				if len(api.reqs) != 1 || api.reqs[0] != tc.wantReq {
					t.Fatalf("requests %q, want [%q]", api.reqs, tc.wantReq)
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		_, out, _ := cli("treaty", "list", "--json")
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil || v["treaties"] == nil {
			t.Fatalf("--json output %q: %v", out, err)
		}
	})

	t.Run("no token", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := run([]string{"treaty", "sign", "bafyprop", "--home", t.TempDir(), "--api", srv.URL}, strings.NewReader(""), &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "no operator token") {
			t.Fatalf("exit %d, stderr %q", code, errb.String())
		}
	})
}
