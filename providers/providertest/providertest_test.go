package providertest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/providertest"
)

// manual is a network without a public API: the suite's NotSupported
// branch must accept it as it is.
type manual struct{ cred providers.Credential }

var _ providers.Provider = (*manual)(nil)

func (*manual) Name() string { return "manual" }
func (*manual) Capabilities() providers.Capabilities {
	return providers.Capabilities{ManualOnly: true, Regions: []string{"eu"}}
}
func (*manual) Offers(context.Context, providers.Query) ([]providers.Offer, error) {
	return nil, fmt.Errorf("manual: offers: %w", providers.ErrNotSupported)
}
func (*manual) Launch(context.Context, providers.LaunchSpec) (providers.Lease, error) {
	return providers.Lease{}, fmt.Errorf("manual: launch: %w", providers.ErrNotSupported)
}
func (*manual) Status(context.Context, string) (providers.Status, error) {
	return providers.Status{}, fmt.Errorf("manual: status: %w", providers.ErrNotSupported)
}
func (*manual) Terminate(context.Context, string) error {
	return fmt.Errorf("manual: terminate: %w", providers.ErrNotSupported)
}

func TestManualOnly(t *testing.T) {
	const secret = "manual-secret-value-123"
	providertest.Run(t, providertest.Harness{
		Setup: func(t *testing.T) *providertest.Env {
			return &providertest.Env{
				Provider: &manual{cred: providers.NewCredential(secret)},
				Connect: func(s string) (providers.Provider, error) {
					if s == "" {
						return nil, errors.New("manual: no credential")
					}
					return &manual{cred: providers.NewCredential(s)}, nil
				},
				Secret: secret,
			}
		},
	})
}

func TestDefaultWorkload(t *testing.T) {
	w := providertest.DefaultWorkload(providers.Query{GPUModel: "A100", GPUCount: 2, MinVRAMMiB: 40960})
	if w.GPU == nil || w.GPU.Model != "A100" || w.GPU.Count != 2 || w.GPU.MinVRAM != 40960 || w.Image == "" {
		t.Errorf("DefaultWorkload = %+v", w)
	}
	if w := providertest.DefaultWorkload(providers.Query{}); w.GPU != nil {
		t.Errorf("DefaultWorkload without a GPU asks for one: %+v", w.GPU)
	}
}
