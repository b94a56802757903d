package rendertest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// create runs a create-job body through the fake's decoder and validation
// and reports whether it is accepted and whether an offer would take it.
func create(t *testing.T, s *Server, body map[string]any) (accepted, assigned bool, why string) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	var b createBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return false, false, err.Error()
	}
	if msg := validate(&b); msg != "" {
		return false, false, msg
	}
	j := &Job{CPUCount: b.CPUCount, GPUCount: b.GPUCount, GPUName: b.GPUName, GPURegistryUUID: b.GPURegistryUUID,
		MinRAMGB: b.MinRAMGB, MinStorageGB: b.MinStorageGB, MinVRAMGB: b.MinVRAMGB}
	s.mu.Lock()
	defer s.mu.Unlock()
	return true, s.matchLocked(j) != nil, ""
}

func TestConstraintsEnforced(t *testing.T) {
	s := NewServer(Options{})
	if ok, assigned, why := create(t, s, ValidJobBody()); !ok || !assigned {
		t.Fatalf("the valid body: accepted %v, assigned %v (%s)", ok, assigned, why)
	}
	for _, c := range Constraints() {
		t.Run(c.Name, func(t *testing.T) {
			if !strings.HasPrefix(c.Source, "Render Compute docs https://") {
				t.Errorf("row cites no source: %q", c.Source)
			}
			b := ValidJobBody()
			c.Refuse(b)
			ok, assigned, why := create(t, s, b)
			switch {
			case c.Unassigned && (!ok || assigned):
				t.Errorf("accepted %v (%s), assigned %v; want accepted and never assigned (%s)", ok, why, assigned, c.Source)
			case !c.Unassigned && ok:
				t.Errorf("the fake accepts a body breaking %q (%s)", c.Name, c.Source)
			}
		})
	}
}

func TestRegistryUUIDIsAUUID(t *testing.T) {
	for _, o := range DefaultOffers() {
		if u := RegistryUUID(o.GPUModel); !uuidRE.MatchString(u) || u == RegistryUUID(o.GPUModel+" ") {
			t.Errorf("RegistryUUID(%q) = %q", o.GPUModel, u)
		}
	}
}
