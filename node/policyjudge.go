package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aurora-federation/aurora/judge"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/policy"
)

// newPolicyJudge builds the engine; it registers the decision metrics
// (aurora_policy_decision_duration_seconds per guest call, decisions and
// failures by cause) on reg when reg is non-nil.
func newPolicyJudge(ctx context.Context, cfg Config, cacheDir string, log *slog.Logger, reg prometheus.Registerer) (order.Judge, func(context.Context) error, error) {
	deadline := time.Duration(cfg.Policy.DeadlineMS) * time.Millisecond
	eng, err := policy.New(policy.Config{CacheDir: cacheDir, Logger: log, DefaultDeadline: deadline, Registerer: reg})
	if err != nil {
		return nil, nil, err
	}
	var mod cid.Cid
	switch m := cfg.Policy.Module; {
	case m == "" || m == "std":
		mod, err = eng.LoadStd(ctx)
	default:
		var wasm []byte
		if wasm, err = os.ReadFile(m); err == nil {
			mod, err = eng.Load(ctx, wasm)
		}
	}
	if err != nil {
		eng.Close(ctx)
		return nil, nil, fmt.Errorf("node: policy module: %w", err)
	}
	return judge.NewWASM(eng, mod), eng.Close, nil
}
