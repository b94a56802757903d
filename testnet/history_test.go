package testnet

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/treaty"
)

// TestCrossAnchoringWithLongHistory: with the fetch limit lowered to 96
// blocks, a federation runs for many epochs with orders in each. Fetching
// a peer's whole history (what cross-anchoring once did) passes that limit
// after a few epochs; fetching each epoch alone never does, so every node
// keeps cross-anchoring its peers to the end and no anchor is dropped.
func TestCrossAnchoringWithLongHistory(t *testing.T) {
	epochs := 40
	if testing.Short() {
		epochs = 25
	}
	const epoch = 250 * time.Millisecond
	tn, err := Start(t.Context(), Config{Nodes: 3, Dir: t.TempDir(), SimFailure: 0.0001, Epoch: epoch,
		Configure: func(_ int, c *node.Config) { c.Provenance.MaxFetchBlocks = 96 }})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := tn.ExchangeTreaties(ctx, treaty.TemplateBilateral, nil); err != nil {
		t.Fatal(err)
	}
	okAt := func() float64 {
		return testutil.ToFloat64(tn.Nodes[0].Metrics().AnchorFetches.WithLabelValues("ok"))
	}
	var mid float64
	for e := range epochs {
		for i, n := range tn.Nodes {
			o, err := client.BuildOrder(tn.Client, client.OrderSpec{Image: "x:1", GPU: "A100:1", MaxPrice: "3/h", Regions: n.Regions}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tn.Nodes[i].API.Submit(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		if e == epochs/2 {
			mid = okAt()
		}
		time.Sleep(epoch)
	}
	time.Sleep(4 * epoch)
	end := okAt()
	m := tn.Nodes[0].Metrics().AnchorFetches
	dropped, mismatch := testutil.ToFloat64(m.WithLabelValues("dropped")), testutil.ToFloat64(m.WithLabelValues("mismatch"))
	t.Logf("node0 fetched %.0f peer epochs (%.0f in the second half); %.0f retries, %.0f dropped, %.0f mismatched",
		end, end-mid, testutil.ToFloat64(m.WithLabelValues("failed")), dropped, mismatch)
	if end-mid < float64(epochs/2) {
		t.Errorf("only %.0f peer epochs fetched in the last %d epochs: cross-anchoring stalled as history grew", end-mid, epochs/2)
	}
	if dropped > 0 || mismatch > 0 {
		t.Errorf("%.0f anchors dropped, %.0f mismatched", dropped, mismatch)
	}
}
