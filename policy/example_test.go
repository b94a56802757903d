package policy_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/treaty"
)

func Example() {
	ctx := context.Background()
	e, err := policy.New(policy.Config{DefaultDeadline: 500 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer e.Close(ctx)
	std, err := e.LoadStd(ctx)
	if err != nil {
		panic(err)
	}
	// The law of an EU-only treaty lane with 64 orders in flight at most.
	params := policy.StdParams{AllowedRegions: []string{"eu-central", "eu-west"}, MinProviderReputation: 700, MaxInflight: 64}

	now := time.Unix(1795564800, 0)
	order := &treaty.Order{Created: now.Unix() - 10, Expires: now.Unix() + 600,
		Constraints: treaty.Constraints{Regions: []string{"us-east"}}}
	f := policy.FactsFromOrder(order, now) // the order's own facts...
	f.NonceFresh = true                    // ...and the node's
	f.ProviderReputation = 650
	f.InflightUsed = 12

	out := make([]policy.Decision, 1)
	if err := e.Eval(ctx, std, params.Encode(), []policy.Facts{f}, out); err != nil {
		panic(err)
	}
	fmt.Println(out[0].Allowed(), out[0].Reasons)
	// Output: false [region_not_allowed reputation_too_low]
}
