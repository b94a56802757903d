package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/witness/persistence/inmemory"
	tdwitness "github.com/transparency-dev/witness/witness"
	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
)

// refWitness is transparency-dev/witness, the reference implementation of
// C2SP tlog-witness, served in-process over HTTP for one log: the external
// witness an operator would name in provenance.external_witnesses. While
// down, it drops every connection unanswered.
type refWitness struct {
	srv  *httptest.Server
	vkey string // its cosignature/v1 verifier key
	down atomic.Bool
	logV atomic.Pointer[note.Verifier] // the log it witnesses, set before the node starts
}

func startRefWitness(t *testing.T, keyName string) *refWitness {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, keyName)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	rw := &refWitness{}
	if rw.vkey, err = fnote.VKeyToCosignatureV1(vkey); err != nil {
		t.Fatal(err)
	}
	w, err := tdwitness.New(t.Context(), tdwitness.Opts{
		Persistence: inmemory.New(),
		Signers:     []note.Signer{signer},
		VerifierForLog: func(_ context.Context, origin string) (note.Verifier, bool, error) {
			v := rw.logV.Load()
			if v == nil || (*v).Name() != origin {
				return nil, false, nil
			}
			return *v, true, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := tdwitness.NewHTTPHandler(w)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /witness/add-checkpoint", func(wr http.ResponseWriter, r *http.Request) {
		if rw.down.Load() {
			panic(http.ErrAbortHandler) // the connection closes without an answer
		}
		h.AddCheckpoint(wr, r)
	})
	rw.srv = httptest.NewUnstartedServer(mux)
	rw.srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	rw.srv.Start()
	t.Cleanup(rw.srv.Close)
	return rw
}

func (rw *refWitness) url() string { return rw.srv.URL + "/witness" }

// syncBuffer is a log sink that tests read while the node writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// metricValue is the value of the sample of family name with the given
// labels in reg (-1 if absent).
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExternalWitnesses runs a standalone node (no mesh, no treaty
// partners) whose config names three external witnesses:
//   - "ref": transparency-dev/witness, the reference C2SP implementation.
//     It cosigns, goes down for an epoch, and comes back: it then answers
//     409 naming the size it stored, the node retries with a proof from
//     it, and the checkpoint carries its cosignature again;
//   - "down": nothing listens at its URL;
//   - "wrongkey": a reference witness configured with a key that is not
//     its own: its cosignature is refused and named in the log.
//
// Checkpoints are published with the cosignature that verified whoever
// fails, each request is counted per witness and result, /v1/trust lists
// the three, and a job's proof bundle verifies offline against the
// reference witness's key.
func TestExternalWitnesses(t *testing.T) {
	ref := startRefWitness(t, "witness.example/ref")
	impostor := startRefWitness(t, "witness.example/wrongkey")
	// wrongkey is configured with the key of a witness that is not the one
	// at its URL (the same key name, another key).
	_, otherV, err := note.GenerateKey(rand.Reader, "witness.example/wrongkey")
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, err := fnote.VKeyToCosignatureV1(otherV)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + ln.Addr().String() + "/witness"
	ln.Close() // nothing listens there

	cfg := newConfig()
	cfg.Provenance.ExternalWitnesses = []node.ExternalWitnessConfig{
		{Name: "ref", URL: ref.url(), Key: ref.vkey, Timeout: node.Duration(2 * time.Second)},
		{Name: "down", URL: downURL, Key: mustVKey(t, "witness.example/down")},
		{Name: "wrongkey", URL: impostor.url(), Key: wrongKey},
	}
	home := t.TempDir()
	id, err := node.InitHome(home, cfg, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	origin := "aurora/" + cfg.Federation + "/" + id.PeerID.String()
	lk, err := provenance.LogVerifierKey(origin, id.DID)
	if err != nil {
		t.Fatal(err)
	}
	logV, err := note.NewVerifier(lk)
	if err != nil {
		t.Fatal(err)
	}
	ref.logV.Store(&logV)
	impostor.logV.Store(&logV)

	var logs syncBuffer
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(t.Context(), node.Options{Home: home, Config: cfg, APIListener: apiLn, PolicyCacheDir: policyCache,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(context.Background()) })
	reg := n.Metrics().Registry
	requests := func(w, result string) float64 {
		return metricValue(t, reg, "aurora_external_witness_requests_total", map[string]string{"witness": w, "result": result})
	}
	for _, w := range []string{"ref", "down", "wrongkey"} {
		if v := requests(w, "ok"); v != 0 {
			t.Fatalf("%s: ok = %v before any epoch, want 0 (every series exported from the start)", w, v)
		}
	}
	refV, err := provenance.ParseWitnessKey(ref.vkey)
	if err != nil {
		t.Fatal(err)
	}
	k := clientKey(t)
	submit := func() string {
		t.Helper()
		r, err := apiOf(n).Submit(t.Context(), mustOrder(t, k, spec()))
		if err != nil || r.Result != "ack" {
			t.Fatalf("submit: %v %+v", err, r)
		}
		return r.Job
	}
	// covered waits for a checkpoint that ref cosigned and that covers
	// every leaf of job so far.
	covered := func(job string) provenance.Checkpoint {
		t.Helper()
		var cp provenance.Checkpoint
		waitFor(t, "a checkpoint cosigned by ref that covers the job", 15*time.Second, func() bool {
			var err error
			if cp, err = n.Log().LatestCheckpoint(t.Context()); err != nil {
				return false
			}
			if _, err := provenance.VerifyCosignature(cp.Note, refV); err != nil {
				return false
			}
			j, err := n.Ledger().Job(t.Context(), job)
			return err == nil && len(j.Leaves) > 0 && cp.Size > j.Leaves[len(j.Leaves)-1]
		})
		return cp
	}

	// 1. ref cosigns; down and wrongkey fail, counted, and the checkpoint
	// is published with ref's cosignature alone.
	cp := covered(submit())
	if v := requests("ref", "ok"); v < 1 {
		t.Fatalf("ref: ok = %v", v)
	}
	if v := requests("down", "unreachable"); v < 1 {
		t.Fatalf("down: unreachable = %v", v)
	}
	if v := requests("wrongkey", "bad_cosignature"); v < 1 {
		t.Fatalf("wrongkey: bad_cosignature = %v", v)
	}
	if !strings.Contains(logs.String(), "witness=wrongkey") || !strings.Contains(logs.String(), "cosignature refused") ||
		!strings.Contains(logs.String(), "another key than the configured "+wrongKey) {
		t.Fatalf("the refused cosignature is not named in the log:\n%s", logs.String())
	}
	if got := strings.Count(string(cp.Note), "\n— "); got != 2 {
		t.Fatalf("checkpoint carries %d signatures, want the log's and ref's:\n%s", got, cp.Note)
	}
	if strings.Contains(string(cp.Note), "witness.example/wrongkey") {
		t.Fatalf("the refused cosignature was merged:\n%s", cp.Note)
	}

	// 2. ref goes down for an epoch: counted, and it misses that epoch.
	ref.down.Store(true)
	before := requests("ref", "unreachable")
	submit()
	waitFor(t, "ref to be found down", 15*time.Second, func() bool { return requests("ref", "unreachable") > before })

	// 3. ref comes back. It stored an older size than the previous epoch's,
	// so it answers 409 with it; the retry from it is cosigned.
	ref.down.Store(false)
	job := submit()
	cp = covered(job)
	if v := requests("ref", "conflict"); v != 1 {
		t.Errorf("ref: conflict = %v, want 1 (the 409 after it came back)", v)
	}
	if v := requests("down", "unreachable"); v < 3 {
		t.Errorf("down: unreachable = %v, want one per round (at least 3)", v)
	}
	if v := requests("wrongkey", "ok"); v != 0 {
		t.Errorf("wrongkey: ok = %v", v)
	}
	if v := metricValue(t, reg, "aurora_external_witness_last_cosigned_timestamp_seconds", map[string]string{"witness": "ref"}); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("ref: last cosigned at %v", v)
	}
	if v := metricValue(t, reg, "aurora_external_witness_last_cosigned_timestamp_seconds", map[string]string{"witness": "wrongkey"}); v != 0 {
		t.Errorf("wrongkey: last cosigned at %v, want 0", v)
	}

	// /v1/trust lists them for `aurora federation policy`.
	tv := trustView(t, n)
	if len(tv.ExternalWitnesses) != 3 || tv.ExternalWitnesses[0] != (node.TrustExternalWitness{Name: "ref", Key: refV.VerifierKey(), URL: ref.url()}) {
		t.Fatalf("trust view external witnesses: %+v", tv.ExternalWitnesses)
	}

	// The job's bundle verifies offline with ref as the witness policy.
	var b *provenance.Bundle
	waitFor(t, "the job's proof", 15*time.Second, func() bool {
		raw, err := apiOf(n).Raw(t.Context(), http.MethodGet, "/v1/jobs/"+job+"/proof", "", nil)
		if err != nil {
			return false
		}
		b, err = provenance.ParseBundle(raw)
		return err == nil && strings.Contains(string(b.Checkpoint), "witness.example/ref")
	})
	rep, err := provenance.VerifyBundle(b, provenance.VerifyOptions{Origin: origin, LogDID: id.DID, WitnessKeys: []*provenance.CosignatureVerifier{refV}, MinWitnesses: 1, Now: time.Now()})
	if err != nil {
		var out strings.Builder
		rep.WriteTo(&out)
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
}

func mustVKey(t *testing.T, name string) string {
	t.Helper()
	_, v, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := fnote.VKeyToCosignatureV1(v)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestExternalWitnessConfig: every field is checked, a bad one is named,
// the count and the timeout are bounded at and beyond their limits, and the
// file form round-trips.
func TestExternalWitnessConfig(t *testing.T) {
	good := func() node.ExternalWitnessConfig {
		return node.ExternalWitnessConfig{Name: "w1", URL: "https://witness.example/w1", Key: mustVKey(t, "witness.example/w1")}
	}
	many := func(n int) []node.ExternalWitnessConfig {
		out := make([]node.ExternalWitnessConfig, n)
		for i := range out {
			out[i] = good()
			out[i].Name = "w" + string(rune('a'+i))
			out[i].Key = mustVKey(t, "witness.example/"+out[i].Name)
		}
		return out
	}
	logKey, err := provenance.LogVerifierKey("aurora/testnet/x", clientKey(t).DID())
	if err != nil {
		t.Fatal(err)
	}
	ed25519Key := "witness.example/ed+" + strings.SplitN(mustEd25519VKey(t, "witness.example/ed"), "+", 2)[1]
	for _, tc := range []struct {
		name    string
		edit    func(*[]node.ExternalWitnessConfig)
		wantKey string // the ConfigError's key; "" for valid
	}{
		{"one", func(ws *[]node.ExternalWitnessConfig) {}, ""},
		{"at the limit", func(ws *[]node.ExternalWitnessConfig) { *ws = many(node.MaxExternalWitnesses) }, ""},
		{"beyond the limit", func(ws *[]node.ExternalWitnessConfig) { *ws = many(node.MaxExternalWitnesses + 1) }, "provenance.external_witnesses"},
		{"no name", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].Name = "" }, "provenance.external_witnesses[0].name"},
		{"name at 64 bytes", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].Name = strings.Repeat("n", 64) }, ""},
		{"name at 65 bytes", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].Name = strings.Repeat("n", 65) }, "provenance.external_witnesses[0].name"},
		{"name with a space", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].Name = "w 1" }, "provenance.external_witnesses[0].name"},
		{"duplicate name", func(ws *[]node.ExternalWitnessConfig) {
			*ws = many(2)
			(*ws)[1].Name = (*ws)[0].Name
		}, "provenance.external_witnesses[1].name"},
		{"no url", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].URL = "" }, "provenance.external_witnesses[0].url"},
		{"ftp url", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].URL = "ftp://witness.example/" }, "provenance.external_witnesses[0].url"},
		{"url with a query", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].URL = "https://witness.example/?a=1" }, "provenance.external_witnesses[0].url"},
		{"url with credentials", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].URL = "https://u:p@witness.example/" }, "provenance.external_witnesses[0].url"},
		{"url at 2048 bytes", func(ws *[]node.ExternalWitnessConfig) {
			(*ws)[0].URL = "https://witness.example/" + strings.Repeat("p", 2048-len("https://witness.example/"))
		}, ""},
		{"url at 2049 bytes", func(ws *[]node.ExternalWitnessConfig) {
			(*ws)[0].URL = "https://witness.example/" + strings.Repeat("p", 2049-len("https://witness.example/"))
		}, "provenance.external_witnesses[0].url"},
		{"no key", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].Key = "" }, "provenance.external_witnesses[0].key"},
		{"key with a bad hash", func(ws *[]node.ExternalWitnessConfig) {
			k := (*ws)[0].Key
			i := strings.Index(k, "+") + 1
			(*ws)[0].Key = k[:i] + "00000000" + k[i+8:]
		}, "provenance.external_witnesses[0].key"},
		{"a log key", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].Key = logKey }, ""}, // type 0x01 is taken as cosignature/v1, like formats does
		{"an Ed25519 vkey", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].Key = ed25519Key }, ""},
		{"a did:key", func(ws *[]node.ExternalWitnessConfig) {
			(*ws)[0].Key = "witness.example/w1+" + string(clientKey(t).DID())
		}, "provenance.external_witnesses[0].key"},
		{"duplicate key", func(ws *[]node.ExternalWitnessConfig) {
			*ws = many(2)
			(*ws)[1].Key = (*ws)[0].Key
		}, "provenance.external_witnesses[1].key"},
		{"timeout at 100ms", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].Timeout = node.Duration(100 * time.Millisecond) }, ""},
		{"timeout below 100ms", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].Timeout = node.Duration(99 * time.Millisecond) }, "provenance.external_witnesses[0].timeout"},
		{"timeout at 1m", func(ws *[]node.ExternalWitnessConfig) { (*ws)[0].Timeout = node.Duration(time.Minute) }, ""},
		{"timeout beyond 1m", func(ws *[]node.ExternalWitnessConfig) {
			(*ws)[0].Timeout = node.Duration(time.Minute + time.Millisecond)
		}, "provenance.external_witnesses[0].timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := node.DefaultConfig()
			ws := []node.ExternalWitnessConfig{good()}
			tc.edit(&ws)
			cfg.Provenance.ExternalWitnesses = ws
			err := cfg.Validate()
			var ce *node.ConfigError
			switch {
			case tc.wantKey == "" && err != nil:
				t.Fatal(err)
			case tc.wantKey != "" && (!errors.As(err, &ce) || ce.Key != tc.wantKey):
				t.Fatalf("got %v, want a ConfigError on %s", err, tc.wantKey)
			case tc.wantKey == "" && cfg.Provenance.ExternalWitnesses[0].Timeout.Std() <= 0:
				t.Fatal("no default timeout")
			}
		})
	}

	t.Run("file", func(t *testing.T) {
		home := t.TempDir()
		cfg := node.DefaultConfig()
		if _, err := node.InitHome(home, cfg, false, nil); err != nil {
			t.Fatal(err)
		}
		w := good()
		text := "[[provenance.external_witnesses]]\nname = \"w1\"\nurl = \"" + w.URL + "\"\nkey = \"" + w.Key + "\"\ntimeout = \"3s\"\n"
		// The table appended to the config `aurora init` wrote (which
		// must not hold an empty external_witnesses list) is read.
		initial, err := os.ReadFile(filepath.Join(home, node.ConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := writeConfig(home, string(initial)+"\n"+text); err != nil {
			t.Fatal(err)
		}
		if got, err := node.LoadConfig(home, nil); err != nil || len(got.Provenance.ExternalWitnesses) != 1 {
			t.Fatalf("the table appended to the initial config: %v %+v", err, got.Provenance.ExternalWitnesses)
		}
		if err := writeConfig(home, text); err != nil {
			t.Fatal(err)
		}
		got, err := node.LoadConfig(home, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ws := got.Provenance.ExternalWitnesses; len(ws) != 1 || ws[0] != (node.ExternalWitnessConfig{Name: "w1", URL: w.URL, Key: w.Key, Timeout: node.Duration(3 * time.Second)}) {
			t.Fatalf("decoded %+v", ws)
		}
		// config show writes it back in a form LoadConfig reads.
		out, err := got.TOML()
		if err != nil {
			t.Fatal(err)
		}
		if err := writeConfig(home, string(out)); err != nil {
			t.Fatal(err)
		}
		again, err := node.LoadConfig(home, nil)
		if err != nil || len(again.Provenance.ExternalWitnesses) != 1 || again.Provenance.ExternalWitnesses[0] != got.Provenance.ExternalWitnesses[0] {
			t.Fatalf("round trip: %+v %v\n%s", again.Provenance.ExternalWitnesses, err, out)
		}
		// An unknown key in the table is named with its line.
		if err := writeConfig(home, text+"tiemout = \"1s\"\n"); err != nil {
			t.Fatal(err)
		}
		_, err = node.LoadConfig(home, nil)
		var ce *node.ConfigError
		if !errors.As(err, &ce) || ce.Key != "provenance.external_witnesses.tiemout" || ce.Line != 6 {
			t.Fatalf("unknown key: %v", err)
		}
		// A bad key in the file is named by its field.
		if err := writeConfig(home, strings.Replace(text, w.Key, "witness.example/w1+00000000+AAAA", 1)); err != nil {
			t.Fatal(err)
		}
		if _, err := node.LoadConfig(home, nil); !errors.As(err, &ce) || ce.Key != "provenance.external_witnesses[0].key" {
			t.Fatalf("bad key in the file: %v", err)
		}
		// The table is not an environment variable or --set key.
		c := node.DefaultConfig()
		if err := c.Set("provenance.external_witnesses", "x"); !errors.As(err, &ce) || ce.Reason != "unknown key" {
			t.Fatalf("--set of the table: %v", err)
		}
	})
}

func mustEd25519VKey(t *testing.T, name string) string {
	t.Helper()
	_, v, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func writeConfig(home, text string) error {
	return writeFile(filepath.Join(home, node.ConfigFile), text)
}

func apiOf(n *node.Node) *client.Client { return client.New("http://"+n.APIAddr(), "") }

func trustView(t *testing.T, n *node.Node) node.TrustView {
	t.Helper()
	raw, err := apiOf(n).Raw(t.Context(), http.MethodGet, "/v1/trust", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var v node.TrustView
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func writeFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o600) }
