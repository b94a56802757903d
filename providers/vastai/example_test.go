package vastai_test

import (
	"context"
	"fmt"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/vastai"
	"github.com/aurora-federation/aurora/providers/vastai/vastaitest"
	"github.com/aurora-federation/aurora/treaty"
)

// Example searches offers and rents the cheapest one on the fake Vast.ai
// API; against the real one, leave BaseURL empty and load the key with
// providers.LoadCredential("VAST_API_KEY", "").
func Example() {
	fake := vastaitest.NewServer(vastaitest.Options{})
	defer fake.Close()
	client, err := vastai.New(vastai.Config{
		BaseURL:    fake.Start(),
		Credential: providers.NewCredential(vastaitest.DefaultAPIKey),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	q := providers.Query{GPUModel: "RTX 4090", GPUCount: 1, Regions: []string{"us-west", "us-central"}, MaxPricePerHour: 500_000}
	offers, err := client.Offers(ctx, q)
	if err != nil {
		panic(err)
	}
	for _, o := range offers {
		fmt.Println(o.ID, o.Region, o.Country, o.PricePerHour, o.Raw.Amount, o.Raw.Unit)
	}
	job := "job-42"
	lease, err := client.Launch(ctx, providers.LaunchSpec{
		JobID: job, IdempotencyKey: providers.IdempotencyKey(job), Offer: offers[0],
		Workload: vastaitestWorkload(),
	})
	if err != nil {
		panic(err)
	}
	st, _ := client.Status(ctx, lease.ID)
	fmt.Println("instance", lease.ID, st.State)
	// Output:
	// 7001001 us-west US $0.3500 0.35 usd/hour
	// 7001002 us-central US $0.4200 0.42 usd/hour
	// instance 21000001 pending
}

func vastaitestWorkload() (w treaty.Workload) {
	w.Image = "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime"
	w.Cmd = []string{"python", "train.py"}
	return w
}
