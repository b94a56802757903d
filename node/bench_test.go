package node_test

import (
	"bytes"
	"context"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/treaty"
)

// benchNode starts a node with zero-latency, never-failing sim providers.
func benchNode(b *testing.B) *testNode {
	b.Helper()
	cfg := newConfig()
	cfg.Log.Level = "error"
	home := b.TempDir()
	if _, err := node.InitHome(home, cfg, false, nil); err != nil {
		b.Fatal(err)
	}
	n, err := node.New(context.Background(), node.Options{Home: home, Config: cfg, PolicyCacheDir: policyCache, APIListener: mustListen(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close(context.Background()) })
	return &testNode{home: home, cfg: cfg, n: n, api: client.New("http://"+n.APIAddr(), "")}
}

// signedOrders pre-signs n orders from a few clients (client-side signing
// is not the node's cost).
func signedOrders(b *testing.B, n int) []*treaty.Order {
	b.Helper()
	keys := make([]*treaty.PrivateKey, 8)
	for i := range keys {
		k, err := treaty.GenerateKey(nil)
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = k
	}
	out := make([]*treaty.Order, n)
	now := time.Now()
	for i := range out {
		o, err := client.BuildOrder(keys[i%len(keys)], spec(), now)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = o
	}
	return out
}

// BenchmarkPipelineInProcess pushes orders through the order core without
// HTTP — verify, idempotency, judge, plan, signed Ack, durable job + leaf —
// from 128 concurrent submitters, and counts an order only once its job is
// running (the launch, its transition leaf and commit included), so the
// figure is a sustained rate: a launch queue that fills fails the run.
// cpu_us/order is the process's CPU time per order (user + system), which
// a loaded machine changes far less than the wall-clock rate.
func BenchmarkPipelineInProcess(b *testing.B) {
	tn := benchNode(b)
	orders := signedOrders(b, b.N)
	p := tn.n.Core()
	var next atomic.Int64
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	b.SetParallelism(64)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			o := orders[next.Add(1)-1]
			r, err := p.Submit(context.Background(), o)
			if err != nil || r.Ack == nil {
				if r != nil && r.Denial != nil {
					b.Errorf("denied: %v", r.Denial.Reasons)
				} else {
					b.Errorf("submit: %v", err)
				}
				return
			}
		}
	})
	for p.SlotsUsed() > 0 {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "orders/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu_us/order")
	b.ReportMetric(rate/ed25519Floor(b), "ed25519_floor_fraction")
}

// cpuTime is the process's CPU time so far (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHTTPThroughput posts dag-cbor orders over HTTP from 32
// concurrent clients.
func BenchmarkHTTPThroughput(b *testing.B) {
	tn := benchNode(b)
	bodies := encodeAll(b, signedOrders(b, b.N))
	url := "http://" + tn.n.APIAddr() + "/v1/orders"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := postOrder(hc, url, bodies[next.Add(1)-1]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "orders/s")
}

// BenchmarkHTTPAckLatency offers orders at a fixed 1,000 orders/s and
// reports the Ack latency distribution.
func BenchmarkHTTPAckLatency(b *testing.B) {
	tn := benchNode(b)
	bodies := encodeAll(b, signedOrders(b, b.N))
	url := "http://" + tn.n.APIAddr() + "/v1/orders"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Millisecond) // 1,000 orders/s
	defer tick.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := time.Now()
			if err := postOrder(hc, url, bodies[i]); err != nil {
				b.Error(err)
			}
			lat[i] = time.Since(s)
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func encodeAll(b *testing.B, os []*treaty.Order) [][]byte {
	out := make([][]byte, len(os))
	for i, o := range os {
		e, err := treaty.Encode(o)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = e
	}
	return out
}

func postOrder(hc *http.Client, url string, body []byte) error {
	resp, err := hc.Post(url, "application/vnd.ipld.dag-cbor", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(buf.Bytes(), []byte(`"result":"ack"`)) {
		return &client.APIError{Status: resp.StatusCode, Message: buf.String()}
	}
	return nil
}

// BenchmarkEd25519Floor is the machine's floor for the order path: one
// verify (the client's order) and one sign (our Ack) per order, on every
// core. BenchmarkPipelineInProcess reports its throughput as a fraction of
// this floor measured in the same run (ed25519_floor_fraction).
func BenchmarkEd25519Floor(b *testing.B) {
	b.ReportMetric(ed25519Floor(b), "orders/s")
}

// ed25519Floor measures verify+sign pairs per second across GOMAXPROCS
// goroutines for about 300 ms.
func ed25519Floor(tb testing.TB) float64 {
	k, err := treaty.GenerateKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	o, err := client.BuildOrder(k, spec(), time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	var n atomic.Int64
	deadline := time.Now().Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			oc := *o
			for time.Now().Before(deadline) {
				if err := treaty.Verify(&oc); err != nil {
					tb.Error(err)
					return
				}
				if err := treaty.Sign(&oc, k); err != nil {
					tb.Error(err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}
