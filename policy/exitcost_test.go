package policy

import (
	"context"
	"testing"
)

// BenchmarkLoopIteration measures what one wasm loop iteration costs with
// termination checks compiled in: wazero exits to Go at every loop header
// (wazero#2466), the dominant cost of Go-built guests.
func BenchmarkLoopIteration(b *testing.B) {
	const iters = 1000
	// local1 = iters; loop { local1--; br_if local1 != 0 }; return n
	body := cat(i32c(iters), []byte{0x21, 0x01}, // local.set 1
		[]byte{0x03, 0x40},                                            // loop
		[]byte{0x20, 0x01}, i32c(1), []byte{0x6b}, []byte{0x22, 0x01}, // local.tee 1 (local1-1)
		[]byte{0x0d, 0x00, 0x0b}, // br_if 0 end
		getN)
	m := guest(body)
	m.funcs[5].locals = []byte{tI32}
	e := newTestEngine(b, Config{DefaultDeadline: DefaultDeadline})
	id, err := e.Load(context.Background(), m.bytes())
	if err != nil {
		b.Fatal(err)
	}
	p, err := e.Prepare(context.Background(), id, nil, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	facts := []Facts{fresh()}
	out := make([]Decision, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Eval(context.Background(), facts, out); err != nil {
			countKill(b, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*iters), "ns/iteration")
}
