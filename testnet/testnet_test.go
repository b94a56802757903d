package testnet

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/treaty"
)

// TestFederationForwards: a 3-node testnet exchanges treaties over gossip;
// an order for a region only node1 serves, submitted to node0, is forwarded:
// node0's Ack carries node1's signed Ack in its via chain, and node1 runs
// the job.
func TestFederationForwards(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	tn, err := Start(t.Context(), Config{Nodes: 3, Dir: t.TempDir(), SimFailure: 0.0001, Epoch: 500 * time.Millisecond, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if err := tn.ExchangeTreaties(ctx, treaty.TemplateBilateral, nil); err != nil {
		t.Fatal(err)
	}
	o, err := client.BuildOrder(tn.Client, client.OrderSpec{Image: "x:1", GPU: "A100:1", Regions: tn.Nodes[1].Regions, MaxPrice: "3/h"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := tn.Nodes[0].API.Submit(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Result != "ack" {
		t.Fatalf("result %s: %s", r.Result, r.Record)
	}
	var ack treaty.Ack
	if err := treaty.DecodeJSON(r.Record, &ack); err != nil {
		t.Fatal(err)
	}
	if ack.Route.Kind != treaty.RoutePeer || ack.Route.Name != string(tn.Nodes[1].Identity().DID) || len(ack.Via) != 1 {
		t.Fatalf("ack route %+v via %d hops: want forwarded to node1", ack.Route, len(ack.Via))
	}
	var peerAck treaty.Ack
	if err := treaty.Decode(ack.Via[0].Ack, &peerAck); err != nil {
		t.Fatal(err)
	}
	if err := treaty.Verify(&peerAck); err != nil || peerAck.Operator != tn.Nodes[1].Identity().DID || !peerAck.Order.Equals(ack.Order.Cid) {
		t.Fatalf("peer ack in the via chain: %v %+v", err, peerAck)
	}
	j, err := tn.Nodes[1].API.WaitSettled(ctx, peerAck.Job)
	if err != nil || j.Status != treaty.StatusRunning {
		t.Fatalf("job on node1: %v %+v", err, j)
	}
	// node1 counts the fill of node0's lane.
	fams, err := tn.Nodes[1].Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	filled := 0.0
	for _, f := range fams {
		if f.GetName() == "aurora_treaty_orders_filled_total" {
			for _, m := range f.GetMetric() {
				filled += m.GetCounter().GetValue()
			}
		}
	}
	if filled < 1 {
		t.Errorf("aurora_treaty_orders_filled_total on node1 is %g after a forwarded job ran there", filled)
	}
	// One trace spans both nodes: node1's span for the forwarded order has
	// node0's forward span as its parent.
	var origin, forwarded sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		job := ""
		for _, kv := range s.Attributes() {
			if kv.Key == "aurora.job" {
				job = kv.Value.AsString()
			}
		}
		switch {
		case s.Name() == "aurora.order" && job == ack.Job:
			origin = s
		case s.Name() == "aurora.order.forwarded" && job == peerAck.Job:
			forwarded = s
		}
	}
	if origin == nil || forwarded == nil {
		t.Fatalf("spans missing: origin %v, forwarded %v", origin != nil, forwarded != nil)
	}
	if forwarded.SpanContext().TraceID() != origin.SpanContext().TraceID() || !forwarded.Parent().IsRemote() {
		t.Fatalf("forwarded span is not in the origin's trace: %s vs %s", forwarded.SpanContext().TraceID(), origin.SpanContext().TraceID())
	}

	// The metrics contract: every family the dashboard and the alert rules
	// use (ops/metrics.txt) is exported by a running federation.
	checkMetricsContract(t, tn)

	// An order for a region no node serves is denied, signed by node0.
	o2, _ := client.BuildOrder(tn.Client, client.OrderSpec{Image: "x:1", GPU: "A100:1", Regions: []string{"sa-east"}, MaxPrice: "3/h"}, time.Now())
	if r2, err := tn.Nodes[0].API.Submit(ctx, o2); err != nil || r2.Result != "denial" {
		t.Fatalf("unservable order: %v %+v", err, r2)
	}
}

// checkMetricsContract scrapes every node and requires each family listed in
// ops/metrics.txt. Vector families appear once they have a series: by now
// the federation has launched, forwarded and closed epochs. The drop counter
// only has series once gossip dropped something, so its absence is allowed.
// onlyOnEvent are the families of ops/metrics.txt that a healthy
// federation does not export until something happens or is configured:
// their label sets are open (a stranger's refusal names its protocol and
// reason), or they exist only with [[provenance.external_witnesses]].
// node.TestMetricsListed still checks that a node registers them.
var onlyOnEvent = map[string]bool{
	"aurora_pubsub_dropped_total":                             true,
	"aurora_mesh_refused_total":                               true,
	"aurora_external_witness_requests_total":                  true,
	"aurora_external_witness_last_cosigned_timestamp_seconds": true,
}

func checkMetricsContract(t *testing.T, tn *Testnet) {
	t.Helper()
	raw, err := os.ReadFile("../ops/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	var bases []string
	for _, n := range tn.Nodes {
		bases = append(bases, n.API.Base)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		fams, err := Scrape(t.Context(), bases)
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for _, name := range strings.Fields(string(raw)) {
			found := false
			for _, f := range fams {
				if _, ok := f[name]; ok {
					found = true
				}
			}
			if !found && !onlyOnEvent[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("families in ops/metrics.txt not exported by a running federation: %v", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
