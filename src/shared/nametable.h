/*
 * Name table: the relay's sharded name -> value map (name -> tunnel), read on every new
 * connection by every worker thread, written rarely by a control thread.
 *
 * Keys are DNS names, stored normalised: lowercase ASCII, no trailing dot. The table is
 * split into shards, each an open-addressing hash map of one-cache-line slots that hold
 * the name and the value (one writer, many lock-free readers) guarded by its own writer
 * mutex. Readers never lock, never allocate and write only their own epoch record: they
 * wrap their lookups in an epoch section (ck_epoch), and everything a writer unlinks (a
 * replaced or deleted value, a long name kept out of line, an outgrown or rebuilt map) is
 * freed only after every reader has left the sections that could have seen it.
 *
 *   worker thread (once):     r = nametable_reader_register(t);
 *   per connection:           nametable_read_begin(r);
 *                             v = nametable_lookup(t, r, host, len);   (v valid ...)
 *                             nametable_read_end(r);                   (... until here)
 *   control thread:           nametable_set(t, name, len, v); nametable_delete(t, name, len);
 *
 * Reclamation is driven by the writers: each shard has a writer epoch record; a write
 * that leaves 32 or more retired objects on it polls the epoch (frees what no reader can
 * still see), and one that leaves more than 1024 waits for a grace period
 * (ck_epoch_barrier), so memory stays bounded; nametable_synchronize flushes the rest.
 * A write therefore may block until every reader has left its current section: keep read
 * sections short, and never call a writer function from inside a read section of the same
 * table (it would wait for itself).
 */
#ifndef AIRDRESS_NAMETABLE_H
#define AIRDRESS_NAMETABLE_H

#include <stddef.h>

#define NAMETABLE_NAME_MAX 253  /* bytes in a normalised name (no trailing dot) */
#define NAMETABLE_LABEL_MAX 63  /* bytes in one label */
#define NAMETABLE_SHARDS_DEFAULT 16
#define NAMETABLE_SHARDS_MAX 1024

struct nametable;
struct nametable_reader;

/* Frees a value the table owned. Called by the writer thread that reclaims it, while
 * that thread holds a shard lock: it must not call any nametable function. */
typedef void nametable_free_fn(void *value);

/* Called by nametable_foreach for each entry; a non-zero return stops the walk. */
typedef int nametable_foreach_fn(const char *name, size_t len, void *value, void *arg);

/* Validate and normalise a name: ASCII letters lowercased, one trailing dot stripped.
 * Allowed bytes after lowercasing: a-z 0-9 - _ and the dot between labels; '*' only as
 * the whole first label ("*.example.com"). out may be in; it receives the name and a NUL,
 * so outcap must be at least the result length + 1 (NAMETABLE_NAME_MAX + 1 always fits).
 * Returns the normalised length (> 0), AD_EPARSE (empty name or label, bad byte,
 * misplaced '*'), AD_ETOOBIG (label > 63 or name > 253 bytes) or AD_ENOSPACE (outcap too
 * small). On error out holds garbage. */
int nametable_name_normalize(const char *in, size_t len, char *out, size_t outcap);

/* Create an empty table of `shards` shards (0 = NAMETABLE_SHARDS_DEFAULT, at most
 * NAMETABLE_SHARDS_MAX). value_free (may be NULL) frees the values the table owns.
 * Returns NULL when out of memory or shards is too large. */
struct nametable *nametable_create(unsigned shards, nametable_free_fn *value_free);

/* Free the table, every value still in it (value_free) and every value awaiting
 * reclamation, and every reader handle. NULL-safe. No reader may be inside a read
 * section and no writer may be running: stop or join them first. */
void nametable_destroy(struct nametable *t);

/* --- readers (worker threads) --- */

/* Register a reader handle (an epoch record) for the calling thread; do it once per
 * thread, not per lookup. A handle is used by one thread at a time. Returns NULL when out
 * of memory. The table owns the handle: nametable_destroy frees it. */
struct nametable_reader *nametable_reader_register(struct nametable *t);

/* Give a handle back (a thread that stops reading). It must be outside any read section;
 * it is reused by a later nametable_reader_register. NULL-safe. */
void nametable_reader_unregister(struct nametable_reader *r);

/* Open / close a read section. Values returned by nametable_lookup stay valid until the
 * matching read_end. Sections nest. Never blocks, never allocates. */
void nametable_read_begin(struct nametable_reader *r);
void nametable_read_end(struct nametable_reader *r);

/* Look a name up; r must be inside a read section. Any case and one trailing dot are
 * accepted; the name is folded into a stack buffer (no validation beyond that: a name
 * that is not valid cannot be in the table and is simply not found). Returns the value,
 * valid until nametable_read_end, or NULL (not found, empty, longer than 253 bytes).
 * Lock-free, no allocation. */
const void *nametable_lookup(const struct nametable *t, struct nametable_reader *r,
			     const char *name, size_t len);

/* --- writers (any thread; serialised per shard by the shard lock) --- */

/* Insert name -> value, or replace the value of an existing name. On success the table
 * owns value; a replaced value is freed through value_free after a grace period.
 * value must not be NULL. Returns 0, AD_EPARSE / AD_ETOOBIG (invalid name, see
 * nametable_name_normalize), -EINVAL (NULL value) or -ENOMEM; on error the caller keeps
 * value. */
int nametable_set(struct nametable *t, const char *name, size_t len, void *value);

/* Remove a name; its value is freed through value_free after a grace period. Returns 0,
 * AD_ENOTFOUND, or AD_EPARSE / AD_ETOOBIG for an invalid name. */
int nametable_delete(struct nametable *t, const char *name, size_t len);

/* Number of names in the table. Any thread; exact when no write is in progress. */
size_t nametable_count(const struct nametable *t);

/* Call fn for every entry, shard by shard, each shard under its writer lock (readers
 * are not blocked). name is NUL-terminated and normalised; name and value are valid only
 * during the call. fn must not write to the table. Returns 0 or fn's first non-zero
 * return. Not for a read section. */
int nametable_foreach(struct nametable *t, nametable_foreach_fn *fn, void *arg);

/* Wait for a grace period and free everything awaiting reclamation in every shard
 * (writes do this on their own when garbage piles up; this flushes the rest, e.g. after
 * a batch of updates). Blocks until every reader has left its current section; never
 * call it from inside a read section. */
void nametable_synchronize(struct nametable *t);

#endif
