package order

import (
	"fmt"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/treaty"
)

// Sealed secrets (treaty.SealSecrets) are opened twice, both times in
// memory only: at admission, to refuse an order sealed to another operator
// or whose box does not open (400 bad_secrets, nothing stored), and at each
// launch attempt, into the LaunchSpec's SecretEnv. The ledger keeps the
// order as the tenant signed it, box included; no leaf, block, log line or
// API view holds a value, and launch errors are scrubbed of them
// (providers.RedactError in the router) before they become transitions.
// The router plans such orders on local providers that take secret env
// only: a treaty peer could not open the box.

// checkSecrets refuses an order whose sealed secrets this operator cannot
// open.
func (c *Core) checkSecrets(o *treaty.Order) error {
	if o.Secrets == nil {
		return nil
	}
	if _, err := c.cfg.Key.OpenSecrets(o); err != nil {
		return &RejectError{Status: 400, Code: "bad_secrets", Field: "secrets", Err: fmt.Errorf("order: %w", err)}
	}
	return nil
}

// openSecrets returns o's sealed secrets for a launch spec; nil without.
func (c *Core) openSecrets(o *treaty.Order) ([]providers.SecretEnvVar, error) {
	env, err := c.cfg.Key.OpenSecrets(o)
	if err != nil || len(env) == 0 {
		if err != nil {
			err = fmt.Errorf("order: secrets: %w", err)
		}
		return nil, err
	}
	out := make([]providers.SecretEnvVar, len(env))
	for i, e := range env {
		out[i] = providers.SecretEnvVar{Name: e.Name, Value: providers.SecretValue(e.Value)}
	}
	return out, nil
}
