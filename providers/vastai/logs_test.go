package vastai_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/providertest"
	"github.com/aurora-federation/aurora/providers/vastai"
	"github.com/aurora-federation/aurora/providers/vastai/vastaitest"
)

// TestLogs: showLogs against the fake behind the OpenAPI checker: the
// last tail lines of the container log come back once the upload is done
// (the file answers 404 first, as S3 does); an unknown instance is
// ErrNotFound; a file never uploaded within vast-cli's 30 fetches is an
// error.
func TestLogs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		delay   int
		wantErr bool
	}{
		{"uploaded at once", 0, false},
		{"uploaded after 29 fetches", 29, false},
		{"never uploaded in 30 fetches", 30, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := vastaitest.NewServer(vastaitest.Options{LogUploadDelay: tc.delay})
			c, err := newClient(t, serve(t, srv), secret, vastai.Config{})
			if err != nil {
				t.Fatal(err)
			}
			lease, err := c.Launch(t.Context(), providers.LaunchSpec{JobID: "j", IdempotencyKey: providers.IdempotencyKey("j"),
				Offer: providers.Offer{ID: "7004001", PricePerHour: 180_000}, Workload: providertest.DefaultWorkload(providers.Query{})})
			if err != nil {
				t.Fatal(err)
			}
			for range 5 {
				srv.Advance()
			}
			res, err := providers.Logs(t.Context(), c, lease.ID, 2)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "not uploaded") {
					t.Fatalf("Logs = %q, %v; want an error", res.Text, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(res.Text), "\n"), "\n")
			if len(lines) != 2 || !strings.Contains(lines[1], "tick") || res.Truncated {
				t.Errorf("last 2 lines: %q (truncated %v)", res.Text, res.Truncated)
			}
		})
	}
	srv := vastaitest.NewServer(vastaitest.Options{})
	c, err := newClient(t, serve(t, srv), secret, vastai.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := providers.Logs(t.Context(), c, "424242", 10); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("unknown instance: %v, want ErrNotFound", err)
	}
	if _, err := providers.Logs(t.Context(), c, "424242", providers.MaxLogTail+1); err == nil {
		t.Error("a tail beyond MaxLogTail was sent")
	}
	if ok, why := providers.LogsSupported(c); !ok || why != "" {
		t.Errorf("LogsSupported = %v %q", ok, why)
	}
}
