package ionet_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/ionet"
	"github.com/aurora-federation/aurora/providers/ionet/ionettest"
)

// Quote two RTX 4090s for 90 minutes against the fake: io.net sells whole
// prepaid hours, so the offer is for two hours and says so.
func Example() {
	fake := ionettest.NewServer(ionettest.Options{})
	fake.Start()
	defer fake.Close()

	// In production: providers.LoadCredential(ionet.CredentialEnv, "").
	c, err := ionet.New(ionet.Config{Credential: providers.NewCredential(fake.APIKey()), BaseURL: fake.URL()})
	if err != nil {
		panic(err)
	}
	offers, err := c.Offers(context.Background(), providers.Query{
		GPUModel: "RTX 4090", GPUCount: 2, Regions: []string{"US"}, Duration: 90 * time.Minute,
	})
	if err != nil {
		panic(err)
	}
	o := offers[0]
	fmt.Println(o.ID, o.GPUModel, o.Region, o.PricePerHour)
	fmt.Println(o.Raw.Amount, o.Raw.Unit)
	// Output:
	// 9:11:2 RTX 4090 US $0.7000
	// 1.400000 usdc total for 2 prepaid hours (duration 1h30m0s rounded up to whole hours)
}
