package aethir_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/aethir"
	"github.com/aurora-federation/aurora/providers/providertest"
)

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		Setup: func(t *testing.T) *providertest.Env {
			log, logs := providertest.NewLogger()
			p, err := aethir.New(aethir.Config{Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			return &providertest.Env{
				Provider: p,
				Connect: func(string) (providers.Provider, error) {
					return aethir.New(aethir.Config{Logger: log})
				},
				// Aethir takes no credential; this value is never given to
				// the adapter, so the secret checks hold trivially.
				Secret: "aethir-has-no-credential",
				Logs:   logs.String,
			}
		},
		Query: providers.Query{GPUModel: "H100", GPUCount: 8},
	})
}

func TestEveryCallIsAnHonestRefusal(t *testing.T) {
	c, err := aethir.New(aethir.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if caps := c.Capabilities(); !caps.ManualOnly || caps.Offers || caps.Launch || caps.Terminate {
		t.Errorf("Capabilities = %+v, want ManualOnly only", caps)
	}
	ctx := context.Background()
	_, e1 := c.Offers(ctx, providers.Query{})
	_, e2 := c.Launch(ctx, providers.LaunchSpec{})
	_, e3 := c.Status(ctx, "order-1")
	e4 := c.Terminate(ctx, "order-1")
	for i, err := range []error{e1, e2, e3, e4} {
		if !errors.Is(err, providers.ErrNotSupported) || !strings.Contains(err.Error(), "no public compute API") || !strings.Contains(err.Error(), aethir.PortalURL) {
			t.Errorf("call %d: %v, want ErrNotSupported naming the portal", i, err)
		}
	}
}
