package ipfs

import (
	"bytes"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/ipld/go-ipld-prime/traversal"
)

// linksOf checks a block against its CID's codec and returns its links: a
// raw block has none; a dag-cbor block must be strict dag-cbor (go-ipld-prime
// decoder, no trailing bytes) and every link must be an acceptable CID.
// Links are returned in encoding order, duplicates included.
func linksOf(c cid.Cid, data []byte) ([]cid.Cid, error) {
	return blockLinks(c, data, false)
}

// canonicalLinks is linksOf that also requires a dag-cbor block to be the
// canonical encoding of the data it holds (map keys sorted length-first, as
// go-ipld-prime's encoder writes them; the decoder alone accepts unsorted
// keys). It decodes the block once.
func canonicalLinks(c cid.Cid, data []byte) ([]cid.Cid, error) {
	if c.Prefix().Codec == cid.DagCBOR && len(data) <= MaxBlockSize && checkCID(c) == nil {
		if links, ok := scanCanonical(data, nil); ok {
			return links, nil
		}
	}
	return blockLinks(c, data, true)
}

func blockLinks(c cid.Cid, data []byte, canonical bool) ([]cid.Cid, error) {
	if len(data) > MaxBlockSize {
		return nil, &BlockError{CID: c, Rule: fmt.Sprintf("%d bytes, limit %d", len(data), MaxBlockSize)}
	}
	if err := checkCID(c); err != nil {
		return nil, &BlockError{CID: c, Rule: err.Error()}
	}
	if c.Prefix().Codec == cid.Raw {
		return nil, nil
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(data)); err != nil {
		return nil, &BlockError{CID: c, Rule: "not strict dag-cbor", Err: err}
	}
	nd := nb.Build()
	if canonical {
		var buf bytes.Buffer
		buf.Grow(len(data))
		if err := dagcbor.Encode(nd, &buf); err != nil {
			return nil, &BlockError{CID: c, Rule: "re-encode", Err: err}
		}
		if !bytes.Equal(buf.Bytes(), data) {
			return nil, &BlockError{CID: c, Rule: "not canonical dag-cbor (map keys must be sorted length-first)"}
		}
	}
	links, err := traversal.SelectLinks(nd)
	if err != nil {
		return nil, &BlockError{CID: c, Rule: "links", Err: err}
	}
	out := make([]cid.Cid, 0, len(links))
	for i, l := range links {
		cl, ok := l.(cidlink.Link)
		if !ok {
			return nil, &BlockError{CID: c, Rule: fmt.Sprintf("link %d is %T, not a CID", i, l)}
		}
		if err := checkCID(cl.Cid); err != nil {
			return nil, &BlockError{CID: c, Rule: fmt.Sprintf("link %d (%s): %v", i, cl.Cid, err)}
		}
		out = append(out, cl.Cid)
	}
	return out, nil
}
