package ops

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/multiformats/go-multiaddr"
	"go.yaml.in/yaml/v3"
)

const (
	composePath = "../testnet/docker-compose.yml"
	// bootstrapPeerVar supplies the bootstrap node's peer ID to the other nodes.
	bootstrapPeerVar = "AURORA_BOOTSTRAP_PEER_ID"
)

// composeFile is the subset of the Compose specification this testnet uses; decoding rejects anything else,
// so a typo in a key fails here instead of being ignored by docker compose.
type composeFile struct {
	Name     string                    `yaml:"name"`
	XNode    yaml.Node                 `yaml:"x-aurora-node"` // the nodes' shared settings (a YAML anchor)
	Services map[string]composeService `yaml:"services"`
	Networks map[string]composeNetwork `yaml:"networks"`
	Volumes  map[string]*composeVolume `yaml:"volumes"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Build       *composeBuild                `yaml:"build"`
	User        string                       `yaml:"user"`
	Restart     string                       `yaml:"restart"`
	Command     []string                     `yaml:"command"`
	Environment map[string]string            `yaml:"environment"`
	Healthcheck *composeHealthcheck          `yaml:"healthcheck"`
	Volumes     []string                     `yaml:"volumes"`
	Ports       []string                     `yaml:"ports"`
	NetworkMode string                       `yaml:"network_mode"`
	Networks    map[string]composeAttachment `yaml:"networks"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
	Target     string `yaml:"target"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

type composeAttachment struct {
	IPv4Address string `yaml:"ipv4_address"`
}

type composeNetwork struct {
	Driver string `yaml:"driver"`
	IPAM   struct {
		Config []struct {
			Subnet string `yaml:"subnet"`
		} `yaml:"config"`
	} `yaml:"ipam"`
}

type composeVolume struct{}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	return c
}

// composeBuildTargets returns the Dockerfile targets the compose file builds.
func composeBuildTargets(t *testing.T) []string {
	var out []string
	for _, s := range loadCompose(t).Services {
		if s.Build != nil && !slices.Contains(out, s.Build.Target) {
			out = append(out, s.Build.Target)
		}
	}
	return out
}

// interpolate expands ${VAR:-default} with its default (what compose does with VAR unset) and reports the
// variables it saw.
var interpRe = regexp.MustCompile(`\$\{(\w+):-([^}]*)\}`)

func interpolate(s string, seen map[string]string) string {
	return interpRe.ReplaceAllStringFunc(s, func(m string) string {
		sub := interpRe.FindStringSubmatch(m)
		seen[sub[1]] = sub[2]
		return sub[2]
	})
}

// volumeSource returns the named volume (or host path) mounted at target, or "".
func (s composeService) volumeSource(target string) string {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target {
			return parts[0]
		}
	}
	return ""
}

func TestCompose(t *testing.T) {
	c := loadCompose(t)

	// Node services are those built from the node target.
	var nodes []string
	for name, s := range c.Services {
		if s.Build != nil && s.Build.Target == "node" {
			nodes = append(nodes, name)
		}
	}
	slices.Sort(nodes)
	if want := []string{"bootstrap", "node1", "node2", "node3"}; !slices.Equal(nodes, want) {
		t.Fatalf("node services %v, want %v", nodes, want)
	}

	net, ok := c.Networks["testnet"]
	if !ok || len(net.IPAM.Config) != 1 {
		t.Fatal("want a user-defined network testnet with one IPAM subnet")
	}
	subnet, err := netip.ParsePrefix(net.IPAM.Config[0].Subnet)
	if err != nil {
		t.Fatalf("testnet subnet: %v", err)
	}

	ips := map[netip.Addr]string{}
	hostPorts := map[string]string{}
	volumes := map[string]string{}
	vars := map[string]string{}
	for name, s := range c.Services {
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("%s: port %q: publish on 127.0.0.1:HOST:CONTAINER", name, p)
				continue
			}
			if prev, ok := hostPorts[parts[1]]; ok {
				t.Errorf("%s: host port %s also published by %s", name, parts[1], prev)
			}
			hostPorts[parts[1]] = name
		}
		if a, ok := s.Networks["testnet"]; ok {
			ip, err := netip.ParseAddr(a.IPv4Address)
			switch {
			case err != nil:
				t.Errorf("%s: ipv4_address: %v", name, err)
			case !subnet.Contains(ip):
				t.Errorf("%s: %s outside %s", name, ip, subnet)
			case ips[ip] != "":
				t.Errorf("%s: IP %s also used by %s", name, ip, ips[ip])
			default:
				ips[ip] = name
			}
		}
	}
	bootstrapIP := c.Services["bootstrap"].Networks["testnet"].IPv4Address

	for _, name := range nodes {
		s := c.Services[name]
		t.Run(name, func(t *testing.T) {
			if s.Image == "" || s.Build.Dockerfile != "testnet/Dockerfile" || filepath.Clean(filepath.Join("../testnet", s.Build.Context, s.Build.Dockerfile)) != filepath.Clean(dockerfilePath) {
				t.Errorf("build %+v: want context .. and dockerfile testnet/Dockerfile", s.Build)
			}
			vol := s.volumeSource("/data")
			if _, declared := c.Volumes[vol]; vol == "" || !declared {
				t.Errorf("want a named volume at /data, got %q", vol)
			} else if prev, ok := volumes[vol]; ok {
				t.Errorf("volume %s shared with %s", vol, prev)
			} else {
				volumes[vol] = name
			}
			if _, ok := s.Networks["testnet"]; !ok {
				t.Error("not on the testnet network with a static IP")
			}
			if len(s.Ports) != 1 || !strings.HasSuffix(s.Ports[0], ":7070") {
				t.Errorf("ports %q: want the API (7070) published once", s.Ports)
			}
			if s.Environment["AURORA_API_LISTEN"] != "0.0.0.0:7070" {
				t.Error("AURORA_API_LISTEN must be 0.0.0.0:7070 inside the container")
			}
			hc := s.Healthcheck
			if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "aurora" || hc.Test[2] != "health" ||
				!slices.Contains(hc.Test, "/readyz") {
				t.Errorf("healthcheck %+v: want [CMD aurora health ... /readyz]", hc)
			}
			if len(s.Command) < 3 || !slices.Equal(s.Command[:3], []string{"run", "--home", "/data"}) {
				t.Errorf("command %q: want run --home /data ...", s.Command)
			}
			if d, ok := s.DependsOn["init"]; !ok || d.Condition != "service_completed_successfully" {
				t.Error("must wait for init to complete")
			}
			if name == "bootstrap" {
				if slices.Contains(s.Command, "--bootstrap") {
					t.Error("the bootstrap node must not bootstrap from anyone")
				}
				return
			}
			if d, ok := s.DependsOn["bootstrap"]; !ok || d.Condition != "service_healthy" {
				t.Error("must depend on bootstrap being healthy")
			}
			i := slices.Index(s.Command, "--bootstrap")
			if i < 0 || i+1 >= len(s.Command) {
				t.Fatalf("command %q: no --bootstrap MULTIADDR", s.Command)
			}
			raw := s.Command[i+1]
			if !strings.Contains(raw, "${"+bootstrapPeerVar+":-") {
				t.Errorf("--bootstrap %s: the peer ID must come from ${%s:-default}", raw, bootstrapPeerVar)
			}
			checkBootstrapAddr(t, interpolate(raw, vars), bootstrapIP)
		})
	}

	// The bootstrap peer ID's default is documented.
	runbook, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	def, ok := vars[bootstrapPeerVar]
	if !ok {
		t.Errorf("%s not used", bootstrapPeerVar)
	} else if !bytes.Contains(runbook, []byte(bootstrapPeerVar)) || !bytes.Contains(runbook, []byte(def)) {
		t.Errorf("docs/OPERATIONS.md must document %s and its default %s", bootstrapPeerVar, def)
	}

	// init creates every node's home.
	init, ok := c.Services["init"]
	if !ok {
		t.Fatal("no init service")
	}
	for _, n := range nodes {
		if init.volumeSource("/homes/"+n) != c.Services[n].volumeSource("/data") {
			t.Errorf("init does not mount %s's volume at /homes/%s", n, n)
		}
		if !slices.ContainsFunc(init.Command, func(s string) bool { return strings.Contains(s, n) }) {
			t.Errorf("init's script does not initialise %s", n)
		}
	}

	checkComposePrometheus(t, c, nodes)
}

// checkBootstrapAddr parses addr as a libp2p multiaddr: /ip4/<bootstrap IP>/tcp/4001/p2p/<peer ID>.
func checkBootstrapAddr(t *testing.T, addr, bootstrapIP string) {
	t.Helper()
	ma, err := multiaddr.NewMultiaddr(addr)
	if err != nil {
		t.Fatalf("--bootstrap %s: %v", addr, err)
	}
	var got []string
	for _, c := range ma {
		got = append(got, c.Protocol().Name)
	}
	if want := []string{"ip4", "tcp", "p2p"}; !slices.Equal(got, want) {
		t.Fatalf("--bootstrap %s: protocols %v, want %v", addr, got, want)
	}
	if ip, _ := ma.ValueForProtocol(multiaddr.P_IP4); ip != bootstrapIP {
		t.Errorf("--bootstrap %s: IP %s, want the bootstrap's %s", addr, ip, bootstrapIP)
	}
	if port, _ := ma.ValueForProtocol(multiaddr.P_TCP); port != "4001" {
		t.Errorf("--bootstrap %s: port %s, want 4001", addr, port)
	}
	if id, _ := ma.ValueForProtocol(multiaddr.P_P2P); !strings.HasPrefix(id, "12D3KooW") {
		t.Errorf("--bootstrap %s: peer ID %s is not an Ed25519 peer ID", addr, id)
	}
}

// promConfig is the part of a Prometheus configuration the compose check reads.
type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func checkComposePrometheus(t *testing.T, c composeFile, nodes []string) {
	t.Helper()
	p, ok := c.Services["prometheus"]
	if !ok {
		t.Fatal("no prometheus service")
	}
	var configFile string
	for _, arg := range p.Command {
		if v, ok := strings.CutPrefix(arg, "--config.file="); ok {
			configFile = v
		}
	}
	if configFile == "" {
		t.Fatal("prometheus: no --config.file")
	}
	// Map the container path back to the repository through the bind mount.
	var hostPath string
	for _, v := range p.Volumes {
		src, dst, _ := strings.Cut(strings.TrimSuffix(v, ":ro"), ":")
		if rel, err := filepath.Rel(dst, configFile); err == nil && !strings.HasPrefix(rel, "..") && strings.HasPrefix(src, ".") {
			hostPath = filepath.Join("../testnet", src, rel)
		}
	}
	if hostPath == "" {
		t.Fatalf("prometheus: %s is not in a bind-mounted directory", configFile)
	}
	if got, want := absPath(t, filepath.Dir(hostPath)), absPath(t, "prometheus"); got != want {
		t.Errorf("prometheus config %s: want it from ops/prometheus", hostPath)
	}
	var cfg promConfig
	raw, err := os.ReadFile(hostPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", hostPath, err)
	}
	if !slices.Contains(cfg.RuleFiles, filepath.Base(rulesFile)) {
		t.Errorf("%s does not load %s", hostPath, filepath.Base(rulesFile))
	}
	var targets []string
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "aurora" {
			continue // the alert rules match job="aurora"
		}
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	for _, n := range nodes {
		if want := fmt.Sprintf("%s:7070", n); !slices.Contains(targets, want) {
			t.Errorf("%s: job aurora does not scrape %s", hostPath, want)
		}
	}
	if len(targets) != len(nodes) {
		t.Errorf("%s: job aurora scrapes %v, want exactly the %d nodes", hostPath, targets, len(nodes))
	}
	if _, ok := p.Networks["testnet"]; !ok {
		t.Error("prometheus is not on the testnet network")
	}
	for _, n := range nodes {
		if _, ok := p.DependsOn[n]; !ok {
			t.Errorf("prometheus does not depend on %s", n)
		}
	}
}

func absPath(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestInterpolate(t *testing.T) {
	seen := map[string]string{}
	got := interpolate("/ip4/1.2.3.4/tcp/4001/p2p/${X:-12D3}/${Y:-}", seen)
	if got != "/ip4/1.2.3.4/tcp/4001/p2p/12D3/" || seen["X"] != "12D3" || len(seen) != 2 {
		t.Errorf("interpolate = %q, seen %v", got, seen)
	}
}
