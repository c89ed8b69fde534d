/*
 * Fuzz target for the configuration loader: every input is loaded as YAML against the
 * daemon-shaped schemas of tests/support/config_schemas.h (dns, relay, routes, healthd),
 * so that the parser, the tree limits, every value type, defaults, and on success the
 * reload merge (compare and deep copy) and cfg_free() all run on hostile text.
 * Seed corpus: tests/fuzz/corpus/config/ (plain YAML files, good and bad).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

#include "../support/config_schemas.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void load_one(const struct cfg_schema *schema, const uint8_t *data, size_t size)
{
	char err[CFG_ERRLEN];
	void *cfg = malloc(schema->size);
	void *defaults = malloc(schema->size);
	if (cfg == NULL || defaults == NULL)
		goto cleanup;
	int ret = cfg_load_buffer(schema, cfg, "fuzz.yaml", (const char *)data, size,
				  "/etc/airdress", err, sizeof(err));
	/* Every error has a message, every success an empty one. */
	if ((ret == 0) != (err[0] == '\0'))
		abort();
	if (memchr(err, '\n', strlen(err)) != NULL)
		abort();
	if (ret == 0 && cfg_set_defaults(schema, defaults, err, sizeof(err)) == 0) {
		/* Pretend the defaults are running and the input is the reload. */
		if (cfg_reload_merge(schema, cfg, defaults) < 0)
			abort();
		cfg_free(schema, defaults);
	}
	cfg_free(schema, cfg);
	cfg_free(schema, cfg); /* freeing twice must be harmless */
cleanup:
	free(cfg);
	free(defaults);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		log_set_level(LOG_LEVEL_ERROR); /* reload_merge warns on every kept key */
		quiet = 1;
	}
	load_one(&ts_dns_schema, data, size);
	load_one(&ts_relay_schema, data, size);
	load_one(&ts_routes_schema, data, size);
	load_one(&ts_healthd_schema, data, size);
	return 0;
}
