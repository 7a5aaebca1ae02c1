package directory

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
	"unicode"

	"github.com/hallpass/hallpass/storage"
)

// What configuration as code needs beyond the admin API: users created
// without a password, client secrets chosen by the operator (kept in the
// environment, never in the file), and the form a client takes once the
// service's defaults are applied, so that a file can be compared with
// what is stored.

// MinClientSecretLen is the shortest client secret an operator may
// choose. Secrets are stored as an unsalted SHA-256 digest, which is only
// safe for high-entropy values: 32 characters of `openssl rand -base64 32`.
const MinClientSecretLen = 32

// maxClientSecretLen bounds an operator-chosen secret.
const maxClientSecretLen = 512

// CheckClientSecret refuses a secret too short to be random or that could
// not be sent in a Basic header or a form.
func CheckClientSecret(secret string) error {
	if len(secret) < MinClientSecretLen || len(secret) > maxClientSecretLen {
		return badMetadata("client_secret", "a chosen client secret must have %d to %d characters (e.g. `openssl rand -base64 32`)", MinClientSecretLen, maxClientSecretLen)
	}
	if strings.IndexFunc(secret, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII }) >= 0 {
		return badMetadata("client_secret", "a chosen client secret must be printable ASCII without spaces")
	}
	return nil
}

// CreateWithSecret is Create for a confidential client whose secret the
// operator chose (at least MinClientSecretLen characters). The answer
// carries no secret: the operator has it. A reserved id (IsReserved) is
// a conflict.
func (s *Clients) CreateWithSecret(ctx context.Context, m ClientMetadata, secret string) (ClientMetadata, error) {
	if err := s.refuseReserved(m.ClientID); err != nil {
		return ClientMetadata{}, err
	}
	if err := CheckClientSecret(secret); err != nil {
		return ClientMetadata{}, err
	}
	c, err := m.validate()
	if err != nil {
		return ClientMetadata{}, err
	}
	if err := refuseSecret("client_secret", m.ClientID, c.TokenEndpointAuthMethod); err != nil {
		return ClientMetadata{}, err
	}
	if err := CheckClientID(m.ClientID); err != nil {
		return ClientMetadata{}, err
	}
	c.ID = m.ClientID
	sum := sha256.Sum256([]byte(secret))
	c.SecretHash = sum[:]
	c.CreatedAt = stamp(s.now())
	c.UpdatedAt = c.CreatedAt
	if err := s.insert(ctx, c); err != nil {
		return ClientMetadata{}, err
	}
	record(ctx, s.audit, ObjectClient, "create", c.ID, append(changedFields(nil, viewClient(c)), "client_secret"), nil)
	return viewClient(c), nil
}

// UpdateWithSecret is Update for a confidential client whose secret the
// operator chose: the metadata and the secret change in one write,
// recorded once. The answer carries no secret: the operator has it. A
// built-in client (IsBuiltin) is a conflict.
func (s *Clients) UpdateWithSecret(ctx context.Context, id string, m ClientMetadata, secret string) (ClientMetadata, error) {
	if err := s.refuseBuiltin(id); err != nil {
		return ClientMetadata{}, err
	}
	if err := CheckClientSecret(secret); err != nil {
		return ClientMetadata{}, err
	}
	out, err := s.update(ctx, id, m, secret)
	out.ClientSecret = ""
	return out, err
}

// SetSecret replaces the secret of confidential client id with one the
// operator chose. Tokens already issued keep working; RevokeTokens ends
// them. A built-in client (IsBuiltin) is a conflict.
func (s *Clients) SetSecret(ctx context.Context, id, secret string) error {
	if err := s.refuseBuiltin(id); err != nil {
		return err
	}
	if err := CheckClientSecret(secret); err != nil {
		return err
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return storeErr(err, ObjectClient, id)
	}
	if err := refuseSecret("client_secret", id, c.TokenEndpointAuthMethod); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(secret))
	c.SecretHash, c.UpdatedAt = sum[:], stamp(s.now())
	if err := s.store.UpdateClient(ctx, c); err != nil {
		return storeErr(err, ObjectClient, id)
	}
	record(ctx, s.audit, ObjectClient, "update", id, []string{"client_secret"}, nil)
	return nil
}

// SecretMatches reports whether secret is the secret of client id,
// comparing digests in constant time. A public client matches nothing.
func (s *Clients) SecretMatches(ctx context.Context, id, secret string) (bool, error) {
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return false, storeErr(err, ObjectClient, id)
	}
	return secretMatches(c, secret), nil
}

// secretMatches reports whether secret is c's secret, comparing digests
// in constant time. A public client matches nothing.
func secretMatches(c *storage.Client, secret string) bool {
	if len(c.SecretHash) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], c.SecretHash) == 1
}

// Normalize returns m as the service would store it, with every default
// applied and lists without repeats, as Get would show it (without id,
// secret or timestamps); or the rule m breaks. Comparing a desired client
// with a stored one compares their normalized forms.
func Normalize(m ClientMetadata) (ClientMetadata, error) {
	c, err := m.validate()
	if err != nil {
		return ClientMetadata{}, err
	}
	out := viewClient(c)
	out.ClientID, out.ClientIDIssuedAt, out.ClientSecretExpiresAt = m.ClientID, 0, nil
	return out, nil
}

// CheckUser returns the refusal Create (when in carries a password),
// CreateWithoutPassword or Update would answer in with for breaking a
// rule of the service (the password policy, CheckPasswordPolicy, among
// them), or nil. It reads nothing stored: the roles in names may not
// exist yet, as when a file declares them too, and the service checks
// them when it writes. Configuration as code plans with it, so that a
// plan fails where its apply would. The refusal never repeats the
// password.
func CheckUser(in UserInput) error { return in.validate(false) }

// CreateWithoutPassword creates a user who cannot sign in with a password
// until one is set (through the admin API, the CLI or a reset): the
// stored hash is of a random value nobody learns. in.Password must be
// empty. The hash of that value is made by PrepareWithoutPassword, here
// unless in comes from it.
func (s *Users) CreateWithoutPassword(ctx context.Context, in UserInput) (UserView, error) {
	in, err := s.PrepareWithoutPassword(ctx, in)
	if err != nil {
		return UserView{}, err
	}
	if _, err := s.prepare(ctx, &in, false); err != nil {
		return UserView{}, err
	}
	return s.insert(ctx, in, in.prepared.hash)
}

// PrepareWithoutPassword is PreparePassword for CreateWithoutPassword: it
// returns in carrying the hash of a random value nobody learns, made (an
// argon2id hash, tens of milliseconds) outside the caller's transaction,
// in which CreateWithoutPassword given the result then hashes nothing.
// in.Password must be empty.
func (s *Users) PrepareWithoutPassword(_ context.Context, in UserInput) (UserInput, error) {
	if in.Password != "" {
		return in, invalid(ObjectUser, "password", "CreateWithoutPassword was given a password")
	}
	if p := in.prepared; p != nil && p.password == "" {
		return in, nil
	}
	hash, err := s.hasher.Hash(randomText(32))
	if err != nil {
		return in, fmt.Errorf("create user %q: %w", in.Username, err)
	}
	in.prepared = &preparedPassword{hash: hash}
	return in, nil
}
