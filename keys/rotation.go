package keys

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/storage"
)

// The schedule, with lead = JWKSMaxAge + RefreshInterval + ClockSkew and
// retention = MaxTokenLifetime + 2×RefreshInterval + ClockSkew:
//
//	active key A, activated at t, retires at t + RotationPeriod (R); next
//	key N published since A's promotion (or since first start, created
//	with A)
//	R            (and N published ≥ lead) a Tick promotes N to active,
//	             retires A and creates the following next key in the same
//	             transaction; every replica signs with N within
//	             RefreshInterval
//	R + retention  a Tick deletes A: the last token A signed has expired
//
// Every change is made by whichever replica's Tick gets there first, under
// Store.LockKeys in one transaction, after re-reading the keys: the others
// find nothing left to do. Keys are generated before the transaction, as in
// Dex's signer/rotation.go, because generation is slow and a lock held
// meanwhile would stall every replica; a replica that loses the race
// discards the key it generated.

// txAttempts bounds the rounds of a key change: a round ends early when
// the transaction needs a key the first read did not predict, or when it
// loses a serialization race.
const txAttempts = 4

// errNeedKey makes mutate leave the transaction to generate a key.
var errNeedKey = errors.New("keys: a new key is needed")

// Schedule is the rotation schedule a Manager runs, derived from Options.
type Schedule struct {
	// RotationPeriod is how long a key signs.
	RotationPeriod time.Duration `json:"rotation_period"`
	// PublishLead is how long a key is published before it may sign:
	// JWKSMaxAge + RefreshInterval + ClockSkew.
	PublishLead time.Duration `json:"publish_lead"`
	// Retention is how long a retired key stays published:
	// MaxTokenLifetime + 2×RefreshInterval + ClockSkew.
	Retention time.Duration `json:"retention"`
	// MaxTokenLifetime, RefreshInterval and JWKSMaxAge are the Options
	// the other values derive from.
	MaxTokenLifetime time.Duration `json:"max_token_lifetime"`
	RefreshInterval  time.Duration `json:"refresh_interval"`
	JWKSMaxAge       time.Duration `json:"jwks_max_age"`
}

// Schedule returns the schedule this Manager runs.
func (m *Manager) Schedule() Schedule {
	return Schedule{
		RotationPeriod:   m.period,
		PublishLead:      m.lead,
		Retention:        m.retention,
		MaxTokenLifetime: m.maxToken,
		RefreshInterval:  m.refresh,
		JWKSMaxAge:       m.maxAge,
	}
}

// Status summarizes the keys this process has loaded, for metrics and
// health checks. It never touches the database.
type Status struct {
	// ActiveKeyID is the kid Sign uses; "" before the first Load.
	ActiveKeyID string
	// ActivatedAt is when the active key started signing.
	ActivatedAt time.Time
	// RotatesAt is when the schedule lets the next key take over: the
	// active key's retirement, or later if the next key has not yet been
	// published for the lead.
	RotatesAt time.Time
	// Published counts the keys in the JWKS by state.
	Published map[storage.KeyState]int
	// LoadedAt is when the last successful Load read the database.
	LoadedAt time.Time
	// Schedule is the configuration; it is set even before Load.
	Schedule Schedule
}

// Status returns what the last successful Load saw.
func (m *Manager) Status() Status {
	s := m.snap.Load()
	if s == nil {
		return Status{Schedule: m.Schedule(), Published: map[storage.KeyState]int{}}
	}
	st := s.status
	st.Published = maps.Clone(s.status.Published)
	return st
}

// status builds the Status of a snapshot of rows read at now.
func (m *Manager) status(rows []storage.Key, now time.Time) Status {
	st := Status{Schedule: m.Schedule(), LoadedAt: now, Published: map[storage.KeyState]int{}}
	for _, r := range rows {
		st.Published[r.State]++
	}
	p := newPlanner(m, rows, now)
	if a := p.active(); a != nil {
		st.ActiveKeyID = a.ID
		st.ActivatedAt = a.ActivatesAt
		retire := p.retireAt(a)
		st.RotatesAt = retire
		if n := p.next(); n != nil {
			st.RotatesAt = p.activationOf(n, retire)
		} else if !now.Before(retire.Add(-m.lead)) {
			// Overdue with no next key: the next Tick creates one, and it
			// must then be published for the lead.
			st.RotatesAt = now.Add(m.lead)
		}
	}
	return st
}

// Tick runs one step of the rotation schedule and reloads the keys: it
// promotes the next key once it is due and has been published for the lead,
// retires the active key (its removal planned for when the last token it
// signed has expired), creates a next key whenever there is none (after a
// promotion, or on a database from before next keys were kept), and
// deletes retired keys whose removal time has passed. Every replica calls it every RefreshInterval; it is idempotent,
// and when replicas call it at once exactly one of them makes each change.
// Like Load, it refuses to write anything with a secret that does not open
// the stored keys.
func (m *Manager) Tick(ctx context.Context) error {
	rows, err := m.load(ctx)
	if err != nil {
		return err
	}
	if newPlanner(m, rows, m.now().UTC()).schedule().empty() {
		return nil
	}
	_, err = m.mutate(ctx, "scheduled rotation", func(p *planner) error {
		p.schedule()
		return nil
	})
	return err
}

// RotateNow rotates outside the schedule and returns the key that takes
// over. By default it only brings the schedule forward, so the new key
// still signs no earlier than one lead after it was published: it promotes
// the next key at once if it has been published for the lead; otherwise it
// plans its promotion for the moment the lead has passed, which the next
// Tick of any replica performs. The answer's ActivatesAt says when. With
// immediate, the next key is promoted at once: it has been in the JWKS
// since the previous promotion, so every cache that fetched the JWKS since
// holds it. Only when there is no next key (it was revoked) does a new
// key sign at once; the answer then has Unpublished set, a warning is
// logged, and resource servers that cached the JWKS before reject its
// tokens until they refetch. Either way a new next key is published.
func (m *Manager) RotateNow(ctx context.Context, immediate bool) (KeyInfo, error) {
	if _, err := m.load(ctx); err != nil {
		return KeyInfo{}, err
	}
	what := "rotation requested"
	if immediate {
		what = "immediate rotation requested"
	}
	done, err := m.mutate(ctx, what, func(p *planner) error {
		a := p.active()
		if a == nil {
			return errors.New("keys: no active signing key to rotate")
		}
		if immediate {
			p.rotateImmediately(a)
			return nil
		}
		if a.RetiresAt.IsZero() || a.RetiresAt.After(p.now) {
			a.RetiresAt = p.now
			a.RemovesAt = p.now.Add(m.retention)
			p.touch(a)
		}
		p.schedule()
		switch n := p.next(); {
		case p.subject != "":
			// schedule promoted the next key.
		case n != nil:
			p.subject = n.ID
		case len(p.creates) > 0:
			p.subjectNew = len(p.creates) - 1 // the next key being created
		default:
			p.subject = p.active().ID
		}
		return nil
	})
	if err != nil {
		return KeyInfo{}, err
	}
	info, err := m.info(ctx, done.subject)
	info.Unpublished = done.unpublished
	return info, err
}

// Revoke deletes the key kid at once: it leaves this process's JWKS before
// Revoke returns and every other replica's within RefreshInterval, and
// every token it signed stops verifying (and so fails introspection). If
// kid is the active key, the published next key signs from now on, as
// after RotateNow(ctx, true), and Unpublished says when there was none.
// A new next key replaces a revoked active or next key. It returns the
// active key afterwards; an unknown kid is an error wrapping
// storage.ErrNotFound.
func (m *Manager) Revoke(ctx context.Context, kid string) (KeyInfo, error) {
	// The secret is checked, not every key opened as a Load would: a key
	// whose row was altered (bad ciphertext, a public half that does not
	// match) fails every Load, and revoking it is how it is removed.
	if err := CheckSecret(ctx, m.store, m.sealer); err != nil {
		return KeyInfo{}, err
	}
	done, err := m.mutate(ctx, "key revoked", func(p *planner) error {
		k := p.find(kid)
		if k == nil {
			return fmt.Errorf("keys: no signing key %q: %w", kid, storage.ErrNotFound)
		}
		wasActive := k.State == storage.KeyActive
		p.remove(k)
		if wasActive {
			p.handOver()
			return nil
		}
		p.ensureNext()
		if a := p.active(); a != nil {
			p.subject = a.ID
		}
		return nil
	})
	if err != nil {
		return KeyInfo{}, err
	}
	m.log.WarnContext(ctx, "signing key revoked: tokens it signed no longer verify", "kid", kid, "active_kid", done.subject)
	info, err := m.info(ctx, done.subject)
	info.Unpublished = done.unpublished
	return info, err
}

// info returns the stored metadata of kid.
func (m *Manager) info(ctx context.Context, kid string) (KeyInfo, error) {
	infos, err := m.Keys(ctx)
	if err != nil {
		return KeyInfo{}, err
	}
	for _, k := range infos {
		if k.ID == kid {
			return k, nil
		}
	}
	// Another replica's change came between ours and this read.
	return KeyInfo{ID: kid, Algorithm: Algorithm}, nil
}

// mutate is change followed by a reload, so this process serves the
// outcome at once (or, when there was nothing to do because another
// replica just did it, follows that replica at once).
func (m *Manager) mutate(ctx context.Context, what string, decide func(*planner) error) (*planner, error) {
	done, err := m.change(ctx, what, decide)
	if err != nil {
		return nil, err
	}
	if _, err := m.load(ctx); err != nil {
		return nil, fmt.Errorf("keys: reload after %s: %w", what, err)
	}
	return done, nil
}

// change applies decide's changes to the keys: decide runs once on a read
// outside any transaction, to learn whether anything is to be done and
// how many new keys are needed, which are then generated before the
// transaction; then it runs again on a fresh read inside a transaction
// holding Store.LockKeys, whose outcome alone is applied. decide must
// depend only on the planner it is given. It returns the applied planner,
// whose subject is the kid the change is about.
func (m *Manager) change(ctx context.Context, what string, decide func(*planner) error) (*planner, error) {
	var fresh []*storage.Key
	var lost error
	for range txAttempts {
		rows, err := m.store.ListKeys(ctx)
		if err != nil {
			return nil, fmt.Errorf("keys: list keys: %w", err)
		}
		p := newPlanner(m, rows, m.now().UTC())
		if err := decide(p); err != nil {
			return nil, err
		}
		if p.empty() {
			return p, nil
		}
		for len(fresh) < len(p.creates) {
			k, err := m.newKey(storage.KeyNext, p.now)
			if err != nil {
				return nil, err
			}
			fresh = append(fresh, k)
		}

		var done *planner
		err = m.inKeyTx(ctx, func(tx context.Context) error {
			// The fresh keys were sealed before the lock: a `keys
			// reencrypt` committed since (it holds the lock) moved the
			// database to another secret, and storing them would leave
			// one key under the old secret among keys under the new.
			if err := CheckSecret(tx, m.store, m.sealer); err != nil {
				return err
			}
			rows, err := m.store.ListKeys(tx)
			if err != nil {
				return fmt.Errorf("keys: list keys: %w", err)
			}
			p := newPlanner(m, rows, m.now().UTC())
			if err := decide(p); err != nil {
				return err
			}
			if len(p.creates) > len(fresh) {
				return errNeedKey
			}
			if err := p.apply(tx, fresh); err != nil {
				return err
			}
			if err := bumpGeneration(tx, m.store); err != nil {
				return err
			}
			done = p
			return nil
		})
		switch {
		case err == nil:
		case errors.Is(err, errNeedKey):
			continue
		case errors.Is(err, storage.ErrTransient):
			// The database could not order the change against another
			// replica's (LockKeys at REPEATABLE READ or SERIALIZABLE, a
			// deadlock): nothing was written; retry with a fresh read.
			// The fresh keys were never stored and serve again.
			m.log.InfoContext(ctx, "signing-key change could not be serialized; retrying", "err", err)
			lost = err
			continue
		case errors.Is(err, storage.ErrConflict):
			// A kid that exists (only with a reused test key): retry
			// with a fresh read and fresh keys.
			m.log.InfoContext(ctx, "signing-key change conflicted; retrying", "err", err)
			lost = err
			fresh = nil
			continue
		default:
			return nil, err
		}
		done.log(ctx, what, fresh)
		return done, nil
	}
	if lost == nil {
		return nil, fmt.Errorf("keys: %s: gave up after %d attempts", what, txAttempts)
	}
	// The last loss is kept: a transient one stays storage.ErrTransient
	// and storage.ErrUnavailable, a failure of the database's.
	return nil, fmt.Errorf("keys: %s: gave up after %d conflicting attempts: %w", what, txAttempts, lost)
}

// inKeyTx runs fn in a transaction that holds the key lock.
func (m *Manager) inKeyTx(ctx context.Context, fn func(tx context.Context) error) (err error) {
	tx, err := m.store.BeginTX(ctx)
	if err != nil {
		return fmt.Errorf("keys: begin transaction: %w", err)
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		if rerr := m.store.Rollback(tx); rerr != nil {
			m.log.WarnContext(ctx, "roll back signing-key transaction", "err", rerr)
		}
	}()
	if err := m.store.LockKeys(tx); err != nil {
		return fmt.Errorf("keys: lock signing keys: %w", err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	// A failed commit has ended the transaction; there is nothing left to
	// roll back.
	committed = true
	if err := m.store.Commit(tx); err != nil {
		return fmt.Errorf("keys: commit signing-key change: %w", err)
	}
	return nil
}

// planner works out a change to the keys on a copy of the rows, as of
// now. Its methods edit the copy and remember what changed.
type planner struct {
	m       *Manager
	now     time.Time
	rows    []storage.Key
	touched map[string]bool
	removed []string
	// creates are the rows to create from freshly generated keys, in
	// order: only their state and times are used.
	creates []*storage.Key
	// subject is the kid the change is about; subjectNew, when not -1,
	// names instead the element of creates the change is about.
	subject    string
	subjectNew int
	// unpublished is set when a key that was never in the JWKS signs at
	// once: resource servers reject its tokens until they refetch.
	unpublished bool
	// before is each key's state as read, so the audit log can say what
	// a change did to it.
	before map[string]storage.KeyState
}

func newPlanner(m *Manager, rows []storage.Key, now time.Time) *planner {
	before := make(map[string]storage.KeyState, len(rows))
	for _, r := range rows {
		before[r.ID] = r.State
	}
	return &planner{m: m, now: now, rows: slices.Clone(rows), touched: map[string]bool{}, subjectNew: -1, before: before}
}

func (p *planner) empty() bool {
	return len(p.touched) == 0 && len(p.removed) == 0 && len(p.creates) == 0
}

func (p *planner) touch(k *storage.Key) { p.touched[k.ID] = true }

// find returns the row of kid, or nil.
func (p *planner) find(kid string) *storage.Key {
	for i := range p.rows {
		if p.rows[i].ID == kid {
			return &p.rows[i]
		}
	}
	return nil
}

// active returns the active key, or nil.
func (p *planner) active() *storage.Key {
	for i := range p.rows {
		if p.rows[i].State == storage.KeyActive {
			return &p.rows[i]
		}
	}
	return nil
}

// next returns the oldest next key (rows are in creation order), or nil.
func (p *planner) next() *storage.Key {
	for i := range p.rows {
		if p.rows[i].State == storage.KeyNext {
			return &p.rows[i]
		}
	}
	return nil
}

func (p *planner) remove(k *storage.Key) {
	p.removed = append(p.removed, k.ID)
	delete(p.touched, k.ID)
	p.rows = slices.DeleteFunc(p.rows, func(r storage.Key) bool { return r.ID == k.ID })
}

// retireAt is when a is due to retire: its planned time, or one rotation
// period after it started signing if that is sooner (the period was
// shortened since) or nothing is planned.
func (p *planner) retireAt(a *storage.Key) time.Time {
	start := a.ActivatesAt
	if start.IsZero() {
		start = a.CreatedAt
	}
	due := start.Add(p.m.period)
	if !a.RetiresAt.IsZero() && a.RetiresAt.Before(due) {
		return a.RetiresAt
	}
	return due
}

// activationOf is when the next key n may take over from a key due to
// retire at retire: not before it has been published for the lead.
func (p *planner) activationOf(n *storage.Key, retire time.Time) time.Time {
	return later(retire, n.CreatedAt.Add(p.m.lead))
}

// removeAt is when a retired key may be deleted: the planned time, but
// never sooner than this replica's retention after the key retired, so a
// replica configured for longer-lived tokens keeps keys long enough.
func (p *planner) removeAt(r *storage.Key) time.Time {
	return later(r.RemovesAt, r.RetiresAt.Add(p.m.retention))
}

// schedule plans whatever the schedule says is due now.
func (p *planner) schedule() *planner {
	now := p.now
	for i := range p.rows {
		r := &p.rows[i]
		if r.State != storage.KeyRetired {
			continue
		}
		// A retired key without recorded times (written by hand, or by
		// an older version) is kept a full retention from now.
		if r.RetiresAt.IsZero() {
			r.RetiresAt = now
			p.touch(r)
		}
		if r.RemovesAt.IsZero() {
			r.RemovesAt = r.RetiresAt.Add(p.m.retention)
			p.touch(r)
		}
	}
	for _, id := range p.expired() {
		p.remove(p.find(id))
	}

	a := p.active()
	if a == nil {
		// Load gives the database an active key; nothing to schedule.
		return p
	}
	retire := p.retireAt(a)
	if !a.RetiresAt.Equal(retire) {
		a.RetiresAt, a.RemovesAt = retire, retire.Add(p.m.retention)
		p.touch(a)
	}
	n := p.next()
	switch {
	case n == nil:
	case !now.Before(p.activationOf(n, retire)):
		p.promote(a, n)
	default:
		if at := p.activationOf(n, retire); n.ActivatesAt.IsZero() || n.ActivatesAt.After(at) {
			p.plan(n, at)
		}
	}
	p.ensureNext()
	return p
}

// ensureNext plans a next key when there is an active key (stored or
// planned) and no next one: the next key is always published, so that
// whatever makes it sign (the schedule, an immediate rotation, a
// revocation) hands over to a kid that resource servers have cached.
func (p *planner) ensureNext() {
	if p.next() != nil {
		return
	}
	var retire time.Time
	switch a := p.active(); {
	case a != nil:
		retire = p.retireAt(a)
	default:
		i := slices.IndexFunc(p.creates, func(k *storage.Key) bool { return k.State == storage.KeyActive })
		if i < 0 {
			return
		}
		retire = p.creates[i].RetiresAt
	}
	for _, c := range p.creates {
		if c.State == storage.KeyNext {
			return
		}
	}
	activates := p.activationOf(&storage.Key{CreatedAt: p.now}, retire)
	p.creates = append(p.creates, &storage.Key{
		State:       storage.KeyNext,
		CreatedAt:   p.now,
		ActivatesAt: activates,
		RetiresAt:   activates.Add(p.m.period),
		RemovesAt:   activates.Add(p.m.period + p.m.retention),
	})
}

// expired lists the retired keys whose removal time has passed.
func (p *planner) expired() []string {
	var out []string
	for i := range p.rows {
		r := &p.rows[i]
		if r.State == storage.KeyRetired && !p.now.Before(p.removeAt(r)) {
			out = append(out, r.ID)
		}
	}
	return out
}

// plan sets the planned times of a next key that activates at at.
func (p *planner) plan(n *storage.Key, at time.Time) {
	n.ActivatesAt = at
	n.RetiresAt = at.Add(p.m.period)
	n.RemovesAt = n.RetiresAt.Add(p.m.retention)
	p.touch(n)
}

// promote retires a and makes n the active key, now.
func (p *planner) promote(a, n *storage.Key) {
	p.retire(a)
	p.m.activate(n, p.now)
	p.touch(n)
	p.subject = n.ID
}

func (p *planner) retire(a *storage.Key) {
	a.State = storage.KeyRetired
	a.RetiresAt = p.now
	a.RemovesAt = p.now.Add(p.m.retention)
	p.touch(a)
}

// rotateImmediately makes a new key sign now: the oldest next key, which
// has at least been published for a while, or else a new one. A next key
// left waiting is replanned after the new active key.
func (p *planner) rotateImmediately(a *storage.Key) {
	p.retire(a)
	p.handOver()
}

// handOver gives the keys a new active key after the active one was
// retired or removed: the published next key if there is one, else (it
// was revoked too) a brand-new key that no cache holds yet. Then it plans
// the following next key.
func (p *planner) handOver() {
	if n := p.next(); n != nil {
		p.m.activate(n, p.now)
		p.touch(n)
		p.subject = n.ID
		// A further next key was planned after the old key; it now
		// follows the new one.
		if n2 := p.next(); n2 != nil {
			p.plan(n2, p.activationOf(n2, n.RetiresAt))
		}
	} else {
		p.createActive()
		p.unpublished = true
	}
	p.ensureNext()
}

// createActive plans a new key that signs from now on. The caller has
// retired or removed the previous active key, and has checked there is no
// next key to promote instead.
func (p *planner) createActive() {
	c := &storage.Key{State: storage.KeyActive, CreatedAt: p.now}
	p.m.activate(c, p.now)
	p.creates = append(p.creates, c)
	p.subject, p.subjectNew = "", len(p.creates)-1
}

// apply writes the plan in the transaction tx; fresh supplies the key
// material of the created rows, one per element of creates.
func (p *planner) apply(tx context.Context, fresh []*storage.Key) error {
	st := p.m.store
	for _, id := range p.removed {
		if err := st.DeleteKey(tx, id); err != nil {
			return fmt.Errorf("keys: delete key %q: %w", id, err)
		}
	}
	// Demotions before promotions, and the created key last: the store
	// refuses a second active key at every step.
	var promotions []*storage.Key
	for i := range p.rows {
		r := &p.rows[i]
		if !p.touched[r.ID] {
			continue
		}
		if r.State == storage.KeyActive {
			promotions = append(promotions, r)
			continue
		}
		if err := st.UpdateKey(tx, r); err != nil {
			return fmt.Errorf("keys: update key %q: %w", r.ID, err)
		}
	}
	for _, r := range promotions {
		if err := st.UpdateKey(tx, r); err != nil {
			return fmt.Errorf("keys: update key %q: %w", r.ID, err)
		}
	}
	// The active key before the next one, for the same reason.
	order := make([]int, 0, len(p.creates))
	for i, c := range p.creates {
		if c.State == storage.KeyActive {
			order = append(order, i)
		}
	}
	for i, c := range p.creates {
		if c.State != storage.KeyActive {
			order = append(order, i)
		}
	}
	for _, i := range order {
		c := p.creates[i]
		row := *fresh[i]
		row.State = c.State
		row.CreatedAt = c.CreatedAt
		row.ActivatesAt = c.ActivatesAt
		row.RetiresAt = c.RetiresAt
		row.RemovesAt = c.RemovesAt
		if err := st.CreateKey(tx, &row); err != nil {
			return fmt.Errorf("keys: store new signing key %q: %w", row.ID, err)
		}
		if i == p.subjectNew {
			p.subject = row.ID
		}
	}
	return nil
}

// log reports a committed plan.
func (p *planner) log(ctx context.Context, what string, fresh []*storage.Key) {
	l := p.m.log
	for _, id := range p.removed {
		l.InfoContext(ctx, "signing key removed", "kid", id, "reason", what)
	}
	for i := range p.rows {
		r := &p.rows[i]
		if p.touched[r.ID] {
			l.InfoContext(ctx, "signing key updated", "kid", r.ID, "state", r.State,
				"activates_at", r.ActivatesAt, "retires_at", r.RetiresAt, "removes_at", r.RemovesAt, "reason", what)
		}
	}
	for i, c := range p.creates {
		l.InfoContext(ctx, "created signing key", "kid", fresh[i].ID, "alg", Algorithm, "bits", p.m.bits,
			"state", c.State, "activates_at", c.ActivatesAt, "reason", what)
	}
	if p.unpublished {
		l.WarnContext(ctx, "signing with a key that was never published: resource servers reject its tokens until they refetch the JWKS",
			"kid", p.subject, "reason", what)
	}
	p.record(ctx, what, fresh)
}

// record writes the change to the audit log: key.generated, .promoted,
// .retired, .revoked (removed on request) or .removed (on schedule).
// Changes nobody asked for (the schedule, a first start) are hallpass's.
func (p *planner) record(ctx context.Context, what string, fresh []*storage.Key) {
	if p.m.audit == nil {
		return
	}
	if audit.Actor(ctx) == "" {
		ctx = audit.WithActor(ctx, "hallpass")
	}
	ev := func(verb, kid string, details map[string]any) {
		details["reason"] = what
		p.m.audit.Record(ctx, audit.Event{Action: "key." + verb, Object: "key:" + kid, Details: details})
	}
	for i, c := range p.creates {
		ev("generated", fresh[i].ID, map[string]any{"state": string(c.State), "alg": Algorithm, "bits": p.m.bits})
	}
	for i := range p.rows {
		r := &p.rows[i]
		if !p.touched[r.ID] || p.before[r.ID] == r.State {
			continue
		}
		switch r.State {
		case storage.KeyActive:
			ev("promoted", r.ID, map[string]any{"from": string(p.before[r.ID])})
		case storage.KeyRetired:
			ev("retired", r.ID, map[string]any{})
		}
	}
	for _, id := range p.removed {
		verb := "removed"
		if what == "key revoked" {
			verb = "revoked"
		}
		ev(verb, id, map[string]any{"state": string(p.before[id])})
	}
}

// activate makes k the active key as of now, planning its retirement one
// rotation period later and its removal one retention after that.
func (m *Manager) activate(k *storage.Key, now time.Time) {
	k.State = storage.KeyActive
	k.ActivatesAt = now
	k.RetiresAt = now.Add(m.period)
	k.RemovesAt = k.RetiresAt.Add(m.retention)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
