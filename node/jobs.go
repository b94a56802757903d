package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/aurora-federation/aurora/treaty"
)

// Job is the node's ledger entry for one job: the JobRecord (the provenance
// leaf content) plus what the node needs to resume and prove it.
type Job struct {
	Record treaty.JobRecord `cbor:"record"`
	// Order and Ack (signed dag-cbor) live under their own keys, written
	// once: a status change rewrites only the small job entry.
	Order []byte `cbor:"-"`
	Ack   []byte `cbor:"-"`
	// Leaves are the log indices of this job's leaves, in order.
	Leaves []uint64 `cbor:"leaves"`
	// Lane is "" for the node's own clients, else "<treaty CID>/<from DID>".
	Lane string `cbor:"lane"`
	// Key is the idempotency key launches carry.
	Key string `cbor:"key"`

	stored bool // Order and Ack are already written
}

// Status returns the job's latest status.
func (j *Job) Status() string {
	t := j.Record.Transitions
	if len(t) == 0 {
		return ""
	}
	return t[len(t)-1].Status
}

// Settled reports whether the job needs no more launch work.
func (j *Job) Settled() bool {
	switch j.Status() {
	case treaty.StatusRunning, treaty.StatusSucceeded, treaty.StatusFailed, treaty.StatusTerminated:
		return true
	}
	return false
}

var jobCodec = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

func encodeJob(j *Job) ([]byte, error) { return jobCodec.Marshal(j) }

func decodeJob(b []byte) (*Job, error) {
	var j Job
	if err := cbor.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("node: job entry: %w", err)
	}
	return &j, nil
}

// ErrJobNotFound is returned for unknown job IDs.
var ErrJobNotFound = errors.New("node: job not found")

// appender appends leaves to the provenance log.
type appender interface {
	Append(ctx context.Context, leaves ...[]byte) (first uint64, err error)
}

// Jobs is the job ledger: jobs by ID in the node's datastore, written
// through a group committer that appends each job's provenance leaf to the
// log first and then the job with its leaf index, so an Ack is only sent for
// a job that is durable in both. Safe for concurrent use.
type Jobs struct {
	ds  ds.Batching
	log appender

	mu    sync.Mutex // protects queue
	queue []*commit
	kick  chan struct{}
	done  chan struct{}
	stop  context.CancelFunc
}

type commit struct {
	job  *Job
	leaf []byte // appended to the log when non-nil
	err  chan error
}

// NewJobs starts the ledger's committer. Close stops it.
func NewJobs(store ds.Batching, log appender) *Jobs {
	ctx, cancel := context.WithCancel(context.Background())
	j := &Jobs{ds: store, log: log, kick: make(chan struct{}, 1), done: make(chan struct{}), stop: cancel}
	go j.run(ctx)
	return j
}

// Close drains pending commits and stops the committer.
func (j *Jobs) Close() {
	j.stop()
	<-j.done
}

func jobKey(id string) ds.Key   { return ds.NewKey("/jobs/" + id) }
func orderKey(id string) ds.Key { return ds.NewKey("/orders/" + id) }
func ackKey(id string) ds.Key   { return ds.NewKey("/acks/" + id) }

// Put durably writes job, first appending leaf (if non-nil) to the log and
// recording its index in job.Leaves. Concurrent Puts are committed together.
func (j *Jobs) Put(ctx context.Context, job *Job, leaf []byte) error {
	c := &commit{job: job, leaf: leaf, err: make(chan error, 1)}
	j.mu.Lock()
	j.queue = append(j.queue, c)
	j.mu.Unlock()
	select {
	case j.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-c.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (j *Jobs) run(ctx context.Context) {
	defer close(j.done)
	for {
		select {
		case <-j.kick:
			j.flush(context.WithoutCancel(ctx))
		case <-ctx.Done():
			j.flush(context.WithoutCancel(ctx))
			return
		}
	}
}

// maxCommit bounds one group commit.
const maxCommit = 512

func (j *Jobs) flush(ctx context.Context) {
	for {
		j.mu.Lock()
		n := min(len(j.queue), maxCommit)
		batch := j.queue[:n:n]
		j.queue = j.queue[n:]
		j.mu.Unlock()
		if n == 0 {
			return
		}
		err := j.commitBatch(ctx, batch)
		for _, c := range batch {
			c.err <- err
		}
	}
}

func (j *Jobs) commitBatch(ctx context.Context, batch []*commit) error {
	var leaves [][]byte
	for _, c := range batch {
		if c.leaf != nil {
			leaves = append(leaves, c.leaf)
		}
	}
	if len(leaves) > 0 {
		first, err := j.log.Append(ctx, leaves...)
		if err != nil {
			return fmt.Errorf("node: append leaves: %w", err)
		}
		for _, c := range batch {
			if c.leaf != nil {
				c.job.Leaves = append(c.job.Leaves, first)
				first++
			}
		}
	}
	b, err := j.ds.Batch(ctx)
	if err != nil {
		return err
	}
	for _, c := range batch {
		id := c.job.Record.Job
		if !c.job.stored {
			if err := b.Put(ctx, orderKey(id), c.job.Order); err != nil {
				return err
			}
			if err := b.Put(ctx, ackKey(id), c.job.Ack); err != nil {
				return err
			}
		}
		enc, err := encodeJob(c.job)
		if err != nil {
			return err
		}
		if err := b.Put(ctx, jobKey(id), enc); err != nil {
			return err
		}
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("node: commit jobs: %w", err)
	}
	for _, c := range batch {
		c.job.stored = true
	}
	return nil
}

// Get returns a job by ID.
func (j *Jobs) Get(ctx context.Context, id string) (*Job, error) {
	if id == "" || len(id) > 128 {
		return nil, ErrJobNotFound
	}
	b, err := j.ds.Get(ctx, jobKey(id))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, ErrJobNotFound
	}
	if err != nil {
		return nil, err
	}
	job, err := decodeJob(b)
	if err != nil {
		return nil, err
	}
	return job, j.fill(ctx, job)
}

// fill reads a stored job's order and Ack.
func (j *Jobs) fill(ctx context.Context, job *Job) error {
	id := job.Record.Job
	var err error
	if job.Order, err = j.ds.Get(ctx, orderKey(id)); err != nil {
		return fmt.Errorf("node: job %s order: %w", id, err)
	}
	if job.Ack, err = j.ds.Get(ctx, ackKey(id)); err != nil {
		return fmt.Errorf("node: job %s ack: %w", id, err)
	}
	job.stored = true
	return nil
}

// List calls fn for jobs (in key order) until fn returns false, skipping
// the first offset. It reads at most limit jobs (0 = no limit).
func (j *Jobs) List(ctx context.Context, offset, limit int, fn func(*Job) bool) error {
	res, err := j.ds.Query(ctx, dsq.Query{Prefix: "/jobs", Offset: offset, Limit: limit})
	if err != nil {
		return err
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return r.Error
		}
		job, err := decodeJob(r.Value)
		if err != nil {
			return err
		}
		if err := j.fill(ctx, job); err != nil {
			return err
		}
		if !fn(job) {
			return nil
		}
	}
	return nil
}
