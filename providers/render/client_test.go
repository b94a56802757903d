package render_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/providers/render"
	"github.com/aurora-federation/aurora/providers/render/rendertest"
	"github.com/aurora-federation/aurora/treaty"
)

// offsetClock is a providers.Clock at a fixed offset from the wall clock.
type offsetClock time.Duration

func (o offsetClock) Now() time.Time { return time.Now().Add(time.Duration(o)) }

// constReader returns the same bytes forever: every nonce is equal.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// tamper is a transport that edits a request after it was signed.
type tamper struct {
	edit func(*http.Request)
}

func (t tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	t.edit(r)
	return http.DefaultTransport.RoundTrip(r)
}

func TestSignatureRefusals(t *testing.T) {
	srv := start(t, rendertest.Options{})
	tests := []struct {
		name string
		cfg  func(*render.Config)
		call func(context.Context, *render.Client) error
	}{
		{"wrong secret", func(c *render.Config) { c.Credential = providers.NewCredential("nope") }, status},
		{"wrong public key", func(c *render.Config) { c.PublicKey = "pk_other" }, status},
		{"clock six minutes fast", func(c *render.Config) { c.Clock = offsetClock(6 * time.Minute) }, status},
		{"clock six minutes slow", func(c *render.Config) { c.Clock = offsetClock(-6 * time.Minute) }, status},
		{"replayed nonce", func(c *render.Config) { c.Rand = constReader(7) }, func(ctx context.Context, c *render.Client) error {
			if err := status(ctx, c); !errors.Is(err, providers.ErrNotFound) {
				return fmt.Errorf("first request with the nonce: %v, want ErrNotFound", err)
			}
			return status(ctx, c)
		}},
		{"query changed after signing", func(c *render.Config) {
			c.HTTP.HTTPClient = &http.Client{Transport: tamper{func(r *http.Request) { r.URL.RawQuery += "&limit=1" }}}
		}, offers},
		{"body changed after signing", func(c *render.Config) {
			c.HTTP.HTTPClient = &http.Client{Transport: tamper{func(r *http.Request) {
				if r.Body != nil {
					b, _ := io.ReadAll(r.Body)
					b = bytes.Replace(b, []byte(`"cpu_count":1`), []byte(`"cpu_count":2`), 1)
					r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
				}
			}}}
		}, func(ctx context.Context, c *render.Client) error {
			_, err := c.Launch(ctx, providers.LaunchSpec{JobID: "tamper", Workload: treaty.Workload{Image: "x:1", GPU: &treaty.GPU{Model: "RTX 4090", Count: 1}}})
			return err
		}},
		{"path changed after signing", func(c *render.Config) {
			c.HTTP.HTTPClient = &http.Client{Transport: tamper{func(r *http.Request) { r.URL.Path = strings.Replace(r.URL.Path, "/v1/jobs/", "/v1/jobs/x", 1) }}}
		}, status},
		{"signature header dropped", func(c *render.Config) {
			c.HTTP.HTTPClient = &http.Client{Transport: tamper{func(r *http.Request) { r.Header.Del(render.HeaderSignature) }}}
		}, status},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := render.Config{PublicKey: srv.PublicKey(), Credential: providers.NewCredential(srv.SecretKey()), BaseURL: srv.URL(),
				HTTP: httpx.Config{Sleep: httpx.NoSleep}}
			tt.cfg(&cfg)
			c, err := render.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.call(t.Context(), c); !errors.Is(err, providers.ErrAuth) {
				t.Errorf("err = %v, want ErrAuth", err)
			}
		})
	}
	// Within the documented ±5 minutes the same request is accepted.
	c, err := render.New(render.Config{PublicKey: srv.PublicKey(), Credential: providers.NewCredential(srv.SecretKey()), BaseURL: srv.URL(),
		Clock: offsetClock(4 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := status(t.Context(), c); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("4 minutes of skew: err = %v, want ErrNotFound (signature accepted)", err)
	}
}

func status(ctx context.Context, c *render.Client) error {
	_, err := c.Status(ctx, "00000000-0000-4000-8000-000000000000")
	return err
}

func offers(ctx context.Context, c *render.Client) error {
	_, err := c.Offers(ctx, providers.Query{GPUModel: "RTX 4090", Regions: []string{"us-west-2"}})
	return err
}

func newClient(t *testing.T, srv *rendertest.Server) *render.Client {
	t.Helper()
	c, err := connect(srv, srv.SecretKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLaunchJobBody(t *testing.T) {
	gpu := &treaty.GPU{Model: "RTX 4090", Count: 1, MinVRAM: 20 << 10}
	run := int64(7_200_000)
	tests := []struct {
		name string
		w    treaty.Workload
		want rendertest.Job
	}{
		{
			name: "batch with duration",
			w: treaty.Workload{Image: "registry.example:5000/team/app:v1.2", GPU: gpu, CPU: 3500, Memory: 30000, Disk: 102400,
				Duration: 7200, Ports: []int64{8000}, Env: []treaty.EnvVar{{Name: "K", Value: "ü"}}},
			want: rendertest.Job{Status: "PENDING", Task: "BATCH", CPUCount: 4, GPUCount: 1, GPURegistryUUID: rendertest.RegistryUUID("NVIDIA RTX 4090"),
				MinRAMGB: 30, MinStorageGB: 100, MinVRAMGB: 20, MaxTimeoutRunMS: &run,
				Image: "registry.example:5000/team/app", Tag: "v1.2", Env: map[string]string{"K": "ü"}, Ports: []int64{8000}},
		},
		{
			name: "persistent without duration, default tag",
			w:    treaty.Workload{Image: "nginx", GPU: gpu},
			want: rendertest.Job{Status: "PENDING", Task: "PERSISTENT", CPUCount: 1, GPUCount: 1, GPURegistryUUID: rendertest.RegistryUUID("NVIDIA RTX 4090"),
				MinRAMGB: 1, MinStorageGB: 1, MinVRAMGB: 20, Image: "nginx", Tag: "latest", Env: map[string]string{}, Ports: []int64{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := start(t, rendertest.Options{})
			c := newClient(t, srv)
			l, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: tt.name, Workload: tt.w})
			if err != nil {
				t.Fatal(err)
			}
			jobs := srv.Jobs()
			if len(jobs) != 1 {
				t.Fatalf("%d jobs", len(jobs))
			}
			got := jobs[0]
			tt.want.UUID, tt.want.Title = l.ID, providers.IdempotencyKey(tt.name)
			if diff := cmp.Diff(tt.want, got, cmp.FilterPath(func(p cmp.Path) bool {
				switch p.Last().String() {
				case ".Created", ".Updated":
					return true
				}
				return false
			}, cmp.Ignore())); diff != "" {
				t.Errorf("job (-want +got):\n%s", diff)
			}
			if l.Offer.ID != "off-4090-use1" || l.PricePerHour != 390000 {
				t.Errorf("lease = %+v, want the cheapest RTX 4090 offer", l)
			}
		})
	}
}

func TestLaunchRefusesCommand(t *testing.T) {
	srv := start(t, rendertest.Options{})
	c := newClient(t, srv)
	_, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "j", Workload: treaty.Workload{Image: "x:1", Cmd: []string{"run"}}})
	if !errors.Is(err, providers.ErrNotSupported) || !strings.Contains(err.Error(), "command") {
		t.Errorf("err = %v, want ErrNotSupported explaining the missing command field", err)
	}
	if len(srv.Jobs()) != 0 {
		t.Error("a job was created")
	}
}

func TestLaunchKeepsChosenOfferAndCap(t *testing.T) {
	srv := start(t, rendertest.Options{})
	c := newClient(t, srv)
	w := treaty.Workload{Image: "x:1", GPU: &treaty.GPU{Model: "RTX 4090", Count: 1}}
	chosen := providers.Offer{Provider: "render", ID: "off-4090-usw2-a", Region: "us-west-2", GPUModel: "NVIDIA RTX 4090", GPUCount: 1}
	l, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "a", Workload: w, Offer: chosen, MaxPricePerHour: 450000})
	if err != nil {
		t.Fatal(err)
	}
	if l.Offer.ID != chosen.ID || l.PricePerHour != 450000 {
		t.Errorf("lease offer %s at %v, want %s at $0.45", l.Offer.ID, l.PricePerHour, chosen.ID)
	}
	_, err = c.Launch(t.Context(), providers.LaunchSpec{JobID: "b", Workload: w, Offer: chosen, MaxPricePerHour: 449999})
	if !errors.Is(err, providers.ErrOverPrice) {
		t.Errorf("err = %v, want ErrOverPrice", err)
	}
	if n := len(srv.Jobs()); n != 1 {
		t.Errorf("%d jobs, want 1", n)
	}
}

func TestStatusProgressionAndMessages(t *testing.T) {
	srv := start(t, rendertest.Options{})
	c := newClient(t, srv)
	// Only an H100 x8 exists; ask for 16 so no node matches and the job fails.
	w := treaty.Workload{Image: "x:1", GPU: &treaty.GPU{Model: "H100", Count: 8}, Duration: 60}
	l, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "h", Workload: w})
	if err != nil {
		t.Fatal(err)
	}
	want := []providers.State{providers.StatePending, providers.StateLaunching, providers.StateRunning}
	for i, ws := range want {
		st, err := c.Status(t.Context(), l.ID)
		if err != nil || st.State != ws {
			t.Fatalf("step %d: Status = %+v, %v, want %s", i, st, err, ws)
		}
		srv.Advance()
	}
	if !srv.Complete(l.ID) {
		t.Fatal("Complete")
	}
	st, err := c.Status(t.Context(), l.ID)
	if err != nil || st.State != providers.StateSucceeded || st.UpdatedAt.IsZero() {
		t.Errorf("Status = %+v, %v, want succeeded with a time", st, err)
	}
	if err := c.Terminate(t.Context(), l.ID); err != nil {
		t.Errorf("Terminate of a completed job = %v, want nil", err)
	}
}

func TestStateMapping(t *testing.T) {
	tests := map[string]providers.State{
		"PENDING": providers.StatePending, "assigned": providers.StateLaunching, "RUNNING": providers.StateRunning,
		"COMPLETED": providers.StateSucceeded, "FAILED": providers.StateFailed, "CANCELLING": providers.StateTerminated,
		"CANCELLED": providers.StateTerminated,
	}
	for status, want := range tests {
		if got := render.StateOf(status); got != want {
			t.Errorf("StateOf(%q) = %q, want %q", status, got, want)
		}
	}
	if got := render.StateOf("PAUSED"); got != "" {
		t.Errorf("StateOf(PAUSED) = %q, want unknown", got)
	}
}

func TestConfiguredRegionsLimitPlacement(t *testing.T) {
	srv := start(t, rendertest.Options{})
	c, err := render.New(render.Config{PublicKey: srv.PublicKey(), Credential: providers.NewCredential(srv.SecretKey()),
		BaseURL: srv.URL(), Regions: []string{"us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090"})
	if err != nil || len(offers) != 1 || offers[0].Region != "us-east-1" {
		t.Errorf("Offers = %+v, %v, want only us-east-1", offers, err)
	}
	if offers, err := c.Offers(t.Context(), providers.Query{GPUModel: "RTX 4090", Regions: []string{"us-west-2"}}); err != nil || len(offers) != 0 {
		t.Errorf("Offers(us-west-2) = %+v, %v, want none", offers, err)
	}
	w := treaty.Workload{Image: "x:1", GPU: &treaty.GPU{Model: "RTX 4090", Count: 1}}
	if _, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "a", Workload: w, Offer: providers.Offer{Provider: "render", ID: "off-4090-usw2-a", Region: "us-west-2"}}); err == nil {
		t.Error("Launch outside the configured regions succeeded")
	}
	if len(srv.Jobs()) != 0 {
		t.Error("a job was created")
	}
}

// TestLaunchNamesTheRegistryGPU: a job names its GPU by the registry's
// uuid or name (docs api-reference/jobs/create-job: gpu_name xor
// gpu_registry_uuid; the offers carry hardware_summary.gpu_models[].name and
// gpu_registry_uuid, api-reference/compute/list-compute-offers), and the
// network targets it exactly. The adapter sent the order's model string
// ("RTX 4090", "rtx4090"), which names no registry GPU, so the job was never
// assigned; the fake matched it loosely and hid that.
func TestLaunchNamesTheRegistryGPU(t *testing.T) {
	for _, model := range []string{"RTX 4090", "rtx4090", "NVIDIA GeForce RTX 4090"} {
		t.Run(model, func(t *testing.T) {
			srv := start(t, rendertest.Options{})
			c := newClient(t, srv)
			w := treaty.Workload{Image: "x:1", GPU: &treaty.GPU{Model: model, Count: 1}}
			l, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "g", Workload: w})
			if err != nil {
				t.Fatal(err)
			}
			j := srv.Jobs()[0]
			if j.GPURegistryUUID != rendertest.RegistryUUID("NVIDIA RTX 4090") || j.GPUName != "" {
				t.Errorf("job names GPU %q / %q; want the registry uuid of NVIDIA RTX 4090", j.GPUName, j.GPURegistryUUID)
			}
			srv.Advance()
			if st, err := c.Status(t.Context(), l.ID); err != nil || st.State != providers.StateLaunching {
				t.Errorf("after assignment Status = %+v, %v; want launching (assigned)", st, err)
			}
		})
	}
}
