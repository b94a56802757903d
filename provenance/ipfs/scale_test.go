package ipfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aurora-federation/aurora/node/store"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/ipfs"
	"github.com/aurora-federation/aurora/treaty"
)

const scaleOrigin = "aurora/scale/12D3KooWScaleNodeA"

// realNode is a log, its epochs and the real pinner (boxo on badger through
// node/store), as the node wires them.
type realNode struct {
	db   *store.DB
	host host.Host
	log  *provenance.Log
	ipfs *ipfs.Node
	ep   *provenance.Epochs
	reg  *prometheus.Registry
	// failPin makes the Pin hook fail for that epoch while set.
	failPin atomic.Uint64
	// pinTime accumulates the time spent in PinEpochInfo.
	pinTime atomic.Int64
}

func openBadger(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(store.Config{Dir: tb.TempDir(), GCInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func newRealNode(tb testing.TB, allow *members) *realNode {
	tb.Helper()
	ctx := context.Background()
	n := &realNode{db: openBadger(tb), host: newHost(tb), reg: prometheus.NewRegistry()}
	key, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	if n.log, err = provenance.OpenLog(ctx, n.db.Namespace("provenance"), provenance.LogConfig{Origin: scaleOrigin, Key: key}); err != nil {
		tb.Fatal(err)
	}
	var allowFn func(peer.ID) bool
	if allow != nil {
		allow.Add(n.host.ID())
		allowFn = allow.Allow
	}
	n.ipfs = newNodeOn(tb, n.host, n.db.Namespace("ipfs"), allowFn)
	n.ep, err = provenance.NewEpochs(ctx, provenance.EpochsConfig{
		Log: n.log, Interval: time.Hour, PinRetry: 10 * time.Millisecond, Registerer: n.reg,
		Pin: func(ctx context.Context, e provenance.EpochInfo) (string, error) {
			if n.failPin.Load() == e.Epoch {
				return "", errors.New("injected pin failure")
			}
			t0 := time.Now()
			defer func() { n.pinTime.Add(int64(time.Since(t0))) }()
			return n.ipfs.PinEpochInfo(ctx, e)
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.ep.Close() })
	return n
}

// scaleLeaf is the leaf of job i: a job record like the node's (about 400
// bytes), linking its order and ack blocks, which the node stores.
func scaleLeaf(tb testing.TB, i int, order, ack cid.Cid) []byte {
	tb.Helper()
	rec := &treaty.JobRecord{
		V: treaty.Version, Job: fmt.Sprintf("job-%08d", i),
		Order: treaty.LinkTo(order), Ack: treaty.LinkTo(ack),
		Operator: scaleDID(tb, 7), Client: scaleDID(tb, 8),
		Route: treaty.Route{Kind: treaty.RouteProvider, Name: "sim"}, Price: 1_200_000, Lease: fmt.Sprintf("lease-%d", i),
		Transitions: []treaty.Transition{{Status: treaty.StatusAccepted, At: 1_780_000_000}, {Status: treaty.StatusRunning, At: 1_780_000_003, Detail: "lease up"}},
	}
	b, err := treaty.Encode(&treaty.LogEntry{Job: rec})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var didCache sync.Map

func scaleDID(tb testing.TB, label byte) treaty.DID {
	if d, ok := didCache.Load(label); ok {
		return d.(treaty.DID)
	}
	k, err := treaty.NewKeyFromSeed(bytes.Repeat([]byte{label}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	didCache.Store(label, k.DID())
	return k.DID()
}

// appendJobs appends k job leaves numbered from first through AppendEach,
// storing their order and ack blocks (every 64 jobs share a pair, as a
// stand-in for the node's per-job blocks without doubling the test's
// blocks).
func (n *realNode) appendJobs(tb testing.TB, first, k int) {
	tb.Helper()
	ctx := context.Background()
	const chunk = 20_000
	for off := 0; off < k; off += chunk {
		m := min(chunk, k-off)
		leaves := make([][]byte, m)
		var order, ack cid.Cid
		for j := range m {
			i := first + off + j
			if i%64 == 0 || j == 0 {
				var err error
				if order, err = n.ipfs.Put(ctx, scaleBlock(tb, "order", i), cid.DagCBOR); err != nil {
					tb.Fatal(err)
				}
				if ack, err = n.ipfs.Put(ctx, scaleBlock(tb, "ack", i), cid.DagCBOR); err != nil {
					tb.Fatal(err)
				}
			}
			leaves[j] = scaleLeaf(tb, i, order, ack)
		}
		res, err := n.log.AppendEach(ctx, leaves)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				tb.Fatal(r.Err)
			}
		}
	}
}

func scaleBlock(tb testing.TB, kind string, i int) []byte {
	tb.Helper()
	em, err := cbor.EncOptions{Sort: cbor.SortLengthFirst}.EncMode()
	if err != nil {
		tb.Fatal(err)
	}
	b, err := em.Marshal(map[string]any{"kind": kind, "i": i})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// resolve follows ROOT/records/d_h/…/d_0 for record i, as a third party's
// `ipfs dag get` would, decoding chunks as plain dag-cbor lists of links.
func resolve(tb testing.TB, n *ipfs.Node, root cid.Cid, i uint64) cid.Cid {
	tb.Helper()
	ctx := context.Background()
	r, err := n.GetEpochRoot(ctx, root)
	if err != nil {
		tb.Fatal(err)
	}
	list := make([]cid.Cid, len(r.Records))
	for k, l := range r.Records {
		list[k] = l.Cid
	}
	for k := int(r.Height); ; k-- {
		sp := uint64(1)
		for range k {
			sp *= ipfs.Fanout
		}
		d := i / sp
		if k < int(r.Height) {
			d %= ipfs.Fanout
		}
		if k == 0 {
			return list[d]
		}
		b, err := n.Get(ctx, list[d])
		if err != nil {
			tb.Fatal(err)
		}
		var links []treaty.Link
		if err := cbor.Unmarshal(b, &links); err != nil {
			tb.Fatalf("chunk %s: %v", list[d], err)
		}
		list = list[:0]
		for _, l := range links {
			list = append(list, l.Cid)
		}
	}
}

func counter(tb testing.TB, reg *prometheus.Registry, name, label string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || labelIs(m, label) {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func labelIs(m *dto.Metric, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetValue() == v {
			return true
		}
	}
	return false
}

// TestEpochScaleRealPinner is issue 12's scale test on the real pinner
// (boxo on badger): an epoch of 200,000 leaves (20,000 under -short) closes
// and pins, a second member fetches it over bitswap on loopback and can
// resolve any record by path, and later epochs close; a forced failure of
// one epoch's pin does not stop the next checkpoint, and the background
// retry pins both in order once the failure clears.
func TestEpochScaleRealPinner(t *testing.T) {
	leaves := 200_000
	if testing.Short() {
		leaves = 20_000
	}
	ctx := t.Context()
	allow := newMembers()
	a := newRealNode(t, allow)
	b := newRealNode(t, allow)
	connect(t, a.host, b.host)

	start := time.Now()
	a.appendJobs(t, 0, leaves)
	t.Logf("appended %d leaves in %v", leaves, time.Since(start))
	start = time.Now()
	st, err := a.ep.CloseEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("epoch 1 (%d leaves) closed and pinned in %v", leaves, time.Since(start))
	if !st.Pinned || st.Root == "" || st.End != uint64(leaves) || st.Jobs != uint64(leaves) {
		t.Fatalf("epoch 1 %+v", st)
	}
	root1, err := cid.Decode(st.Root)
	if err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	fctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	er, err := b.ipfs.FetchEpoch(fctx, root1, ipfs.FetchOptions{Origin: scaleOrigin})
	cancel()
	if err != nil {
		t.Fatalf("peer FetchEpoch: %v", err)
	}
	t.Logf("peer fetched epoch 1 (%d records) in %v", er.Count, time.Since(start))
	if er.Count != uint64(leaves) || er.Height != 1 || er.Note() != string(st.Checkpoint) {
		t.Fatalf("fetched root: count %d height %d", er.Count, er.Height)
	}
	for _, i := range []uint64{0, 1, ipfs.Fanout - 1, ipfs.Fanout, uint64(leaves) / 2, uint64(leaves) - 1} {
		leaf, err := a.log.Leaf(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if got := resolve(t, b.ipfs, root1, i); got != treaty.CIDOf(leaf) {
			t.Fatalf("record %d resolves to %s on the peer, want %s", i, got, treaty.CIDOf(leaf))
		}
	}

	// Epoch 2's pin fails; epoch 3's checkpoint is signed anyway.
	a.failPin.Store(2)
	a.appendJobs(t, leaves, 100)
	st2, err := a.ep.CloseEpoch(ctx)
	if err != nil || st2.Epoch != 2 || st2.Pinned {
		t.Fatalf("epoch 2 with a failing pin: %+v, %v", st2, err)
	}
	a.appendJobs(t, leaves+100, 100)
	st3, err := a.ep.CloseEpoch(ctx)
	if err != nil || st3.Epoch != 3 || st3.Checkpoint == nil || st3.Pinned {
		t.Fatalf("epoch 3 behind a failing pin: %+v, %v", st3, err)
	}
	if got := counter(t, a.reg, "aurora_epoch_step_failures_total", "pin"); got < 1 {
		t.Fatalf("pin failures counted: %v", got)
	}
	if got := counter(t, a.reg, "aurora_epoch_pin_backlog", ""); got != 2 {
		t.Fatalf("pin backlog %v, want 2", got)
	}
	a.failPin.Store(0)
	var s2, s3 provenance.EpochStatus
	waitFor(t, "the background retry to pin epochs 2 and 3", func() bool {
		s2, _ = a.ep.Epoch(ctx, 2)
		s3, _ = a.ep.Epoch(ctx, 3)
		return s2.Pinned && s3.Pinned
	})
	root3, _ := cid.Decode(s3.Root)
	r3, err := a.ipfs.GetEpochRoot(ctx, root3)
	if err != nil || r3.PrevCID().String() != s2.Root {
		t.Fatalf("epoch 3 root links %v, epoch 2's root is %s: %v", r3.PrevCID(), s2.Root, err)
	}
	// The peer moves to epoch 3 without walking the history.
	if _, err := b.ipfs.FetchEpoch(ctx, root3, ipfs.FetchOptions{Prev: root1, Origin: scaleOrigin}); err != nil {
		t.Fatal(err)
	}
	a.appendJobs(t, leaves+200, 10)
	if st4, err := a.ep.CloseEpoch(ctx); err != nil || st4.Epoch != 4 || !st4.Pinned {
		t.Fatalf("epoch 4: %+v, %v", st4, err)
	}
}

// TestFetchEpochLimits: a per-fetch limit refuses an epoch with a
// *LimitError before its records are fetched.
func TestFetchEpochLimits(t *testing.T) {
	ctx := t.Context()
	allow := newMembers()
	a := newRealNode(t, allow)
	b := newRealNode(t, allow)
	connect(t, a.host, b.host)
	a.appendJobs(t, 0, 50)
	st, err := a.ep.CloseEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := cid.Decode(st.Root)
	var le *ipfs.LimitError
	if _, err := b.ipfs.FetchEpoch(ctx, root, ipfs.FetchOptions{MaxRecords: 49}); !errors.As(err, &le) || le.What != "records" {
		t.Fatalf("over MaxRecords: %v", err)
	}
	if _, err := b.ipfs.FetchEpoch(ctx, root, ipfs.FetchOptions{MaxBlocks: 30}); !errors.As(err, &le) || le.What != "blocks" {
		t.Fatalf("over MaxBlocks: %v", err)
	}
	var re *ipfs.EpochRootError
	if _, err := b.ipfs.FetchEpoch(ctx, root, ipfs.FetchOptions{Origin: "aurora/scale/other"}); !errors.As(err, &re) || re.Field != "origin" {
		t.Fatalf("wrong origin: %v", err)
	}
	if _, err := b.ipfs.FetchEpoch(ctx, root, ipfs.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkEpochClose100k closes epochs of 100,000 job leaves on the real
// pinner (boxo on badger): checkpoint, job count and PinEpochInfo (blocks,
// records tree, root, pin). Budget (issue 12): ≤ 1 s.
func BenchmarkEpochClose100k(b *testing.B) {
	n := newRealNode(b, nil)
	ctx := context.Background()
	var total, cpu time.Duration
	next := 0
	for b.Loop() {
		b.StopTimer()
		n.appendJobs(b, next, 100_000)
		next += 100_000
		b.StartTimer()
		t0, c0 := time.Now(), cpuTime()
		st, err := n.ep.CloseEpoch(ctx)
		total += time.Since(t0)
		cpu += cpuTime() - c0
		if err != nil || !st.Pinned {
			b.Fatalf("%+v: %v", st, err)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/epoch")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/epoch")
	b.ReportMetric(float64(n.pinTime.Load())/1e6/float64(b.N), "pin-ms/epoch")
}

// BenchmarkPinEpochInfoHistory measures PinEpochInfo of an epoch of 1,000
// leaves on badger after 100 and after 500 earlier epochs: the cost per
// epoch must not grow with the history.
func BenchmarkPinEpochInfoHistory(b *testing.B) {
	for _, history := range []int{100, 500} {
		b.Run(fmt.Sprintf("epochs=%d", history), func(b *testing.B) {
			n := newRealNode(b, nil)
			ctx := context.Background()
			next := 0
			for range history {
				n.appendJobs(b, next, 1000)
				next += 1000
				if _, err := n.ep.CloseEpoch(ctx); err != nil {
					b.Fatal(err)
				}
			}
			var total time.Duration
			pin0 := n.pinTime.Load()
			for b.Loop() {
				b.StopTimer()
				n.appendJobs(b, next, 1000)
				next += 1000
				b.StartTimer()
				t0 := time.Now()
				if st, err := n.ep.CloseEpoch(ctx); err != nil || !st.Pinned {
					b.Fatalf("%+v: %v", st, err)
				}
				total += time.Since(t0)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/epoch")
			b.ReportMetric(float64(n.pinTime.Load()-pin0)/1e6/float64(b.N), "pin-ms/epoch")
		})
	}
}

// cpuTime is the process's user+system CPU time, steadier than wall time
// on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitFor polls cond until it holds; the deadline only bounds a hung test.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// opCounter counts every read and query a datastore serves.
type opCounter struct {
	datastore.Batching
	ops atomic.Int64
}

func (c *opCounter) Get(ctx context.Context, k datastore.Key) ([]byte, error) {
	c.ops.Add(1)
	return c.Batching.Get(ctx, k)
}

func (c *opCounter) Has(ctx context.Context, k datastore.Key) (bool, error) {
	c.ops.Add(1)
	return c.Batching.Has(ctx, k)
}

func (c *opCounter) GetSize(ctx context.Context, k datastore.Key) (int, error) {
	c.ops.Add(1)
	return c.Batching.GetSize(ctx, k)
}

func (c *opCounter) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	c.ops.Add(1)
	return c.Batching.Query(ctx, q)
}

// TestPinEpochInfoWorkIsConstant: on the real pinner (boxo on badger),
// the datastore reads and queries of pinning an epoch do not grow with
// the number of epochs before it.
func TestPinEpochInfoWorkIsConstant(t *testing.T) {
	epochs, per := 150, 300
	if testing.Short() {
		epochs = 40
	}
	ds := &opCounter{Batching: openBadger(t).Namespace("ipfs")}
	n := newNodeOn(t, newHost(t), ds, nil)
	ctx := t.Context()
	origin := "aurora/scale/12D3KooWConstant"
	opsAt := map[int]int64{}
	prev := ""
	for e := 1; e <= epochs; e++ {
		leaves := make([][]byte, per)
		for i := range leaves {
			leaves[i] = record(t, origin, e, i)
		}
		info := provenance.EpochInfo{Epoch: uint64(e), Origin: origin, Start: uint64((e - 1) * per), End: uint64(e * per),
			Checkpoint: []byte(fmt.Sprintf("%s\n%d\nAAAA\n\n— %s c2ln\n", origin, e*per, origin)), Prev: prev,
			Leaves: sliceLeaves(uint64((e-1)*per), leaves)}
		before := ds.ops.Load()
		c, err := n.PinEpochInfo(ctx, info)
		if err != nil {
			t.Fatal(err)
		}
		opsAt[e] = ds.ops.Load() - before
		prev = c
	}
	if opsAt[10] != opsAt[epochs] {
		t.Fatalf("datastore reads per PinEpochInfo: %d at epoch 10, %d at epoch %d; want equal", opsAt[10], opsAt[epochs], epochs)
	}
	t.Logf("datastore reads and queries per epoch of %d leaves: %d", per, opsAt[epochs])
}
