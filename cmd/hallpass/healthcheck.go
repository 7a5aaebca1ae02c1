package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/hallpass/hallpass/internal/healthcheck"
)

// newHealthcheckCmd is `hallpass healthcheck`: the container HEALTHCHECK.
// It GETs /readyz of the hallpass serving on --addr (HALLPASS_ADDR, the
// very setting `serve` listens on; a 0.0.0.0 or [::] host is reached at
// 127.0.0.1) and succeeds only on 200.
func newHealthcheckCmd(g *globalOptions) *cobra.Command {
	var (
		addr    string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if the hallpass serving on --addr is ready, 1 otherwise (for container health checks)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := healthcheck.Check(ctx, &http.Client{}, addr, "/readyz"); err != nil {
				return fmt.Errorf("not ready: %w", err)
			}
			fmt.Fprintln(g.stdout, "ready")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "localhost:8080", "the address `hallpass serve` listens on (HALLPASS_ADDR)")
	f.DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}
