package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hallpass/hallpass/provider"
)

func main() {
	os.Exit(run(stopOnSignal(), os.Args[1:], os.Stdout, os.Stderr))
}

// stopOnSignal returns a context that the first SIGTERM or SIGINT ends:
// serve then drains for up to --shutdown-timeout. A second one ends the
// process at once, as Go does without a handler, rather than being caught
// and ignored while the operator waits out the drain. The handler is
// removed before the context ends, so that nothing the context's end
// sets off (serve's "shutting down") happens while a second signal would
// still be caught: removed after it (signal.NotifyContext's stop, run
// when the context is done), a second signal sent at once could be
// swallowed.
func stopOnSignal() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		cancel()
	}()
	return ctx
}

// run executes the command line args and returns the exit code; main is
// only the process glue, so tests drive run directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			return exit.code
		}
		fmt.Fprintln(stderr, "hallpass:", errorText(err))
		return 1
	}
	return 0
}

// errorText is how the CLI words a failed command. A refusal of the
// directory service leads with the error code the admin API answers it
// with (invalid_request, invalid_redirect_uri, not_found, conflict…), so
// the CLI and the API say the same; it exits 1 like any other error.
func errorText(err error) string {
	if code, ok := provider.ErrorCode(err); ok {
		return code + ": " + err.Error()
	}
	// Through --server, the admin API's answer says the same.
	var re *remoteError
	if errors.As(err, &re) && re.Code != "" {
		return re.Code + ": " + re.Error()
	}
	return err.Error()
}
