package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/storage"
)

func newAuditCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and verify the audit log (same as /admin/audit, directly on the database)",
	}

	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain and signed checkpoints; exit 1 naming the first entry altered, removed or reordered",
		Long: `Walk the retained audit chain and every signed checkpoint.

Exit 0 and print a summary as JSON when the chain is intact; exit 1 naming
the first entry that was altered, removed or reordered (or a checkpoint
whose signature or content is wrong). Checkpoints signed by a key the
database no longer holds are counted as "unchecked": only their agreement
with the chain is checked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withStore(cmd, func(st storage.Store) error {
				rep, err := audit.Verify(cmd.Context(), st)
				if err != nil {
					var te *audit.TamperError
					if errors.As(err, &te) {
						return fmt.Errorf("audit verify: %w", te)
					}
					return err
				}
				if rep.Unchecked > 0 {
					fmt.Fprintf(g.stderr, "warning: %d checkpoints are signed by keys no longer in the database; their signatures were not checked\n", rep.Unchecked)
				}
				return g.printJSON(map[string]any{"ok": true, "first": rep.First, "last": rep.Last,
					"entries": rep.Entries, "checkpoints": rep.Checkpoints, "unchecked_checkpoints": rep.Unchecked})
			})
		},
	}

	var (
		q     storage.AuditQuery
		since string
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit entries as JSON, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A filter of text no entry can hold (invalid UTF-8, a
			// NUL) is refused, as the admin API refuses it (400): the
			// store matches nothing to it, so the answer would be an
			// empty list, read as "no such entries".
			if err := readableInput(cmd, nil); err != nil {
				return err
			}
			// The filters GET /admin/audit refuses are refused here
			// too, for the same reason.
			if err := audit.CheckQuery(q); err != nil {
				return fmt.Errorf("--%w", err)
			}
			if since != "" {
				t, err := time.Parse(time.RFC3339, since)
				if err != nil {
					return fmt.Errorf("--since %q: use RFC 3339, e.g. 2026-12-01T00:00:00Z", since)
				}
				q.Since = t
			}
			if q.AfterSeq < 0 {
				// The store would take it as no bound, listing from the
				// first entry; the admin API refuses it as well.
				return fmt.Errorf("--after %d: must be the seq of an entry (0 or more)", q.AfterSeq)
			}
			if q.Limit < 0 {
				return fmt.Errorf("--limit %d: must be 0 (no bound) or more", q.Limit)
			}
			return g.withStore(cmd, func(st storage.Store) error {
				es, err := st.ListAudit(cmd.Context(), q)
				if err != nil {
					return err
				}
				out := make([]audit.EntryView, 0, len(es))
				for i := range es {
					out = append(out, audit.View(&es[i]))
				}
				return g.printJSON(out)
			})
		},
	}
	f := list.Flags()
	f.StringVar(&since, "since", "", "only entries at or after this time (RFC 3339)")
	f.StringVar(&q.Actor, "actor", "", "only entries of this actor (admin-token, cli:NAME, user:ID)")
	f.StringVar(&q.Action, "type", "", "only entries of this type (signin.failure) or family (signin)")
	f.Int64Var(&q.AfterSeq, "after", 0, "only entries after this seq (paging)")
	f.IntVar(&q.Limit, "limit", 0, "at most this many entries (0: all)")

	cmd.AddCommand(verify, list)
	return cmd
}

// cliActor names who runs a command, for the audit log: cli:<user name>.
func cliActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	} else if v := os.Getenv("USER"); v != "" {
		name = v
	}
	return "cli:" + name
}

// cliAudit is the audit log of a command that changes the database. Its
// entries are in the database for the servers' log shippers and `audit
// list`; a command's stderr stays for its own output. signer, when set,
// signs the checkpoints due.
func cliAudit(st storage.Store, signer audit.Signer) *audit.Log {
	return audit.New(st, audit.Options{Logger: slog.New(slog.DiscardHandler), Signer: signer})
}
