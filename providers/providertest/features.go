package providertest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/providers"
)

// LaunchInspector is implemented by fakes that can show what a workload was
// created with, decoded from the network's own wire format (Vast's
// image_login flag string, Salad's registry_authentication, an Akash SDL's
// credentials block, ...), so the feature subtests can check that a
// supported feature reached the network and not just the adapter.
type LaunchInspector interface {
	// Received returns what the live workload id was created with; false
	// for an id the fake does not know.
	Received(id string) (Received, bool)
}

// Received is what a fake decoded from a create request. Fields the wire
// format does not carry are zero.
type Received struct {
	SSHKeys []string
	// Registry login: Server is "" when the network takes the registry
	// from the image reference.
	RegistryServer, RegistryUsername, RegistrySecret string
	// Storage: the size as the network counts it, converted to MiB, and
	// the mount path.
	StorageMiB int64
	MountPath  string
	// SecretEnv: the variables the network received in its private env
	// field (io.net's secret_env_variables, or the env of a network whose
	// env is private to the account), by name.
	SecretEnv map[string]string
}

// The feature subtests' inputs. The secret is distinctive so that a leak is
// found by substring search.
const (
	// ConformanceSSHKey is a well-formed ed25519 public key line.
	ConformanceSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0r4uRoRaConformanceKey000000000000000000000 conformance@aurora"
	// ConformanceRegistryUser and ConformanceRegistrySecret are the
	// registry login the suite sends.
	ConformanceRegistryUser   = "aurora-conformance"
	ConformanceRegistrySecret = "reg-secret-4f9c1b7e2d-conformance"
	// ConformanceStorageMiB and ConformanceMountPath are the volume asked
	// for: 10 GiB, exact in GB, GiB and MiB.
	ConformanceStorageMiB = 10240
	ConformanceMountPath  = "/data"
	// ConformanceSecretName and ConformanceSecretValue are the secret env
	// variable the suite sends (FeatureSecretEnv).
	ConformanceSecretName  = "AURORA_CONFORMANCE_SECRET"
	ConformanceSecretValue = "sealed-env-7d41c9a2e5-conformance"
)

// runFeatures adds the workload-feature subtests.
func (s *suite) runFeatures(t *testing.T, caps providers.Capabilities) {
	for _, f := range []providers.Feature{providers.FeatureSSH, providers.FeatureRegistryAuth, providers.FeatureStorage, providers.FeatureSecretEnv} {
		t.Run("Feature/"+string(f), func(t *testing.T) { s.feature(t, f) })
	}
	t.Run("Feature/invalid", s.featureInvalid)
	if caps.Supports(providers.FeatureEndpoints) {
		t.Run("Endpoints", s.endpoints)
	}
}

// withFeature sets f on spec with the suite's inputs.
func withFeature(spec *providers.LaunchSpec, f providers.Feature) {
	switch f {
	case providers.FeatureSSH:
		spec.SSHKeys = []string{ConformanceSSHKey}
	case providers.FeatureRegistryAuth:
		spec.Registry = &providers.RegistryAuth{Username: ConformanceRegistryUser, Secret: providers.NewCredential(ConformanceRegistrySecret)}
	case providers.FeatureStorage:
		spec.Storage = &providers.Storage{SizeMiB: ConformanceStorageMiB, MountPath: ConformanceMountPath}
	case providers.FeatureSecretEnv:
		spec.SecretEnv = []providers.SecretEnvVar{{Name: ConformanceSecretName, Value: providers.SecretValue(ConformanceSecretValue)}}
	}
}

// feature launches with f set: an adapter that lists f must create the
// workload and the fake must have received f in the network's format; one
// that does not must refuse with a *providers.FeatureError for f, creating
// nothing. Either way no registry secret reaches the logs or errors.
func (s *suite) feature(t *testing.T, f providers.Feature) {
	env := s.setup(t)
	fake := s.needFake(t, env)
	ctx := s.ctx(t)
	p := env.Provider
	spec := s.spec(ctx, t, p, "job")
	withFeature(&spec, f)
	lease, err := p.Launch(ctx, spec)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if !p.Capabilities().Supports(f) {
		var fe *providers.FeatureError
		if !errors.Is(err, providers.ErrNotSupported) || !errors.As(err, &fe) || fe.Feature != f || fe.Reason == "" {
			t.Errorf("Launch with %s on an adapter without it = %v, want a *providers.FeatureError for %s with a reason", f, err, f)
		}
		if n := fake.Workloads(); n != 0 {
			t.Errorf("fake has %d workloads after a refused %s launch, want 0", n, f)
		}
	} else {
		if err != nil {
			t.Fatalf("Launch with %s (supported): %v", f, err)
		}
		ins, ok := fake.(LaunchInspector)
		if !ok {
			t.Fatalf("adapter supports %s but its fake cannot show what it received (LaunchInspector)", f)
		}
		got, ok := ins.Received(lease.ID)
		if !ok {
			t.Fatalf("fake does not know lease %q", lease.ID)
		}
		checkReceived(t, f, spec, got)
		s.waitState(ctx, t, env, lease.ID, providers.StateRunning, false)
		if err := p.Terminate(ctx, lease.ID); err != nil {
			errs = append(errs, err)
			t.Errorf("Terminate: %v", err)
		}
	}
	switch f {
	case providers.FeatureRegistryAuth:
		checkNoSecret(t, ConformanceRegistrySecret, env.Logs(), errs, spec)
	case providers.FeatureSecretEnv:
		checkNoSecret(t, ConformanceSecretValue, env.Logs(), errs, spec)
	}
}

func checkReceived(t *testing.T, f providers.Feature, spec providers.LaunchSpec, got Received) {
	t.Helper()
	switch f {
	case providers.FeatureSSH:
		for _, k := range spec.SSHKeys {
			if !slices.Contains(got.SSHKeys, k) {
				t.Errorf("fake received SSH keys %q, want %q among them", got.SSHKeys, k)
			}
		}
	case providers.FeatureRegistryAuth:
		host := spec.Registry.Host(spec.Workload.Image)
		if got.RegistryUsername != ConformanceRegistryUser || got.RegistrySecret != ConformanceRegistrySecret {
			t.Errorf("fake received registry user %q and a secret of %d bytes, want %q and the suite's secret", got.RegistryUsername, len(got.RegistrySecret), ConformanceRegistryUser)
		}
		if got.RegistryServer != "" && got.RegistryServer != host {
			t.Errorf("fake received registry server %q, want %q", got.RegistryServer, host)
		}
	case providers.FeatureSecretEnv:
		for _, e := range spec.SecretEnv {
			if v, ok := got.SecretEnv[e.Name]; !ok || v != e.Value.Reveal() {
				t.Errorf("fake received secret env %s: present %v, value right %v; want the suite's value", e.Name, ok, v == e.Value.Reveal())
			}
		}
	case providers.FeatureStorage:
		if got.StorageMiB < spec.Storage.SizeMiB || got.MountPath != spec.Storage.MountPath {
			t.Errorf("fake received storage %d MiB at %q, want >= %d MiB at %q", got.StorageMiB, got.MountPath, spec.Storage.SizeMiB, spec.Storage.MountPath)
		}
	}
}

// checkNoSecret asserts that secret appears in no log line, error text, or
// formatting of the spec that carried it.
func checkNoSecret(t *testing.T, secret, logs string, errs []error, spec providers.LaunchSpec) {
	t.Helper()
	if strings.Contains(logs, secret) {
		t.Errorf("logs contain the secret:\n%s", logs)
	}
	for _, err := range errs {
		if strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), secret) {
			t.Errorf("error text contains the secret: %v", err)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, spec); strings.Contains(out, secret) {
			t.Errorf("fmt.Sprintf(%q, spec) contains the secret", verb)
		}
	}
}

// featureInvalid: malformed feature fields are refused before any request,
// whether or not the adapter supports the feature.
func (s *suite) featureInvalid(t *testing.T) {
	env := s.setup(t)
	fake := s.needFake(t, env)
	ctx := s.ctx(t)
	tests := []struct {
		name string
		edit func(*providers.LaunchSpec)
	}{
		{"ssh key with a newline", func(sp *providers.LaunchSpec) {
			sp.SSHKeys = []string{ConformanceSSHKey + "\nssh-ed25519 AAAA evil"}
		}},
		{"not a public key", func(sp *providers.LaunchSpec) { sp.SSHKeys = []string{"-----BEGIN OPENSSH PRIVATE KEY-----"} }},
		{"registry without secret", func(sp *providers.LaunchSpec) {
			sp.Registry = &providers.RegistryAuth{Username: "u"}
		}},
		{"storage without size", func(sp *providers.LaunchSpec) {
			sp.Storage = &providers.Storage{MountPath: "/data"}
		}},
		{"storage at a relative path", func(sp *providers.LaunchSpec) {
			sp.Storage = &providers.Storage{SizeMiB: 1024, MountPath: "data/../x"}
		}},
		{"secret env named like a clear one", func(sp *providers.LaunchSpec) {
			sp.SecretEnv = []providers.SecretEnvVar{{Name: sp.Workload.Env[0].Name, Value: providers.SecretValue("x")}}
		}},
		{"secret env with a newline", func(sp *providers.LaunchSpec) {
			sp.SecretEnv = []providers.SecretEnvVar{{Name: "OK_NAME", Value: providers.SecretValue("a\nb")}}
		}},
	}
	spec := s.spec(ctx, t, env.Provider, "job")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := spec
			tt.edit(&sp)
			if _, err := env.Provider.Launch(ctx, sp); err == nil {
				t.Errorf("Launch succeeded, want an error")
			}
			if n := fake.Workloads(); n != 0 {
				t.Errorf("fake has %d workloads, want 0", n)
			}
		})
	}
}

// endpoints: once running, Status reports well-formed endpoints; an SSH
// endpoint when the launch had SSH keys, and the workload's first port.
func (s *suite) endpoints(t *testing.T) {
	env := s.setup(t)
	s.needFake(t, env)
	ctx := s.ctx(t)
	p := env.Provider
	caps := p.Capabilities()
	spec := s.spec(ctx, t, p, "job")
	if caps.Supports(providers.FeatureSSH) {
		withFeature(&spec, providers.FeatureSSH)
	}
	lease, err := p.Launch(ctx, spec)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	s.waitState(ctx, t, env, lease.ID, providers.StateRunning, false)
	st, err := p.Status(ctx, lease.ID)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if len(st.Endpoints) == 0 {
		t.Fatalf("Status of a running workload has no endpoints")
	}
	for _, e := range st.Endpoints {
		if bad := checkEndpoint(e); bad != "" {
			t.Errorf("endpoint %+v: %s", e, bad)
		}
	}
	if caps.Supports(providers.FeatureSSH) && !slices.ContainsFunc(st.Endpoints, func(e providers.Endpoint) bool { return e.Kind == providers.EndpointSSH }) {
		t.Errorf("launch with SSH keys: endpoints %v have no ssh endpoint", st.Endpoints)
	}
	if ports := spec.Workload.Ports; caps.Supports(providers.FeaturePorts) && len(ports) > 0 {
		if !slices.ContainsFunc(st.Endpoints, func(e providers.Endpoint) bool { return int64(e.ContainerPort) == ports[0] }) {
			t.Errorf("endpoints %v reach no container port %d", st.Endpoints, ports[0])
		}
	}
	// The slice is the caller's.
	st.Endpoints[0].Host = "changed"
	if again, err := p.Status(ctx, lease.ID); err == nil && len(again.Endpoints) > 0 && again.Endpoints[0].Host == "changed" {
		t.Errorf("Status returned a shared endpoints slice")
	}
	if err := p.Terminate(ctx, lease.ID); err != nil {
		t.Errorf("Terminate: %v", err)
	}
}

func checkEndpoint(e providers.Endpoint) string {
	switch e.Kind {
	case providers.EndpointSSH, providers.EndpointTCP, providers.EndpointHTTP:
	default:
		return fmt.Sprintf("kind %q", e.Kind)
	}
	if e.Host == "" && e.URL == "" {
		return "neither host nor URL"
	}
	if e.Port < 0 || e.Port > 65535 || e.ContainerPort < 0 || e.ContainerPort > 65535 {
		return "port out of range"
	}
	if e.Host != "" && e.Port == 0 && e.URL == "" {
		return "host without port or URL"
	}
	if e.Kind == providers.EndpointHTTP && e.URL != "" && !strings.HasPrefix(e.URL, "http://") && !strings.HasPrefix(e.URL, "https://") {
		return "http endpoint URL is not http(s)"
	}
	return ""
}
