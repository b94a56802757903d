package tsa_test

import (
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/tsa"
)

// The provenance loop consumes these; the guards live in a test so that
// package tsa need not import provenance.
var (
	_ provenance.Timestamper    = (*tsa.Client)(nil)
	_ provenance.Timestamper    = (*tsa.DevTSA)(nil)
	_ provenance.TokenVerifier  = tsa.Verifier{}
	_ provenance.SignerVerifier = tsa.Verifier{}
)
