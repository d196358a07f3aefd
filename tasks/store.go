// SPDX-License-Identifier: Apache-2.0

package tasks

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Status is the state of a task, as the Tasks extension names it.
type Status string

// The task statuses. Completed, Failed and Cancelled are terminal: a task in
// one of them never changes status again.
const (
	StatusWorking       Status = "working"
	StatusInputRequired Status = "input_required"
	StatusCompleted     Status = "completed"
	StatusFailed        Status = "failed"
	StatusCancelled     Status = "cancelled"
)

// Terminal reports whether s is completed, failed or cancelled.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Defaults of [StoreOptions].
const (
	DefaultMaxTasks      = 100_000
	DefaultMaxBytes      = 256 << 20
	DefaultSweepInterval = time.Minute
	// StoreFile is the name of the database file in the state directory.
	StoreFile = "tasks.db"
)

// ErrStoreFull is returned (wrapped) by [Store.Create] and [Store.Update] when
// the store would exceed its task count or byte limit.
var ErrStoreFull = errors.New("task store full")

// ErrNotFound is returned (wrapped) for a task id the store does not hold, or
// holds for another owner, or holds past its TTL.
var ErrNotFound = errors.New("task not found")

// A Record is one task as the store keeps it. The JSON fields are raw
// messages exactly as they crossed the wire.
type Record struct {
	ID    string `json:"id"`
	Owner string `json:"owner,omitempty"`
	// Scope is the [Options.Scope] of the engine that created the task.
	Scope string `json:"scope,omitempty"`
	// Legacy marks a task created with the 2025-11-25 form (params.task on
	// a session); its call runs on the session's back connection.
	Legacy bool   `json:"legacy,omitempty"`
	Status Status `json:"status"`
	// StatusMessage is shown to the client beside the status.
	StatusMessage  string    `json:"statusMessage,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	LastUpdatedAt  time.Time `json:"lastUpdatedAt"`
	TTLMs          int64     `json:"ttlMs"`
	PollIntervalMs int64     `json:"pollIntervalMs,omitempty"`

	// Method and Params are the client's original request (tools/call);
	// BackID is the JSON-RPC id of the latest request sent to the back for
	// this task (as a JSON value), so that it can be re-attached or re-issued.
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
	BackID json.RawMessage `json:"backId,omitempty"`
	// Correlation is what the back reported (see [SetCorrelation]) to find
	// the call again after a restart.
	Correlation []byte `json:"correlation,omitempty"`

	// InputRequests are the outstanding input requests, keyed as the client
	// sees them (see Keys).
	InputRequests map[string]json.RawMessage `json:"inputRequests,omitempty"`
	// Keys maps each outstanding client-facing key to the back's key.
	Keys map[string]string `json:"keys,omitempty"`
	// Answers holds the responses gathered for the current round, keyed as
	// the back expects them.
	Answers map[string]json.RawMessage `json:"answers,omitempty"`
	// RequestState is the back's requestState of the current round (a JSON
	// string), echoed byte-exact on the retry.
	RequestState json.RawMessage `json:"requestState,omitempty"`
	// UsedKeys lists every client-facing key issued in the task's lifetime,
	// so that no key is ever reused.
	UsedKeys []string `json:"usedKeys,omitempty"`
	// Round counts the requests sent to the back for this task.
	Round int `json:"round,omitempty"`

	// Result is the final result (completed); Error the JSON-RPC error
	// object (failed).
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// ExpiresAt is the time after which the task may be deleted.
func (r *Record) ExpiresAt() time.Time {
	return r.CreatedAt.Add(time.Duration(r.TTLMs) * time.Millisecond)
}

// StoreOptions configure [OpenStore]. The zero value of every field but Dir
// selects its default.
type StoreOptions struct {
	// Dir is the state directory; the database is Dir/tasks.db. It is created
	// (mode 0700) when missing. See [DefaultStateDir].
	Dir string
	// MaxTasks bounds the number of tasks held, finished or not
	// (default [DefaultMaxTasks]).
	MaxTasks int
	// MaxTasksPerOwner, when positive, bounds the tasks held for one owner
	// (see [WithOwner]), so that one caller cannot take the whole store.
	MaxTasksPerOwner int
	// MaxBytes bounds the encoded size of all task records together
	// (default [DefaultMaxBytes]). The database file is larger than this by
	// bbolt's page overhead and free pages.
	MaxBytes int64
	// SweepInterval is how often expired tasks are deleted
	// (default [DefaultSweepInterval]).
	SweepInterval time.Duration
	// NoSync skips fsync after each write. Writes still reach the operating
	// system, so they survive a crash of the process but not of the machine.
	NoSync bool
	// Logger receives sweep failures; nil means slog.Default().
	Logger *slog.Logger
}

// A Store keeps tasks in a bbolt database file. It bounds the number of
// tasks and their total size, and deletes each task once its TTL has passed.
// One process at a time may hold a store open (bbolt takes a file lock).
// Its methods are safe for concurrent use.
type Store struct {
	db       *bolt.DB
	path     string
	maxTasks int
	perOwner int
	maxBytes int64
	log      *slog.Logger
	skew     atomic.Int64 // added to the clock; tests move time forward

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

var (
	bucketTasks  = []byte("tasks")
	bucketExpiry = []byte("expiry") // 8-byte big-endian unix ms of expiry + id -> nil
	bucketMeta   = []byte("meta")
	bucketOwners = []byte("owners") // owner -> number of tasks held
	keyCount     = []byte("count")
	keyBytes     = []byte("bytes")
)

// OpenStore opens (creating if needed) the task database under opts.Dir and
// starts the goroutine that deletes expired tasks; [Store.Close] stops it.
func OpenStore(opts StoreOptions) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("tasks: open store: no state directory given")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("tasks: create state directory %s: %w", opts.Dir, err)
	}
	path := filepath.Join(opts.Dir, StoreFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoSync: opts.NoSync})
	if err != nil {
		return nil, fmt.Errorf("tasks: open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketTasks, bucketExpiry, bucketMeta, bucketOwners} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("tasks: initialize store %s: %w", path, err)
	}
	s := &Store{
		db:       db,
		path:     path,
		maxTasks: opts.MaxTasks,
		perOwner: opts.MaxTasksPerOwner,
		maxBytes: opts.MaxBytes,
		log:      opts.Logger,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if s.maxTasks <= 0 {
		s.maxTasks = DefaultMaxTasks
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	interval := opts.SweepInterval
	if interval <= 0 {
		interval = DefaultSweepInterval
	}
	go s.sweepLoop(interval)
	return s, nil
}

func (s *Store) now() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close stops the sweeper and closes the database. Further calls fail.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		err = s.db.Close()
	})
	return err
}

// NewID returns a fresh task id: 128 bits from crypto/rand, hex-encoded.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("tasks: crypto/rand failed: %v", err)) // never happens on supported platforms
	}
	return hex.EncodeToString(b[:])
}

func expiryKey(r *Record) []byte {
	k := make([]byte, 8+len(r.ID))
	binary.BigEndian.PutUint64(k, uint64(r.ExpiresAt().UnixMilli()))
	copy(k[8:], r.ID)
	return k
}

// ownerBucketKey is the key of an owner's task count: a digest, since
// owners are opaque strings of any length (bbolt keys are 1 to 32768 bytes).
func ownerBucketKey(owner string) []byte {
	sum := sha256.Sum256([]byte(owner))
	return sum[:]
}

func getCounter(b *bolt.Bucket, key []byte) int64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func putCounter(b *bolt.Bucket, key []byte, n int64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(n))
	return b.Put(key, v[:])
}

// Create stores a new task. It fails with [ErrStoreFull] when the store holds
// MaxTasks tasks or the record would take it past MaxBytes. When Create
// returns nil, [Store.Get] finds the task.
func (s *Store) Create(r *Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("tasks: encode task %s: %w", r.ID, err)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		tasks, meta := tx.Bucket(bucketTasks), tx.Bucket(bucketMeta)
		if tasks.Get([]byte(r.ID)) != nil {
			return fmt.Errorf("tasks: create task %s: id already in use", r.ID)
		}
		count, size := getCounter(meta, keyCount), getCounter(meta, keyBytes)
		if count >= int64(s.maxTasks) {
			return fmt.Errorf("%w: it holds %d tasks, the limit", ErrStoreFull, count)
		}
		if size+int64(len(data)) > s.maxBytes {
			return fmt.Errorf("%w: %d bytes held, a new task of %d bytes would pass the limit of %d bytes", ErrStoreFull, size, len(data), s.maxBytes)
		}
		owners := tx.Bucket(bucketOwners)
		held := getCounter(owners, ownerBucketKey(r.Owner))
		if s.perOwner > 0 && held >= int64(s.perOwner) {
			return fmt.Errorf("%w: this caller holds %d tasks, the per-caller limit", ErrStoreFull, held)
		}
		if err := putCounter(owners, ownerBucketKey(r.Owner), held+1); err != nil {
			return err
		}
		if err := tasks.Put([]byte(r.ID), data); err != nil {
			return err
		}
		if err := tx.Bucket(bucketExpiry).Put(expiryKey(r), nil); err != nil {
			return err
		}
		if err := putCounter(meta, keyCount, count+1); err != nil {
			return err
		}
		return putCounter(meta, keyBytes, size+int64(len(data)))
	})
}

// Get returns the task id of owner. A task that does not exist, belongs to
// another owner or has expired gives an error wrapping [ErrNotFound]; the
// message says "expired" only to the owner.
func (s *Store) Get(id, owner string) (*Record, error) {
	var r *Record
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = s.load(tx, id, owner)
		return err
	})
	return r, err
}

func (s *Store) load(tx *bolt.Tx, id, owner string) (*Record, error) {
	data := tx.Bucket(bucketTasks).Get([]byte(id))
	if data == nil {
		return nil, ErrNotFound
	}
	r := new(Record)
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("tasks: decode task %s: %w", id, err)
	}
	if subtle.ConstantTimeCompare([]byte(r.Owner), []byte(owner)) != 1 {
		return nil, ErrNotFound
	}
	if !s.now().Before(r.ExpiresAt()) {
		return nil, fmt.Errorf("%w: task has expired", ErrNotFound)
	}
	return r, nil
}

// Update loads the task id of owner, calls fn on it and stores the result,
// all in one transaction. When fn returns an error nothing is stored and
// Update returns it. fn must not change ID, CreatedAt or TTLMs. Update sets
// LastUpdatedAt when fn changed the record. When the new record would pass
// MaxBytes, Update returns an error wrapping [ErrStoreFull] and stores
// nothing.
func (s *Store) Update(id, owner string, fn func(r *Record) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		tasks, meta := tx.Bucket(bucketTasks), tx.Bucket(bucketMeta)
		old := tasks.Get([]byte(id))
		r, err := s.load(tx, id, owner)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		data, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("tasks: encode task %s: %w", id, err)
		}
		if bytes.Equal(data, old) {
			return nil
		}
		r.LastUpdatedAt = s.now().UTC()
		if data, err = json.Marshal(r); err != nil {
			return fmt.Errorf("tasks: encode task %s: %w", id, err)
		}
		size := getCounter(meta, keyBytes) + int64(len(data)) - int64(len(old))
		if size > s.maxBytes && len(data) > len(old) {
			return fmt.Errorf("%w: storing %d bytes for task %s would pass the limit of %d bytes", ErrStoreFull, len(data), id, s.maxBytes)
		}
		if err := tasks.Put([]byte(id), data); err != nil {
			return err
		}
		return putCounter(meta, keyBytes, size)
	})
}

// Delete removes the task id of owner; deleting a missing task is not an
// error.
func (s *Store) Delete(id, owner string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		r, err := s.load(tx, id, owner)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			return err
		}
		return s.remove(tx, r, int64(len(tx.Bucket(bucketTasks).Get([]byte(id)))))
	})
}

func (s *Store) remove(tx *bolt.Tx, r *Record, size int64) error {
	meta, owners := tx.Bucket(bucketMeta), tx.Bucket(bucketOwners)
	if held := getCounter(owners, ownerBucketKey(r.Owner)); held <= 1 {
		if err := owners.Delete(ownerBucketKey(r.Owner)); err != nil {
			return err
		}
	} else if err := putCounter(owners, ownerBucketKey(r.Owner), held-1); err != nil {
		return err
	}
	if err := tx.Bucket(bucketTasks).Delete([]byte(r.ID)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketExpiry).Delete(expiryKey(r)); err != nil {
		return err
	}
	if err := putCounter(meta, keyCount, max(0, getCounter(meta, keyCount)-1)); err != nil {
		return err
	}
	return putCounter(meta, keyBytes, max(0, getCounter(meta, keyBytes)-size))
}

// Stats reports how many tasks the store holds and their encoded size.
func (s *Store) Stats() (tasks int, size int64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		tasks, size = int(getCounter(meta, keyCount)), getCounter(meta, keyBytes)
		return nil
	})
	return tasks, size, err
}

// Unfinished returns every task, of any owner, that is neither terminal nor
// expired: the tasks to resume after a restart.
func (s *Store) Unfinished() ([]*Record, error) {
	var out []*Record
	err := s.db.View(func(tx *bolt.Tx) error {
		now := s.now()
		return tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
			r := new(Record)
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("tasks: decode task %s: %w", k, err)
			}
			if !r.Status.Terminal() && now.Before(r.ExpiresAt()) {
				out = append(out, r)
			}
			return nil
		})
	})
	return out, err
}

// List returns up to limit tasks of owner that have not expired, in id
// order, starting after the id cursor ("" for the first page), and the
// cursor of the next page ("" when there is none). It reads every record
// after the cursor, so it costs time in proportion to the store's size.
func (s *Store) List(owner, cursor string, limit int) ([]*Record, string, error) {
	var out []*Record
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		now := s.now()
		c := tx.Bucket(bucketTasks).Cursor()
		k, v := c.First()
		if cursor != "" {
			k, v = c.Seek([]byte(cursor))
			if k != nil && string(k) == cursor {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			r := new(Record)
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("tasks: decode task %s: %w", k, err)
			}
			if subtle.ConstantTimeCompare([]byte(r.Owner), []byte(owner)) != 1 || !now.Before(r.ExpiresAt()) {
				continue
			}
			if len(out) == limit {
				next = out[len(out)-1].ID
				break
			}
			out = append(out, r)
		}
		return nil
	})
	return out, next, err
}

// Sweep deletes every task whose TTL has passed and returns how many it
// deleted. The sweeper goroutine calls it every SweepInterval.
func (s *Store) Sweep() (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		now := uint64(s.now().UnixMilli())
		c := tx.Bucket(bucketExpiry).Cursor()
		tasks := tx.Bucket(bucketTasks)
		var expired [][]byte
		for k, _ := c.First(); k != nil && len(k) > 8 && binary.BigEndian.Uint64(k) <= now; k, _ = c.Next() {
			expired = append(expired, bytes.Clone(k))
		}
		for _, k := range expired {
			id := k[8:]
			data := tasks.Get(id)
			if data == nil {
				if err := tx.Bucket(bucketExpiry).Delete(k); err != nil {
					return err
				}
				continue
			}
			r := new(Record)
			if err := json.Unmarshal(data, r); err != nil {
				return fmt.Errorf("tasks: decode task %s: %w", id, err)
			}
			if err := s.remove(tx, r, int64(len(data))); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func (s *Store) sweepLoop(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if n, err := s.Sweep(); err != nil {
				s.log.Error("tasks: sweep expired tasks", "store", s.path, "err", err)
			} else if n > 0 {
				s.log.Debug("tasks: deleted expired tasks", "count", n)
			}
		}
	}
}

// DefaultStateDir is the state directory used when none is given:
// $XDG_STATE_HOME/asyncmcp, else ~/.local/state/asyncmcp (on every
// platform, as the XDG base directory specification describes).
func DefaultStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "asyncmcp"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("tasks: default state directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "asyncmcp"), nil
}
