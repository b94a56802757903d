package provenance

import (
	"context"
	"encoding/binary"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"

	"github.com/aurora-federation/aurora/node/store"
)

// Benchmarks report figures with b.ReportMetric; they assert nothing about
// time. Budgets (DESIGN §9 / issue 6): append ≥ 100,000 leaves/s batched,
// inclusion proof ≤ 50 µs and verification ≤ 10 µs at 1M leaves, epoch
// close ≤ 50 ms at 10,000 jobs.

// benchLeaves returns n distinct ~300-byte leaves (the size of a job entry).
func benchLeaves(n, offset int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, 300)
		binary.BigEndian.PutUint64(b, uint64(offset+i))
		out[i] = b
	}
	return out
}

func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name string
		ds   func(b *testing.B) datastore.Batching
	}{
		{"map", func(*testing.B) datastore.Batching { return memStore() }},
		{"badger", func(b *testing.B) datastore.Batching {
			db, err := store.Open(store.Config{Dir: b.TempDir(), GCInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db.Namespace("provenance")
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const batch = 1000
			l := openTestLog(b, bc.ds(b), testKey(b, 1), testOrigin)
			ctx := context.Background()
			batches := make([][][]byte, 64)
			for i := range batches {
				batches[i] = benchLeaves(batch, i*batch)
			}
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := l.Append(ctx, batches[i%len(batches)]...); err != nil {
					b.Fatal(err)
				}
			}
			el, cpu := time.Since(start), cpuTime()-cpu0
			b.ReportMetric(float64(b.N*batch)/el.Seconds(), "leaves/s")
			b.ReportMetric(float64(b.N*batch)/cpu.Seconds(), "leaves/cpu-s")
		})
	}
}

// log1M is built once per benchmark run and shared by the 1M-leaf
// benchmarks.
var log1M = sync.OnceValues(func() (*Log, error) {
	l, err := OpenLog(context.Background(), memStore(), LogConfig{Origin: testOrigin, Key: mustKey(1)})
	if err != nil {
		return nil, err
	}
	for i := 0; i < 1<<20; i += 2048 {
		if _, err := l.Append(context.Background(), benchLeaves(2048, i)...); err != nil {
			return nil, err
		}
	}
	return l, nil
})

func get1M(b *testing.B) *Log {
	if testing.Short() {
		b.Skip("builds a 1M-leaf log")
	}
	l, err := log1M()
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func BenchmarkInclusionProof1M(b *testing.B) {
	l := get1M(b)
	ctx := context.Background()
	size := l.Size()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		idx := uint64(i*7919) % size
		if _, err := l.InclusionProof(ctx, idx, size); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/1000, "cpu-µs/proof")
}

func BenchmarkVerifyInclusion1M(b *testing.B) {
	l := get1M(b)
	ctx := context.Background()
	size, root := l.Size(), l.Root()
	const n = 256
	proofs := make([][][]byte, n)
	hashes := make([][32]byte, n)
	idxs := make([]uint64, n)
	for i := range proofs {
		idxs[i] = uint64(i*104729) % size
		p, err := l.InclusionProof(ctx, idxs[i], size)
		if err != nil {
			b.Fatal(err)
		}
		proofs[i] = p
		lf, _ := l.Leaf(ctx, idxs[i])
		hashes[i] = LeafHash(lf)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		k := i % n
		if err := VerifyInclusion(idxs[k], size, hashes[k], proofs[k], root); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/1000, "cpu-µs/verify")
}

// BenchmarkEpochClose10k closes epochs of 10,000 job leaves each with
// in-memory fakes for the witnesses (two real Witness instances), the pin
// and the gossip; TSAs are asynchronous and excluded by design.
func BenchmarkEpochClose10k(b *testing.B) {
	ctx := context.Background()
	clock := newClock()
	l := openTestLog(b, memStore(), testKey(b, 1), testOrigin)
	peers := newPeerWitnesses(b, l, 2, clock, func(int) datastore.Batching { return memStore() })
	pinner, ann := &fakePinner{}, &announcer{}
	ep, err := NewEpochs(ctx, EpochsConfig{Log: l, Interval: time.Hour, Witnesses: peers.cosign, WitnessKeys: peers.keys(),
		Pin: pinner.pin, Announce: ann.announce, Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	defer ep.Close()
	job := jobLeaf(b, 1)
	batch := make([][]byte, 1000)
	for i := range batch {
		batch[i] = job
	}
	var total, cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for k := 0; k < 10; k++ {
			if _, err := l.Append(ctx, batch...); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		st, err := ep.CloseEpoch(ctx)
		total += time.Since(start)
		cpu += cpuTime() - cpu0
		if err != nil || st.Jobs != 10000 || st.Cosigs != 2 {
			b.Fatalf("epoch %+v: %v", st, err)
		}
		pinner.infos = nil // keep memory flat
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/epoch")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/epoch")
}

// cpuTime is the process's user+system CPU time: on a shared, loaded
// machine it is a steadier figure than wall time (it includes GC and
// badger's goroutines, so it is not flattering).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
