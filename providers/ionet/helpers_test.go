package ionet_test

import (
	"log/slog"

	"github.com/aurora-federation/aurora/providers/providertest"
)

func loggerInto(b *providertest.LogBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
