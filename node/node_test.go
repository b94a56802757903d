package node_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/treaty"
)

// testNode is a real node in a temp home: badger on disk, the embedded std
// policy on wazero, sim providers, the HTTP API on 127.0.0.1.
type testNode struct {
	t     *testing.T
	home  string
	cfg   node.Config
	n     *node.Node
	api   *client.Client
	token string
}

// policyCache is shared by every node in this test binary so the std policy
// compiles once.
var policyCache string

func TestMain(m *testing.M) {
	if home := os.Getenv(crashChildEnv); home != "" {
		runCrashChild(home)
		return
	}
	dir, err := os.MkdirTemp("", "aurora-policy-cache")
	if err != nil {
		panic(err)
	}
	policyCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newConfig() node.Config {
	cfg := node.DefaultConfig()
	cfg.Backup.Interval = 0
	cfg.Provenance.Epoch = node.Duration(150 * time.Millisecond)
	cfg.P2P.Listen = []string{}                                                                     // standalone: the mesh has its own tests and the testnet's
	cfg.Store = node.StoreConfig{ReserveBytes: 64 << 20, CheckInterval: node.Duration(time.Second)} // small test machines
	cfg.Providers = []node.ProviderConfig{
		{Kind: "sim", Name: "sim-eu", Regions: []string{"eu-west"}, Options: map[string]string{"seed": "1", "price": "1000000"}},
		{Kind: "sim", Name: "sim-us", Regions: []string{"us-east"}, Options: map[string]string{"seed": "2", "price": "1200000"}},
	}
	return cfg
}

func startNode(t *testing.T, cfg node.Config) *testNode {
	t.Helper()
	home := t.TempDir()
	if _, err := node.InitHome(home, cfg, false, nil); err != nil {
		t.Fatal(err)
	}
	tn := &testNode{t: t, home: home, cfg: cfg}
	tn.start()
	return tn
}

func (tn *testNode) start() {
	t := tn.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(t.Context(), node.Options{Home: tn.home, Config: tn.cfg, APIListener: ln, PolicyCacheDir: policyCache})
	if err != nil {
		t.Fatal(err)
	}
	tn.n = n
	tok, err := node.LoadToken(tn.home)
	if err != nil {
		t.Fatal(err)
	}
	tn.token = string(tok)
	tn.api = client.New("http://"+n.APIAddr(), "")
	t.Cleanup(func() { n.Close(context.Background()) })
}

func (tn *testNode) restart() {
	tn.t.Helper()
	if err := tn.n.Close(context.Background()); err != nil {
		tn.t.Fatal(err)
	}
	tn.start()
}

func clientKey(t *testing.T) *treaty.PrivateKey {
	t.Helper()
	k, err := treaty.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func spec() client.OrderSpec {
	return client.OrderSpec{Image: "ghcr.io/aurora/infer:1", GPU: "A100:1", Regions: []string{"eu-west"}, MaxPrice: "2.50/h", Duration: time.Hour}
}

func mustOrder(t *testing.T, k *treaty.PrivateKey, s client.OrderSpec) *treaty.Order {
	t.Helper()
	o, err := client.BuildOrder(k, s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOrderAckedLaunchedRecorded(t *testing.T) {
	tn := startNode(t, newConfig())
	k := clientKey(t)
	resp, err := tn.api.Submit(t.Context(), mustOrder(t, k, spec()))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Result != "ack" {
		t.Fatalf("result = %s (%s), want ack", resp.Result, resp.Record)
	}
	var ack treaty.Ack
	if err := treaty.DecodeJSON(resp.Record, &ack); err != nil {
		t.Fatal(err)
	}
	if err := treaty.Verify(&ack); err != nil {
		t.Fatalf("ack signature: %v", err)
	}
	if ack.Operator != tn.n.Identity().DID || ack.Route.Name != "sim-eu" || ack.Price != 1_000_000 {
		t.Fatalf("ack = %+v: want sim-eu at $1/h by this node", ack)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	job, err := tn.api.WaitSettled(ctx, resp.Job)
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != treaty.StatusRunning || len(job.Leaves) != 2 {
		t.Fatalf("job %s leaves %v, want running with 2 leaves", job.Status, job.Leaves)
	}
	// Both leaves are this job's records in the log.
	for _, i := range job.Leaves {
		leaf, err := tn.n.Log().Leaf(t.Context(), i)
		if err != nil {
			t.Fatal(err)
		}
		var e treaty.LogEntry
		if err := treaty.Decode(leaf, &e); err != nil || e.Job == nil || e.Job.Job != resp.Job {
			t.Fatalf("leaf %d is not this job's record: %v", i, err)
		}
	}
}

func TestOrderDenials(t *testing.T) {
	cfg := newConfig()
	cfg.Law.Regions = []string{"eu-west", "us-east"}
	cfg.Law.MaxPricePerGPUHour = 2_000_000
	tn := startNode(t, cfg)
	k := clientKey(t)
	tests := []struct {
		name   string
		mutate func(*client.OrderSpec)
		reason string
	}{
		{"region outside the law", func(s *client.OrderSpec) { s.Regions = []string{"ap-south"} }, "region"},
		{"no provider in region", func(s *client.OrderSpec) { s.Regions = []string{"us-east"}; s.GPU = "B200:1"; s.MaxPrice = "1.90/h" }, "no_capacity"},
		{"price cap below every offer", func(s *client.OrderSpec) { s.MaxPrice = "0.50/h" }, "no_capacity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec()
			tt.mutate(&s)
			resp, err := tn.api.Submit(t.Context(), mustOrder(t, k, s))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Result != "denial" {
				t.Fatalf("result = %s, want denial", resp.Result)
			}
			var d treaty.Denial
			if err := treaty.DecodeJSON(resp.Record, &d); err != nil {
				t.Fatal(err)
			}
			if err := treaty.Verify(&d); err != nil {
				t.Fatalf("denial signature: %v", err)
			}
			if !strings.Contains(strings.Join(d.Reasons, ";"), tt.reason) {
				t.Fatalf("reasons %v lack %q", d.Reasons, tt.reason)
			}
		})
	}
}

func post(t *testing.T, tn *testNode, contentType string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+tn.n.APIAddr()+"/v1/orders", contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

func TestOrderRejections(t *testing.T) {
	tn := startNode(t, newConfig())
	k := clientKey(t)
	good := mustOrder(t, k, spec())
	goodJSON, err := treaty.EncodeJSON(good)
	if err != nil {
		t.Fatal(err)
	}
	tampered := *good
	tampered.Workload.Image = "evil:latest"
	tamperedJSON, _ := treaty.EncodeJSON(&tampered)
	expired := mustOrder(t, k, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "2/h", Lifetime: time.Second})
	expired.Created -= 3600
	expired.Expires -= 3600
	treaty.Sign(expired, k)
	expiredJSON, _ := treaty.EncodeJSON(expired)
	wrongKey := *good
	wrongKey.Client = "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme" // secp256k1, not Ed25519
	wrongKeyJSON, _ := treaty.EncodeJSON(&wrongKey)
	unknownField := bytes.Replace(goodJSON, []byte(`{"client"`), []byte(`{"admin":true,"client"`), 1)

	tests := []struct {
		name        string
		ct          string
		body        []byte
		status      int
		code, field string
	}{
		{"malformed json", "application/json", []byte(`{"v":1,`), 400, "bad_record", ""},
		{"unknown field", "application/json", unknownField, 400, "bad_record", ""},
		{"missing field", "application/json", []byte(`{"v":1}`), 400, "bad_record", ""},
		{"oversized", "application/json", bytes.Repeat([]byte("a"), 300<<10), 413, "too_large", ""},
		{"bad signature", "application/json", tamperedJSON, 400, "bad_signature", ""},
		{"wrong key type", "application/json", wrongKeyJSON, 400, "bad_record", "client"},
		{"expired", "application/json", expiredJSON, 400, "bad_record", "expires"},
		{"unsupported media type", "text/plain", goodJSON, 415, "unsupported_media_type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, tn, tt.ct, tt.body)
			if status != tt.status || !strings.Contains(body, `"code":"`+tt.code+`"`) {
				t.Fatalf("got %d %s, want %d %s", status, body, tt.status, tt.code)
			}
			if tt.field != "" && !strings.Contains(body, `"field":"`+tt.field+`"`) {
				t.Fatalf("body %s does not name field %q", body, tt.field)
			}
		})
	}
	// The node still serves after all of that.
	status, first := post(t, tn, "application/json", goodJSON)
	if status != 200 || !strings.Contains(first, `"result":"ack"`) {
		t.Fatalf("good order after bad ones: %d %s", status, first)
	}
	// The identical order again gets its original answer, also after a
	// restart; another order reusing the nonce is 409.
	first = strings.Replace(first, `"result":"ack",`, `"result":"ack","replayed":true,`, 1)
	if status, body := post(t, tn, "application/json", goodJSON); status != 200 || body != first {
		t.Fatalf("resubmission: %d %s, want 200 %s", status, body, first)
	}
	reused := *good
	reused.Workload.Image = "other:1"
	treaty.Sign(&reused, k)
	reusedJSON, _ := treaty.EncodeJSON(&reused)
	if status, body := post(t, tn, "application/json", reusedJSON); status != 409 || !strings.Contains(body, `"code":"replay"`) || !strings.Contains(body, `"field":"nonce"`) {
		t.Fatalf("nonce reuse: %d %s", status, body)
	}
	tn.restart()
	if status, body := post(t, tn, "application/json", goodJSON); status != 200 || body != first {
		t.Fatalf("resubmission after restart: %d %s", status, body)
	}
	if status, _ := post(t, tn, "application/json", reusedJSON); status != 409 {
		t.Fatalf("nonce reuse after restart: %d", status)
	}
}

func TestOperatorAuth(t *testing.T) {
	tn := startNode(t, newConfig())
	anon := client.New("http://"+tn.n.APIAddr(), "")
	if _, err := anon.Jobs(t.Context(), 0, 10); !client.IsStatus(err, 401) {
		t.Fatalf("no token: %v, want 401", err)
	}
	bad := client.New("http://"+tn.n.APIAddr(), strings.Repeat("0", 64))
	if _, err := bad.Jobs(t.Context(), 0, 10); !client.IsStatus(err, 403) {
		t.Fatalf("bad token: %v, want 403", err)
	}
	op := client.New("http://"+tn.n.APIAddr(), tn.token)
	if _, err := op.Jobs(t.Context(), 0, 10); err != nil {
		t.Fatalf("operator token: %v", err)
	}
	var ae *client.APIError
	if _, err := op.Job(t.Context(), "nope"); !errors.As(err, &ae) || ae.Status != 400 || ae.Field != "id" {
		t.Fatalf("job ID that is not a CID: %v, want 400 naming id", err)
	}
}

func TestFailingProvidersFallBack(t *testing.T) {
	cfg := newConfig()
	cfg.Providers = []node.ProviderConfig{
		{Kind: "sim", Name: "sim-broken", Regions: []string{"eu-west"}, Options: map[string]string{"seed": "1", "price": "500000", "fail": "1"}},
		{Kind: "sim", Name: "sim-ok", Regions: []string{"eu-west"}, Options: map[string]string{"seed": "2", "price": "900000"}},
	}
	tn := startNode(t, cfg)
	k := clientKey(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for range 20 {
		resp, err := tn.api.Submit(ctx, mustOrder(t, k, spec()))
		if err != nil || resp.Result != "ack" {
			t.Fatalf("submit: %v %+v", err, resp)
		}
		job, err := tn.api.WaitSettled(ctx, resp.Job)
		if err != nil {
			t.Fatal(err)
		}
		if job.Status != treaty.StatusRunning {
			t.Fatalf("job %s: %s, want running through the fallback", resp.Job, job.Status)
		}
	}
}

func TestStartupAndConfigErrors(t *testing.T) {
	cfg := newConfig()
	cfg.Providers = append(cfg.Providers, node.ProviderConfig{Kind: "nope", Name: "x"})
	home := t.TempDir()
	if _, err := node.InitHome(home, newConfig(), false, nil); err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	_, err := node.New(t.Context(), node.Options{Home: home, Config: cfg, APIListener: ln})
	var ce *node.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Key, "providers[2].kind") {
		t.Fatalf("unknown provider kind: %v", err)
	}
	// An announced address with a peer ID names its key.
	cfg = newConfig()
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.P2P.Announce = []string{"/ip4/192.0.2.7/tcp/4001", "/ip4/192.0.2.7/tcp/4001/p2p/12D3KooWJKC35L1a7RSNHY37okuAQ3ua93cfvWjLsEjCL4NFqAzz"}
	_, err = node.New(t.Context(), node.Options{Home: home, Config: cfg, APIListener: ln})
	if !errors.As(err, &ce) || ce.Key != "p2p.announce[1]" {
		t.Fatalf("announce with a peer ID: %v, want a ConfigError on p2p.announce[1]", err)
	}
	// A key readable by others is refused.
	os.Chmod(filepath.Join(home, node.KeyFile), 0o644)
	if _, err := node.New(t.Context(), node.Options{Home: home, Config: newConfig(), APIListener: ln}); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("world-readable key: %v", err)
	}
}

func mustListen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

// TestProofBundleVerifiesOffline: a job's bundle, fetched over the API after
// its epoch closed, verifies offline against the node's DID and origin.
func TestProofBundleVerifiesOffline(t *testing.T) {
	tn := startNode(t, newConfig())
	resp, err := tn.api.Submit(t.Context(), mustOrder(t, clientKey(t), spec()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := tn.api.WaitSettled(ctx, resp.Job); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for {
		raw, err = tn.api.Raw(ctx, http.MethodGet, "/v1/jobs/"+resp.Job+"/proof", "", nil)
		if err == nil {
			break // the epoch holding the job's last leaf has closed
		}
		if ctx.Err() != nil {
			t.Fatalf("no proof bundle: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, err := provenance.ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	origin := "aurora/testnet/" + tn.n.Identity().PeerID.String()
	rep, err := provenance.VerifyBundle(b, provenance.VerifyOptions{Origin: origin, LogDID: tn.n.Identity().DID})
	if err != nil || !rep.OK() {
		var buf bytes.Buffer
		rep.WriteTo(&buf)
		t.Fatalf("bundle does not verify: %v\n%s", err, buf.String())
	}
	// Signed by someone else's key, it fails.
	if rep, err := provenance.VerifyBundle(b, provenance.VerifyOptions{Origin: origin, LogDID: clientKey(t).DID()}); err == nil && rep.OK() {
		t.Fatal("bundle verifies against the wrong log key")
	}
	cp, err := tn.api.Raw(ctx, http.MethodGet, "/v1/checkpoints/latest", "", nil)
	if err != nil || !bytes.HasPrefix(cp, []byte(origin+"\n")) {
		t.Fatalf("latest checkpoint: %v %q", err, cp)
	}
}
