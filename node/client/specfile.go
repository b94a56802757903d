package client

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// SpecFile is an order spec file (TOML): what `aurora order submit -f`
// reads. Every key is optional in a file that names a template (the
// template gives the rest); unknown keys are refused.
type SpecFile struct {
	// Template names a built-in template (Templates) the file starts from.
	Template string            `toml:"template"`
	Image    string            `toml:"image"`
	Cmd      []string          `toml:"cmd"`
	Env      map[string]string `toml:"env"`
	GPU      string            `toml:"gpu"`      // "A100:1"
	MinVRAM  int64             `toml:"min_vram"` // MiB per GPU
	CPU      int64             `toml:"cpu"`      // millicores
	Memory   int64             `toml:"memory"`   // MiB
	Disk     int64             `toml:"disk"`     // MiB
	Ports    []int64           `toml:"ports"`
	Duration string            `toml:"duration"` // "1h"
	Lifetime string            `toml:"lifetime"` // how long the order stays valid, "10m"
	Regions  []string          `toml:"regions"`
	// MaxPrice is USD per hour, "2.50/h".
	MaxPrice      string   `toml:"max_price"`
	MinReputation int64    `toml:"min_reputation"`
	Providers     []string `toml:"providers"`
}

// MaxSpecFile bounds a spec file.
const MaxSpecFile = 64 << 10

//go:embed templates/*.toml
var templateFS embed.FS

// Templates lists the built-in spec templates by name.
func Templates() []string {
	ents, _ := fs.ReadDir(templateFS, "templates")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".toml"))
	}
	return out
}

// SpecError names the key of a spec file, template or --set at fault.
type SpecError struct {
	Source string // the file name, "template NAME" or "--set"
	Key    string
	Reason string
}

func (e *SpecError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("order spec %s: %s", e.Source, e.Reason)
	}
	return fmt.Sprintf("order spec %s: %s: %s", e.Source, e.Key, e.Reason)
}

// LoadSpec builds an order spec from a template (template, or the file's
// template key; "" for none), the file (name, data; nil for none) and
// --set overrides ("key=value", applied in order; env.NAME=value sets one
// variable; lists are TOML arrays or comma-separated). Later sources
// override earlier ones key by key.
func LoadSpec(template, name string, data []byte, sets []string) (OrderSpec, error) {
	if len(data) > MaxSpecFile {
		return OrderSpec{}, &SpecError{Source: name, Reason: fmt.Sprintf("%d bytes, limit %d", len(data), MaxSpecFile)}
	}
	file := map[string]any{}
	if data != nil {
		if err := decodeStrict(name, data, &SpecFile{}); err != nil {
			return OrderSpec{}, err
		}
		if err := toml.Unmarshal(data, &file); err != nil {
			return OrderSpec{}, &SpecError{Source: name, Reason: err.Error()}
		}
	}
	if t, ok := file["template"].(string); ok && template == "" {
		template = t
	}
	merged := map[string]any{}
	if template != "" {
		tb, err := templateFS.ReadFile(path.Join("templates", template+".toml"))
		if err != nil {
			return OrderSpec{}, &SpecError{Source: "template", Key: "template", Reason: fmt.Sprintf("no template %q (have %s)", template, strings.Join(Templates(), ", "))}
		}
		if err := toml.Unmarshal(tb, &merged); err != nil {
			return OrderSpec{}, &SpecError{Source: "template " + template, Reason: err.Error()}
		}
	}
	overlay(merged, file)
	for _, s := range sets {
		if err := applySet(merged, s); err != nil {
			return OrderSpec{}, err
		}
	}
	delete(merged, "template")
	b, err := toml.Marshal(merged)
	if err != nil {
		return OrderSpec{}, &SpecError{Source: "--set", Reason: err.Error()}
	}
	var sf SpecFile
	if err := decodeStrict("--set", b, &sf); err != nil {
		return OrderSpec{}, err
	}
	return sf.orderSpec()
}

func overlay(dst, src map[string]any) {
	for k, v := range src {
		if sub, ok := v.(map[string]any); ok {
			if d, ok := dst[k].(map[string]any); ok {
				overlay(d, sub)
				continue
			}
			dst[k] = maps.Clone(sub)
			continue
		}
		dst[k] = v
	}
}

// setKinds are how --set parses each key's value.
var setKinds = map[string]string{
	"image": "string", "gpu": "string", "duration": "string", "lifetime": "string", "max_price": "string",
	"min_vram": "int", "cpu": "int", "memory": "int", "disk": "int", "min_reputation": "int",
	"cmd": "strings", "regions": "strings", "providers": "strings", "ports": "ints",
}

func applySet(m map[string]any, s string) error {
	key, value, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return &SpecError{Source: "--set", Key: s, Reason: "want key=value"}
	}
	if name, ok := strings.CutPrefix(key, "env."); ok {
		if name == "" {
			return &SpecError{Source: "--set", Key: key, Reason: "want env.NAME=value"}
		}
		env, _ := m["env"].(map[string]any)
		if env == nil {
			env = map[string]any{}
			m["env"] = env
		}
		env[name] = value
		return nil
	}
	kind, ok := setKinds[key]
	if !ok {
		keys := slices.Sorted(maps.Keys(setKinds))
		return &SpecError{Source: "--set", Key: key, Reason: "unknown key (have " + strings.Join(keys, ", ") + ", env.NAME)"}
	}
	if kind == "string" {
		m[key] = value
		return nil
	}
	// A TOML value (42, [1, 2], ["a"]) or, for lists, a comma list.
	var v struct{ V any }
	if strings.HasPrefix(value, "[") || kind == "int" {
		if err := toml.Unmarshal([]byte("V = "+value), &v); err != nil {
			return &SpecError{Source: "--set", Key: key, Reason: fmt.Sprintf("%q is not a %s", value, kind)}
		}
		m[key] = v.V
		return nil
	}
	var list []any
	for _, p := range strings.Split(value, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if kind == "ints" {
			if err := toml.Unmarshal([]byte("V = "+p), &v); err != nil {
				return &SpecError{Source: "--set", Key: key, Reason: fmt.Sprintf("%q is not a list of integers", value)}
			}
			list = append(list, v.V)
			continue
		}
		list = append(list, p)
	}
	if list == nil {
		list = []any{}
	}
	m[key] = list
	return nil
}

func decodeStrict(source string, data []byte, sf *SpecFile) error {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(sf); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) && len(strict.Errors) > 0 {
			return &SpecError{Source: source, Key: strings.Join(strict.Errors[0].Key(), "."), Reason: "unknown key"}
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			return &SpecError{Source: source, Key: strings.Join(de.Key(), "."), Reason: de.Error()}
		}
		return &SpecError{Source: source, Reason: err.Error()}
	}
	return nil
}

func (sf *SpecFile) orderSpec() (OrderSpec, error) {
	s := OrderSpec{Image: sf.Image, Cmd: sf.Cmd, Env: sf.Env, GPU: sf.GPU, MinVRAM: sf.MinVRAM, CPU: sf.CPU, Memory: sf.Memory, Disk: sf.Disk,
		Ports: sf.Ports, Regions: sf.Regions, MaxPrice: sf.MaxPrice, MinReputation: sf.MinReputation, Providers: sf.Providers}
	dur := func(key, v string, def time.Duration) (time.Duration, error) {
		if v == "" {
			return def, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, &SpecError{Source: "spec", Key: key, Reason: fmt.Sprintf("%q is not a positive duration like 1h", v)}
		}
		return d, nil
	}
	var err error
	if s.Duration, err = dur("duration", sf.Duration, time.Hour); err != nil {
		return OrderSpec{}, err
	}
	if s.Lifetime, err = dur("lifetime", sf.Lifetime, 10*time.Minute); err != nil {
		return OrderSpec{}, err
	}
	switch {
	case s.Image == "":
		return OrderSpec{}, &SpecError{Source: "spec", Key: "image", Reason: "required"}
	case s.MaxPrice == "":
		return OrderSpec{}, &SpecError{Source: "spec", Key: "max_price", Reason: "required"}
	}
	return s, nil
}
