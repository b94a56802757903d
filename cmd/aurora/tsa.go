package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/aurora-federation/aurora/provenance/tsa"
)

func newTSACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tsa",
		Short: "Development RFC 3161 time-stamping authority",
	}
	cmd.AddCommand(newTSAServeCmd())
	return cmd
}

func newTSAServeCmd() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a development TSA over HTTP until interrupted",
		Long: `Serve RFC 3161 (POST application/timestamp-query) with a development TSA.

On first start it creates a root CA and a TSA certificate under <home>/tsa;
later starts reuse them. Configure the printed root certificate as the TSA
trust anchor. Tokens also verify with:

  openssl ts -verify -digest HEX -in token.tsr -CAfile <root>

Not for production: the keys are unencrypted files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := homeDir(cmd)
			if err != nil {
				return err
			}
			return serveTSA(cmd.Context(), cmd, listen, filepath.Join(home, "tsa"))
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:3161", "address to listen on (port 0 picks a free port)")
	return cmd
}

func serveTSA(ctx context.Context, cmd *cobra.Command, listen, dir string) error {
	dev, err := tsa.NewDevTSA(dir, nil)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("tsa: %w", err)
	}
	srv := &http.Server{
		Handler:           dev.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    8 << 10,
	}
	fmt.Fprintf(cmd.OutOrStdout(), "tsa: serving RFC 3161 at http://%s/\n", ln.Addr())
	fmt.Fprintf(cmd.OutOrStdout(), "tsa: root certificate %s\n", dev.RootCertPath())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("tsa: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("tsa: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("tsa: %w", err)
	}
	return nil
}
