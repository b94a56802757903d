package tsa_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http/httptest"
	"os"

	"github.com/aurora-federation/aurora/provenance/tsa"
)

// A client timestamps a checkpoint with a TSA and anyone holding the TSA's
// root verifies the token offline later.
func Example() {
	dir, err := os.MkdirTemp("", "devtsa")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	dev, err := tsa.NewDevTSA(dir, nil) // what `aurora tsa serve` runs
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(dev.Handler())
	defer srv.Close()

	checkpoint := "aurora/example/12D3KooWExample\n1\nAAAA\n"
	digest := sha256.Sum256([]byte(checkpoint))
	client := &tsa.Client{URL: srv.URL, Roots: dev.Roots()}
	token, err := client.Timestamp(context.Background(), digest)
	if err != nil {
		panic(err)
	}

	info, err := tsa.Verify(token, digest, tsa.VerifyOptions{Roots: dev.Roots()})
	fmt.Println(err, info.Signer.Subject.CommonName, info.Policy)
	_, err = tsa.Verify(token, sha256.Sum256([]byte("another checkpoint")), tsa.VerifyOptions{Roots: dev.Roots()})
	fmt.Println(tsa.FailedCheck(err))
	// Output:
	// <nil> Aurora Dev TSA 1.3.6.1.4.1.32473.3161.1
	// imprint
}
