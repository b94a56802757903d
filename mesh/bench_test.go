package mesh_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/mesh/meshtest"
	"github.com/aurora-federation/aurora/treaty"
)

// quantile returns the q-quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func benchPair(b *testing.B) (a, peer *meshtest.Node, id treaty.Link, orders [][]byte) {
	nodes := meshtest.Start(b, 2, meshtest.Options{Federation: "bench"})
	a, peer = nodes[0], nodes[1]
	id = meshtest.Activate(b, "bench", a, peer)
	client := meshtest.RandomKey(b)
	orders = make([][]byte, b.N+1)
	now := time.Now()
	for i := range orders {
		orders[i] = meshtest.Order(b, client, now)
	}
	// One warm-up exchange opens the connection's first streams.
	if _, err := a.Forward(b.Context(), peer.DID(), id, orders[b.N]); err != nil {
		b.Fatal(err)
	}
	return a, peer, id, orders
}

// BenchmarkForwardRTT: one order at a time A → B → B's signed Ack, on
// loopback. Reports the RTT distribution of the recorded samples.
func BenchmarkForwardRTT(b *testing.B) {
	a, peer, id, orders := benchPair(b)
	samples := make([]time.Duration, 0, b.N)
	ctx := b.Context()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := a.Forward(ctx, peer.DID(), id, orders[i]); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(ms(quantile(samples, 0.50)), "p50-ms")
	b.ReportMetric(ms(quantile(samples, 0.95)), "p95-ms")
	b.ReportMetric(ms(quantile(samples, 0.99)), "p99-ms")
}

// BenchmarkForwardThroughput: many concurrent forwards between two nodes.
func BenchmarkForwardThroughput(b *testing.B) {
	a, peer, id, orders := benchPair(b)
	var next atomic.Int64
	ctx := b.Context()
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Forward(ctx, peer.DID(), id, orders[next.Add(1)-1]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "orders/s")
}

// BenchmarkGossip30: 30 nodes on loopback in a sparse random topology;
// node 0 publishes 50 messages/s: anchors in one sub-benchmark, treaty
// proposals (a signature to verify and a book entry at every node) in the
// other. Reports the time for a message to reach all 29 other nodes (p50,
// p95: arrival at OnAnchor / OnTreaty) and the messages the tracer counted
// as dropped.
func BenchmarkGossip30(b *testing.B) {
	const n, rate = 30, 50
	var mu sync.Mutex
	arrivals := map[string][]time.Time{} // message → arrival at each node
	arrive := func(key string) {
		mu.Lock()
		defer mu.Unlock()
		arrivals[key] = append(arrivals[key], time.Now())
	}
	nodes := meshtest.Start(b, n, meshtest.Options{Federation: "gossip", Configure: func(i int, c *mesh.Config) {
		if i == 0 {
			return
		}
		c.OnAnchor = func(_ context.Context, _ treaty.DID, a *treaty.Anchor) error {
			arrive(a.Checkpoint)
			return nil
		}
		c.OnTreaty = func(info mesh.TreatyInfo) {
			if info.State == treaty.StateProposed {
				arrive(fmt.Sprint(info.Treaty.Seq))
			}
		}
	}})
	src := nodes[0]
	reached := func(key string) int {
		mu.Lock()
		defer mu.Unlock()
		return len(arrivals[key])
	}
	var seq, sizes atomic.Int64
	publishAnchor := func(log string, i int) (string, error) {
		a := &treaty.Anchor{V: treaty.Version, Origin: fmt.Sprintf("aurora/%s/%d", log, i%64), TSA: [][]byte{}}
		a.Checkpoint = fmt.Sprintf("%s\n%d\nAAAA\n\n— sig\n", a.Origin, sizes.Add(1))
		return a.Checkpoint, src.PublishAnchor(b.Context(), a)
	}
	publishTreaty := func(string, int) (string, error) {
		s := seq.Add(1)
		t := meshtest.Bilateral(b, "gossip", src.DID(), meshtest.RandomKey(b).DID(), map[string]string{"seq": fmt.Sprint(s)})
		_, err := src.Propose(b.Context(), t)
		return fmt.Sprint(s), err
	}
	// Warm up until the gossip meshes carry a message to everyone.
	warm := 0
	meshtest.WaitFor(b, 2*meshtest.Wait, "a warm-up message to reach every node", func() bool {
		key, err := publishAnchor("warm-up", warm)
		warm++
		if err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) && reached(key) < n-1 {
			time.Sleep(10 * time.Millisecond)
		}
		return reached(key) == n-1
	})
	dropped := func() float64 {
		var sum float64
		for _, nd := range nodes {
			sum += meshtest.Metric(b, nd.Registry, "aurora_pubsub_dropped_total", nil)
		}
		return sum
	}
	for _, kind := range []struct {
		name    string
		publish func(string, int) (string, error)
	}{{"anchor", publishAnchor}, {"treaty", publishTreaty}} {
		b.Run(kind.name, func(b *testing.B) {
			drops0 := dropped()
			keys := make([]string, b.N)
			sent := make([]time.Time, b.N)
			tick := time.NewTicker(time.Second / rate)
			defer tick.Stop()
			b.ResetTimer()
			for i := range b.N {
				<-tick.C
				sent[i] = time.Now()
				key, err := kind.publish("gossip", i)
				if err != nil {
					b.Fatal(err)
				}
				keys[i] = key
			}
			b.StopTimer()
			meshtest.WaitFor(b, 2*meshtest.Wait, "every message at every node", func() bool {
				for _, k := range keys {
					if reached(k) < n-1 {
						return false
					}
				}
				return true
			})
			toAll := make([]time.Duration, b.N)
			mu.Lock()
			for i, k := range keys {
				toAll[i] = slices.MaxFunc(arrivals[k], time.Time.Compare).Sub(sent[i])
			}
			mu.Unlock()
			slices.Sort(toAll)
			b.ReportMetric(ms(quantile(toAll, 0.50)), "to-all-p50-ms")
			b.ReportMetric(ms(quantile(toAll, 0.95)), "to-all-p95-ms")
			b.ReportMetric(dropped()-drops0, "drops")
		})
	}
}

// BenchmarkIdleNodeMemory: heap in use per additional idle node (10 nodes
// connected in a sparse topology, after GC).
func BenchmarkIdleNodeMemory(b *testing.B) {
	const n = 10
	var perNode, stackPerNode float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		nodes := meshtest.Start(b, n, meshtest.Options{Federation: "idle"})
		meshtest.WaitFor(b, meshtest.Wait, "every node connected", func() bool {
			for _, nd := range nodes {
				if len(nd.Host().Network().Peers()) == 0 {
					return false
				}
			}
			return true
		})
		runtime.GC()
		runtime.ReadMemStats(&after)
		perNode = float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / n / (1 << 20)
		stackPerNode = float64(int64(after.StackInuse)-int64(before.StackInuse)) / n / (1 << 20)
		for _, nd := range nodes {
			nd.Close()
		}
	}
	b.ReportMetric(perNode, "MB/node")
	b.ReportMetric(stackPerNode, "stack-MB/node")
}
