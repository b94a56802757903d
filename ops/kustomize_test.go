package ops

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// rendered is one kustomization's output, strictly decoded into Kubernetes API types.
type rendered struct {
	statefulSets []*appsv1.StatefulSet
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	pdbs         []*policyv1.PodDisruptionBudget
}

// render builds dir with kustomize (as `kubectl kustomize` would) and decodes every resource strictly:
// an unknown field, a wrong type or an unexpected kind fails the test.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := rendered{services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{}}
	for _, r := range m.Resources() {
		raw, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		var obj any
		switch r.GetKind() {
		case "StatefulSet":
			s := &appsv1.StatefulSet{}
			out.statefulSets = append(out.statefulSets, s)
			obj = s
		case "Service":
			s := &corev1.Service{}
			out.services[r.GetName()] = s
			obj = s
		case "ConfigMap":
			c := &corev1.ConfigMap{}
			out.configMaps[r.GetName()] = c
			obj = c
		case "PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			out.pdbs = append(out.pdbs, p)
			obj = p
		default:
			t.Fatalf("%s: unexpected kind %s (%s)", dir, r.GetKind(), r.GetName())
		}
		if err := yaml.UnmarshalStrict(raw, obj); err != nil {
			t.Fatalf("%s: %s/%s: %v", dir, r.GetKind(), r.GetName(), err)
		}
	}
	return out
}

func TestKustomizeBase(t *testing.T) {
	r := render(t, "k8s/base")
	checkNodes(t, r)
	if len(r.statefulSets) != 1 {
		t.Fatalf("base has %d StatefulSets, want 1", len(r.statefulSets))
	}
}

func TestKustomizeStaging(t *testing.T) {
	r := render(t, "k8s/overlays/staging")
	checkNodes(t, r)
	for _, s := range r.statefulSets {
		if s.Namespace != "aurora-staging" {
			t.Errorf("%s: namespace %q, want aurora-staging", s.Name, s.Namespace)
		}
		checkPublishedImage(t, s)
	}
}

func TestKustomizeCanary(t *testing.T) {
	r := render(t, "k8s/overlays/canary")
	checkNodes(t, r)

	byTrack := map[string]*appsv1.StatefulSet{}
	total := int32(0)
	for _, s := range r.statefulSets {
		track := s.Spec.Template.Labels["aurora-federation/track"]
		if byTrack[track] != nil {
			t.Errorf("two StatefulSets on track %q", track)
		}
		byTrack[track] = s
		total += replicas(s)
		checkPublishedImage(t, s)
	}
	stable, canary := byTrack["stable"], byTrack["canary"]
	if stable == nil || canary == nil || len(r.statefulSets) != 2 {
		t.Fatalf("want exactly a stable and a canary StatefulSet, got tracks %v", slices.Collect(maps.Keys(byTrack)))
	}
	if got := replicas(canary) * 10; got != total {
		t.Errorf("canary runs %d of %d replicas, want exactly 10%%", replicas(canary), total)
	}
	if si, ci := mainImage(t, stable), mainImage(t, canary); si == ci {
		t.Errorf("stable and canary both run %s", si)
	}
	// Controllers must not fight over pods: neither selector may match the other's pods.
	for _, p := range [][2]*appsv1.StatefulSet{{stable, canary}, {canary, stable}} {
		sel := labels.SelectorFromSet(p[0].Spec.Selector.MatchLabels)
		if sel.Matches(labels.Set(p[1].Spec.Template.Labels)) {
			t.Errorf("%s's selector matches %s's pods", p[0].Name, p[1].Name)
		}
	}
	// Same pod spec apart from the image: the canary tests the release, not a different deployment.
	sc, cc := stable.Spec.Template.Spec.DeepCopy(), canary.Spec.Template.Spec.DeepCopy()
	for _, spec := range []*corev1.PodSpec{sc, cc} {
		for i := range spec.Containers {
			spec.Containers[i].Image = ""
		}
		for i := range spec.InitContainers {
			if spec.InitContainers[i].Name == "keygen" {
				spec.InitContainers[i].Image = ""
			}
		}
	}
	a, _ := yaml.Marshal(sc)
	b, _ := yaml.Marshal(cc)
	if string(a) != string(b) {
		t.Errorf("stable and canary pod specs differ beyond the image:\n%s\n---\n%s", a, b)
	}
}

func replicas(s *appsv1.StatefulSet) int32 {
	if s.Spec.Replicas == nil {
		return 1
	}
	return *s.Spec.Replicas
}

func container(s *appsv1.StatefulSet, name string, init bool) *corev1.Container {
	cs := s.Spec.Template.Spec.Containers
	if init {
		cs = s.Spec.Template.Spec.InitContainers
	}
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func mainImage(t *testing.T, s *appsv1.StatefulSet) string {
	t.Helper()
	c := container(s, "aurora", false)
	if c == nil {
		t.Fatalf("%s: no container named aurora", s.Name)
	}
	return c.Image
}

// checkPublishedImage wants overlays to replace the placeholder with a tagged registry image, the same for
// the node and its keygen init container.
func checkPublishedImage(t *testing.T, s *appsv1.StatefulSet) {
	t.Helper()
	img := mainImage(t, s)
	name, tag, ok := strings.Cut(img, ":")
	if !ok || tag == "" || tag == "latest" || !strings.Contains(name, "/") {
		t.Errorf("%s: image %q: want registry/name:tag with a pinned tag", s.Name, img)
	}
	if k := container(s, "keygen", true); k == nil || k.Image != img {
		t.Errorf("%s: keygen must run the node's image %s", s.Name, img)
	}
}

// checkNodes asserts what every rendering must hold for every StatefulSet.
func checkNodes(t *testing.T, r rendered) {
	t.Helper()
	if len(r.statefulSets) == 0 {
		t.Fatal("no StatefulSet rendered")
	}
	for _, s := range r.statefulSets {
		t.Run(s.Name, func(t *testing.T) { checkNode(t, r, s) })
	}
	if len(r.pdbs) != 1 {
		t.Errorf("want one PodDisruptionBudget, got %d", len(r.pdbs))
	}
	for _, cm := range r.configMaps {
		if cfg, ok := cm.Data["config.toml"]; ok {
			var v map[string]any
			if err := toml.Unmarshal([]byte(cfg), &v); err != nil {
				t.Errorf("ConfigMap %s: config.toml: %v", cm.Name, err)
			}
		}
	}
}

func checkNode(t *testing.T, r rendered, s *appsv1.StatefulSet) {
	spec := s.Spec.Template.Spec

	sel := labels.SelectorFromSet(s.Spec.Selector.MatchLabels)
	if !sel.Matches(labels.Set(s.Spec.Template.Labels)) {
		t.Errorf("selector %v does not match the pod template labels %v", s.Spec.Selector.MatchLabels, s.Spec.Template.Labels)
	}

	// Governing headless Service with the API and both P2P ports, selecting these pods.
	svc := r.services[s.Spec.ServiceName]
	if svc == nil {
		t.Fatalf("serviceName %q: no such Service", s.Spec.ServiceName)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s is not headless", svc.Name)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(s.Spec.Template.Labels)) {
		t.Errorf("Service %s does not select the pods", svc.Name)
	}
	var svcPorts []string
	for _, p := range svc.Spec.Ports {
		svcPorts = append(svcPorts, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
	}
	slices.Sort(svcPorts)
	if want := []string{"4001/TCP", "4001/UDP", "7070/TCP"}; !slices.Equal(svcPorts, want) {
		t.Errorf("Service ports %v, want %v", svcPorts, want)
	}
	for _, p := range r.pdbs {
		if !labels.SelectorFromSet(p.Spec.Selector.MatchLabels).Matches(labels.Set(s.Spec.Template.Labels)) {
			t.Errorf("PodDisruptionBudget %s does not cover the pods", p.Name)
		}
	}

	// Non-root pod.
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", psc)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken must be false: the node does not talk to the API server")
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		checkContainerHardening(t, c)
	}

	// Persistent home at /data.
	var pvc *corev1.PersistentVolumeClaim
	for i := range s.Spec.VolumeClaimTemplates {
		if s.Spec.VolumeClaimTemplates[i].Name == "data" {
			pvc = &s.Spec.VolumeClaimTemplates[i]
		}
	}
	if pvc == nil {
		t.Fatal("no volumeClaimTemplate named data")
	}
	if !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteOnce) {
		t.Errorf("PVC access modes %v, want ReadWriteOnce", pvc.Spec.AccessModes)
	}
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.IsZero() {
		t.Error("PVC requests no storage")
	}

	node := container(s, "aurora", false)
	if node == nil {
		t.Fatal("no container named aurora")
	}
	if want := []string{"run", "--home", "/data"}; len(node.Command) != 0 || !slices.Equal(node.Args, want) {
		t.Errorf("aurora: command %q args %q, want the image entrypoint with args %q", node.Command, node.Args, want)
	}
	if mountPath(node, "data") != "/data" {
		t.Error("aurora: volume data not mounted at /data")
	}
	if env(node, "AURORA_API_LISTEN") != "0.0.0.0:7070" {
		t.Error("aurora: AURORA_API_LISTEN must be 0.0.0.0:7070 so probes and peers reach the API")
	}
	ports := map[string]corev1.ContainerPort{}
	for _, p := range node.Ports {
		ports[p.Name] = p
	}
	for name, want := range map[string]corev1.ContainerPort{
		"api":      {Name: "api", ContainerPort: 7070, Protocol: corev1.ProtocolTCP},
		"p2p-tcp":  {Name: "p2p-tcp", ContainerPort: 4001, Protocol: corev1.ProtocolTCP},
		"p2p-quic": {Name: "p2p-quic", ContainerPort: 4001, Protocol: corev1.ProtocolUDP},
	} {
		if ports[name] != want {
			t.Errorf("aurora: port %s = %+v, want %+v", name, ports[name], want)
		}
	}

	// Probes: liveness and startup on /healthz, readiness on /readyz, all on the API port.
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"livenessProbe", node.LivenessProbe, "/healthz"},
		{"readinessProbe", node.ReadinessProbe, "/readyz"},
		{"startupProbe", node.StartupProbe, "/healthz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("aurora: %s: want an httpGet probe", p.name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || g.Port.String() != "api" {
			t.Errorf("aurora: %s: GET %s on port %s, want GET %s on port api", p.name, g.Path, g.Port.String(), p.path)
		}
	}

	// Home initialisation: keygen writes a fresh home to scratch, adopt-home copies it only when /data has
	// no key (an identity is never replaced), then installs the ConfigMap's config.toml.
	keygen, adopt := container(s, "keygen", true), container(s, "adopt-home", true)
	if keygen == nil || adopt == nil {
		t.Fatal("want init containers keygen and adopt-home")
	}
	if spec.InitContainers[0].Name != "keygen" {
		t.Error("keygen must run before adopt-home")
	}
	if !slices.Equal(keygen.Args, []string{"init", "--home", "/scratch/home"}) {
		t.Errorf("keygen args %q", keygen.Args)
	}
	if keygen.Image != node.Image {
		t.Errorf("keygen image %s differs from the node's %s", keygen.Image, node.Image)
	}
	script := strings.Join(adopt.Command, " ")
	if !strings.Contains(script, "if [ -e /data/key.pem ]") || !strings.Contains(script, "cp -a /scratch/home/. /data/") ||
		!strings.Contains(script, "cp /etc/aurora/config.toml /data/config.toml") {
		t.Errorf("adopt-home must copy the new home only when /data/key.pem is missing, then install config.toml; got %q", script)
	}
	if mountPath(adopt, "data") != "/data" || mountPath(adopt, "scratch") != "/scratch" {
		t.Error("adopt-home needs data at /data and scratch at /scratch")
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		cm := r.configMaps[v.ConfigMap.Name]
		if cm == nil {
			t.Errorf("volume %s: ConfigMap %s not rendered", v.Name, v.ConfigMap.Name)
		} else if _, ok := cm.Data["config.toml"]; !ok {
			t.Errorf("ConfigMap %s has no config.toml", cm.Name)
		}
	}
}

func checkContainerHardening(t *testing.T, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Errorf("%s: no securityContext", c.Name)
		return
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s: allowPrivilegeEscalation must be false", c.Name)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("%s: readOnlyRootFilesystem must be true", c.Name)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("%s: capabilities must drop ALL and add none", c.Name)
	case sc.Privileged != nil && *sc.Privileged:
		t.Errorf("%s: privileged", c.Name)
	}
	res := c.Resources
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := res.Requests[name]; !ok || q.IsZero() {
			t.Errorf("%s: no %s request", c.Name, name)
		}
	}
	if q, ok := res.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
		t.Errorf("%s: no memory limit", c.Name)
	}
}

func mountPath(c *corev1.Container, volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return filepath.Clean(m.MountPath)
		}
	}
	return ""
}

func env(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}
