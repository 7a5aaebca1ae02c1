package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// minRotationPeriod is the shortest --key-rotation-period accepted. Each
// rotation publishes a key one lead (JWKS max-age + key refresh + skew,
// minutes) ahead and keeps the old one for the longest token lifetime
// (an hour by default); shorter periods would pile up published keys and
// buy nothing.
const minRotationPeriod = time.Hour

// keySchedule holds the flags that shape the signing-key schedule. serve
// and the keys commands register the same flags, so that with the same
// HALLPASS_* environment a rotation planned from the command line follows
// the schedule the servers run.
type keySchedule struct {
	bits                int
	rotationPeriod      time.Duration
	refresh             time.Duration
	accessTokenLifespan time.Duration
	idTokenLifespan     time.Duration
}

func (k *keySchedule) addFlags(f *pflag.FlagSet) {
	f.IntVar(&k.bits, "key-bits", 2048, "RSA size of generated signing keys: 2048, 3072 or 4096")
	f.DurationVar(&k.rotationPeriod, "key-rotation-period", keys.DefaultRotationPeriod, "how long a signing key signs before the next one takes over (at least 1h)")
	f.DurationVar(&k.refresh, "key-refresh", time.Minute, "how often each server reloads the signing keys and runs the rotation schedule; replicas follow each other's changes within this bound (0: never, for a single process in tests)")
	f.DurationVar(&k.accessTokenLifespan, "access-token-lifespan", 10*time.Minute, "access token lifetime")
	f.DurationVar(&k.idTokenLifespan, "id-token-lifespan", time.Hour, "ID token lifetime")
	requirePositive(f, "access-token-lifespan", "id-token-lifespan")
}

// options validates the flags and returns the key manager's options.
func (k *keySchedule) options(log *slog.Logger) (keys.Options, error) {
	if k.rotationPeriod < minRotationPeriod {
		return keys.Options{}, fmt.Errorf("--key-rotation-period %v is too short: the minimum is %v", k.rotationPeriod, minRotationPeriod)
	}
	if k.refresh < 0 {
		return keys.Options{}, fmt.Errorf("--key-refresh %v must not be negative", k.refresh)
	}
	return keys.Options{
		Bits:           k.bits,
		Logger:         log,
		RotationPeriod: k.rotationPeriod,
		// Retired keys stay published until the longest-lived token they
		// signed has expired.
		MaxTokenLifetime: max(k.accessTokenLifespan, k.idTokenLifespan),
		RefreshInterval:  k.refresh,
	}, nil
}

func newKeysCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage signing keys (as /admin/keys: on --server, or directly on the database)",
		Long: `Manage the signing keys through a running server's admin API (--server and
the admin token), or directly on the database. Running servers follow every
change within about a second (they poll a change counter).

On the database, give these commands the same settings as the servers (the
same HALLPASS_* variables): the secret, the database, and the key schedule
flags. Through --server, the server's own settings apply. reencrypt works on
the database only.`,
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List every signing key as JSON: kid, algorithm, state, created, activates, retires, removes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c, err := g.remote(); err != nil || c != nil {
				if err != nil {
					return err
				}
				var infos []keys.KeyInfo
				if err := c.do(cmd.Context(), http.MethodGet, "/admin/keys", nil, &infos); err != nil {
					return err
				}
				return g.printJSON(infos)
			}
			st, err := g.migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			infos, err := keys.List(cmd.Context(), st)
			if err != nil {
				return err
			}
			return g.printJSON(infos)
		},
	}

	var rotateSchedule keySchedule
	var immediate bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Rotate the signing key now; prints the key that takes over",
		Long: `Rotate the signing key outside the schedule.

By default the rotation stays safe for resource servers: the next key is
promoted at once if it has been published long enough (JWKS max-age +
--key-refresh + 1m), otherwise it is published now and a server promotes it
once that lead has passed; the answer's activates_at says when.

--immediate makes the next key sign at once. It has been published since the
previous promotion, so resource servers that fetched the JWKS since already
hold it. Only if there is no next key (it was revoked) does a freshly
generated key sign at once; the command then warns and the answer carries
"unpublished_key": true, because resource servers reject that key's tokens
until they refetch the JWKS. Either way a new next key is published.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c, err := g.remote(); err != nil || c != nil {
				if err != nil {
					return err
				}
				var out provider.RotateResponse
				if err := c.do(cmd.Context(), http.MethodPost, "/admin/keys/rotate", provider.RotateRequest{Immediate: immediate}, &out); err != nil {
					return err
				}
				if out.Warning != "" {
					fmt.Fprintf(g.stderr, "warning: %s\n", out.Warning)
				}
				return g.printRotation(out)
			}
			st, km, err := g.keyManager(cmd, &rotateSchedule)
			if err != nil {
				return err
			}
			defer st.Close()
			info, err := km.RotateNow(cmd.Context(), immediate)
			if err != nil {
				return err
			}
			if info.State == storage.KeyActive {
				fmt.Fprintf(g.stderr, "key %s is now the active key; servers sign with it within about a second\n", info.ID)
			} else {
				fmt.Fprintf(g.stderr, "key %s is published and takes over at %s\n", info.ID, info.ActivatesAt.Format(time.RFC3339))
			}
			if info.Unpublished {
				fmt.Fprintf(g.stderr, "warning: %s\n", provider.UnpublishedWarning)
			}
			return g.printRotation(provider.NewRotateResponse(info, immediate))
		},
	}
	rotateSchedule.addFlags(rotate.Flags())
	rotate.Flags().BoolVar(&immediate, "immediate", false, "make a new key sign at once, without waiting for resource-server JWKS caches (see above)")

	var revokeSchedule keySchedule
	revoke := &cobra.Command{
		Use:   "revoke [--] KID",
		Short: "Remove a compromised signing key at once; its tokens stop verifying",
		Long: `Remove a compromised signing key from the database and so from the JWKS:
every server stops publishing it within about a second, and every token it
signed stops verifying and fails introspection. If it was the active key, the
published next key signs at once, and a new next key is published.

Resource servers that cached the JWKS keep accepting the key's tokens until
their cache expires (the JWKS max-age, 5 minutes); afterwards they reject
them. Only if no next key existed does a freshly generated key sign; the
command then warns, because resource servers reject that key's tokens until
they refetch the JWKS. Refresh tokens are not signed with the key and keep
working, so clients get new access tokens.

A kid is the key's RFC 7638 thumbprint in base64url, which may begin with
'-': put '--' before it ('hallpass keys revoke -- KID') so that it is not
read as a flag.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if c, err := g.remote(); err != nil || c != nil {
				if err != nil {
					return err
				}
				var out provider.RevokeResponse
				if err := c.do(cmd.Context(), http.MethodPost, "/admin/keys/"+url.PathEscape(args[0])+"/revoke", nil, &out); err != nil {
					return err
				}
				if out.Warning != "" {
					fmt.Fprintf(g.stderr, "warning: %s\n", out.Warning)
				}
				return g.printRevocation(out)
			}
			st, km, err := g.keyManager(cmd, &revokeSchedule)
			if err != nil {
				return err
			}
			defer st.Close()
			active, err := km.Revoke(cmd.Context(), args[0])
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no signing key %q (see `hallpass keys list`)", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "revoked key %s; the active key is %s\n", args[0], active.ID)
			if active.Unpublished {
				fmt.Fprintf(g.stderr, "warning: %s\n", provider.UnpublishedWarning)
			}
			return g.printRevocation(provider.NewRevokeResponse(args[0], active))
		},
	}
	revokeSchedule.addFlags(revoke.Flags())

	reencrypt := &cobra.Command{
		Use:   "reencrypt",
		Short: "Re-encrypt every private key and sealed setting under HALLPASS_NEW_SECRET",
		Long: `Change the key-encryption secret. The current secret (HALLPASS_SECRET, or
the secret file) opens every signing key and sealed setting; the new secret,
from HALLPASS_NEW_SECRET, seals them again, all in one transaction. When the
current secret came from the secret file, the file then holds the new one.

Servers still running with the old secret cannot reload the keys any more:
restart every server with the new secret right away (they keep signing from
memory for at most twice --key-refresh, then report not ready).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.databaseOnly(cmd); err != nil {
				return err
			}
			oldSecret, file, err := g.existingSecret()
			if err != nil {
				return err
			}
			newSecret := []byte(os.Getenv("HALLPASS_NEW_SECRET"))
			if len(newSecret) < keys.MinSecretLen {
				return fmt.Errorf("HALLPASS_NEW_SECRET must be set to at least %d characters (e.g. `openssl rand -base64 32`)", keys.MinSecretLen)
			}
			// The secret file is read trimmed: a new secret with a space or
			// newline at either end, sealed as given and written there,
			// would read back as another secret, and no server could open
			// the keys. Refused whatever the secret's source, before
			// anything is re-sealed: a padded value is a copying mistake.
			if len(bytes.TrimSpace(newSecret)) != len(newSecret) {
				return errors.New("HALLPASS_NEW_SECRET begins or ends with whitespace (a space or newline copied with it?); nothing was changed: set it without")
			}
			if bytes.Equal(oldSecret, newSecret) {
				return errors.New("HALLPASS_NEW_SECRET is the current secret; nothing to do")
			}
			from, err := keys.NewSealer(oldSecret)
			if err != nil {
				return err
			}
			to, err := keys.NewSealer(newSecret)
			if err != nil {
				return err
			}
			st, err := g.migratedStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := keys.Reencrypt(cmd.Context(), st, from, to, provider.SealedSettings(), provider.SealedRows(st)...)
			if err != nil {
				return err
			}
			if file != "" {
				if err := replaceFile(file, append(newSecret, '\n')); err != nil {
					return fmt.Errorf("the database now uses HALLPASS_NEW_SECRET, but writing it to %s failed: %w; put it there by hand", file, err)
				}
			}
			next := "set HALLPASS_SECRET to the new secret and restart every server now"
			if file != "" {
				next = file + " now holds the new secret; restart every server"
			}
			return g.confirmChange("the database now uses HALLPASS_NEW_SECRET", next,
				fmt.Sprintf("re-encrypted %d signing keys, %d settings and %d authenticator secrets under the new secret\n%s", res.Keys, res.Settings, res.Rows, next))
		},
	}

	cmd.AddCommand(list, rotate, revoke, reencrypt)
	return cmd
}

// keyManager opens the database and loads a key manager on it with the
// configured secret, which must already exist.
func (g *globalOptions) keyManager(cmd *cobra.Command, sched *keySchedule) (storage.Store, *keys.Manager, error) {
	log, err := g.logger()
	if err != nil {
		return nil, nil, err
	}
	opts, err := sched.options(log)
	if err != nil {
		return nil, nil, err
	}
	secret, _, err := g.existingSecret()
	if err != nil {
		return nil, nil, err
	}
	sealer, err := keys.NewSealer(secret)
	if err != nil {
		return nil, nil, err
	}
	st, err := g.migratedStore(cmd)
	if err != nil {
		return nil, nil, err
	}
	var km *keys.Manager
	opts.Audit = cliAudit(st, audit.SignerFunc(func(payload []byte, typ string) (string, error) { return km.Sign(payload, typ) }))
	km, err = keys.NewManager(st, sealer, opts)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, km, nil
}

// existingSecret returns the key-encryption secret as serve finds it, but
// never generates one: a keys command must not seal anything under a
// secret no server knows. file is where it was read from, "" when it came
// from HALLPASS_SECRET.
func (g *globalOptions) existingSecret() (secret []byte, file string, err error) {
	if os.Getenv("HALLPASS_SECRET") == "" {
		file = g.secretPath()
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("no key-encryption secret: HALLPASS_SECRET is unset and %s does not exist", file)
		}
	}
	secret, err = g.secret(slog.New(slog.DiscardHandler), func(string) error {
		return fmt.Errorf("no key-encryption secret: HALLPASS_SECRET is unset and %s does not exist", file)
	})
	if err != nil {
		return nil, "", err
	}
	return secret, file, nil
}

// replaceFile writes data to path atomically, mode 0600, so a crash
// leaves either the old secret or the new one, never half of either.
func replaceFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hallpass-secret-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// printRotation prints a rotation that was made. Its output lost (a full
// disk), the error says the key was rotated all the same: read as a
// failure, the rotation was run again, and a second --immediate one made
// sign the next key published only moments before, which resource
// servers that cached the JWKS do not hold yet.
func (g *globalOptions) printRotation(r provider.RotateResponse) error {
	return afterChange("the signing key was rotated (key "+r.ID+" takes over)", "hallpass keys list shows the keys as they now are; do not rotate again for this",
		func() error { return g.printJSON(r) })
}

// printRevocation prints a revocation that was made, as printRotation.
func (g *globalOptions) printRevocation(r provider.RevokeResponse) error {
	return afterChange("key "+r.Revoked+" was revoked (the active key is "+r.ActiveKID+")", "hallpass keys list shows the keys as they now are",
		func() error { return g.printJSON(r) })
}
