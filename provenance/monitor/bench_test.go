package monitor_test

import (
	"context"
	"flag"
	"net/http"
	"syscall"
	"testing"
	"time"
)

var benchLeaves = flag.Uint64("monitor.leaves", 1_000_000, "leaves of the log BenchmarkFollowFromScratch follows")

// BenchmarkFollowFromScratch: a monitor clones and verifies a log of
// -monitor.leaves job records (about 250 bytes each, like the node's) from
// its tiles over loopback HTTP: every entry bundle, every leaf decoded and
// hashed, the root recomputed, the right edge of the hash tiles checked
// by x/mod. The budget (README) is 30 s for 1,000,000 leaves.
func BenchmarkFollowFromScratch(b *testing.B) {
	tl := newLog(b, "")
	start := time.Now()
	ctx := context.Background()
	tmpl := jobLeaf(b, 0, "")
	tl.grow(b, *benchLeaves, true)
	b.Logf("built a log of %d leaves (%d bytes each) in %v", tl.log.Size(), len(tmpl), time.Since(start).Round(time.Millisecond))
	s := newServer(b, tl)
	s.srv.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		fo := follower(b, tl, s.client(b), nil)
		u, err := fo.Poll(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if u.To != *benchLeaves || fo.Counts()["job"] != *benchLeaves {
			b.Fatalf("followed to %d, counts %v", u.To, fo.Counts())
		}
	}
	b.ReportMetric(float64(*benchLeaves)*float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
	// CPU seconds (client and server, this process) per follow: the figure
	// that does not depend on what else the machine runs.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
