package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// secretProvider takes secret env (FeatureSecretEnv) and records what it
// received; with echo set it fails every launch with an error that quotes
// the secret, as a network echoing a request body in a validation error
// would.
type secretProvider struct {
	name  string
	price providers.Money
	echo  bool

	mu  sync.Mutex // protects got
	got map[string]string
}

func (p *secretProvider) Name() string { return p.name }
func (p *secretProvider) Capabilities() providers.Capabilities {
	return providers.Capabilities{Offers: true, Launch: true, Terminate: true, GPU: true, Regions: []string{"eu-west"},
		Features: []providers.Feature{providers.FeatureSecretEnv}}
}
func (p *secretProvider) Offers(context.Context, providers.Query) ([]providers.Offer, error) {
	return []providers.Offer{{Provider: p.name, ID: "o1", GPUModel: "A100", GPUCount: 1, Region: "eu-west", PricePerHour: p.price,
		Raw: providers.RawPrice{Amount: "1", Unit: "usd/hour"}}}, nil
}
func (p *secretProvider) Launch(_ context.Context, spec providers.LaunchSpec) (providers.Lease, error) {
	if p.echo {
		var vals []string
		for _, e := range spec.SecretEnv {
			vals = append(vals, e.Name+"="+e.Value.Reveal())
		}
		return providers.Lease{}, errors.New(p.name + ": 422 invalid input " + strings.Join(vals, ","))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = map[string]string{}
	for _, e := range spec.SecretEnv {
		p.got[e.Name] = e.Value.Reveal()
	}
	return providers.Lease{ID: "l1", Provider: p.name, Offer: spec.Offer, PricePerHour: spec.Offer.PricePerHour, State: providers.StateRunning}, nil
}
func (p *secretProvider) Status(context.Context, string) (providers.Status, error) {
	return providers.Status{ID: "l1", State: providers.StateRunning}, nil
}
func (p *secretProvider) Terminate(context.Context, string) error { return nil }

// TestSealedSecretsStayOutOfTheTrail submits an order with sealed secrets to
// a node with a mesh (so its epochs are pinned as IPFS DAGs) and checks that
// the values reach the provider that runs it and nowhere else: not one of
// the node's stored keys or values (ledger, log, every block of the epoch
// DAG), not the log leaves, not the API's job view, not the node's logs —
// though a provider that failed first quoted them in its error.
func TestSealedSecretsStayOutOfTheTrail(t *testing.T) {
	const secret = "hunter2-sealed-9c41f0d7"
	cfg := newConfig()
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.P2P.MDNS = false
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	echo := &secretProvider{name: "echo", price: 100_000, echo: true}
	vault := &secretProvider{name: "vault", price: 200_000}

	home := t.TempDir()
	if _, err := node.InitHome(home, cfg, false, nil); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(t.Context(), node.Options{Home: home, Config: cfg, APIListener: mustListen(t), PolicyCacheDir: policyCache,
		Logger: logger, ExtraProviders: []providers.Provider{echo, vault}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(context.Background()) })
	api := client.New("http://"+n.APIAddr(), "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	// The client learns the node's key from GET /v1/trust.
	did, err := api.NodeDID(ctx)
	if err != nil || did != n.Identity().DID {
		t.Fatalf("NodeDID = %s, %v; want %s", did, err, n.Identity().DID)
	}
	k := clientKey(t)
	s := spec()
	s.Providers = []string{"echo", "vault"}
	s.Secrets = map[string]string{"DB_PASSWORD": secret}
	s.SealTo = did
	o := mustOrder(t, k, s)
	resp, err := api.Submit(ctx, o)
	if err != nil || resp.Result != "ack" {
		t.Fatalf("submit: %v %+v", err, resp)
	}
	job, err := api.WaitSettled(ctx, resp.Job)
	if err != nil || job.Status != treaty.StatusRunning {
		t.Fatalf("job %+v: %v, want running", job, err)
	}
	vault.mu.Lock()
	got := vault.got["DB_PASSWORD"]
	vault.mu.Unlock()
	if got != secret {
		t.Fatalf("the provider got %q, want the sealed value", got)
	}
	// Wait for the job's epoch to close and be pinned: its proof is served.
	for {
		if _, err := api.Raw(ctx, http.MethodGet, "/v1/jobs/"+resp.Job+"/proof", "", nil); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the job's epoch never closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var epochs struct {
		Epochs []struct {
			Root   string `json:"root"`
			Pinned bool   `json:"pinned"`
		} `json:"epochs"`
	}
	for {
		if err := api.Do(ctx, http.MethodGet, "/v1/epochs", "", nil, &epochs); err != nil {
			t.Fatal(err)
		}
		if len(epochs.Epochs) > 0 && epochs.Epochs[0].Pinned {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no pinned epoch: %+v", epochs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	where := map[string][]byte{}
	view, err := api.Raw(ctx, http.MethodGet, "/v1/jobs/"+resp.Job, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	where["GET /v1/jobs/{id}"] = view
	for _, i := range job.Leaves {
		leaf, err := n.Log().Leaf(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		where["log leaf"] = append(where["log leaf"], leaf...)
	}
	// Every key and value the node stores, all versions: the ledger, the
	// log and the blocks of every epoch DAG.
	box := o.Secrets.Box
	sawBox, entries := false, 0
	err = n.Store().Badger().View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			entries++
			if bytes.Contains(v, box) {
				sawBox = true
			}
			if bytes.Contains(v, []byte(secret)) || bytes.Contains(item.Key(), []byte(secret)) {
				t.Errorf("store key %q holds the secret", item.Key())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawBox {
		t.Fatalf("none of %d stored entries holds the order's box: the scan did not see the order block", entries)
	}
	logMu.Lock()
	where["node logs"] = bytes.Clone(logs.Bytes())
	logMu.Unlock()
	for what, b := range where {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret:\n%s", what, b)
		}
	}
	// The failed attempt is on record, scrubbed.
	var rec struct {
		Record struct {
			Transitions []treaty.Transition `json:"transitions"`
		} `json:"record"`
	}
	if err := json.Unmarshal(view, &rec); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tr := range rec.Record.Transitions {
		found = found || strings.Contains(tr.Detail, "echo") && strings.Contains(tr.Detail, "[redacted]")
	}
	if !found {
		t.Errorf("no redacted transition for the echoing provider: %+v", rec.Record.Transitions)
	}

	// An order sealed to another operator is refused before anything is
	// stored.
	s.SealTo = clientKey(t).DID()
	if _, err := api.Submit(ctx, mustOrder(t, k, s)); !client.IsStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "bad_secrets") {
		t.Fatalf("order sealed elsewhere: %v, want 400 bad_secrets", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
