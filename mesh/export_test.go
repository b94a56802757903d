package mesh

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/treaty"
)

// RawCancelExchange sends a cancel frame without Cancel's own size check,
// to test the server's.
func RawCancelExchange(ctx context.Context, m *Mesh, to peer.ID, treatyCID treaty.Link, cancel []byte) ([]byte, error) {
	payload, err := encodeFrame(&cancelRequest{V: frameVersion, Cancel: cancel, Treaty: treatyCID})
	if err != nil {
		return nil, err
	}
	return m.exchange(ctx, to, ProtocolCancel, appendFrame(nil, payload))
}
