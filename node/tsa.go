package node

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/tsa"
)

// configureTSAs sets the epoch loop's two RFC 3161 timestampers and token
// verifier from [provenance] tsa (two URLs) and tsa_roots (a PEM file with
// both TSAs' root certificates). No TSAs configured = no timestamps (and no
// attested epochs).
func configureTSAs(ecfg *provenance.EpochsConfig, pc ProvenanceConfig, log *slog.Logger) error {
	switch len(pc.TSA) {
	case 0:
		return nil
	case 2:
	default:
		return &ConfigError{Key: "provenance.tsa", Reason: fmt.Sprintf("%d URLs: name two independent TSAs (dual timestamping)", len(pc.TSA))}
	}
	if err := tsa.CheckDistinctURLs(pc.TSA[0], pc.TSA[1]); err != nil {
		return &ConfigError{Key: "provenance.tsa", Reason: err.Error() + ": dual timestamping needs two independent TSAs"}
	}
	if pc.TSARoots == "" {
		return &ConfigError{Key: "provenance.tsa_roots", Reason: "required with provenance.tsa: a PEM file of the TSAs' root certificates"}
	}
	pem, err := os.ReadFile(pc.TSARoots)
	if err != nil {
		return &ConfigError{Key: "provenance.tsa_roots", Reason: err.Error()}
	}
	roots, err := tsa.CertPoolFromPEM(pem)
	if err != nil {
		return &ConfigError{Key: "provenance.tsa_roots", Reason: err.Error()}
	}
	for i, u := range pc.TSA {
		ecfg.Timestampers[i] = &tsa.Client{URL: u, Roots: roots, Logger: log}
	}
	ecfg.TSAVerifier = tsa.Verifier{Opts: tsa.VerifyOptions{Roots: roots}}
	return nil
}
