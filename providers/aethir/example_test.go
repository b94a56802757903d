package aethir_test

import (
	"context"
	"fmt"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/aethir"
)

func Example() {
	c, _ := aethir.New(aethir.Config{})
	fmt.Println(c.Capabilities().ManualOnly)
	_, err := c.Offers(context.Background(), providers.Query{GPUModel: "H100"})
	fmt.Println(err)
	// Output:
	// true
	// aethir: offers: Aethir has no public compute API; order GPUs by hand in the Aethir Cloud customer portal (https://app.aethir.com): providers: not supported
}
