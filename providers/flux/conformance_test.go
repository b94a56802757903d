package flux_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/flux"
	"github.com/aurora-federation/aurora/providers/flux/fluxtest"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
	"github.com/aurora-federation/aurora/providers/providertest"
)

// testWIF is a throwaway key (private key 3, compressed) for the fake.
const testWIF = "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU74sHUHy8S"

func start(t *testing.T, opts fluxtest.Options) *fluxtest.Server {
	t.Helper()
	srv := fluxtest.NewServer(opts)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// payer is a payment hook against the fake that honours Quote.Resumed: it
// pays a hash at most once, as a real wallet hook must.
func payer(srv *fluxtest.Server) flux.PayFunc {
	return func(ctx context.Context, q flux.Quote) (string, error) {
		if q.Resumed {
			if txid, ok := srv.Paid(q.Hash); ok {
				return txid, nil
			}
		}
		return srv.Pay(q.Hash, q.PayFLUX)
	}
}

func connect(srv *fluxtest.Server, secret string, pay flux.PayFunc, log *slog.Logger) (*flux.Client, error) {
	return flux.New(flux.Config{
		Credential: providers.NewCredential(secret),
		Pay:        pay,
		BaseURL:    srv.URL(),
		HTTP:       httpx.Config{Sleep: httpx.NoSleep, MaxAttempts: 4},
		Logger:     log,
	})
}

func harness(withPay bool) providertest.Harness {
	return providertest.Harness{
		Setup: func(t *testing.T) *providertest.Env {
			srv := start(t, fluxtest.Options{})
			var pay flux.PayFunc
			if withPay {
				pay = payer(srv)
			}
			log, logs := providertest.NewLogger()
			p, err := connect(srv, testWIF, pay, log)
			if err != nil {
				t.Fatal(err)
			}
			return &providertest.Env{
				Provider: p,
				Connect: func(secret string) (providers.Provider, error) {
					return connect(srv, secret, pay, log)
				},
				Fake:   srv,
				Secret: testWIF,
				Logs:   logs.String,
			}
		},
		Query:     providers.Query{CPUMillis: 500, MemoryMiB: 1000, DiskMiB: 5120, Regions: []string{"DE", "us"}},
		UnknownID: "aur-neverregistered",
	}
}

func TestConformance(t *testing.T) { providertest.Run(t, harness(true)) }

// Without a payment hook the adapter quotes but cannot launch.
func TestConformanceWithoutPayment(t *testing.T) { providertest.Run(t, harness(false)) }
