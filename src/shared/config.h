/*
 * Configuration loader: YAML files (libyaml) read into a plain C struct, driven by one
 * declarative schema table per daemon (in the manner of Knot's conf/schema.c and nginx's
 * ngx_command_t). The same table gives parsing, validation, defaults, `-t` and the
 * reference tables in docs/.
 *
 *   struct relay_cfg { struct cfg_addr *listen; size_t listen_count; unsigned workers;
 *                      uint64_t peek_timeout; struct admin_cfg admin; ... };
 *
 *   static const struct cfg_item relay_items[] = {
 *       { .key = "listen", .type = CFG_ADDR, .offset = offsetof(struct relay_cfg, listen),
 *         .count = CFG_AT(struct relay_cfg, listen_count), .def = "[\"0.0.0.0:80\"]",
 *         .doc = "HTTP listening addresses" },
 *       { .key = "workers", .type = CFG_UINT, .offset = offsetof(struct relay_cfg, workers),
 *         .max = 1024, .def = "0", .doc = "worker threads, 0 = one per CPU" },
 *       { .key = "admin", .type = CFG_SECTION, .offset = offsetof(struct relay_cfg, admin),
 *         .section = &admin_schema, .doc = "admin HTTP endpoint" },
 *       CFG_ITEMS_END
 *   };
 *   static const struct cfg_schema relay_schema = { "relay", sizeof(struct relay_cfg),
 *                                                  relay_items };
 *
 * Rules (docs/configuration.md has the user-facing version):
 * - The top level of a file is a mapping. Unknown keys, duplicate keys, wrong node kinds,
 *   bad and out-of-range values are errors; the first one stops the load, and its text is
 *   "FILE:LINE:COLUMN: KEY.PATH: what was expected, got what" (1-based, at the node).
 *   Missing required keys point at the mapping that lacks them.
 * - Quoting never changes a value's meaning: `workers: "4"` is 4. A null value (nothing,
 *   `~`, `null`) is an error for a scalar item, an empty mapping for a section and an
 *   empty list for a list. A list item also accepts one bare value
 *   (`listen: "127.0.0.1:53"` is a list of one).
 * - An empty file (or one holding only comments, or one empty document) is valid: every
 *   key takes its default, and only required keys are reported.
 * - Anchors, aliases, tags and more than one document are rejected, as are files over
 *   CFG_MAX_FILE bytes, nesting over CFG_MAX_DEPTH, scalars over CFG_MAX_SCALAR bytes and
 *   documents of more than CFG_MAX_NODES nodes.
 * - A key that is absent takes its default, written as YAML text exactly as in a file and
 *   parsed by the same code; without a default it is zero, NULL or an empty list. A
 *   required key has no default. An absent section gets the defaults of its keys and its
 *   required keys are not checked (it is optional); a present one is checked.
 *
 * Ownership: the loader allocates strings, paths, lists and arrays of sections inside the
 * caller's struct; cfg_free() releases them. The struct itself belongs to the caller. A
 * reload loads a fresh struct, the daemon swaps a pointer and frees the old one later.
 * Nothing here keeps global state: loads may run in any thread, and a loaded struct is
 * only read afterwards, so workers may share it.
 */
#ifndef AIRDRESS_CONFIG_H
#define AIRDRESS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* Limits against hostile or broken files. */
#define CFG_MAX_FILE (16u << 20)    /* bytes of YAML */
#define CFG_MAX_DEPTH 32            /* nested mappings and sequences */
#define CFG_MAX_SCALAR (64u << 10)  /* bytes in one scalar */
#define CFG_MAX_NODES (1u << 20)    /* scalars, mappings and sequences in one file */

/* A comfortable size for the error buffer of cfg_load_*(). */
#define CFG_ERRLEN 512

/* An IP address with port (CFG_ADDR) or without (CFG_IP: port 0), ready for bind(2)
 * or connect(2): addr.ss_family is AF_INET or AF_INET6, len the matching sockaddr size.
 * Parsed and formatted by sockaddr.h (numeric only, IPv6 in brackets, "%zone" allowed). */
struct cfg_addr {
	struct sockaddr_storage addr;
	socklen_t len;
};

/* An IP prefix, "192.0.2.0/24" or "fd61:6972::1/64" (host bits are kept as written). */
struct cfg_prefix {
	struct cfg_addr addr; /* port 0 */
	unsigned int prefixlen;
};

/* Item types and the C type each one stores at the item's offset. */
enum cfg_type {
	CFG_BOOL,     /* bool: true/false (also yes/no, on/off; any case) */
	CFG_UINT,     /* unsigned int, decimal, in min..max (max 0: UINT_MAX) */
	CFG_STRING,   /* char *, allocated, no NUL bytes inside */
	CFG_PATH,     /* char *, allocated; relative paths are joined to the file's folder */
	CFG_DURATION, /* uint64_t milliseconds, units.h syntax, in min..max (max 0: none) */
	CFG_SIZE,     /* uint64_t bytes, units.h syntax, in min..max (max 0: none) */
	CFG_ENUM,     /* int: index of the value in .enums */
	CFG_ADDR,     /* struct cfg_addr: "127.0.0.1:53", "[::1]:53" */
	CFG_IP,       /* struct cfg_addr with port 0: "192.0.2.1", "2001:db8::1" */
	CFG_PREFIX,   /* struct cfg_prefix: "192.0.2.0/24", "2001:db8::/32" */
	CFG_SECTION,  /* a struct described by .section, nested at the offset */
};

/* A second field of the daemon's struct, for lists and presence flags. */
struct cfg_at {
	bool set;
	size_t offset;
};
#define CFG_AT(type, member) { true, offsetof(type, member) }

struct cfg_schema;

/* One key. Fields not named in an initializer are zero, which is the usual choice. */
struct cfg_item {
	const char *key;       /* NULL ends the table */
	enum cfg_type type;
	size_t offset;         /* of the value in the struct; for a list, of its T * */
	struct cfg_at count;   /* set: the item is a list; offset of its size_t count. A list
				* of T is stored as T *items (allocated) + size_t count */
	struct cfg_at present; /* set: offset of a bool made true when the key is in the file */
	bool required;         /* the key must appear (ignored when there is a default) */
	bool reload;           /* a SIGHUP applies a change; false: needs a restart */
	uint64_t min, max;     /* CFG_UINT, CFG_DURATION (ms), CFG_SIZE (bytes) */
	const char *def;       /* default as YAML text, e.g. "5s", "[\"127.0.0.1:53\"]" */
	const char *const *enums;          /* CFG_ENUM: names, NULL-terminated */
	const struct cfg_schema *section;  /* CFG_SECTION: the nested schema */
	const char *doc;       /* one line for the reference */
};
#define CFG_ITEMS_END { .key = NULL }

struct cfg_schema {
	const char *name;             /* "relay": names the schema in messages */
	size_t size;                  /* sizeof the struct the items describe */
	const struct cfg_item *items; /* ends with CFG_ITEMS_END */
};

/* Zero *out (schema->size bytes) and fill in every default; required keys stay zero and
 * relative default paths stay relative. For tests and tools (a schema test should call
 * it: a broken default is reported in err as "default: KEY: ..."). Returns 0,
 * AD_ECONFIG or -ENOMEM; on error *out holds nothing. */
int cfg_set_defaults(const struct cfg_schema *schema, void *out, char *err, size_t errlen);

/* Load YAML text (len bytes, NUL not needed) into *out, which is zeroed first (it must
 * not hold a previous load: cfg_free() that one). name is used in messages (NULL:
 * "<config>"); relative CFG_PATH values are joined to basedir (NULL: left relative).
 * data may be NULL for an empty file.
 * Returns 0, AD_ECONFIG (invalid YAML or config), AD_ETOOBIG (over CFG_MAX_FILE) or
 * -ENOMEM; on error err holds one line without a newline and *out holds nothing.
 * On success err is "". err may be NULL when errlen is 0. */
int cfg_load_buffer(const struct cfg_schema *schema, void *out, const char *name,
		    const char *data, size_t len, const char *basedir, char *err,
		    size_t errlen);

/* cfg_load_buffer() on the file at path, with basedir = the file's folder made absolute.
 * Also returns -errno when the file cannot be read ("PATH: No such file or directory"). */
int cfg_load_file(const struct cfg_schema *schema, void *out, const char *path, char *err,
		  size_t errlen);

/* Free what the loader allocated inside *out and zero those fields. Accepts NULL, a
 * zeroed struct, and a struct already freed. */
void cfg_free(const struct cfg_schema *schema, void *out);

/* For a reload: fresh is the newly loaded config, running the one in service. Every item
 * with reload = false whose value differs is logged as a warning (key path named) and
 * set back in fresh to a copy of the running value, so that fresh describes what is in
 * effect until a restart. Sections marked reloadable are walked key by key; a list of
 * sections is one value. Returns how many keys were kept, or -ENOMEM. */
int cfg_reload_merge(const struct cfg_schema *schema, void *fresh, const void *running);

/* Check a config file for `-t`: load it, print "PATH: configuration ok" or the error line
 * to out, free everything. Returns what cfg_load_file() returned. */
int cfg_check_file(const struct cfg_schema *schema, const char *path, FILE *out);

/* Print the schema as a Markdown table (key path, type, default, reload, description),
 * nested keys as "admin.listen" and "zones[].name". */
void cfg_print_reference(const struct cfg_schema *schema, FILE *out);

#endif
