package ionet_test

import (
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/ionet/ionettest"
	"github.com/aurora-federation/aurora/treaty"
)

// A running deployment's Status reaches each container at its public_url,
// behind the traffic port; secret env goes in secret_env_variables, which
// the deployment view lists by name only.
func TestStatusEndpointsAndSecretEnv(t *testing.T) {
	srv := start(t, ionettest.Options{})
	c := newClient(t, srv)
	spec := providers.LaunchSpec{JobID: "endpoints",
		Workload:  treaty.Workload{Image: "ghcr.io/a/b:1", GPU: &treaty.GPU{Model: "RTX 4090", Count: 1}, Duration: 3600, Ports: []int64{8000}},
		SecretEnv: []providers.SecretEnvVar{{Name: "HF_TOKEN", Value: providers.SecretValue("hf_abcdef123456")}}}
	l, err := c.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(t.Context(), l.ID); err != nil || len(st.Endpoints) != 0 {
		t.Fatalf("Status before running = %+v, %v: want no endpoints yet", st, err)
	}
	srv.Advance()
	st, err := c.Status(t.Context(), l.ID)
	if err != nil || st.State != providers.StateRunning {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	want := ionettest.ContainerURL(l.ID, 0)
	if len(st.Endpoints) != 1 || st.Endpoints[0].URL != want || st.Endpoints[0].Port != 443 || st.Endpoints[0].ContainerPort != 8000 ||
		st.Endpoints[0].Kind != providers.EndpointHTTP || !strings.HasPrefix(want, "https://"+st.Endpoints[0].Host) {
		t.Fatalf("endpoints %+v, want %s on 443 to traffic port 8000", st.Endpoints, want)
	}
	got, _ := srv.Received(l.ID)
	if got.SecretEnv["HF_TOKEN"] != "hf_abcdef123456" {
		t.Errorf("secret_env_variables = %v", got.SecretEnv)
	}
	for _, d := range srv.Deployments() {
		if _, clear := d.Env["HF_TOKEN"]; clear {
			t.Errorf("the secret went into env_variables: %v", d.Env)
		}
	}
}
