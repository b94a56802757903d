package providers_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/providers"
)

func TestRegistryHost(t *testing.T) {
	tests := []struct{ image, want string }{
		{"ubuntu:24.04", "docker.io"},
		{"library/ubuntu", "docker.io"},
		{"ghcr.io/org/img:1", "ghcr.io"},
		{"localhost/img", "localhost"},
		{"registry.example.com:5000/a/b", "registry.example.com:5000"},
	}
	for _, tt := range tests {
		if got := providers.RegistryHost(tt.image); got != tt.want {
			t.Errorf("RegistryHost(%q) = %q, want %q", tt.image, got, tt.want)
		}
	}
}

func TestCheckFeatures(t *testing.T) {
	caps := providers.Capabilities{Features: []providers.Feature{providers.FeatureSSH}}
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0r4u user@host"
	tests := []struct {
		name    string
		spec    providers.LaunchSpec
		feature providers.Feature // want a FeatureError for it; "" = none
		wantErr bool
	}{
		{name: "nothing asked", spec: providers.LaunchSpec{}},
		{name: "supported ssh", spec: providers.LaunchSpec{SSHKeys: []string{key}}},
		{name: "two-line key", spec: providers.LaunchSpec{SSHKeys: []string{key + "\n" + key}}, wantErr: true},
		{name: "storage lacking", spec: providers.LaunchSpec{Storage: &providers.Storage{SizeMiB: 1, MountPath: "/d"}}, feature: providers.FeatureStorage, wantErr: true},
		{name: "storage at /", spec: providers.LaunchSpec{Storage: &providers.Storage{SizeMiB: 1, MountPath: "/"}}, wantErr: true},
		{name: "registry lacking", spec: providers.LaunchSpec{Registry: &providers.RegistryAuth{Username: "u", Secret: providers.NewCredential("s")}}, feature: providers.FeatureRegistryAuth, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := providers.CheckFeatures("x", caps, tt.spec, map[providers.Feature]string{providers.FeatureStorage: "no volumes"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckFeatures = %v, wantErr %v", err, tt.wantErr)
			}
			var fe *providers.FeatureError
			if got := errors.As(err, &fe); got != (tt.feature != "") || got && (fe.Feature != tt.feature || fe.Reason == "" || !errors.Is(err, providers.ErrNotSupported)) {
				t.Errorf("CheckFeatures = %v, want a FeatureError for %q", err, tt.feature)
			}
		})
	}
}

func TestRegistryAuthRedacts(t *testing.T) {
	const secret = "hunter2-registry"
	spec := providers.LaunchSpec{Registry: &providers.RegistryAuth{Server: "ghcr.io", Username: "u", Secret: providers.NewCredential(secret)}}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("launch", "registry", spec.Registry, "spec", spec)
	out := b.String() + fmt.Sprintf("%v %+v %#v %v", spec, spec, spec, *spec.Registry)
	if strings.Contains(out, secret) {
		t.Errorf("secret leaked: %s", out)
	}
	if !strings.Contains(b.String(), "ghcr.io") {
		t.Errorf("log lost the server: %s", b.String())
	}
}
