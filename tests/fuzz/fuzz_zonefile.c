/*
 * Fuzz target for the zone file loader: every input is written to a file and loaded as
 * the zone fuzz.airdr.es, so that ldns's record parsing, $ORIGIN, $TTL and $INCLUDE
 * handling, the whole-zone checks (SOA, NS, CNAME, out-of-zone data), the grouping into
 * RRsets and zonefile_find() all run on hostile text. A failure must say why, naming a
 * file; a success must find each of its RRsets again.
 * Seed corpus: tests/fuzz/corpus/zonefile/ (the unit tests' zone files, good and bad).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "zonefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t apex[] = "\4fuzz\5airdr\2es";
	if (path[0] == '\0') {
		log_set_level(LOG_LEVEL_ERROR);
		strcpy(path, "/tmp/fuzz_zonefile.XXXXXX");
		int fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
		atexit(remove_file);
	}
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();

	struct zonefile *zf = NULL;
	char err[512] = "";
	int ret = zonefile_load(path, apex, &zf, err, sizeof(err));
	if (ret != 0) {
		if (zf != NULL || err[0] == '\0' || strchr(err, ':') == NULL)
			abort();
		return 0;
	}
	if (zf == NULL || zf->nrrsets == 0)
		abort(); /* a zone that loads has at least its SOA and NS */
	for (size_t i = 0; i < zf->nrrsets; i++) {
		const struct zonefile_rrset *rs = &zf->rrsets[i];
		if (zonefile_find(zf, rs->owner, rs->type) != rs || rs->count == 0)
			abort();
	}
	zonefile_free(zf);
	return 0;
}
