package mesh_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aurora-federation/aurora/mesh"
	"github.com/aurora-federation/aurora/treaty"
)

// A node proposes a bilateral treaty: it is signed by the proposer,
// stored in the book and gossiped; it stays proposed until the peer
// countersigns.
func ExampleMesh_Propose() {
	ctx := context.Background()
	me, _ := treaty.GenerateKey(nil)
	peer, _ := treaty.GenerateKey(nil)
	m, err := mesh.New(ctx, mesh.Config{Key: me, Federation: "example", ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	t, _ := treaty.FromTemplate(treaty.Proposal{Template: treaty.TemplateBilateral, Federation: "example",
		Proposer: me.DID(), Peer: peer.DID(), Now: time.Now()})
	id, err := m.Propose(ctx, t)
	if err != nil {
		fmt.Println(err)
		return
	}
	info, _ := m.Get(id)
	fmt.Println(info.State, len(info.Signed), "of", len(info.Treaty.Parties), "signed")
	// Output: proposed 1 of 2 signed
}
