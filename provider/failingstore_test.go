package provider_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/hallpass/hallpass/storage"
)

// failingStore is a store whose methods named in failOn fail while fail
// is above zero (each failing call counts down), so that a test can make
// one write fail where a database would. They fail with err, wrapped
// with the method's name; a nil err fails them as a database that went
// away does (storage.ErrUnavailable, "injected connection reset"). One
// type serves every such test: a wrapper per method had been written
// six times over.
type failingStore struct {
	storage.Store
	failOn []string
	fail   atomic.Int32
	err    error
	// panics makes a failing method panic with its error instead, as a
	// bug would.
	panics atomic.Bool
	// hangs makes a failing method wait for its context to end, as a
	// database that stopped answering, and then fail as one that went
	// away, with the context's error.
	hangs atomic.Bool
}

// failure is the error the method op answers with now, nil when it is to
// reach the store.
func (s *failingStore) failure(ctx context.Context, op string) error {
	if !slices.Contains(s.failOn, op) || s.fail.Add(-1) < 0 {
		return nil
	}
	err := fmt.Errorf("%s: %w: injected connection reset", op, storage.ErrUnavailable)
	if s.err != nil {
		err = fmt.Errorf("%s: %w", op, s.err)
	}
	if s.hangs.Load() {
		<-ctx.Done()
		err = fmt.Errorf("%s: %w: %w", op, storage.ErrUnavailable, ctx.Err())
	}
	if s.panics.Load() {
		panic(err)
	}
	return err
}

func (s *failingStore) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if err := s.failure(ctx, "GetClient"); err != nil {
		return nil, err
	}
	return s.Store.GetClient(ctx, id)
}

func (s *failingStore) CreateBrowserSession(ctx context.Context, bs *storage.BrowserSession) error {
	if err := s.failure(ctx, "CreateBrowserSession"); err != nil {
		return err
	}
	return s.Store.CreateBrowserSession(ctx, bs)
}

func (s *failingStore) TakeSessionClients(ctx context.Context, sid, userID, keep string) ([]storage.SessionClient, error) {
	if err := s.failure(ctx, "TakeSessionClients"); err != nil {
		return nil, err
	}
	return s.Store.TakeSessionClients(ctx, sid, userID, keep)
}

func (s *failingStore) SetAuthRequestAMR(ctx context.Context, id string, amr []string) error {
	if err := s.failure(ctx, "SetAuthRequestAMR"); err != nil {
		return err
	}
	return s.Store.SetAuthRequestAMR(ctx, id, amr)
}

func (s *failingStore) DeactivateTokensByRequest(ctx context.Context, kind storage.TokenKind, requestID string) error {
	if err := s.failure(ctx, "DeactivateTokensByRequest"); err != nil {
		return err
	}
	return s.Store.DeactivateTokensByRequest(ctx, kind, requestID)
}

func (s *failingStore) ConfirmUserCredential(ctx context.Context, userID, passwordHash string) error {
	if err := s.failure(ctx, "ConfirmUserCredential"); err != nil {
		return err
	}
	return s.Store.ConfirmUserCredential(ctx, userID, passwordHash)
}

func (s *failingStore) CreateUser(ctx context.Context, u *storage.User) error {
	if err := s.failure(ctx, "CreateUser"); err != nil {
		return err
	}
	return s.Store.CreateUser(ctx, u)
}

func (s *failingStore) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	if err := s.failure(ctx, "UseTOTPStep"); err != nil {
		return err
	}
	return s.Store.UseTOTPStep(ctx, userID, step)
}

func (s *failingStore) DeactivateToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	if err := s.failure(ctx, "DeactivateToken"); err != nil {
		return err
	}
	return s.Store.DeactivateToken(ctx, kind, signature)
}

func (s *failingStore) AccessTokenState(ctx context.Context, ids []string, userID string) (storage.AccessTokenState, error) {
	if err := s.failure(ctx, "AccessTokenState"); err != nil {
		return storage.AccessTokenState{}, err
	}
	return s.Store.AccessTokenState(ctx, ids, userID)
}

func (s *failingStore) GetTOTP(ctx context.Context, userID string) (*storage.TOTP, error) {
	if err := s.failure(ctx, "GetTOTP"); err != nil {
		return nil, err
	}
	return s.Store.GetTOTP(ctx, userID)
}
