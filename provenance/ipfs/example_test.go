package ipfs_test

import (
	"fmt"

	"github.com/aurora-federation/aurora/provenance/ipfs"
	"github.com/aurora-federation/aurora/treaty"
)

// An epoch root is canonical dag-cbor: the same root always has the same
// CID, and decoding accepts only that encoding.
func ExampleEncodeEpochRoot() {
	rec := treaty.CIDOf([]byte{0xa1, 0x61, 'a', 0x01}) // a record block
	root := &ipfs.EpochRoot{
		V:          ipfs.EpochRootVersion,
		Origin:     "aurora/example/12D3KooWExample",
		Epoch:      1,
		Checkpoint: "aurora/example/12D3KooWExample\n1\nAAAA\n\n— aurora/example/12D3KooWExample c2ln\n",
		Count:      1,
		Records:    []treaty.Link{treaty.LinkTo(rec)},
	}
	c, b, err := ipfs.EncodeEpochRoot(root)
	if err != nil {
		panic(err)
	}
	back, err := ipfs.DecodeEpochRoot(b)
	fmt.Println(c)
	fmt.Println(err, back.Epoch, back.PrevCID().Defined(), len(back.Records))
	// Output:
	// bafyreicrm3dkoxukyu6xjot76egy4hfec5syusx4w63djekilg3jswv5l4
	// <nil> 1 false 1
}
