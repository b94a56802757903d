package providers

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/aurora-federation/aurora/treaty"
)

// Feature names something a tenant's workload may need beyond running its
// image, which not every network offers. Capabilities.Features lists the
// ones an adapter supports; a LaunchSpec asking for another fails with a
// *FeatureError wrapping ErrNotSupported, before anything is created.
type Feature string

// Workload features.
const (
	// FeatureSSH: LaunchSpec.SSHKeys are authorized for SSH into the
	// workload, and Status reports an EndpointSSH once it runs.
	FeatureSSH Feature = "ssh"
	// FeatureRegistryAuth: LaunchSpec.Registry authenticates the image pull
	// from a private registry.
	FeatureRegistryAuth Feature = "registry-auth"
	// FeatureStorage: LaunchSpec.Storage mounts a persistent volume that
	// outlives a restart of the container.
	FeatureStorage Feature = "storage"
	// FeaturePorts: Workload.Ports are reachable from outside (the adapter's
	// doc says how many and which protocol).
	FeaturePorts Feature = "ports"
	// FeatureEndpoints: Status reports where a running workload is reached.
	FeatureEndpoints Feature = "endpoints"
	// FeatureSecretEnv: LaunchSpec.SecretEnv reaches the container's
	// environment through a field the network keeps private to the account
	// (and the host that runs it), never in a public or gossiped record.
	FeatureSecretEnv Feature = "secret-env"
)

// SecretEnvVar is one environment variable whose value is secret: an
// order's sealed secrets, opened at launch. Value redacts itself; adapters
// call Value.Reveal only where it is written into the network's request.
type SecretEnvVar struct {
	Name  string
	Value Credential
}

// Redactions returns the values of spec's secrets (registry secret and
// secret env), for scrubbing error texts that might echo a request.
func (s LaunchSpec) Redactions() []string {
	var out []string
	if s.Registry != nil && !s.Registry.Secret.IsZero() {
		out = append(out, s.Registry.Secret.Reveal())
	}
	for _, e := range s.SecretEnv {
		if v := e.Value.Reveal(); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// RedactError returns err with every occurrence of the values replaced by
// "[redacted]" in its text; errors.Is and errors.As still see err. Nil and
// errors without any of the values are returned as they are.
func RedactError(err error, values []string) error {
	if err == nil || len(values) == 0 {
		return err
	}
	msg := err.Error()
	red := msg
	for _, v := range values {
		if len(v) >= minRedactLen {
			red = strings.ReplaceAll(red, v, "[redacted]")
		}
	}
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

// minRedactLen keeps one- and two-byte values from shredding messages;
// such a value is no secret worth the name.
const minRedactLen = 3

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Format keeps %+v and %#v from reaching the unredacted error.
func (e *redactedError) Format(f fmt.State, _ rune) { fmt.Fprint(f, e.msg) }

// Supports reports whether c lists f.
func (c Capabilities) Supports(f Feature) bool { return slices.Contains(c.Features, f) }

// RegistryAuth is a resolved private-registry login: the node resolves the
// order's reference from the operator's credential store and hands the
// adapter the pair. Secret redacts itself in logs and fmt output; adapters
// call Secret.Reveal only where it is written into the network's request.
type RegistryAuth struct {
	// Server is the registry host ("ghcr.io", "registry.example.com:5000");
	// "" = the image's registry (RegistryHost).
	Server   string
	Username string
	Secret   Credential // password or access token
}

// LogValue implements slog.LogValuer: server and user, never the secret.
func (r RegistryAuth) LogValue() slog.Value {
	return slog.GroupValue(slog.String("server", r.Server), slog.String("username", r.Username), slog.Any("secret", r.Secret))
}

// Host is r.Server, or the registry of image when Server is empty.
func (r RegistryAuth) Host(image string) string {
	if r.Server != "" {
		return r.Server
	}
	return RegistryHost(image)
}

// RegistryHost returns the registry host of an image reference, by the
// Docker reference rule (distribution/reference): the first path component
// is a host when it contains "." or ":" or is "localhost"; otherwise the
// image is on Docker Hub, "docker.io".
func RegistryHost(image string) string {
	first, _, ok := strings.Cut(image, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "docker.io"
}

// Storage asks for a persistent volume.
type Storage struct {
	SizeMiB   int64  // > 0
	MountPath string // absolute, clean path inside the container, not "/"
}

// EndpointKind is how an endpoint is spoken to.
type EndpointKind string

// Endpoint kinds.
const (
	EndpointSSH  EndpointKind = "ssh"
	EndpointHTTP EndpointKind = "http"
	EndpointTCP  EndpointKind = "tcp"
)

// Endpoint is one place a running workload is reached.
type Endpoint struct {
	Kind EndpointKind
	// Host and Port are where to connect (Port 0 when only URL is known).
	Host string
	Port int
	// ContainerPort is the workload's port behind it (22 for SSH); 0 when
	// the network does not say.
	ContainerPort int
	// URL is set for HTTP endpoints ("https://….salad.cloud/") and may be
	// set for others ("ssh://root@host:port").
	URL string
}

func (e Endpoint) String() string {
	if e.URL != "" {
		return string(e.Kind) + " " + e.URL
	}
	return string(e.Kind) + " " + e.Host + ":" + strconv.Itoa(e.Port)
}

// FeatureError says that a network (or its adapter) cannot do what a launch
// asked. It wraps ErrNotSupported.
type FeatureError struct {
	Provider string
	Feature  Feature
	Reason   string // why, citing the network's published material
}

func (e *FeatureError) Error() string {
	return fmt.Sprintf("%s: %s not supported: %s", e.Provider, e.Feature, e.Reason)
}

// Unwrap returns ErrNotSupported.
func (e *FeatureError) Unwrap() error { return ErrNotSupported }

// Features lists the features spec asks for, in a fixed order: SSH,
// registry auth, storage, secret env, ports.
func (s LaunchSpec) Features() []Feature {
	var fs []Feature
	if len(s.SSHKeys) > 0 {
		fs = append(fs, FeatureSSH)
	}
	if s.Registry != nil {
		fs = append(fs, FeatureRegistryAuth)
	}
	if s.Storage != nil {
		fs = append(fs, FeatureStorage)
	}
	if len(s.SecretEnv) > 0 {
		fs = append(fs, FeatureSecretEnv)
	}
	if len(s.Workload.Ports) > 0 {
		fs = append(fs, FeaturePorts)
	}
	return fs
}

// CheckFeatures validates the feature fields of spec and returns a
// *FeatureError for the first one caps lacks, with reasons[f] as its reason
// (or a generic one). Adapters call it first in Launch.
func CheckFeatures(provider string, caps Capabilities, spec LaunchSpec, reasons map[Feature]string) error {
	if err := spec.validateFeatures(); err != nil {
		return fmt.Errorf("%s: launch: %w", provider, err)
	}
	for _, f := range spec.Features() {
		if caps.Supports(f) {
			continue
		}
		reason := reasons[f]
		if reason == "" {
			reason = "the network's published API offers no way to do it"
		}
		return &FeatureError{Provider: provider, Feature: f, Reason: reason}
	}
	return nil
}

// errInvalidSpec marks a LaunchSpec whose feature fields are malformed.
var errInvalidSpec = errors.New("invalid launch spec")

func (s LaunchSpec) validateFeatures() error {
	for i, k := range s.SSHKeys {
		if err := ValidateSSHKey(k); err != nil {
			return fmt.Errorf("%w: ssh key %d: %w", errInvalidSpec, i, err)
		}
	}
	if r := s.Registry; r != nil {
		switch {
		case r.Username == "":
			return fmt.Errorf("%w: registry auth: username is required", errInvalidSpec)
		case r.Secret.IsZero():
			return fmt.Errorf("%w: registry auth: secret is required", errInvalidSpec)
		case strings.ContainsAny(r.Server, " /\t\n") || strings.ContainsAny(r.Username, " \t\n"):
			return fmt.Errorf("%w: registry auth: server or username has white space or a slash", errInvalidSpec)
		case strings.ContainsAny(r.Secret.Reveal(), " \t\n"):
			return fmt.Errorf("%w: registry auth: secret has white space", errInvalidSpec)
		}
	}
	for i, e := range s.SecretEnv {
		switch {
		case !envName(e.Name):
			return fmt.Errorf("%w: secret env %d: %q is not an environment variable name", errInvalidSpec, i, e.Name)
		case slices.ContainsFunc(s.Workload.Env, func(c treaty.EnvVar) bool { return c.Name == e.Name }),
			slices.ContainsFunc(s.SecretEnv[:i], func(c SecretEnvVar) bool { return c.Name == e.Name }):
			return fmt.Errorf("%w: secret env %d: %s is set twice", errInvalidSpec, i, e.Name)
		case strings.ContainsAny(e.Value.Reveal(), "\x00\r\n"):
			return fmt.Errorf("%w: secret env %s: value has a newline or NUL", errInvalidSpec, e.Name)
		}
	}
	if st := s.Storage; st != nil {
		switch {
		case st.SizeMiB <= 0:
			return fmt.Errorf("%w: storage: size %d MiB, want > 0", errInvalidSpec, st.SizeMiB)
		case !path.IsAbs(st.MountPath) || path.Clean(st.MountPath) != st.MountPath || st.MountPath == "/":
			return fmt.Errorf("%w: storage: mount path %q: want an absolute, clean path other than /", errInvalidSpec, st.MountPath)
		}
	}
	return nil
}

// envName is the treaty's environment variable name rule.
func envName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b == '_' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || i > 0 && b >= '0' && b <= '9') {
			return false
		}
	}
	return true
}

// sshKeyTypes are the OpenSSH public key algorithms (PROTOCOL, sshd(8)
// AUTHORIZED_KEYS FILE FORMAT).
var sshKeyTypes = []string{
	"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
}

// ValidateSSHKey checks that k is one OpenSSH public key line: a known type,
// base64 key data, an optional comment, no newline (a newline would add a
// second authorized key or an option line).
func ValidateSSHKey(k string) error {
	if strings.ContainsAny(k, "\r\n\x00") {
		return errors.New("public key must be one line")
	}
	f := strings.Fields(k)
	if len(f) < 2 || !slices.Contains(sshKeyTypes, f[0]) {
		return errors.New("want \"TYPE BASE64 [COMMENT]\" with an OpenSSH key type")
	}
	for _, c := range f[1] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return errors.New("key data is not base64")
		}
	}
	return nil
}
