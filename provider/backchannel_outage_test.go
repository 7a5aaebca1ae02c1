package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// ourOutage makes hallpass's own part of sending a back-channel logout
// notice to one client fail while it is on: loading the client, as a
// failing database would (loading), or signing the logout token
// (signing). It counts the failures it made.
type ourOutage struct {
	loading, signing atomic.Bool
	client           atomic.Value // the id of the client whose notices fail
	failures         atomic.Int32
}

// outageStore is a store whose GetClient of the outage's client fails
// while the outage's loading is on.
type outageStore struct {
	storage.Store
	o *ourOutage
}

func (s outageStore) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if s.o.loading.Load() && s.o.client.Load() == id {
		s.o.failures.Add(1)
		return nil, fmt.Errorf("get client %s: %w: injected connection reset", id, storage.ErrUnavailable)
	}
	return s.Store.GetClient(ctx, id)
}

// outageKeys is a key manager whose signing of the logout tokens of the
// outage's client fails while the outage's signing is on.
type outageKeys struct {
	provider.KeyManager
	o *ourOutage
}

func (k outageKeys) Sign(payload []byte, typ string) (string, error) {
	var claims struct {
		Aud string `json:"aud"`
	}
	if typ == "logout+jwt" && k.o.signing.Load() && json.Unmarshal(payload, &claims) == nil && k.o.client.Load() == claims.Aud {
		k.o.failures.Add(1)
		return "", fmt.Errorf("sign: injected failure of the key store")
	}
	return k.KeyManager.Sign(payload, typ)
}

// TestBackchannelLogoutOutlastsOurFailures: failures of ours (the
// database failing to load a notice's client, the key failing to sign
// its logout token) for more rounds than a notice has attempts spend none
// of them, and are logged as errors: once they end, the notice is
// delivered; and a client that then fails every time is still sent it
// exactly BackchannelAttempts times before it is given up. Before, every
// round of ours spent an attempt (a failed load by leaving the notice
// leased), so the notice was given up and the client never told that the
// user had logged out.
func TestBackchannelLogoutOutlastsOurFailures(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		out := &ourOutage{}
		out.client.Store("")
		logs := &syncBuffer{}
		e := newSSOEnv(t, dsn, fastOutbox, func(c *provider.Config) {
			c.Store = outageStore{Store: c.Store, o: out}
			c.Keys = outageKeys{KeyManager: c.Keys, o: out}
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		})
		e.Provider.ShortenBackchannelBackoff(time.Millisecond)
		// logged reports whether a record at level with a message msg
		// names client id.
		logged := func(level, msg, id string) bool {
			for _, r := range logs.records(t) {
				if r["level"] == level && r["msg"] == msg && r["client_id"] == id {
					return true
				}
			}
			return false
		}
		for _, kind := range []struct {
			key, name string
			on        *atomic.Bool
			msg       string
		}{
			{"load", "loading the client", &out.loading, "back-channel logout: load client; the notice is kept for a retry"},
			{"sign", "signing", &out.signing, "back-channel logout: sign the logout token; the notice is kept for a retry"},
		} {
			for _, clientFails := range []bool{false, true} {
				name := kind.name + ", then delivered"
				if clientFails {
					name = kind.name + ", then the client fails"
				}
				t.Run(name, func(t *testing.T) {
					id := fmt.Sprintf("bc-%s-%t", kind.key, clientFails)
					rp := newLogoutReceiver(t, e)
					rp.clientID = id
					if clientFails {
						rp.setFailing(1 << 30)
					}
					// Made on the database, so the provider has not read
					// (and cached) the client before the outage.
					if err := e.Store.CreateClient(t.Context(), &storage.Client{ID: id, BackchannelLogoutURI: rp.srv.URL + "/backchannel", CreatedAt: time.Now()}); err != nil {
						t.Fatal(err)
					}
					out.client.Store(id)
					out.failures.Store(0)
					kind.on.Store(true)
					defer kind.on.Store(false)
					testdb.SignedIn(t, e.Store, e.AliceID, id, time.Now(), id)
					if _, err := e.Store.TakeSessionClients(t.Context(), "sid-"+id, "", ""); err != nil {
						t.Fatal(err)
					}
					// Found by polling: more failures of ours than a
					// notice has attempts.
					for deadline := time.Now().Add(30 * time.Second); out.failures.Load() <= provider.BackchannelAttempts; time.Sleep(5 * time.Millisecond) {
						if time.Now().After(deadline) {
							t.Fatalf("%d failures of ours in 30s, want more than %d: the notice is no longer retried", out.failures.Load(), provider.BackchannelAttempts)
						}
					}
					kind.on.Store(false)
					if !logged("ERROR", kind.msg, id) {
						t.Errorf("no error logged for the failure of ours %s", kind.name)
					}
					if n := rp.seen(); n != 0 {
						t.Errorf("the client was sent %d requests during the outage, want none", n)
					}
					if !clientFails {
						rp.want(t, "once our failures ended", "sid-"+id, e.AliceID)
						if n := rp.seen(); n != 1 {
							t.Errorf("the client was sent %d requests, want 1", n)
						}
						return
					}
					// Logged once the notice was given up (finished).
					for deadline := time.Now().Add(30 * time.Second); !logged("WARN", "back-channel logout failed", id); time.Sleep(5 * time.Millisecond) {
						if time.Now().After(deadline) {
							t.Fatalf("the notice was not given up in 30s; the client was sent %d requests", rp.seen())
						}
					}
					if n := rp.seen(); n != provider.BackchannelAttempts {
						t.Errorf("the client was sent %d requests before the notice was given up, want %d", n, provider.BackchannelAttempts)
					}
					ns, err := e.Store.ClaimLogoutNotices(t.Context(), time.Now().Add(time.Hour), time.Minute, 10)
					if err != nil || len(ns) != 0 {
						t.Errorf("outbox after giving up: %+v, %v; want empty", ns, err)
					}
				})
			}
		}
	})
}
