package fluxtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/aurora-federation/aurora/providers/flux/internal/btcmsg"
)

// fspec is a v8 application specification in the key order of FluxOS's
// specificationFormatter; marshalling it is the fake's JSON.stringify of a
// formatted spec (see stringify).
type fspec struct {
	Version     int64    `json:"version"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Owner       string   `json:"owner"`
	Compose     []fcomp  `json:"compose"`
	Instances   int64    `json:"instances"`
	Contacts    []string `json:"contacts"`
	Geolocation []string `json:"geolocation"`
	Expire      int64    `json:"expire"`
	Nodes       []string `json:"nodes"`
	Staticip    bool     `json:"staticip"`
	Enterprise  string   `json:"enterprise"`
}

type fcomp struct {
	Name                  string   `json:"name"`
	Description           string   `json:"description"`
	Repotag               string   `json:"repotag"`
	Ports                 []int64  `json:"ports"`
	Domains               []string `json:"domains"`
	EnvironmentParameters []string `json:"environmentParameters"`
	Commands              []string `json:"commands"`
	ContainerPorts        []int64  `json:"containerPorts"`
	ContainerData         string   `json:"containerData"`
	CPU                   float64  `json:"cpu"`
	RAM                   int64    `json:"ram"`
	HDD                   int64    `json:"hdd"`
	Repoauth              string   `json:"repoauth"`
}

// apiMessage is an error whose text is a FluxOS user-facing message,
// capitalised and punctuated as FluxOS writes it.
type apiMessage string

func (m apiMessage) Error() string { return string(m) }

func message(format string, a ...any) error { return apiMessage(fmt.Sprintf(format, a...)) }

// stringify is JSON.stringify of a formatted spec: encoding/json with HTML
// escaping off matches JavaScript for everything validate lets through
// (it refuses U+2028/U+2029, which Go escapes and JavaScript does not).
func stringify(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // fspec always encodes
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// decodeSpec reads a spec strictly: FluxOS refuses unknown keys too.
func decodeSpec(raw []byte) (fspec, error) {
	var s fspec
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, message("Invalid application specifications: %v", err)
	}
	if dec.More() {
		return s, message("Invalid application specifications: trailing data")
	}
	for _, sl := range []*[]string{&s.Contacts, &s.Geolocation, &s.Nodes} {
		if *sl == nil {
			*sl = []string{}
		}
	}
	for i := range s.Compose {
		c := &s.Compose[i]
		for _, sl := range []*[]string{&c.Domains, &c.EnvironmentParameters, &c.Commands} {
			if *sl == nil {
				*sl = []string{}
			}
		}
		if c.Ports == nil {
			c.Ports = []int64{}
		}
		if c.ContainerPorts == nil {
			c.ContainerPorts = []int64{}
		}
	}
	return s, nil
}

var (
	nameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`)
	// componentRE: component names are strictly alphanumeric.
	componentRE = regexp.MustCompile(`^[a-zA-Z0-9]+$`)
	geoRE       = regexp.MustCompile(`^a!?c[A-Z]{2}(_[A-Z]{2}(_[^_]{1,64})?)?$`)
)

// checkContainerData applies FluxOS's mount syntax to a component's
// containerData (ZelBack/src/services/utils/mountParser.js
// parseContainerData, parseMountDefinition, validateMountPath): mounts are
// "|"-separated; the first is the primary, "[flags]:<path>" with flags
// from r, g, s, or a bare "<path>"; a path is absolute without "..". The
// fake accepts only the primary mount (FluxOS also takes m:, f:, c:, cf:
// and component references after it). It returns "" or the reason.
func checkContainerData(cd string) string {
	if strings.Contains(cd, "|") {
		return "fake: only a primary containerData mount is supported"
	}
	parts := strings.Split(cd, ":")
	var path string
	switch {
	case len(parts) == 2 && flagsRE.MatchString(parts[0]):
		path = parts[1]
	case len(parts) == 1:
		path = parts[0]
	default:
		return "Invalid primary mount syntax: " + cd
	}
	switch {
	case path == "":
		return "Mount path must be a non-empty string"
	case strings.Contains(path, ".."):
		return `Mount path cannot contain ".." (directory traversal)`
	case !strings.HasPrefix(path, "/"):
		return "Mount path must be absolute (start with /)"
	case strings.ContainsRune(path, 0):
		return "Mount path cannot contain null bytes"
	}
	return ""
}

var flagsRE = regexp.MustCompile(`^[rgs]+$`)

func banned(p int64) bool {
	if p >= 16100 && p <= 16299 || p >= 26100 && p <= 26299 || p >= 30000 && p <= 30099 {
		return true
	}
	switch p {
	case 8384, 27017, 22, 23, 25, 3389, 5900, 5800, 161, 512, 513, 5901, 3388, 4444, 123, 53:
		return true
	}
	return false
}

// validate is a subset of FluxOS's verifyAppSpecifications: the rules the
// official client mirrors (spec.ts validateSpecification) plus the term
// allowance. update allows the one-block cancellation term.
func (s *Server) validate(sp fspec, update bool) error {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	if sp.Version != 8 {
		bad("only version 8 specifications are supported")
	}
	low := strings.ToLower(sp.Name)
	if len(sp.Name) == 0 || len(sp.Name) > 63 || !nameRE.MatchString(sp.Name) || strings.HasPrefix(low, "zel") || strings.HasPrefix(low, "flux") {
		bad("Application name %q is not valid", sp.Name)
	}
	if sp.Description == "" || len(sp.Description) > 256 {
		bad("description must be 1-256 characters")
	}
	if !btcmsg.ValidAddress(sp.Owner) {
		bad("owner %q is not a Flux ID", sp.Owner)
	}
	if sp.Enterprise != "" {
		bad("enterprise applications are not supported by this fake")
	}
	if len(sp.Compose) < 1 || len(sp.Compose) > 10 {
		bad("1-10 components are required")
	}
	seen := map[int64]bool{}
	for i, c := range sp.Compose {
		at := fmt.Sprintf("component %d", i)
		if c.Name == "" || len(c.Name) > 63 || !componentRE.MatchString(c.Name) {
			bad("%s: name is not valid", at)
		}
		if c.Description == "" || len(c.Description) > 256 {
			bad("%s: description must be 1-256 characters", at)
		}
		if c.Repotag == "" || len(c.Repotag) > 200 || !strings.Contains(c.Repotag, ":") {
			bad("%s: repotag must include an explicit tag", at)
		}
		if len(c.ContainerData) < 2 || len(c.ContainerData) > 200 {
			bad("%s: containerData must be 2-200 characters", at)
		} else if err := checkContainerData(c.ContainerData); err != "" {
			bad("%s: %s", at, err)
		}
		if c.Repoauth != "" && sp.Enterprise == "" {
			bad("Private repositories are only allowed for Enterprise Applications")
		}
		if len(c.Ports) != len(c.ContainerPorts) || len(c.Domains) != len(c.Ports) {
			bad("%s: ports, containerPorts and domains must have the same length", at)
		}
		for _, p := range c.Ports {
			if p < 1 || p > 65535 || banned(p) || seen[p] {
				bad("%s: port %d not allowed", at, p)
			}
			seen[p] = true
		}
		for _, p := range c.ContainerPorts {
			if p < 1 || p > 65535 {
				bad("%s: containerPort %d out of range", at, p)
			}
		}
		if c.CPU < 0.1 || c.CPU > 15 || math.Abs(c.CPU*10-math.Round(c.CPU*10)) > 1e-9 {
			bad("%s: cpu must be 0.1-15 in 0.1 steps", at)
		}
		if c.RAM < 100 || c.RAM > 59000 || c.RAM%100 != 0 {
			bad("%s: ram must be 100-59000 in 100 MB steps", at)
		}
		if c.HDD < 1 || c.HDD > 820 {
			bad("%s: hdd must be 1-820 GB", at)
		}
		if len(c.EnvironmentParameters) > 20 || len(c.Commands) > 20 {
			bad("%s: at most 20 environment parameters and commands", at)
		}
		for _, e := range c.EnvironmentParameters {
			if !strings.Contains(e, "=") {
				bad("%s: environment parameter %q must be KEY=value", at, e)
			}
		}
	}
	if sp.Instances < s.minInstances || sp.Instances > 100 {
		bad("instances must be %d-100", s.minInstances)
	}
	switch {
	case update && sp.Expire == 1:
	case sp.Expire < minBlocksAllowance || sp.Expire > maxBlocksAllowance || sp.Expire%blocksAllowanceInterval != 0:
		bad("expire must be %d-%d blocks in steps of %d", minBlocksAllowance, maxBlocksAllowance, blocksAllowanceInterval)
	}
	if len(sp.Contacts) > 5 || len(sp.Nodes) > 120 || len(sp.Geolocation) > 10 {
		bad("too many contacts, nodes or geolocation rules")
	}
	for _, g := range sp.Geolocation {
		if !geoRE.MatchString(g) {
			bad("geolocation %q is not valid", g)
		}
	}
	if strings.ContainsAny(string(stringify(sp)), "\u2028\u2029") || bytes.Contains(stringify(sp), []byte(`\u2028`)) || bytes.Contains(stringify(sp), []byte(`\u2029`)) {
		bad("U+2028/U+2029 are not supported by this fake")
	}
	if len(errs) > 0 {
		return apiMessage(strings.Join(errs, "; "))
	}
	return nil
}

// usd prices a spec the way Flux Cloud's USD table does (config/default.js
// usdprice, mirrored by the official client's pricing.ts): per-resource
// monthly rates, a third per instance, small-app and term discounts, a
// $0.99 floor for registrations.
func usd(sp fspec, floor float64) float64 {
	var cpu, ram, hdd float64
	for _, c := range sp.Compose {
		cpu, ram, hdd = cpu+c.CPU, ram+float64(c.RAM), hdd+float64(c.HDD)
	}
	total := cpu*0.15*10 + ram*0.05/100 + hdd*0.02
	price := ceil2(total / 3)
	if extra := float64(sp.Instances - 1); extra > 0 {
		if price < 0.5 && extra > 2 {
			price += extra * 0.5
		} else {
			price = (math.Ceil(price*extra*100) + math.Ceil(price*100)) / 100
		}
	}
	months := float64(sp.Expire) / 88000
	v := round2(price * months)
	if sp.Instances < 4 && cpu < 3 && ram < 6000 && hdd < 150 {
		v *= 0.8
	}
	switch {
	case months >= 9:
		v *= 0.88
	case months >= 6:
		v *= 0.94
	case months >= 3:
		v *= 0.97
	}
	return max(round2(v), floor)
}

func ceil2(v float64) float64  { return math.Ceil(v*100) / 100 }
func round2(v float64) float64 { return math.Round(v*100) / 100 }
