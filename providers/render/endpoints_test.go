package render_test

import (
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/render/rendertest"
	"github.com/aurora-federation/aurora/treaty"
)

// A running job's endpoints are its run's node_urls; a node port the job
// asked for reaches that container port. Secret env rides in the job's env.
func TestStatusEndpointsFromJobRuns(t *testing.T) {
	srv := start(t, rendertest.Options{})
	c := newClient(t, srv)
	spec := providers.LaunchSpec{JobID: "runs",
		Workload:  treaty.Workload{Image: "ghcr.io/a/b:1", GPU: &treaty.GPU{Model: "RTX 4090", Count: 1}, CPU: 1000, Memory: 1024, Disk: 1024, Duration: 3600, Ports: []int64{8080, 9000}},
		SecretEnv: []providers.SecretEnvVar{{Name: "TOKEN", Value: providers.SecretValue("tok-123456")}}}
	l, err := c.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	srv.Advance()
	if st, err := c.Status(t.Context(), l.ID); err != nil || st.State != providers.StateLaunching || len(st.Endpoints) != 0 {
		t.Fatalf("assigned job: %+v, %v; want launching without endpoints", st, err)
	}
	srv.Advance()
	st, err := c.Status(t.Context(), l.ID)
	if err != nil || st.State != providers.StateRunning {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	host := rendertest.NodeHost(l.ID)
	want := []providers.Endpoint{{Kind: providers.EndpointTCP, Host: host, Port: 8080, ContainerPort: 8080}, {Kind: providers.EndpointTCP, Host: host, Port: 9000, ContainerPort: 9000}}
	if len(st.Endpoints) != 2 || st.Endpoints[0] != want[0] || st.Endpoints[1] != want[1] {
		t.Fatalf("endpoints %+v, want %+v", st.Endpoints, want)
	}
	if got, _ := srv.Received(l.ID); got.SecretEnv["TOKEN"] != "tok-123456" {
		t.Errorf("job env %v lacks the secret", got.SecretEnv)
	}
}
