package flux_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/flux"
	"github.com/aurora-federation/aurora/providers/flux/fluxtest"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/treaty"
)

func connectWith(t *testing.T, srv *fluxtest.Server, pay flux.PayFunc, edit func(*flux.Config)) *flux.Client {
	t.Helper()
	cfg := flux.Config{
		Credential: providers.NewCredential(testWIF), Pay: pay, BaseURL: srv.URL(),
		HTTP: httpx.Config{Sleep: httpx.NoSleep, MaxAttempts: 2},
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := flux.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func webSpec(job string) providers.LaunchSpec {
	return providers.LaunchSpec{JobID: job, Workload: treaty.Workload{Image: "nginx:1.27", CPU: 500, Memory: 1000, Disk: 2048, Duration: 3600, Ports: []int64{8080}}}
}

// runUntil advances the fake until the app runs.
func runUntil(t *testing.T, srv *fluxtest.Server, c *flux.Client, id string) providers.Status {
	t.Helper()
	for range 5 {
		st, err := c.Status(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == providers.StateRunning {
			return st
		}
		srv.Advance()
	}
	t.Fatalf("app %s never ran", id)
	return providers.Status{}
}

// The node behind the load balancer is short of peers, so FluxOS refuses
// the registration there; the adapter finds healthy nodes in the node
// list (skipping one that is short of peers too) and registers through one.
func TestLoadBalancerRefusalFallsBackToHealthyNodes(t *testing.T) {
	srv := start(t, fluxtest.Options{
		LBPeers: &fluxtest.Peers{Outgoing: 3, Incoming: 1},
		Nodes:   []fluxtest.Peers{{Outgoing: 2, Incoming: 9}, {Outgoing: 11, Incoming: 5}, {Outgoing: 8, Incoming: 4}},
	})
	rec := &recorder{srv: srv}

	// Without local nodes allowed the fake's 127.0.0.1 nodes are no
	// candidates: the balancer's refusal is the answer.
	strict := connectWith(t, srv, rec.pay, nil)
	if _, err := strict.Launch(t.Context(), webSpec("lb-refused")); err == nil || !strings.Contains(err.Error(), "enough outgoing peers") {
		t.Fatalf("Launch with no usable node = %v, want the balancer's refusal", err)
	}

	c := connectWith(t, srv, rec.pay, func(cfg *flux.Config) { cfg.AllowLocalNodes = true })
	l, err := c.Launch(t.Context(), webSpec("lb-fallback"))
	if err != nil {
		t.Fatal(err)
	}
	if qs := rec.quotes(); len(qs) != 1 || qs[0].AppName != l.ID {
		t.Fatalf("quotes %+v, want one for %s", qs, l.ID)
	}
	if n := srv.NodeRequests(); n[0] == 0 || n[1] == 0 && n[2] == 0 {
		t.Errorf("node requests %v: want probes of every node and the message on a healthy one", n)
	}
	runUntil(t, srv, c, l.ID)
	// The cancellation goes the same way.
	if err := c.Terminate(t.Context(), l.ID); err != nil {
		t.Fatal(err)
	}
}

// A validation error is the node's verdict on the request, not the node's
// trouble: no other node is tried.
func TestValidationErrorIsNotRetriedOnOtherNodes(t *testing.T) {
	srv := start(t, fluxtest.Options{Nodes: []fluxtest.Peers{{Outgoing: 9, Incoming: 9}}})
	c := connectWith(t, srv, (&recorder{srv: srv}).pay, func(cfg *flux.Config) { cfg.AllowLocalNodes = true })
	spec := webSpec("bad-image")
	spec.Workload.Image = strings.Repeat("x", 201) + ":1" // FluxOS: repotag at most 200 characters
	if _, err := c.Launch(t.Context(), spec); err == nil {
		t.Fatal("Launch of an invalid spec succeeded")
	}
	if n := srv.NodeRequests(); n[0] != 0 {
		t.Fatalf("node served %d requests after the balancer's validation error, want none", n[0])
	}
}

// When FLUX trades high the USD quote converts to less FLUX than
// consensus charges; paying the quote would lose the payment, so the
// adapter pays the consensus minimum.
func TestPaysConsensusMinimum(t *testing.T) {
	srv := start(t, fluxtest.Options{FLUXUSD: 20})
	rec := &recorder{srv: srv}
	c := connectWith(t, srv, rec.pay, nil)
	l, err := c.Launch(t.Context(), webSpec("min-pay"))
	if err != nil {
		t.Fatal(err)
	}
	q := rec.quotes()[0]
	quoted, _ := strconv.ParseFloat(q.FLUX, 64)
	minimum, _ := strconv.ParseFloat(q.MinimumFLUX, 64)
	pay, _ := strconv.ParseFloat(q.PayFLUX, 64)
	if !(quoted < minimum) || pay != minimum {
		t.Fatalf("quote %s FLUX, minimum %s, pay %s: want the quote below the minimum and the minimum paid", q.FLUX, q.MinimumFLUX, q.PayFLUX)
	}
	runUntil(t, srv, c, l.ID)
	if b := srv.Burned(); len(b) != 0 {
		t.Fatalf("burned %v", b)
	}

	// The fake refuses what consensus refuses: the quote alone is burned.
	under := &recorder{srv: srv}
	cheap := connectWith(t, srv, func(ctx context.Context, q flux.Quote) (string, error) {
		q.PayFLUX = q.FLUX
		return under.pay(ctx, q)
	}, nil)
	l2, err := cheap.Launch(t.Context(), webSpec("under-pay"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Advance()
	srv.Advance()
	if b := srv.Burned(); len(b) != 1 {
		t.Fatalf("burned %v, want the underpaid registration", b)
	}
	if st, err := cheap.Status(t.Context(), l2.ID); err == nil && st.State == providers.StateRunning {
		t.Fatalf("an underpaid app runs: %+v", st)
	}
}

// Status of a running app lists, for each node running it, the node's IP
// with each public port and the container port behind it.
func TestStatusEndpoints(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	c := connectWith(t, srv, (&recorder{srv: srv}).pay, nil)
	l, err := c.Launch(t.Context(), webSpec("endpoints"))
	if err != nil {
		t.Fatal(err)
	}
	st := runUntil(t, srv, c, l.ID)
	if len(st.Endpoints) != 3 {
		t.Fatalf("endpoints %v, want one per instance (3)", st.Endpoints)
	}
	spec := getJSON(t, srv.URL()+"/apps/appspecifications/"+l.ID)
	for i, e := range st.Endpoints {
		if e.Kind != providers.EndpointTCP || e.Host != "203.0.113."+strconv.Itoa(10+i) || e.ContainerPort != 8080 ||
			!strings.Contains(spec, `"ports":[`+strconv.Itoa(e.Port)+`]`) {
			t.Errorf("endpoint %d = %+v, want 203.0.113.%d at the app's public port to 8080", i, e, 10+i)
		}
	}
}

// A persistent volume is the component's primary mount at its path, with
// the configured sync flags, sized by hdd.
func TestStorageMapsToContainerData(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	c := connectWith(t, srv, (&recorder{srv: srv}).pay, func(cfg *flux.Config) { cfg.ContainerData = "r:/appdata" })
	spec := webSpec("storage")
	spec.Storage = &providers.Storage{SizeMiB: 20 << 10, MountPath: "/var/lib/db"}
	l, err := c.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := srv.Received(l.ID)
	if !ok || got.MountPath != "/var/lib/db" || got.StorageMiB < 20<<10 {
		t.Fatalf("received %+v, want /var/lib/db with at least 20 GiB", got)
	}
	if body := getJSON(t, srv.URL()+"/apps/temporarymessages"); !strings.Contains(body, `"containerData":"r:/var/lib/db"`) {
		t.Errorf("the message does not mount r:/var/lib/db: %s", body)
	}
}

// Registry logins and secret env are refused with FluxOS's reason, before
// anything is registered.
func TestRefusedFeaturesCiteFluxOS(t *testing.T) {
	srv := start(t, fluxtest.Options{})
	c := connectWith(t, srv, (&recorder{srv: srv}).pay, nil)
	reg := webSpec("registry")
	reg.Registry = &providers.RegistryAuth{Username: "u", Secret: providers.NewCredential("p4ssw0rd")}
	sec := webSpec("secret")
	sec.SecretEnv = []providers.SecretEnvVar{{Name: "TOKEN", Value: providers.SecretValue("s3cret")}}
	for _, tt := range []struct {
		spec providers.LaunchSpec
		f    providers.Feature
		want string
	}{
		{reg, providers.FeatureRegistryAuth, "Enterprise Applications"},
		{sec, providers.FeatureSecretEnv, "public"},
	} {
		_, err := c.Launch(t.Context(), tt.spec)
		var fe *providers.FeatureError
		if !errors.As(err, &fe) || fe.Feature != tt.f || !strings.Contains(fe.Reason, tt.want) {
			t.Errorf("Launch with %s = %v, want a FeatureError citing %q", tt.f, err, tt.want)
		}
	}
	if n := srv.Workloads(); n != 0 {
		t.Errorf("%d workloads after refused launches", n)
	}
}
