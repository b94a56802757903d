package render_test

import (
	"log/slog"
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/providers/providertest"
	"github.com/aurora-federation/aurora/providers/render"
	"github.com/aurora-federation/aurora/providers/render/rendertest"
)

func start(t *testing.T, opts rendertest.Options) *rendertest.Server {
	t.Helper()
	srv := rendertest.NewServer(opts)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func connect(srv *rendertest.Server, secret string, log *slog.Logger) (*render.Client, error) {
	return render.New(render.Config{
		PublicKey:  srv.PublicKey(),
		Credential: providers.NewCredential(secret),
		BaseURL:    srv.URL(),
		HTTP:       httpx.Config{Sleep: httpx.NoSleep, MaxAttempts: 4},
		Logger:     log,
	})
}

func TestConformance(t *testing.T) {
	q := providers.Query{GPUModel: "RTX 4090", GPUCount: 1, MinVRAMMiB: 16 << 10, Regions: []string{"us-west-2", "us-east-1"}}
	w := providertest.DefaultWorkload(q)
	// The documented job schema has no command field (see the package
	// documentation); the conformance workload relies on its image's
	// entrypoint.
	w.Cmd = nil
	providertest.Run(t, providertest.Harness{
		Setup: func(t *testing.T) *providertest.Env {
			srv := start(t, rendertest.Options{})
			log, logs := providertest.NewLogger()
			p, err := connect(srv, srv.SecretKey(), log)
			if err != nil {
				t.Fatal(err)
			}
			return &providertest.Env{
				Provider: p,
				Connect: func(secret string) (providers.Provider, error) {
					return connect(srv, secret, log)
				},
				Fake:   srv,
				Secret: srv.SecretKey(),
				Logs:   logs.String,
			}
		},
		Query:    q,
		Workload: &w,
	})
}
