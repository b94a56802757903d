package fluxtest

import (
	"bytes"
	"testing"

	"github.com/aurora-federation/aurora/providers/flux/internal/btcmsg"
)

// validSpec is a v8 specification every constraint starts from.
func validSpec(t *testing.T) fspec {
	t.Helper()
	k, err := btcmsg.NewKey(bytes.Repeat([]byte{7}, 32), true)
	if err != nil {
		t.Fatal(err)
	}
	owner := k.Address()
	return fspec{
		Version: 8, Name: "aur-abcdefghijklmnop", Description: "Aurora workload", Owner: owner,
		Compose: []fcomp{{
			Name: "aurabcdefghijklmnop", Description: "Aurora workload", Repotag: "nginx:1.27",
			Ports: []int64{}, Domains: []string{}, EnvironmentParameters: []string{"K=V"}, Commands: []string{},
			ContainerPorts: []int64{}, ContainerData: "/data", CPU: 0.5, RAM: 1000, HDD: 5,
		}},
		Instances: 3, Contacts: []string{}, Geolocation: []string{"acEU"}, Expire: 88000, Nodes: []string{},
	}
}

func TestConstraintsEnforced(t *testing.T) {
	s := NewServer(Options{})
	if err := s.validate(validSpec(t), false); err != nil {
		t.Fatalf("the valid spec is refused: %v", err)
	}
	for _, c := range Constraints() {
		t.Run(c.Name, func(t *testing.T) {
			if c.Source == "" {
				t.Error("row cites no source")
			}
			sp := validSpec(t)
			c.Refuse(&sp)
			if err := s.validate(sp, false); err == nil {
				t.Errorf("the fake accepts a spec breaking %q (%s)", c.Name, c.Source)
			}
		})
	}
}
