package treaty

import (
	"bytes"
	"testing"
	"time"
)

// fixedNow is the clock every record test uses.
var fixedNow = time.Unix(1_780_000_000, 0)

// testKey derives a deterministic key from a one-byte label.
func testKey(t testing.TB, label byte) *PrivateKey {
	t.Helper()
	k, err := NewKeyFromSeed(bytes.Repeat([]byte{label}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testOrder(t testing.TB, client *PrivateKey) *Order {
	t.Helper()
	o := &Order{
		V:       Version,
		Client:  client.DID(),
		Nonce:   bytes.Repeat([]byte{7}, 16),
		Created: fixedNow.Unix(),
		Expires: fixedNow.Add(time.Hour).Unix(),
		Workload: Workload{
			Image:    "ghcr.io/aurora/llama:3.1",
			Cmd:      []string{"serve", "--port", "8080"},
			Env:      []EnvVar{{Name: "MODEL", Value: "llama-3.1-8b"}, {Name: "THREADS", Value: "8"}},
			GPU:      &GPU{Model: "A100", Count: 1, MinVRAM: 40960},
			CPU:      4000,
			Memory:   16384,
			Disk:     51200,
			Duration: 3600,
			Ports:    []int64{8080},
		},
		Constraints: Constraints{
			Regions:         []string{"eu-west"},
			MaxPricePerHour: 2_500_000,
			MinReputation:   500,
			Providers:       []string{},
		},
	}
	if err := Sign(o, client); err != nil {
		t.Fatal(err)
	}
	return o
}
