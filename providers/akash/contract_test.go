package akash_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/akash"
	"github.com/aurora-federation/aurora/providers/akash/akashtest"
	"github.com/aurora-federation/aurora/providers/providertest"
)

// Contracts read from akash-network/console @
// d84c9e93d7904ec9cbbfd2d62b79994209bea297; each test fails on the adapter
// before they were applied.

func a100Spec(job string, capPerHour providers.Money) providers.LaunchSpec {
	return providers.LaunchSpec{
		JobID: job, IdempotencyKey: providers.IdempotencyKey(job), MaxPricePerHour: capPerHour,
		Offer:    providers.Offer{Provider: "akash", GPUModel: "a100", VRAMMiB: 80 << 10, Region: "us-west"},
		Workload: providertest.DefaultWorkload(providers.Query{GPUModel: "A100", GPUCount: 1}),
	}
}

// TestCeilingInTheGrantDenom: the Console rewrites the SDL's pricing denom
// to its grant denom, uact on mainnet, without converting the amount
// (apps/api/src/deployment/services/sdl/sdl.service.ts). A $1.30/hour cap
// written as 866 uakt (at $2.50/AKT) became a ceiling of 866 uact, $0.52/hour,
// and the $1.209/hour bid of west1 (2015 uact/block) was never made.
func TestCeilingInTheGrantDenom(t *testing.T) {
	srv, c, _, _ := setup(t, akashtest.Options{})
	lease, err := c.Launch(t.Context(), a100Spec("ceiling", 1_300_000))
	if err != nil {
		t.Fatalf("Launch under a $1.30/hour cap with a $1.209 bid: %v", err)
	}
	if lease.PricePerHour != 1_209_000 || lease.Offer.Raw.Unit != "uact/block" {
		t.Errorf("lease %d µ$/h at %+v, want 1209000 in uact/block", lease.PricePerHour, lease.Offer.Raw)
	}
	sdl, _ := srv.SDL(lease.ID)
	if !strings.Contains(sdl, `denom: "uact"`) || !strings.Contains(sdl, "amount: 2166.666666\n") { // $1.30 ÷ 600
		t.Errorf("SDL ceiling is not $1.30/hour in uact:\n%s", sdl)
	}
}

// recorder wraps the fake, keeping each create body and letting a test
// replace the answer to DELETE after the fake has handled it.
type recorder struct {
	h http.Handler

	mu      sync.Mutex // protects following
	creates []map[string]any
	closeAs int // status to answer DELETE with after the fake closed; 0 = the fake's
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/v1/deployments" {
		b, _ := io.ReadAll(r.Body)
		var body struct{ Data map[string]any }
		json.Unmarshal(b, &body)
		rc.mu.Lock()
		rc.creates = append(rc.creates, body.Data)
		rc.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
	}
	rc.mu.Lock()
	closeAs, h := rc.closeAs, rc.h
	rc.mu.Unlock()
	if r.Method == http.MethodDelete && closeAs != 0 {
		h.ServeHTTP(httptest.NewRecorder(), r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(closeAs)
		w.Write([]byte(`{"error":"BadRequestError","message":"Deployment already closed","code":"bad_request","type":"client_error"}`))
		return
	}
	h.ServeHTTP(w, r)
}

func recorded(t *testing.T, opts akashtest.Options, cfg akash.Config) (*akashtest.Server, *recorder, *akash.Client) {
	t.Helper()
	srv := akashtest.NewServer(opts)
	rc := &recorder{h: srv.Handler()}
	hs := httptest.NewServer(rc)
	t.Cleanup(hs.Close)
	c, err := newClient(hs.URL, secret, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, rc, c
}

// TestDepositIsNotSent: deposit is deprecated and ignored when the Console
// manages deposits (http-schemas/deployment.schema.ts); it is sent only when
// configured, for a Console that requires it
// (services/deployment-writer/deployment-writer.service.ts
// resolveDepositInDollars).
func TestDepositIsNotSent(t *testing.T) {
	_, rc, c := recorded(t, akashtest.Options{}, akash.Config{})
	if _, err := c.Launch(t.Context(), a100Spec("deposit", 0)); err != nil {
		t.Fatal(err)
	}
	if len(rc.creates) != 1 {
		t.Fatalf("%d creates, want 1", len(rc.creates))
	}
	if d, ok := rc.creates[0]["deposit"]; ok {
		t.Errorf("create sent the deprecated deposit %v", d)
	}

	_, _, strict := recorded(t, akashtest.Options{RequireDeposit: true}, akash.Config{})
	if _, err := strict.Launch(t.Context(), a100Spec("nodeposit", 0)); err == nil || !strings.Contains(err.Error(), "deposit is required") {
		t.Errorf("Launch without deposit on a Console that requires one = %v, want its refusal", err)
	}
	_, rc2, legacy := recorded(t, akashtest.Options{RequireDeposit: true}, akash.Config{DepositUSD: 5})
	if _, err := legacy.Launch(t.Context(), a100Spec("legacy", 0)); err != nil {
		t.Fatal(err)
	}
	if d := rc2.creates[0]["deposit"]; d != 5.0 {
		t.Errorf("configured deposit sent as %v, want 5", d)
	}
}

// TestTerminateWhenTheCloseAnswerFails: closing is idempotent upstream and
// the Console reads a deployment back after a failed close, taking a closed
// one as success (deployment-writer.service.ts close). The adapter does the
// same when the close answer is an error although the deployment closed.
func TestTerminateWhenTheCloseAnswerFails(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusBadGateway} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv, rc, c := recorded(t, akashtest.Options{}, akash.Config{})
			lease, err := c.Launch(t.Context(), a100Spec("close", 0))
			if err != nil {
				t.Fatal(err)
			}
			rc.mu.Lock()
			rc.closeAs = status
			rc.mu.Unlock()
			if err := c.Terminate(t.Context(), lease.ID); err != nil {
				t.Errorf("Terminate of a deployment that closed = %v, want nil", err)
			}
			if n := srv.Workloads(); n != 0 {
				t.Errorf("%d active deployments, want 0", n)
			}
			// A failed close of a deployment that is not closed stays an error.
			other, err := c.Launch(t.Context(), a100Spec("open", 0))
			if err != nil {
				t.Fatal(err)
			}
			rc.mu.Lock()
			rc.closeAs = 0
			rc.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodDelete {
					w.WriteHeader(status)
					return
				}
				srv.Handler().ServeHTTP(w, r)
			})
			rc.mu.Unlock()
			if err := c.Terminate(t.Context(), other.ID); err == nil {
				t.Error("Terminate whose close failed on an open deployment = nil, want the error")
			}
			rc.mu.Lock()
			rc.h = srv.Handler()
			rc.mu.Unlock()
			if err := c.Terminate(t.Context(), "99999999"); !errors.Is(err, providers.ErrNotFound) {
				t.Errorf("Terminate of an unknown deployment = %v, want ErrNotFound", err)
			}
		})
	}
	// And with the Console's own answer, twice.
	_, c := setupPlain(t)
	lease, err := c.Launch(t.Context(), a100Spec("twice", 0))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.Terminate(t.Context(), lease.ID); err != nil {
			t.Errorf("Terminate = %v, want nil", err)
		}
	}
}

func setupPlain(t *testing.T) (*akashtest.Server, *akash.Client) {
	srv, c, _, _ := setup(t, akashtest.Options{})
	return srv, c
}
