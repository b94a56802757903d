package node

import (
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/treaty"
)

// settled is the order core's OnSettled for a job a treaty peer forwarded
// to us: running or failed, it is an observation of the lane's fill (the
// mesh measures it against the treaty's sla.fill_rate), and running is a
// fill of aurora_treaty_orders_filled_total.
func (f *federation) settled(j *order.Job) {
	if j.From == "" {
		return
	}
	st := j.Status()
	if st != treaty.StatusRunning && st != treaty.StatusFailed {
		return
	}
	lane, _ := laneTreaty(j.Lane, j.From)
	f.mesh.ObserveSettled(j.From, lane, st == treaty.StatusRunning)
}

// laneTreaty reads the treaty's canonical CID back from a forwarded job's
// quota key (order.LaneKey): "lane/<treaty CID>/<from DID>".
func laneTreaty(key string, from treaty.DID) (treaty.Link, bool) {
	rest, ok := strings.CutPrefix(key, "lane/")
	if !ok {
		return treaty.Link{}, false
	}
	id, tail, ok := strings.Cut(rest, "/")
	if !ok || tail != string(from) {
		return treaty.Link{}, false
	}
	c, err := cid.Decode(id)
	if err != nil {
		return treaty.Link{}, false
	}
	return treaty.LinkTo(c), true
}
