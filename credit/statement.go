package credit

import (
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/aurora-federation/aurora/treaty"
)

// ItemsRoot returns the RFC 6962 Merkle tree hash of the items' canonical
// dag-cbor (treaty.SettlementItem), in the order given (a Ledger's
// accounts list them by job): the root a Settlement commits to, computed
// with transparency-dev/merkle's compact range as the log does. The root of
// no items is SHA-256 of the empty string, as RFC 6962 defines it.
func ItemsRoot(items []Item) ([]byte, error) {
	h := rfc6962.DefaultHasher
	if len(items) == 0 {
		return h.EmptyRoot(), nil
	}
	r := (&compact.RangeFactory{Hash: h.HashChildren}).NewEmptyRange(0)
	for _, it := range items {
		rec := treaty.SettlementItem{Job: it.Job, Leaf: it.Leaf, Price: it.Price, Billed: it.Billed, Amount: it.Amount}
		if err := rec.Validate(); err != nil {
			return nil, err
		}
		b, err := treaty.Encode(&rec)
		if err != nil {
			return nil, err
		}
		if err := r.Append(h.HashLeaf(b), nil); err != nil {
			return nil, err
		}
	}
	return r.GetRootHash(nil)
}

// Statement returns the unsigned Settlement of account a: its lane,
// period, job count, total and items root, over the creditor's log
// checkpoint log, dated at.
func Statement(a Account, treatyCID treaty.Link, log treaty.LogSpan, at int64) (*treaty.Settlement, error) {
	if a.Lane.Treaty != treatyCID.String() {
		return nil, fmt.Errorf("credit: account of treaty %s, statement for %s", a.Lane.Treaty, treatyCID)
	}
	root, err := ItemsRoot(a.Items)
	if err != nil {
		return nil, err
	}
	s := &treaty.Settlement{V: treaty.Version, Treaty: treatyCID, Debtor: a.Lane.Debtor, Creditor: a.Lane.Creditor,
		Start: a.Period.Start, End: a.Period.End, Jobs: int64(len(a.Items)), Total: a.Total, ItemsRoot: root, Log: log, At: at}
	return s, s.Validate()
}
