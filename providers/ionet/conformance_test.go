package ionet_test

import (
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/providers/ionet"
	"github.com/aurora-federation/aurora/providers/ionet/ionettest"
	"github.com/aurora-federation/aurora/providers/providertest"
)

// start runs a fake for the test's lifetime.
func start(t *testing.T, opts ionettest.Options) *ionettest.Server {
	t.Helper()
	srv := ionettest.NewServer(opts)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func connect(srv *ionettest.Server, secret string, logs *providertest.LogBuffer) (*ionet.Client, error) {
	log, _ := providertest.NewLogger()
	if logs != nil {
		log = loggerInto(logs)
	}
	return ionet.New(ionet.Config{
		Credential: providers.NewCredential(secret),
		BaseURL:    srv.URL(),
		HTTP:       httpx.Config{Sleep: httpx.NoSleep, MaxAttempts: 4},
		Logger:     log,
	})
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		Setup: func(t *testing.T) *providertest.Env {
			srv := start(t, ionettest.Options{})
			_, logs := providertest.NewLogger()
			p, err := connect(srv, srv.APIKey(), logs)
			if err != nil {
				t.Fatal(err)
			}
			return &providertest.Env{
				Provider: p,
				Connect: func(secret string) (providers.Provider, error) {
					return connect(srv, secret, logs)
				},
				Fake:   srv,
				Secret: srv.APIKey(),
				Logs:   logs.String,
			}
		},
		Query: providers.Query{GPUModel: "NVIDIA H100", GPUCount: 2, Regions: []string{"us", "DE"}},
	})
}
