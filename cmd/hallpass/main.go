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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first SIGTERM or SIGINT stops gracefully (serve drains for up
	// to --shutdown-timeout); a second one ends the process at once, as
	// Go does without a handler, rather than being caught and ignored
	// while the operator waits out the drain.
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
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
