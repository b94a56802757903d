package flux_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/flux"
	"github.com/aurora-federation/aurora/providers/flux/fluxtest"
	"github.com/aurora-federation/aurora/treaty"
)

// Launching on Flux needs an on-chain payment. Without a payment hook the
// adapter still quotes, and says why it cannot launch; with one, the hook
// gets the message hash to pay.
func Example() {
	fake := fluxtest.NewServer(fluxtest.Options{})
	fake.Start()
	defer fake.Close()
	ctx := context.Background()
	w := treaty.Workload{Image: "nginx:1.27", CPU: 500, Memory: 1000, Disk: 5120, Duration: 3600}

	// In production: providers.LoadCredential(flux.CredentialEnv, "").
	key := providers.NewCredential(testWIF)
	quoteOnly, _ := flux.New(flux.Config{Credential: key, BaseURL: fake.URL()})
	_, err := quoteOnly.Launch(ctx, providers.LaunchSpec{JobID: "job-1", Workload: w})
	fmt.Println(errors.Is(err, providers.ErrNotSupported))

	pay := func(ctx context.Context, q flux.Quote) (string, error) {
		// A real hook sends q.FLUX to q.Address with q.Hash as OP_RETURN,
		// once per hash.
		fmt.Println("pay", q.Kind, q.AppName == providers.IdempotencyKey("job-1"), q.ExpireBlocks, "blocks to", q.Address)
		return fake.Pay(q.Hash, q.PayFLUX)
	}
	c, _ := flux.New(flux.Config{Credential: key, BaseURL: fake.URL(), Pay: pay})
	lease, err := c.Launch(ctx, providers.LaunchSpec{JobID: "job-1", Workload: w})
	if err != nil {
		panic(err)
	}
	fmt.Println(lease.State)
	// Output:
	// true
	// pay register true 5000 blocks to t3NryfAQLGeFs9jEoeqsxmBN2QLRaRKFLUX
	// pending
}
