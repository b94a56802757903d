// Package store is the node's single badger v4 database and the small layers
// Aurora builds on it: a go-datastore adapter with namespaced views, the order
// atomic multi-key writes with TTLs, and transaction-consistent backups.
//
// # One database per node
//
// [Open] opens one badger DB per node, tuned for a 2-core machine (two
// compactors, bounded block and index caches, modest memtables, 256 MiB value
// log files). Badger's logs go to the injected *slog.Logger. Value-log GC runs
// on a ticker owned by the [DB]; [DB.Close] stops it and waits for it.
// [DB.Badger] exposes the raw *badger.DB for components that need it; raw keys
// should not start with '/' so they stay out of the datastore views.
//
// # Durability
//
// By default [Config.SyncWrites] is false: a transaction that committed is in
// badger's write-ahead log (a memory-mapped file), so it survives a crash of
// the process, but the log is fsynced only by [DB.Sync], [Datastore.Sync],
// [DB.Close] and badger's own flushes, so an operating-system crash or power
// loss can drop the last writes. Operators who need every commit on stable
// storage set SyncWrites, at a large cost in write throughput.
//
// # Datastore views
//
// [DB.Datastore] and [DB.Namespace] return a [Datastore], which implements
// go-datastore's Batching, TxnDatastore, PersistentDatastore, TTLDatastore and
// GCDatastore interfaces. A namespaced view stores its keys under
// "/<namespace>/..." and sees only them; transactions, batches and queries all
// stay inside the namespace. Queries iterate badger with the namespace and
// query prefix, so they never scan the rest of the database; orders other
// than by key are applied in memory.
//
// # Atomic writes
//
// [Datastore.Apply] writes a set of puts (each with an optional TTL) and
// deletes in one badger transaction: all or none. The order ledger commits
// an order's nonce, answer and job with it, so a crash never leaves a nonce
// without the answer it guards.
//
// # Backups
//
// [DB.Backup] streams badger's backup format (restored by badger's Load)
// from one read transaction, so that a backup is one consistent snapshot
// even while the node writes. An incremental backup passes the version
// returned by the previous backup as since, unchanged: badger's documented
// "+1" skips the first later version. The stream is in key order, in frames
// of whole keys, so a stream cut short is resumed rather than restarted:
// [ScanBackup] reads the cursor off the whole frames kept, and
// [DB.BackupFrom] streams the rest, including what changed meanwhile.
// [DB.BackupToFile] writes the backup atomically with a [Manifest] next to it;
// [DB.RestoreFile] verifies the manifest's SHA-256 before loading anything.
// [Scheduler] runs a full backup and then incremental ones on an interval.
//
// Known limitation of badger incremental backups: a deletion whose tombstone
// compaction already discarded before the next incremental backup is not in
// that backup, so restoring a chain can bring the deleted key back. A new full
// backup (the [Scheduler] starts one every [SchedulerConfig.FullInterval])
// bounds the exposure.
package store
