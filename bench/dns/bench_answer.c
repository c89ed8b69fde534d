/*
 * Micro-benchmark of the store path (answer_build over src/dns/zonedb.c): what a
 * response-cache miss costs, without the network. It opens a zone store that
 * airdress-dns has loaded (its data_dir; stop the daemon first) and answers every
 * query of a dnsperf query file twice: the first pass starts with a cold block cache,
 * as a server does after a load, the second is warm. Times are the thread's CPU
 * time, so that other work on a shared machine does not count.
 *
 *   bench_answer DATA_DIR QUERYFILE [max queries]
 *   bench/dns/genzone.py writes the query file; bench/dns/run KEEP=1 keeps a data_dir.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "dnswire.h"
#include "zonedb.h"

#define QUERY_MAX 300

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* "name TYPE" lines (A or AAAA, as genzone.py writes them) as wire queries. */
static size_t read_queries(const char *path, uint8_t (*pkt)[QUERY_MAX], size_t *len, size_t max)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	char line[320], name[256], type[16];
	size_t n = 0;
	while (n < max && fgets(line, sizeof(line), f) != NULL) {
		uint8_t wire[DNSW_NAME_MAX];
		if (sscanf(line, "%255s %15s", name, type) != 2 ||
		    dnsw_name_from_text(name, strlen(name), (const uint8_t *)"", wire) <= 0)
			continue;
		struct dnsw_writer w;
		dnsw_writer_init(&w, pkt[n], QUERY_MAX);
		dnsw_put_header(&w, (uint16_t)n, DNSW_FLAG_RD);
		dnsw_put_question(&w, wire, strcmp(type, "AAAA") == 0 ? DNSW_T_AAAA : DNSW_T_A,
				  DNSW_CLASS_IN);
		len[n++] = dnsw_finish(&w);
	}
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s DATA_DIR QUERYFILE [max queries]\n", argv[0]);
		return 2;
	}
	size_t max = argc > 3 ? (size_t)atol(argv[3]) : 200000;
	uint8_t (*pkt)[QUERY_MAX] = malloc(max * QUERY_MAX);
	size_t *len = malloc(max * sizeof(*len));
	static uint8_t scratch[ANSWER_SCRATCH], out[65536];
	if (pkt == NULL || len == NULL)
		return 1;
	size_t n = read_queries(argv[2], pkt, len, max);
	if (n == 0) {
		fprintf(stderr, "%s: no queries\n", argv[2]);
		return 1;
	}
	struct zonedb *db;
	char err[256];
	if (zonedb_open(argv[1], &db, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct answer_settings s = { .udp_payload = 1232 };
	struct answer_info info;
	struct dnsw_query q;
	size_t answered = 0;
	for (int pass = 0; pass < 2; pass++) {
		double t0 = cpu_now();
		for (size_t i = 0; i < n; i++) {
			if (dnsw_parse_query(pkt[i], len[i], &q) == 0 &&
			    answer_build(db, &s, &q, false, 512, NULL, 0, scratch, out, sizeof(out),
					 &info) > 0)
				answered++;
		}
		double t1 = cpu_now();
		printf("%s block cache: %zu queries, %.0f ns per answer (CPU)\n",
		       pass ? "warm" : "cold", n, (t1 - t0) * 1e9 / (double)n);
	}
	zonedb_close(db);
	free(pkt);
	free(len);
	return answered == 2 * n ? 0 : 1;
}
