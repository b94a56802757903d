package akash

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// PlacementName is the SDL placement profile Aurora generates.
const PlacementName = "aurora"

// SDLParams are the parts of an SDL that do not come from the workload.
type SDLParams struct {
	// Service names the single service, its compute profile and its
	// deployment entry. Aurora uses the launch's idempotency key, which
	// makes the SDL (and so the deployment hash) unique per job, and shows
	// in the lease status so a restarted adapter can find its lease.
	Service string
	// GPUModel and VRAMMiB pin the GPU (Akash model name, e.g. "a100";
	// 0 = any memory). Empty GPUModel with a GPU in the workload uses the
	// workload's model, canonicalized.
	GPUModel string
	VRAMMiB  int64
	// RegionAttribute and Region become a placement attribute
	// (region: us-west); empty Region = anywhere. Client.Launch leaves
	// them empty and enforces the offer's place on the bids instead.
	RegionAttribute, Region string
	// Denom and MaxAmount are the placement pricing: the most the
	// deployment pays per block, in Denom (decimal text).
	Denom, MaxAmount string
	// Volume, if set, is a persistent volume: a compute storage entry
	// named VolumeName with persistent: true and class StorageClass,
	// mounted through the service's params.storage.
	Volume *providers.Storage
	// StorageClass is the volume's class ("beta1", "beta2", "beta3",
	// "default"; akash-network/chain-sdk go/sdl/storage.go
	// allowedStorageClasses). Required with Volume.
	StorageClass string
	// Credentials log in to a private registry to pull the image
	// (services.<name>.credentials). Never logged.
	Credentials *Credentials
}

// VolumeName is the name of the persistent volume Aurora writes.
const VolumeName = "data"

// Credentials are an SDL service's registry login: host, username and
// password are required, the password at least 6 characters
// (akash-network/chain-sdk go/sdl/v2.go v2ServiceCredentials.validate;
// go/sdl/sdl-input.schema.yaml credentials).
type Credentials struct {
	Host, Username string
	Password       providers.Credential
}

// LogValue keeps the password out of logs.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", c.Host), slog.String("username", c.Username), slog.Any("password", c.Password))
}

// DockerHubHost is the credentials host for Docker Hub images, as Akash
// documents it ("host: https://index.docker.io/v1/", akash.network docs
// learn/core-concepts/private-containers).
const DockerHubHost = "https://index.docker.io/v1/"

// CredentialsFor is the SDL login for a registry auth of image: the
// registry host, Docker Hub's as DockerHubHost.
func CredentialsFor(a providers.RegistryAuth, image string) Credentials {
	host := a.Host(image)
	if host == "docker.io" {
		host = DockerHubHost
	}
	return Credentials{Host: host, Username: a.Username, Password: a.Secret}
}

// minPasswordLen is the schema's password minLength.
const minPasswordLen = 6

// SDL renders the Akash SDL (version 2.0, YAML) of w. The output is
// deterministic: the same inputs give the same bytes (map-like parts of the
// workload are already sorted: treaty keeps Env sorted by name). Strings are
// double-quoted with Go escapes, which YAML's double-quoted style reads the
// same way.
//
// Units: CPU millicores become cpu units (1000 = 1), Memory and Disk MiB
// become "Mi" sizes (at least 128Mi and 512Mi), GPU VRAM becomes "Gi" when
// whole. Cmd overrides the image's entrypoint (SDL command); each port is
// exposed globally as itself.
func SDL(w treaty.Workload, p SDLParams) (string, error) {
	if w.Image == "" {
		return "", errors.New("akash: sdl: workload image is required")
	}
	if !dnsLabel(p.Service) {
		return "", fmt.Errorf("akash: sdl: service name %q is not a DNS label", p.Service)
	}
	if p.Denom == "" || p.MaxAmount == "" {
		return "", errors.New("akash: sdl: pricing denom and amount are required")
	}
	if _, err := providers.ParseDecimal(p.MaxAmount); err != nil {
		return "", fmt.Errorf("akash: sdl: pricing amount: %w", err)
	}
	if w.CPU < 0 || w.Memory < 0 || w.Disk < 0 {
		return "", errors.New("akash: sdl: negative resources")
	}
	q := strconv.Quote
	var b strings.Builder
	line := func(indent int, s string, args ...any) {
		b.WriteString(strings.Repeat("  ", indent))
		fmt.Fprintf(&b, s, args...)
		b.WriteByte('\n')
	}
	svc := p.Service
	line(0, "---")
	line(0, `version: "2.0"`)
	line(0, "services:")
	line(1, "%s:", svc)
	line(2, "image: %s", q(w.Image))
	if len(w.Cmd) > 0 {
		line(2, "command:")
		for _, a := range w.Cmd {
			line(3, "- %s", q(a))
		}
	}
	if len(w.Env) > 0 {
		line(2, "env:")
		for _, e := range w.Env {
			if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
				return "", fmt.Errorf("akash: sdl: env name %q", e.Name)
			}
			line(3, "- %s", q(e.Name+"="+e.Value))
		}
	}
	if len(w.Ports) > 0 {
		line(2, "expose:")
		for _, port := range w.Ports {
			if port < 1 || port > 65535 {
				return "", fmt.Errorf("akash: sdl: port %d out of range", port)
			}
			line(3, "- port: %d", port)
			line(4, "as: %d", port)
			line(4, "to:")
			line(5, "- global: true")
		}
	}
	if v := p.Volume; v != nil {
		// A persistent volume needs a mount (chain-sdk go/sdl/v2.go:
		// "persistent=true which requires service.<svc>.params.storage.<vol>
		// to have mount"), an absolute path.
		if !path.IsAbs(v.MountPath) || v.SizeMiB <= 0 || p.StorageClass == "" || p.StorageClass == "ram" {
			return "", fmt.Errorf("akash: sdl: persistent volume needs a size, an absolute mount and a persistent class (got %q)", p.StorageClass)
		}
		line(2, "params:")
		line(3, "storage:")
		line(4, "%s:", VolumeName)
		line(5, "mount: %s", q(v.MountPath))
		line(5, "readOnly: false")
	}
	if cr := p.Credentials; cr != nil {
		pw := cr.Password.Reveal()
		if strings.TrimSpace(cr.Host) == "" || strings.TrimSpace(cr.Username) == "" || len(pw) < minPasswordLen {
			return "", fmt.Errorf("akash: sdl: registry credentials need a host, a username and a password of at least %d characters", minPasswordLen)
		}
		line(2, "credentials:")
		line(3, "host: %s", q(cr.Host))
		line(3, "username: %s", q(cr.Username))
		line(3, "password: %s", q(pw))
	}
	line(0, "profiles:")
	line(1, "compute:")
	line(2, "%s:", svc)
	line(3, "resources:")
	line(4, "cpu:")
	line(5, "units: %s", cpuUnits(w.CPU))
	line(4, "memory:")
	line(5, "size: %dMi", max(w.Memory, 128))
	if p.Volume == nil {
		line(4, "storage:")
		line(5, "size: %dMi", max(w.Disk, 512))
	} else {
		// The root (ephemeral) volume first, then the named persistent one
		// (chain-sdk go/sdl/_testdata/storageClass1.yaml).
		line(4, "storage:")
		line(5, "- size: %dMi", max(w.Disk, 512))
		line(5, "- name: %s", VolumeName)
		line(6, "size: %s", size(p.Volume.SizeMiB))
		line(6, "attributes:")
		line(7, "persistent: true")
		line(7, "class: %s", q(p.StorageClass))
	}
	if w.GPU != nil && w.GPU.Count > 0 {
		model := p.GPUModel
		if model == "" {
			model = providers.CanonicalGPUModel(w.GPU.Model)
		}
		vram := p.VRAMMiB
		if vram == 0 {
			vram = w.GPU.MinVRAM
		}
		line(4, "gpu:")
		line(5, "units: %d", w.GPU.Count)
		line(5, "attributes:")
		line(6, "vendor:")
		line(7, "nvidia:")
		if model == "" {
			line(8, "- {}")
		} else {
			line(8, "- model: %s", q(model))
			if vram > 0 {
				line(9, "ram: %s", size(vram))
			}
		}
	}
	line(1, "placement:")
	line(2, "%s:", PlacementName)
	if p.Region != "" {
		attr := p.RegionAttribute
		if attr == "" {
			attr = "region"
		}
		line(3, "attributes:")
		if dnsLabel(attr) {
			line(4, "%s: %s", attr, q(p.Region))
		} else {
			line(4, "%s: %s", q(attr), q(p.Region))
		}
	}
	line(3, "pricing:")
	line(4, "%s:", svc)
	line(5, "denom: %s", q(p.Denom))
	line(5, "amount: %s", p.MaxAmount)
	line(0, "deployment:")
	line(1, "%s:", svc)
	line(2, "%s:", PlacementName)
	line(3, "profile: %s", svc)
	line(3, "count: 1")
	return b.String(), nil
}

func cpuUnits(millis int64) string {
	millis = max(millis, 100)
	s := strconv.FormatInt(millis/1000, 10)
	if frac := millis % 1000; frac != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%03d", frac), "0")
	}
	return s
}

func size(mib int64) string {
	if mib%1024 == 0 {
		return strconv.FormatInt(mib/1024, 10) + "Gi"
	}
	return strconv.FormatInt(mib, 10) + "Mi"
}

func dnsLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return s[0] >= 'a' && s[0] <= 'z'
}
