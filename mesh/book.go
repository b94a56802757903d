package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/treaty"
)

// TreatyInfo is a treaty in the book and its state at the time of the call.
type TreatyInfo struct {
	// CID is the treaty's ID as it is now, with every signature known. A
	// treaty's CID changes as parties sign; every earlier CID stays an
	// alias for lookups.
	CID treaty.Link
	// Treaty is shared with the book: do not modify it.
	Treaty *treaty.Treaty
	State  treaty.State
	// Signed lists the parties whose signatures verify, in DID order.
	Signed []treaty.DID
}

// Datastore key prefixes of the book.
const (
	keyTreaty     = "/treaty/"     // + body CID: the merged treaty's dag-cbor
	keyAlias      = "/alias/"      // + version CID: the body CID's bytes
	keyRevocation = "/revocation/" // + revocation CID: its dag-cbor
)

// entry is one treaty: every version with the same unsigned body merged.
// Entries are copy-on-write: t, signed and revs are replaced, never
// modified, so a TreatyInfo handed out stays consistent.
type entry struct {
	body    cid.Cid // CID of the treaty with no signatures: the entry's key
	t       *treaty.Treaty
	cid     cid.Cid // CID of t
	signed  []treaty.DID
	revs    []*treaty.Revocation
	revIDs  []cid.Cid
	group   string // parties, the supersession scope
	ours    bool   // we are a party
	signedU bool   // we signed

	// state cache: valid while dirty is false and now < until.
	state treaty.State
	until int64
	dirty bool
}

// book stores every valid treaty the node sees and computes lifecycles.
type book struct {
	me    treaty.DID
	fed   string
	ds    datastore.Batching
	clock Clock
	max   int
	log   *slog.Logger
	// members, when not nil, restricts the parties of accepted treaties.
	members map[treaty.DID]bool
	// refused, when set, counts treaties refused by the proposal bounds.
	refused func(reason string)

	mu      sync.Mutex          // protects following
	entries map[cid.Cid]*entry  // by body CID
	alias   map[cid.Cid]cid.Cid // any version CID, and the body CID → body CID
	revs    map[cid.Cid]cid.Cid // revocation CID → body CID of the treaty it revokes
	groups  map[string][]*entry
	mine    map[cid.Cid]bool // body CIDs of the treaties we are party to
	// ours is the hot-path snapshot of our treaties (PeersFor, Lane),
	// rebuilt when one of them changes or its time runs out.
	ours atomic.Pointer[oursView]
}

// oursView is the snapshot of treaties we are party to.
type oursView struct {
	until   int64 // rebuild when now >= until
	active  []*activeTreaty
	byAlias map[cid.Cid]*activeTreaty
	// partners are the other parties of our active treaties.
	partners map[peer.ID]treaty.DID
	// keep are the other parties of treaties we signed that are active or
	// still proposed: the reconnect loop keeps them connected.
	keep map[peer.ID]treaty.DID
}

type activeTreaty struct {
	link treaty.Link // the merged version's CID
	body treaty.Link // the CID without signatures: one for every version
	t    *treaty.Treaty
}

func newBook(cfg *Config, log *slog.Logger) *book {
	b := &book{
		me: cfg.Key.DID(), fed: cfg.Federation, ds: cfg.Datastore, clock: cfg.Clock, max: cfg.MaxTreaties, log: log,
		entries: map[cid.Cid]*entry{}, alias: map[cid.Cid]cid.Cid{}, revs: map[cid.Cid]cid.Cid{}, groups: map[string][]*entry{},
		mine: map[cid.Cid]bool{},
	}
	if len(cfg.Members) > 0 {
		b.members = map[treaty.DID]bool{b.me: true}
		for _, d := range cfg.Members {
			b.members[d] = true
		}
	}
	return b
}

// bodyCID is the CID of t without signatures: the same for every version
// of one treaty.
func bodyCID(t *treaty.Treaty) (cid.Cid, error) {
	c := *t
	c.Sigs = []treaty.PartySig{}
	id, _, err := treaty.ID(&c)
	return id, err
}

func groupKey(t *treaty.Treaty) string {
	var sb strings.Builder
	for _, p := range t.Parties {
		sb.WriteString(string(p))
		sb.WriteByte(',')
	}
	return sb.String()
}

// checked is a treaty that passed checkTreaty, with its encoding, its CID
// (the version's) and the CID of its unsigned body (the entry's key).
type checked struct {
	t       *treaty.Treaty
	raw     []byte
	version cid.Cid
	body    cid.Cid
	signed  []treaty.DID
}

// checkTreaty validates and verifies t for the book: fields, federation,
// signatures (none forged, at least one), membership and freshness. raw is
// t's encoding when the caller has it (nil: encoded here). Sender faults
// are returned as they are; cannot-judge conditions wrap ErrIgnore.
func (b *book) checkTreaty(t *treaty.Treaty, raw []byte) (*checked, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if t.Federation != b.fed {
		return nil, &treaty.ValidationError{Kind: "treaty", Field: "federation", Rule: fmt.Sprintf("%q is not this federation (%q)", t.Federation, b.fed)}
	}
	signed, err := treaty.VerifyTreaty(t)
	if err != nil {
		return nil, err
	}
	if len(signed) == 0 {
		return nil, &treaty.ValidationError{Kind: "treaty", Field: "sigs", Rule: "no party signed"}
	}
	if b.members != nil {
		for _, p := range t.Parties {
			if !b.members[p] {
				return nil, fmt.Errorf("%w: party %s is not a federation member", ErrIgnore, p.Short())
			}
		}
	}
	if now := b.clock().Unix(); now >= t.NotAfter {
		return nil, fmt.Errorf("%w: treaty expired at %d (now %d)", ErrIgnore, t.NotAfter, now)
	}
	if raw == nil {
		if raw, err = treaty.Encode(t); err != nil {
			return nil, err
		}
	}
	body, err := bodyCID(t)
	if err != nil {
		return nil, err
	}
	return &checked{t: t, raw: raw, version: treaty.CIDOf(raw), body: body, signed: signed}, nil
}

// addTreaty merges a checked treaty into the book and persists it. It
// returns the entry's body CID; changed is false when c taught nothing
// new.
func (b *book) addTreaty(ctx context.Context, c *checked) (body cid.Cid, changed bool, err error) {
	body = c.body
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[body]
	// A new treaty is stored as it came (a copy); a known one gains the
	// new signatures and a new encoding.
	var merged *treaty.Treaty
	mcid, raw, signed := c.version, c.raw, c.signed
	switch {
	case e == nil:
		if len(b.entries) >= b.max && !slices.Contains(c.signed, b.me) {
			return body, false, fmt.Errorf("%w: the treaty book is full (%d treaties)", ErrIgnore, b.max)
		}
		if err := b.roomLocked(c); err != nil {
			return body, false, err
		}
		m := *c.t
		m.Sigs = slices.Clone(c.t.Sigs)
		merged = &m
	default:
		var add []treaty.PartySig
		for _, ps := range c.t.Sigs {
			if !slices.ContainsFunc(e.t.Sigs, func(have treaty.PartySig) bool { return have.DID == ps.DID }) {
				add = append(add, ps)
			}
		}
		if len(add) == 0 {
			if _, ok := b.alias[c.version]; !ok {
				if err := b.ds.Put(ctx, datastore.NewKey(keyAlias+c.version.String()), body.Bytes()); err != nil {
					return body, false, fmt.Errorf("mesh: store treaty alias: %w", err)
				}
				b.alias[c.version] = body
			}
			return body, false, nil
		}
		m := *e.t
		m.Sigs = slices.Clone(e.t.Sigs)
		for _, ps := range add {
			i, _ := slices.BinarySearchFunc(m.Sigs, ps.DID, func(p treaty.PartySig, d treaty.DID) int { return strings.Compare(string(p.DID), string(d)) })
			m.Sigs = slices.Insert(m.Sigs, i, ps)
		}
		merged = &m
		if mcid, raw, err = treaty.ID(merged); err != nil {
			return body, false, err
		}
		signed = make([]treaty.DID, 0, len(merged.Sigs))
		for _, ps := range merged.Sigs {
			signed = append(signed, ps.DID)
		}
	}
	batch, err := b.ds.Batch(ctx)
	if err != nil {
		return body, false, fmt.Errorf("mesh: store treaty: %w", err)
	}
	puts := map[string][]byte{keyTreaty + body.String(): raw}
	for _, a := range []cid.Cid{c.version, mcid, body} {
		if _, ok := b.alias[a]; !ok {
			puts[keyAlias+a.String()] = body.Bytes()
		}
	}
	for k, v := range puts {
		if err := batch.Put(ctx, datastore.NewKey(k), v); err != nil {
			return body, false, fmt.Errorf("mesh: store treaty: %w", err)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return body, false, fmt.Errorf("mesh: store treaty: %w", err)
	}
	b.putLocked(body, merged, mcid, signed, e)
	for _, a := range []cid.Cid{c.version, mcid, body} {
		b.alias[a] = body
	}
	return body, true, nil
}

// isProposal reports whether a treaty signed by signed still lacks a
// party's signature and lacks ours: a proposal that binds nobody yet.
func (b *book) isProposal(t *treaty.Treaty, signed []treaty.DID) bool {
	return len(signed) < len(t.Parties) && !slices.Contains(signed, b.me)
}

// room checks the proposal bounds for a treaty new to the book.
func (b *book) room(c *checked) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.entries[c.body] != nil {
		return nil
	}
	return b.roomLocked(c)
}

// roomLocked refuses (ErrIgnore) a new proposal when one of its signers
// already has MaxProposalsPerSigner proposals in the book, or the book
// holds MaxProposals: proposals grant nothing, so a stranger cannot make
// the node keep more than a few. The walk is O(book) but runs only for
// proposals new to the book.
func (b *book) roomLocked(c *checked) error {
	if !b.isProposal(c.t, c.signed) {
		return nil
	}
	total := 0
	per := make(map[treaty.DID]int, len(c.signed))
	for _, e := range b.entries {
		if !b.isProposal(e.t, e.signed) {
			continue
		}
		total++
		for _, d := range e.signed {
			if slices.Contains(c.signed, d) {
				per[d]++
			}
		}
	}
	for _, d := range c.signed {
		if per[d] >= MaxProposalsPerSigner {
			b.countRefused()
			return fmt.Errorf("%w: %s has %d proposals in the book already", ErrIgnore, d.Short(), per[d])
		}
	}
	if total >= MaxProposals {
		b.countRefused()
		return fmt.Errorf("%w: the book holds %d proposals already", ErrIgnore, total)
	}
	return nil
}

func (b *book) countRefused() {
	if b.refused != nil {
		b.refused(RefusedProposals)
	}
}

// putLocked installs merged as the entry for body (replacing old, if any)
// and invalidates the states its group depends on.
func (b *book) putLocked(body cid.Cid, merged *treaty.Treaty, mcid cid.Cid, signed []treaty.DID, old *entry) {
	ne := &entry{body: body, t: merged, cid: mcid, signed: signed, group: groupKey(merged), dirty: true}
	ne.ours = merged.IsParty(b.me)
	ne.signedU = slices.Contains(signed, b.me)
	if ne.ours {
		b.mine[body] = true
	}
	if old != nil {
		ne.revs, ne.revIDs = old.revs, old.revIDs
		g := b.groups[ne.group]
		g[slices.Index(g, old)] = ne
	} else {
		b.groups[ne.group] = append(b.groups[ne.group], ne)
	}
	b.entries[body] = ne
	b.touchLocked(ne)
}

// touchLocked marks e's group for recomputation and, if the group is ours,
// drops the hot-path snapshot.
func (b *book) touchLocked(e *entry) {
	for _, g := range b.groups[e.group] {
		g.dirty = true
	}
	if e.ours {
		b.ours.Store(nil)
	}
}

// checkRevocation validates and verifies r (its signer is r.By).
func checkRevocation(r *treaty.Revocation) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return treaty.Verify(r)
}

// addRevocation stores a verified revocation of a known treaty and
// returns the treaty's body CID.
func (b *book) addRevocation(ctx context.Context, r *treaty.Revocation, raw []byte) (body cid.Cid, changed bool, err error) {
	rid := treaty.CIDOf(raw)
	b.mu.Lock()
	defer b.mu.Unlock()
	if body, ok := b.revs[rid]; ok {
		return body, false, nil
	}
	e := b.lookupLocked(r.Treaty.Cid)
	if e == nil {
		return cid.Undef, false, fmt.Errorf("%w: revocation of unknown treaty %s", ErrIgnore, r.Treaty)
	}
	if !e.t.IsParty(r.By) {
		return cid.Undef, false, &NotPartyError{Treaty: treaty.LinkTo(e.cid), DID: r.By}
	}
	if err := b.ds.Put(ctx, datastore.NewKey(keyRevocation+rid.String()), raw); err != nil {
		return cid.Undef, false, fmt.Errorf("mesh: store revocation: %w", err)
	}
	b.attachLocked(e, r, rid)
	return e.body, true, nil
}

func (b *book) attachLocked(e *entry, r *treaty.Revocation, rid cid.Cid) {
	e.revs = append(slices.Clip(e.revs), r)
	e.revIDs = append(slices.Clip(e.revIDs), rid)
	b.revs[rid] = e.body
	b.touchLocked(e)
}

// stateLocked returns e's state at now, from cache when still valid.
func (b *book) stateLocked(e *entry, now int64) treaty.State {
	if !e.dirty && now < e.until {
		return e.state
	}
	group := b.groups[e.group]
	var others []*treaty.Treaty
	var revs []*treaty.Revocation
	until := int64(1<<62 - 1)
	next := func(t int64) {
		if t > now && t < until {
			until = t
		}
	}
	for _, g := range group {
		revs = append(revs, g.revs...)
		if g != e {
			others = append(others, g.t)
		}
		next(g.t.NotBefore)
		next(g.t.NotAfter)
		for _, r := range g.revs {
			next(r.At)
		}
	}
	st := treaty.Lifecycle(e.t, revs, others, time.Unix(now, 0))
	// A revocation may name an earlier version of the treaty (signed before
	// every party had signed): Lifecycle matches only the current CID.
	if st != treaty.StateInvalid && st != treaty.StateRevoked {
		for _, r := range e.revs {
			if r.At <= now {
				st = treaty.StateRevoked
				break
			}
		}
	}
	e.state, e.until, e.dirty = st, until, false
	return st
}

func (b *book) lookupLocked(id cid.Cid) *entry {
	body, ok := b.alias[id]
	if !ok {
		return nil
	}
	return b.entries[body]
}

func (b *book) infoLocked(e *entry) TreatyInfo {
	return TreatyInfo{CID: treaty.LinkTo(e.cid), Treaty: e.t, State: b.stateLocked(e, b.clock().Unix()), Signed: e.signed}
}

// get finds a treaty by any of its CIDs (any version, or the unsigned body).
func (b *book) get(id cid.Cid) (TreatyInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.lookupLocked(id)
	if e == nil {
		return TreatyInfo{}, false
	}
	return b.infoLocked(e), true
}

// lookup finds a treaty by any of its CIDs without computing its state,
// and returns it with its current CID.
func (b *book) lookup(id cid.Cid) (*treaty.Treaty, treaty.Link, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.lookupLocked(id)
	if e == nil {
		return nil, treaty.Link{}, false
	}
	return e.t, treaty.LinkTo(e.cid), true
}

// list returns every treaty, ordered by not_before then CID.
func (b *book) list() []TreatyInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock().Unix()
	out := make([]TreatyInfo, 0, len(b.entries))
	for _, e := range b.entries {
		out = append(out, TreatyInfo{CID: treaty.LinkTo(e.cid), Treaty: e.t, State: b.stateLocked(e, now), Signed: e.signed})
	}
	slices.SortFunc(out, func(x, y TreatyInfo) int {
		if x.Treaty.NotBefore != y.Treaty.NotBefore {
			if x.Treaty.NotBefore < y.Treaty.NotBefore {
				return -1
			}
			return 1
		}
		return strings.Compare(x.CID.String(), y.CID.String())
	})
	return out
}

func (b *book) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.entries)
}

// has reports whether the book knows this treaty version or revocation.
func (b *book) has(id cid.Cid) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.alias[id]; ok {
		return true
	}
	_, ok := b.revs[id]
	return ok
}

// knows reports whether every signature on c is already in the book.
func (b *book) knows(c *checked) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[c.body]
	if e == nil {
		return false
	}
	for _, ps := range c.t.Sigs {
		if !slices.ContainsFunc(e.t.Sigs, func(h treaty.PartySig) bool { return h.DID == ps.DID }) {
			return false
		}
	}
	return true
}

// syncIDs lists, for anti-entropy, every treaty's current CID then every
// revocation's CID (so that a peer fetching in order learns a treaty
// before its revocations).
func (b *book) syncIDs() []treaty.Link {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]treaty.Link, 0, len(b.entries)+len(b.revs))
	for _, e := range b.entries {
		out = append(out, treaty.LinkTo(e.cid))
	}
	for r := range b.revs {
		out = append(out, treaty.LinkTo(r))
	}
	return out
}

// record returns the envelope of a treaty (its current merged version, for
// any alias) or of a revocation.
func (b *book) record(id cid.Cid) (*envelope, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.lookupLocked(id); e != nil {
		raw, err := treaty.Encode(e.t)
		if err != nil {
			return nil, false
		}
		return &envelope{Treaty: raw}, true
	}
	if body, ok := b.revs[id]; ok {
		e := b.entries[body]
		i := slices.Index(e.revIDs, id)
		raw, err := treaty.Encode(e.revs[i])
		if err != nil {
			return nil, false
		}
		return &envelope{Revocation: raw}, true
	}
	return nil, false
}

// current returns the snapshot of our treaties, rebuilding it when a change
// or the clock invalidated it.
func (b *book) current() *oursView {
	now := b.clock().Unix()
	if v := b.ours.Load(); v != nil && now < v.until {
		return v
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if v := b.ours.Load(); v != nil && now < v.until {
		return v
	}
	v := &oursView{until: 1<<62 - 1, byAlias: map[cid.Cid]*activeTreaty{}, partners: map[peer.ID]treaty.DID{}, keep: map[peer.ID]treaty.DID{}}
	for body := range b.mine {
		e := b.entries[body]
		st := b.stateLocked(e, now)
		v.until = min(v.until, e.until)
		if st != treaty.StateActive && !(st == treaty.StateProposed && e.signedU) {
			continue
		}
		for _, p := range e.t.Parties {
			if p == b.me {
				continue
			}
			id, err := PeerIDOf(p)
			if err != nil {
				continue
			}
			v.keep[id] = p
			if st == treaty.StateActive {
				v.partners[id] = p
			}
		}
		if st != treaty.StateActive {
			continue
		}
		at := &activeTreaty{link: treaty.LinkTo(e.cid), body: treaty.LinkTo(body), t: e.t}
		v.active = append(v.active, at)
		v.byAlias[e.cid] = at
	}
	for a, body := range b.alias {
		if !b.mine[body] {
			continue
		}
		if at := v.byAlias[b.entries[body].cid]; at != nil {
			v.byAlias[a] = at
		}
	}
	slices.SortFunc(v.active, func(x, y *activeTreaty) int { return strings.Compare(x.link.String(), y.link.String()) })
	b.ours.Store(v)
	return v
}

// load reads the book from the datastore. Records that no longer decode or
// verify are logged and skipped: the store is ours, but a bad record must
// not stop the node.
func (b *book) load(ctx context.Context) error {
	treaties, err := queryAll(ctx, b.ds, keyTreaty)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, kv := range treaties {
		var t treaty.Treaty
		if err := treaty.Decode(kv.Value, &t); err != nil {
			b.log.Warn("stored treaty does not decode; skipped", "key", kv.Key, "err", err)
			continue
		}
		signed, err := treaty.VerifyTreaty(&t)
		if err != nil || t.Validate() != nil {
			b.log.Warn("stored treaty does not verify; skipped", "key", kv.Key, "err", err)
			continue
		}
		body, err := bodyCID(&t)
		if err != nil {
			continue
		}
		b.putLocked(body, &t, treaty.CIDOf(kv.Value), signed, nil)
		b.alias[body], b.alias[b.entries[body].cid] = body, body
	}
	aliases, err := queryAll(ctx, b.ds, keyAlias)
	if err != nil {
		return err
	}
	for _, kv := range aliases {
		a, err1 := cid.Decode(strings.TrimPrefix(kv.Key, keyAlias))
		body, err2 := cid.Cast(kv.Value)
		if err1 != nil || err2 != nil || b.entries[body] == nil {
			continue
		}
		b.alias[a] = body
	}
	revs, err := queryAll(ctx, b.ds, keyRevocation)
	if err != nil {
		return err
	}
	for _, kv := range revs {
		var r treaty.Revocation
		if err := treaty.Decode(kv.Value, &r); err != nil || checkRevocation(&r) != nil {
			b.log.Warn("stored revocation does not verify; skipped", "key", kv.Key)
			continue
		}
		if e := b.lookupLocked(r.Treaty.Cid); e != nil && e.t.IsParty(r.By) {
			b.attachLocked(e, &r, treaty.CIDOf(kv.Value))
		}
	}
	b.ours.Store(nil)
	return nil
}

type keyValue struct {
	Key   string
	Value []byte
}

func queryAll(ctx context.Context, ds datastore.Read, prefix string) ([]keyValue, error) {
	res, err := ds.Query(ctx, query.Query{Prefix: strings.TrimSuffix(prefix, "/")})
	if err != nil {
		return nil, fmt.Errorf("mesh: load %s: %w", prefix, err)
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, fmt.Errorf("mesh: load %s: %w", prefix, err)
	}
	out := make([]keyValue, 0, len(entries))
	for _, e := range entries {
		if strings.HasPrefix(e.Key, prefix) {
			out = append(out, keyValue{Key: e.Key, Value: e.Value})
		}
	}
	return out, nil
}
