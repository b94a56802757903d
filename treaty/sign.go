package treaty

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
)

// DomainPrefix starts every signed message: "aurora/v1/<kind>\n".
const DomainPrefix = "aurora/v1/"

// Signed is a record with a single signer.
type Signed interface {
	Record
	// Signer is the DID whose key must have produced the signature.
	Signer() DID
	signature() *[]byte
}

func (o *Order) Signer() DID            { return o.Client }
func (a *Ack) Signer() DID              { return a.Operator }
func (d *Denial) Signer() DID           { return d.Operator }
func (r *Revocation) Signer() DID       { return r.By }
func (r *ReputationReport) Signer() DID { return r.Reporter }
func (c *Cancel) Signer() DID           { return c.Client }

func (o *Order) signature() *[]byte            { return &o.Sig }
func (a *Ack) signature() *[]byte              { return &a.Sig }
func (d *Denial) signature() *[]byte           { return &d.Sig }
func (r *Revocation) signature() *[]byte       { return &r.Sig }
func (r *ReputationReport) signature() *[]byte { return &r.Sig }
func (c *Cancel) signature() *[]byte           { return &c.Sig }

// SignatureError reports a signature that does not verify, with the evidence
// needed to tell which record and which signer.
type SignatureError struct {
	Kind   string
	Signer DID
	Reason string
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("treaty: %s signature by %s: %s", e.Kind, e.Signer.Short(), e.Reason)
}

// SigningBytes returns the message a signature over r covers:
// "aurora/v1/<kind>\n" followed by the dag-cbor of r without its signatures.
func SigningBytes(r Record) ([]byte, error) {
	var unsigned Record
	switch v := r.(type) {
	case *Treaty:
		c := *v
		c.Sigs = []PartySig{}
		unsigned = &c
	case Signed:
		unsigned = withoutSig(v)
	default:
		return nil, fmt.Errorf("treaty: %s records are not signed", r.Kind())
	}
	body, err := Encode(unsigned)
	if err != nil {
		return nil, err
	}
	msg := make([]byte, 0, len(DomainPrefix)+len(r.Kind())+1+len(body))
	msg = append(msg, DomainPrefix...)
	msg = append(msg, r.Kind()...)
	msg = append(msg, '\n')
	return append(msg, body...), nil
}

func withoutSig(s Signed) Record {
	switch v := s.(type) {
	case *Order:
		c := *v
		c.Sig = nil
		return &c
	case *Ack:
		c := *v
		c.Sig = nil
		return &c
	case *Denial:
		c := *v
		c.Sig = nil
		return &c
	case *Revocation:
		c := *v
		c.Sig = nil
		return &c
	case *ReputationReport:
		c := *v
		c.Sig = nil
		return &c
	case *Cancel:
		c := *v
		c.Sig = nil
		return &c
	case *Settlement:
		c := *v
		c.Sig = nil
		return &c
	case *SettlementReply:
		c := *v
		c.Sig = nil
		return &c
	case *SnapshotManifest:
		c := *v
		c.Sig = nil
		return &c
	}
	panic(fmt.Sprintf("treaty: withoutSig: unexpected %T", s))
}

// Sign sets r's signature with k. k must be the key of r.Signer().
func Sign(r Signed, k *PrivateKey) error {
	if k.DID() != r.Signer() {
		return &SignatureError{Kind: r.Kind(), Signer: r.Signer(), Reason: "signing key " + k.DID().Short() + " is not the signer's"}
	}
	msg, err := SigningBytes(r)
	if err != nil {
		return err
	}
	*r.signature() = k.sign(msg)
	return nil
}

// Verify checks r's signature against r.Signer().
func Verify(r Signed) error {
	pub, err := r.Signer().PublicKey()
	if err != nil {
		return &SignatureError{Kind: r.Kind(), Signer: r.Signer(), Reason: err.Error()}
	}
	sig := *r.signature()
	if len(sig) != ed25519.SignatureSize {
		return &SignatureError{Kind: r.Kind(), Signer: r.Signer(), Reason: fmt.Sprintf("signature is %d bytes, want %d", len(sig), ed25519.SignatureSize)}
	}
	msg, err := SigningBytes(r)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, msg, sig) {
		return &SignatureError{Kind: r.Kind(), Signer: r.Signer(), Reason: "does not verify"}
	}
	return nil
}

// SignTreaty adds (or replaces) k's signature on t. k must be a party's key.
// Sigs stay sorted by DID.
func SignTreaty(t *Treaty, k *PrivateKey) error {
	me := k.DID()
	if !slices.Contains(t.Parties, me) {
		return &SignatureError{Kind: t.Kind(), Signer: me, Reason: "signer is not a party"}
	}
	msg, err := SigningBytes(t)
	if err != nil {
		return err
	}
	sig := k.sign(msg)
	i, found := slices.BinarySearchFunc(t.Sigs, me, func(p PartySig, d DID) int { return strings.Compare(string(p.DID), string(d)) })
	if found {
		t.Sigs[i].Sig = sig
	} else {
		t.Sigs = slices.Insert(t.Sigs, i, PartySig{DID: me, Sig: sig})
	}
	return nil
}

// VerifyTreaty checks every signature on t and returns the parties whose
// signatures verify. A signature by a non-party or one that does not verify
// is an error: a treaty carrying a forged signature is rejected whole.
func VerifyTreaty(t *Treaty) ([]DID, error) {
	msg, err := SigningBytes(t)
	if err != nil {
		return nil, err
	}
	signed := make([]DID, 0, len(t.Sigs))
	for _, ps := range t.Sigs {
		if !slices.Contains(t.Parties, ps.DID) {
			return nil, &SignatureError{Kind: t.Kind(), Signer: ps.DID, Reason: "signer is not a party"}
		}
		pub, err := ps.DID.PublicKey()
		if err != nil {
			return nil, &SignatureError{Kind: t.Kind(), Signer: ps.DID, Reason: err.Error()}
		}
		if len(ps.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, ps.Sig) {
			return nil, &SignatureError{Kind: t.Kind(), Signer: ps.DID, Reason: "does not verify"}
		}
		signed = append(signed, ps.DID)
	}
	return signed, nil
}
