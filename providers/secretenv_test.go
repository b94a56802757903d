package providers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/treaty"
	gocmp "github.com/google/go-cmp/cmp"
)

// An order with sealed secrets is planned only on local providers that
// take secret env: never on a treaty peer (which could not open the box),
// nor on a provider whose network would publish the values.
func TestRouterPlansSealedOrdersOnSecretProvidersOnly(t *testing.T) {
	secretCaps := &Capabilities{Offers: true, Launch: true, Terminate: true, GPU: true, Features: []Feature{FeatureSecretEnv}}
	provs := []Provider{
		&rtFake{name: "plain", offers: []Offer{rtOffer("plain", "p-1", "eu-de", 500_000)}},
		&rtFake{name: "private", caps: secretCaps, offers: []Offer{rtOffer("private", "s-1", "eu-de", 900_000)}},
	}
	d := repDID(t, 21)
	peers := []PeerOption{{DID: d, Regions: []string{"eu-de"}, PricePerHour: 100_000}}
	r, _ := newRouter(t, RouterConfig{Providers: provs, Strategy: Cheapest{}, MaxCandidates: 10, MaxPerProvider: -1})

	plan, err := r.Plan(t.Context(), rtOrder(nil), Law{}, peers)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{"peer:" + string(d)[len(d)-4:], "p-1", "s-1"}, planIDs(plan)); diff != "" {
		t.Errorf("clear order plan (-want +got):\n%s", diff)
	}
	sealed := rtOrder(func(o *treaty.Order) { o.Secrets = &treaty.SealedEnv{To: d, Box: make([]byte, 64)} })
	plan, err = r.Plan(t.Context(), sealed, Law{}, peers)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{"s-1"}, planIDs(plan)); diff != "" {
		t.Errorf("sealed order plan (-want +got):\n%s", diff)
	}
	// With no provider taking secret env, the evidence says why.
	r2, _ := newRouter(t, RouterConfig{Providers: provs[:1], Strategy: Cheapest{}})
	_, err = r2.Plan(t.Context(), sealed, Law{}, peers)
	var nce *NoCandidateError
	if !errors.As(err, &nce) || nce.Rejected.Secrets != 2 || !strings.Contains(err.Error(), "sealed secrets 2") {
		t.Errorf("Plan without a secret-env provider = %v, want 2 rejections for sealed secrets", err)
	}
}

// A launch error that quotes a secret value (a network echoing its input)
// reaches onAttempt, the logs and the caller scrubbed, still matching the
// shared errors.
func TestRouterLaunchRedactsSecrets(t *testing.T) {
	const secret = "tok-6f1e9d2c"
	var logs strings.Builder
	echo := &rtFake{name: "echo", caps: &Capabilities{Offers: true, Launch: true, Terminate: true, GPU: true, Features: []Feature{FeatureSecretEnv}},
		offers: []Offer{rtOffer("echo", "e-1", "eu-de", 500_000)},
		launch: func(ctx context.Context, spec LaunchSpec) (Lease, error) {
			return Lease{}, fmt.Errorf("echo: 400 bad env %s=%s: %w", spec.SecretEnv[0].Name, spec.SecretEnv[0].Value.Reveal(), ErrNoCapacity)
		}}
	r, _ := newRouter(t, RouterConfig{Providers: []Provider{echo}, Strategy: Cheapest{}, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	plan, err := r.Plan(t.Context(), rtOrder(nil), Law{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := LaunchSpec{JobID: "j", Workload: rtOrder(nil).Workload, SecretEnv: []SecretEnvVar{{Name: "TOKEN", Value: SecretValue(secret)}}}
	var seen []error
	_, _, err = r.Launch(t.Context(), plan, spec, func(a Attempt) { seen = append(seen, a.Err) })
	if err == nil || !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("Launch = %v, want the provider's ErrNoCapacity", err)
	}
	for _, e := range append(seen, err) {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if out := fmt.Sprintf(verb, e); strings.Contains(out, secret) {
				t.Errorf("error %s shows the secret: %s", verb, out)
			}
		}
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("Launch error %q is not marked redacted", err)
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("logs show the secret:\n%s", logs.String())
	}
}

func TestRedactError(t *testing.T) {
	base := fmt.Errorf("x: %w", ErrAuth)
	if got := RedactError(base, []string{"zz"}); got != base {
		t.Errorf("a two-byte value was scrubbed: %v", got)
	}
	if got := RedactError(nil, []string{"secret"}); got != nil {
		t.Errorf("RedactError(nil) = %v", got)
	}
	e := RedactError(fmt.Errorf("pw=hunter2 again hunter2: %w", ErrAuth), []string{"hunter2"})
	if e.Error() != "pw=[redacted] again [redacted]: providers: authentication failed" || !errors.Is(e, ErrAuth) {
		t.Errorf("RedactError = %q (Is ErrAuth %v)", e, errors.Is(e, ErrAuth))
	}
}
