/*
 * TLS termination over memory buffers: see tlsterm.h.
 *
 * One load of the certificates is a certset: an SSL_CTX per distinct (cert, key)
 * pair, all configured alike, and the configured names sorted for lookup. The context
 * points at the current set; each connection takes a reference on the set it was
 * created from, so a reload never frees what a handshake in progress still uses.
 * Connections start on the set's first SSL_CTX (the default certificate) and the
 * servername callback moves them to the one the SNI selects.
 *
 * The SSL object talks to one BIO of our own, whose data is the connection: reads
 * take from c->in (what tlsterm_feed() copied), writes append to c->out (what
 * tlsterm_pending_out() shows). Both buffers are freed as soon as they are empty.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "error.h"
#include "tlsterm.h"

#define NAME_MAX_LEN 253
#define RECORD_MAX 16384
#define TICKET_NAME_LEN 16
#define TICKET_KEY_LEN 32
#define SESSION_ID_CONTEXT "airdress-operator"
/* TLS 1.2 suites: forward secret AEADs only (TLS 1.3 keeps OpenSSL's defaults). */
#define TLS12_CIPHERS                                                                   \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                    \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                    \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct name_entry {
	char *name;     /* lowercase; "*.suffix" for a wildcard */
	size_t ctx_idx; /* into certset.ctxs */
};

struct certset {
	atomic_uint refs; /* the context's (while current) + one per connection */
	SSL_CTX **ctxs;   /* ctxs[0]: the first configured certificate (the default) */
	size_t nctxs;
	struct name_entry *names; /* sorted by name */
	size_t nnames;
	bool sni_fallback;
};

struct ticket_key {
	uint8_t name[TICKET_NAME_LEN];
	uint8_t aes[TICKET_KEY_LEN];
	uint8_t hmac[TICKET_KEY_LEN];
	uint64_t born_ms;
	bool valid;
};

struct tlsterm_ctx {
	pthread_mutex_t set_lock; /* guards set (the pointer and the context's ref) */
	struct certset *set;
	pthread_mutex_t key_lock; /* guards keys */
	struct ticket_key keys[2]; /* [0] current: encrypts; [1] previous: decrypts */
	uint64_t period_ms;
	unsigned period_s;
	EVP_CIPHER *ticket_cipher; /* AES-256-CBC, fetched once */
};

struct buf {
	uint8_t *data;
	size_t off, len, cap;
};

struct tlsterm_conn {
	SSL *ssl;
	struct tlsterm_ctx *ctx;
	struct certset *set;
	struct buf in;  /* ciphertext fed, not yet read by OpenSSL */
	struct buf out; /* ciphertext produced, not yet consumed */
	char *sni;
	unsigned long ossl_err; /* OpenSSL's error for fail */
	int fail;               /* 0 or the sticky failure */
	bool peer_closed;       /* close_notify received */
	bool shut;              /* close_notify queued */
	bool unknown_name;      /* the SNI matched no certificate: alert sent */
};

/* ---- buffers ---- */

static int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (b->off + b->len + n > b->cap) {
		if (b->off > 0) {
			memmove(b->data, b->data + b->off, b->len);
			b->off = 0;
		}
		if (b->len + n > b->cap) {
			size_t need = b->len + n;
			size_t cap = b->cap * 2 > need ? b->cap * 2 : need;
			uint8_t *d = OPENSSL_realloc(b->data, cap);
			if (d == NULL)
				return -ENOMEM;
			b->data = d;
			b->cap = cap;
		}
	}
	memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
	return 0;
}

/* Drop n bytes from the front; an emptied buffer is freed (idle connections hold none). */
static void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		OPENSSL_free(b->data);
		*b = (struct buf){0};
		return;
	}
	b->off += n;
	b->len -= n;
}

/* ---- the BIO between OpenSSL and the buffers ---- */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_write_ex(BIO *b, const char *data, size_t len, size_t *written)
{
	struct tlsterm_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (buf_append(&c->out, data, len) != 0)
		return 0;
	*written = len;
	return 1;
}

static int bio_read_ex(BIO *b, char *out, size_t len, size_t *readbytes)
{
	struct tlsterm_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	*readbytes = 0;
	if (c->in.len == 0) {
		BIO_set_retry_read(b);
		return 0;
	}
	size_t n = len < c->in.len ? len : c->in.len;
	memcpy(out, c->in.data + c->in.off, n);
	buf_consume(&c->in, n);
	*readbytes = n;
	return 1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tlsterm_conn *c = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return c ? (long)c->in.len : 0;
	case BIO_CTRL_WPENDING:
		return c ? (long)c->out.len : 0;
	default:
		return 0;
	}
}

static void bio_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tlsterm");
	if (m == NULL)
		return;
	if (!BIO_meth_set_write_ex(m, bio_write_ex) || !BIO_meth_set_read_ex(m, bio_read_ex) ||
	    !BIO_meth_set_ctrl(m, bio_ctrl)) {
		BIO_meth_free(m);
		return;
	}
	bio_method = m;
}

/* ---- OpenSSL errors ---- */

/* The first error in the thread's queue (the root cause), and empty the queue. */
static unsigned long ossl_take_error(void)
{
	unsigned long first = 0, e;
	while ((e = ERR_get_error()) != 0)
		if (first == 0)
			first = e;
	return first;
}

static void ossl_reason(unsigned long e, char *buf, size_t size)
{
	if (e == 0) {
		snprintf(buf, size, "unknown OpenSSL error");
		return;
	}
	if (ERR_SYSTEM_ERROR(e)) {
		snprintf(buf, size, "%s", strerror(ERR_GET_REASON(e)));
		return;
	}
	const char *r = ERR_reason_error_string(e);
	if (r != NULL)
		snprintf(buf, size, "%s", r);
	else
		ERR_error_string_n(e, buf, size);
}

/* "WHAT PATH: reason (detail)" into err, from the queue's first error (OpenSSL's
 * detail text, such as "Expecting: TRUSTED CERTIFICATE", when it has one). Empties
 * the queue. Returns AD_ECONFIG. */
static int config_error(char *err, size_t errlen, const char *what, const char *path)
{
	char reason[256], detail[200] = "";
	const char *data = NULL;
	int flags = 0;
	unsigned long e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags);
	ossl_reason(e, reason, sizeof(reason));
	if (e != 0 && !ERR_SYSTEM_ERROR(e) && data != NULL && data[0] != '\0' &&
	    (flags & ERR_TXT_STRING))
		snprintf(detail, sizeof(detail), " (%s)", data);
	ERR_clear_error();
	if (errlen > 0)
		snprintf(err, errlen, "%s %s: %s%s", what, path, reason, detail);
	return AD_ECONFIG;
}

/* ---- names ---- */

/* Lowercase name into out (NAME_MAX_LEN + 1 bytes), without one trailing dot.
 * Returns its length, or 0 when it is no valid host name (labels of 1..63 letters,
 * digits, '-' or '_'; a leading "*." when wildcard_ok). */
static size_t name_normalize(const char *name, char *out, bool wildcard_ok)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > NAME_MAX_LEN)
		return 0;
	size_t label = 0, i = 0;
	if (wildcard_ok && len > 2 && name[0] == '*' && name[1] == '.') {
		out[0] = '*';
		out[1] = '.';
		i = 2;
		if (memchr(name + 2, '.', len - 2) == NULL)
			return 0; /* "*.com": a wildcard needs two labels under it */
	}
	for (; i < len; i++) {
		char ch = name[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			   ch == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
		out[i] = ch;
	}
	if (label == 0)
		return 0;
	out[len] = '\0';
	return len;
}

static int name_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_entry *)a)->name, ((const struct name_entry *)b)->name);
}

static const struct name_entry *set_find(const struct certset *s, const char *name)
{
	struct name_entry key = {.name = (char *)name};
	return bsearch(&key, s->names, s->nnames, sizeof(key), name_entry_cmp);
}

/* The entry serving name (normalized): exact, else "*." + the name minus its first
 * label. NULL when none. */
static const struct name_entry *set_select(const struct certset *s, const char *name)
{
	const struct name_entry *e = set_find(s, name);
	if (e != NULL)
		return e;
	const char *dot = strchr(name, '.');
	if (dot == NULL || dot == name)
		return NULL;
	char wild[NAME_MAX_LEN + 2];
	snprintf(wild, sizeof(wild), "*%s", dot);
	return set_find(s, wild);
}

/* ---- callbacks ---- */

static int on_servername(SSL *ssl, int *alert, void *arg)
{
	struct tlsterm_conn *c = SSL_get_app_data(ssl);
	const char *sent = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (sent == NULL)
		return SSL_TLSEXT_ERR_OK; /* no SNI: the default certificate */
	char name[NAME_MAX_LEN + 1];
	size_t len = name_normalize(sent, name, false);
	const struct name_entry *e = len > 0 ? set_select(c->set, name) : NULL;
	if (len > 0 && (c->sni == NULL || strcmp(c->sni, name) != 0)) {
		OPENSSL_free(c->sni);
		c->sni = OPENSSL_strndup(name, len);
	}
	if (e == NULL) {
		if (c->set->sni_fallback)
			return SSL_TLSEXT_ERR_OK;
		c->unknown_name = true;
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	SSL_CTX *want = c->set->ctxs[e->ctx_idx];
	if (SSL_get_SSL_CTX(ssl) != want && SSL_set_SSL_CTX(ssl, want) != want) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* http/1.1 when the client offers it (whatever else it offers, h2 included); no
 * ALPN at all otherwise: the client may still speak HTTP/1.1 without it. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const char want[] = "http/1.1";
	unsigned int i = 0;
	while (i < inlen) {
		unsigned int l = in[i];
		if (l == 0 || i + 1 + l > inlen)
			break;
		if (l == sizeof(want) - 1 && memcmp(in + i + 1, want, l) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static int no_password(char *buf, int size, int rwflag, void *u)
{
	return 0; /* an encrypted key fails to load instead of prompting on a tty */
}


/* A fresh current key; the current one becomes the previous. Key lock held. */
static void keys_rotate_locked(struct tlsterm_ctx *t, uint64_t now)
{
	struct ticket_key k = {.born_ms = now, .valid = true};
	if (RAND_bytes(k.name, sizeof(k.name)) != 1 || RAND_bytes(k.aes, sizeof(k.aes)) != 1 ||
	    RAND_bytes(k.hmac, sizeof(k.hmac)) != 1) {
		ERR_clear_error();
		OPENSSL_cleanse(&k, sizeof(k));
		return; /* keep the keys we have; tried again on the next ticket */
	}
	OPENSSL_cleanse(&t->keys[1], sizeof(t->keys[1]));
	t->keys[1] = t->keys[0];
	t->keys[0] = k;
	OPENSSL_cleanse(&k, sizeof(k));
}

static void keys_age_locked(struct tlsterm_ctx *t, uint64_t now)
{
	uint64_t age = now - t->keys[0].born_ms;
	if (age < t->period_ms)
		return;
	keys_rotate_locked(t, now);
	if (age >= 2 * t->period_ms) {
		/* idle for more than a period: the old current key is past its time too */
		OPENSSL_cleanse(&t->keys[1], sizeof(t->keys[1]));
	}
}

static int ticket_setup(struct tlsterm_ctx *t, const struct ticket_key *k, unsigned char *iv,
			EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac,
						  sizeof(k->hmac)),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_CipherInit_ex(cctx, t->ticket_cipher, NULL, k->aes, iv, enc) != 1)
		return -1;
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	return 0;
}

/* Session ticket keys (RFC 5077 layout: name, IV, AES-256-CBC, HMAC-SHA256).
 * Encrypt with the current key; decrypt with the current (1) or the previous one
 * (2: accept and issue a new ticket under the current key); unknown name: 0, a full
 * handshake. */
static int on_ticket(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
		     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tlsterm_conn *c = SSL_get_app_data(ssl);
	struct tlsterm_ctx *t = c->ctx;
	struct ticket_key k = {0};
	int ret = 0;

	pthread_mutex_lock(&t->key_lock);
	keys_age_locked(t, clock_ms());
	if (enc) {
		k = t->keys[0];
		ret = k.valid ? 1 : -1;
	} else if (t->keys[0].valid && memcmp(key_name, t->keys[0].name, TICKET_NAME_LEN) == 0) {
		k = t->keys[0];
		ret = 1;
	} else if (t->keys[1].valid && memcmp(key_name, t->keys[1].name, TICKET_NAME_LEN) == 0) {
		k = t->keys[1];
		ret = 2;
	}
	pthread_mutex_unlock(&t->key_lock);
	if (ret <= 0)
		return ret;

	if (enc) {
		int ivlen = EVP_CIPHER_get_iv_length(t->ticket_cipher);
		if (RAND_bytes(iv, ivlen) != 1)
			ret = -1;
		else
			memcpy(key_name, k.name, TICKET_NAME_LEN);
	}
	if (ret > 0 && ticket_setup(t, &k, iv, cctx, hctx, enc) != 0)
		ret = -1;
	OPENSSL_cleanse(&k, sizeof(k));
	return ret;
}

/* ---- certificate sets ---- */

static void set_free(struct certset *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nctxs; i++)
		SSL_CTX_free(s->ctxs[i]);
	for (size_t i = 0; i < s->nnames; i++)
		OPENSSL_free(s->names[i].name);
	OPENSSL_free(s->ctxs);
	OPENSSL_free(s->names);
	OPENSSL_free(s);
}

static void set_release(struct certset *s)
{
	if (s != NULL && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		set_free(s);
}

/* One SSL_CTX with the common settings and one certificate. */
static int ctx_load(const struct tlsterm_ctx *t, const struct tlsterm_cert *cert, SSL_CTX **out,
		    char *err, size_t errlen)
{
	SSL_CTX *s = SSL_CTX_new(TLS_server_method());
	int ret = 0;
	if (s == NULL) {
		ret = -ENOMEM;
		ERR_clear_error();
		goto finish;
	}
	if (SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(s, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_session_id_context(s, (const unsigned char *)SESSION_ID_CONTEXT,
					   sizeof(SESSION_ID_CONTEXT) - 1) != 1 ||
	    SSL_CTX_set_num_tickets(s, 1) != 1 ||
	    SSL_CTX_set_tlsext_ticket_key_evp_cb(s, on_ticket) != 1) {
		ret = config_error(err, errlen, "tls settings for", cert->name);
		goto finish;
	}
	SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
				       SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_timeout(s, 2 * (long)t->period_s);
	SSL_CTX_set_tlsext_servername_callback(s, on_servername);
	SSL_CTX_set_alpn_select_cb(s, on_alpn, NULL);
	SSL_CTX_set_default_passwd_cb(s, no_password);

	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(s, cert->cert_file) != 1) {
		ret = config_error(err, errlen, "certificate file", cert->cert_file);
		goto finish;
	}
	if (SSL_CTX_use_PrivateKey_file(s, cert->key_file, SSL_FILETYPE_PEM) != 1) {
		ret = config_error(err, errlen, "key file", cert->key_file);
		goto finish;
	}
	if (SSL_CTX_check_private_key(s) != 1) {
		/* OpenSSL drops the certificate when the key does not fit it, so its own
		 * reason ("no certificate assigned") would mislead */
		ERR_clear_error();
		snprintf(err, errlen, "key file %s does not match certificate file %s",
			 cert->key_file, cert->cert_file);
		ret = AD_ECONFIG;
		goto finish;
	}
finish:
	if (ret != 0) {
		SSL_CTX_free(s);
		s = NULL;
	}
	*out = s;
	return ret;
}

/* Whether the leaf of s covers name (a wildcard name: a name under it). */
static bool cert_covers(SSL_CTX *s, const char *name)
{
	X509 *leaf = SSL_CTX_get0_certificate(s);
	char probe[NAME_MAX_LEN + 32];
	if (leaf == NULL)
		return false;
	if (name[0] == '*')
		snprintf(probe, sizeof(probe), "wildcard-probe%s", name + 1);
	else
		snprintf(probe, sizeof(probe), "%s", name);
	int r = X509_check_host(leaf, probe, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
	ERR_clear_error();
	return r == 1;
}

static int set_build(const struct tlsterm_ctx *t, const struct tlsterm_config *cfg,
		     struct certset **out, char *err, size_t errlen)
{
	struct certset *s = NULL;
	int ret = 0;

	if (errlen > 0)
		err[0] = '\0';
	*out = NULL;
	if (cfg == NULL || cfg->certs == NULL || cfg->ncerts == 0) {
		snprintf(err, errlen, "no certificate configured");
		return AD_ECONFIG;
	}
	s = OPENSSL_zalloc(sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	atomic_init(&s->refs, 1);
	s->sni_fallback = cfg->sni_fallback;
	s->ctxs = OPENSSL_zalloc(cfg->ncerts * sizeof(*s->ctxs));
	s->names = OPENSSL_zalloc(cfg->ncerts * sizeof(*s->names));
	if (s->ctxs == NULL || s->names == NULL) {
		ret = -ENOMEM;
		goto finish;
	}
	for (size_t i = 0; i < cfg->ncerts; i++) {
		const struct tlsterm_cert *cert = &cfg->certs[i];
		char name[NAME_MAX_LEN + 1];
		if (cert->name == NULL || cert->cert_file == NULL || cert->key_file == NULL) {
			snprintf(err, errlen, "certificate %zu: name, cert and key are required", i);
			ret = AD_ECONFIG;
			goto finish;
		}
		size_t len = name_normalize(cert->name, name, true);
		if (len == 0) {
			snprintf(err, errlen, "name %.300s: not a host name or a wildcard *.name",
				 cert->name);
			ret = AD_ECONFIG;
			goto finish;
		}
		size_t idx = s->nctxs;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cfg->certs[j].cert_file, cert->cert_file) == 0 &&
			    strcmp(cfg->certs[j].key_file, cert->key_file) == 0) {
				idx = s->names[j].ctx_idx; /* same files: share j's SSL_CTX */
				break;
			}
		}
		if (idx == s->nctxs) {
			ret = ctx_load(t, cert, &s->ctxs[idx], err, errlen);
			if (ret != 0)
				goto finish;
			s->nctxs++;
		}
		if (!cert_covers(s->ctxs[idx], name)) {
			snprintf(err, errlen, "certificate file %.200s does not cover name %s",
				 cert->cert_file, name);
			ret = AD_ECONFIG;
			goto finish;
		}
		s->names[i].name = OPENSSL_strndup(name, len);
		s->names[i].ctx_idx = idx;
		s->nnames = i + 1;
		if (s->names[i].name == NULL) {
			ret = -ENOMEM;
			goto finish;
		}
	}
	qsort(s->names, s->nnames, sizeof(*s->names), name_entry_cmp);
	for (size_t i = 1; i < s->nnames; i++) {
		if (strcmp(s->names[i - 1].name, s->names[i].name) == 0) {
			snprintf(err, errlen, "name %s configured twice", s->names[i].name);
			ret = AD_ECONFIG;
			goto finish;
		}
	}
finish:
	if (ret != 0) {
		set_free(s);
		s = NULL;
		ERR_clear_error();
	}
	*out = s;
	return ret;
}

/* ---- context ---- */

int tlsterm_ctx_create(const struct tlsterm_config *cfg, struct tlsterm_ctx **out, char *err,
		       size_t errlen)
{
	struct tlsterm_ctx *t = NULL;
	int ret = 0;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (cfg == NULL)
		return -EINVAL;
	if (cfg->ticket_period_s > TLSTERM_TICKET_PERIOD_MAX) {
		snprintf(err, errlen, "ticket period %us: over the limit of %us", cfg->ticket_period_s,
			 TLSTERM_TICKET_PERIOD_MAX);
		return AD_ECONFIG;
	}
	if (pthread_once(&bio_once, bio_method_init) != 0 || bio_method == NULL)
		return -ENOMEM;
	t = OPENSSL_zalloc(sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	pthread_mutex_init(&t->set_lock, NULL);
	pthread_mutex_init(&t->key_lock, NULL);
	t->period_s = cfg->ticket_period_s ? cfg->ticket_period_s : TLSTERM_TICKET_PERIOD_DEFAULT;
	t->period_ms = (uint64_t)t->period_s * 1000;
	t->ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	if (t->ticket_cipher == NULL) {
		ret = config_error(err, errlen, "cipher", "AES-256-CBC");
		goto finish;
	}
	keys_rotate_locked(t, clock_ms());
	if (!t->keys[0].valid) {
		ret = config_error(err, errlen, "ticket key", "generation");
		goto finish;
	}
	ret = set_build(t, cfg, &t->set, err, errlen);
finish:
	if (ret != 0) {
		tlsterm_ctx_destroy(t);
		t = NULL;
	}
	*out = t;
	return ret;
}

void tlsterm_ctx_destroy(struct tlsterm_ctx *t)
{
	if (t == NULL)
		return;
	set_release(t->set);
	EVP_CIPHER_free(t->ticket_cipher);
	OPENSSL_cleanse(t->keys, sizeof(t->keys));
	pthread_mutex_destroy(&t->set_lock);
	pthread_mutex_destroy(&t->key_lock);
	OPENSSL_free(t);
}

int tlsterm_ctx_reload(struct tlsterm_ctx *t, const struct tlsterm_config *cfg, char *err,
		       size_t errlen)
{
	struct certset *fresh = NULL, *old;
	int ret = set_build(t, cfg, &fresh, err, errlen);
	if (ret != 0)
		return ret;
	pthread_mutex_lock(&t->set_lock);
	old = t->set;
	t->set = fresh;
	pthread_mutex_unlock(&t->set_lock);
	set_release(old);
	return 0;
}

void tlsterm_ctx_rotate_tickets(struct tlsterm_ctx *t)
{
	pthread_mutex_lock(&t->key_lock);
	keys_rotate_locked(t, clock_ms());
	pthread_mutex_unlock(&t->key_lock);
}

/* ---- connections ---- */

int tlsterm_conn_create(struct tlsterm_ctx *t, struct tlsterm_conn **out)
{
	struct tlsterm_conn *c = OPENSSL_zalloc(sizeof(*c));
	BIO *bio = NULL;
	int ret = 0;

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	c->ctx = t;
	pthread_mutex_lock(&t->set_lock);
	c->set = t->set;
	atomic_fetch_add_explicit(&c->set->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&t->set_lock);

	c->ssl = SSL_new(c->set->ctxs[0]);
	bio = BIO_new(bio_method);
	if (c->ssl == NULL || bio == NULL) {
		BIO_free(bio);
		ERR_clear_error();
		ret = -ENOMEM;
		goto finish;
	}
	BIO_set_data(bio, c);
	BIO_set_init(bio, 1);
	SSL_set_bio(c->ssl, bio, bio); /* one reference, owned by the SSL now */
	SSL_set_app_data(c->ssl, c);
	SSL_set_accept_state(c->ssl);
finish:
	if (ret != 0) {
		tlsterm_conn_destroy(c);
		c = NULL;
	}
	*out = c;
	return ret;
}

void tlsterm_conn_destroy(struct tlsterm_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl); /* and the BIO; before the set, which holds its SSL_CTXs */
	OPENSSL_free(c->in.data);
	OPENSSL_free(c->out.data);
	OPENSSL_free(c->sni);
	set_release(c->set);
	OPENSSL_free(c);
}

static bool reason_not_tls(int r)
{
	switch (r) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_UNKNOWN_PROTOCOL:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_RECORD_LENGTH_MISMATCH:
	case SSL_R_ENCRYPTED_LENGTH_TOO_LONG:
	case SSL_R_LENGTH_MISMATCH:
	case SSL_R_LENGTH_TOO_SHORT:
	case SSL_R_BAD_PACKET_LENGTH:
		return true;
	default:
		return false;
	}
}

/* Record the failure of an SSL call (sticky) and return its code. */
static int conn_fail(struct tlsterm_conn *c)
{
	unsigned long e = ossl_take_error();
	int code = -EPROTO;
	if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL) {
		int r = ERR_GET_REASON(e);
		if (r >= SSL_AD_REASON_OFFSET && r < SSL_AD_REASON_OFFSET + 256)
			code = -ECONNABORTED; /* the peer's fatal alert */
		else if (reason_not_tls(r))
			code = AD_EPARSE;
		else if (r == ERR_R_MALLOC_FAILURE)
			code = -ENOMEM;
	} else if (e != 0 && ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE) {
		code = -ENOMEM;
	}
	if (c->unknown_name)
		code = AD_ENOTFOUND; /* OpenSSL says "callback failed": say which */
	c->ossl_err = e;
	c->fail = code;
	return code;
}

int tlsterm_feed(struct tlsterm_conn *c, const uint8_t *cipher, size_t len)
{
	if (c->fail != 0)
		return c->fail;
	if (c->peer_closed)
		return TLSTERM_EOF;
	if (len > TLSTERM_IN_MAX || c->in.len > TLSTERM_IN_MAX - len)
		return AD_ENOSPACE;
	return buf_append(&c->in, cipher, len);
}

int tlsterm_read(struct tlsterm_conn *c, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	if (c->fail != 0)
		return c->fail;
	if (c->peer_closed)
		return TLSTERM_EOF;
	if (cap == 0)
		return -EINVAL;
	if (cap > INT_MAX)
		cap = INT_MAX;
	ERR_clear_error();
	int r = SSL_read_ex(c->ssl, buf, cap, &n);
	if (r == 1)
		return (int)n;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		c->peer_closed = true;
		return TLSTERM_EOF;
	default:
		return conn_fail(c);
	}
}

int tlsterm_write(struct tlsterm_conn *c, const uint8_t *plain, size_t len)
{
	size_t taken = 0;
	if (c->fail != 0)
		return c->fail;
	if (c->shut)
		return -EPIPE;
	if (!SSL_is_init_finished(c->ssl))
		return 0;
	if (len > INT_MAX)
		len = INT_MAX;
	while (taken < len && c->out.len < TLSTERM_OUT_MAX) {
		size_t n = len - taken < RECORD_MAX ? len - taken : RECORD_MAX, w = 0;
		ERR_clear_error();
		if (SSL_write_ex(c->ssl, plain + taken, n, &w) != 1) {
			int e = SSL_get_error(c->ssl, 0);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				ERR_clear_error();
				break;
			}
			int code = conn_fail(c);
			return taken > 0 ? (int)taken : code;
		}
		taken += w;
	}
	return (int)taken;
}

void tlsterm_pending_out(const struct tlsterm_conn *c, const uint8_t **p, size_t *len)
{
	*p = c->out.len > 0 ? c->out.data + c->out.off : NULL;
	*len = c->out.len;
}

void tlsterm_consume_out(struct tlsterm_conn *c, size_t n)
{
	buf_consume(&c->out, n);
}

int tlsterm_shutdown(struct tlsterm_conn *c)
{
	if (c->fail != 0)
		return c->fail;
	if (c->shut)
		return 0;
	c->shut = true;
	if (!SSL_is_init_finished(c->ssl))
		return 0; /* nothing to close yet: just close the socket */
	ERR_clear_error();
	SSL_shutdown(c->ssl); /* 0: sent, the peer's not seen (we do not wait for it) */
	ERR_clear_error();
	return 0;
}

bool tlsterm_handshake_done(const struct tlsterm_conn *c)
{
	return SSL_is_init_finished(c->ssl);
}

const char *tlsterm_sni(const struct tlsterm_conn *c)
{
	return c->sni;
}

const char *tlsterm_alpn(const struct tlsterm_conn *c)
{
	const unsigned char *p = NULL;
	unsigned int len = 0;
	SSL_get0_alpn_selected(c->ssl, &p, &len);
	return len == 8 && memcmp(p, "http/1.1", 8) == 0 ? "http/1.1" : NULL;
}

const char *tlsterm_version(const struct tlsterm_conn *c)
{
	return SSL_is_init_finished(c->ssl) ? SSL_get_version(c->ssl) : "unknown";
}

bool tlsterm_resumed(const struct tlsterm_conn *c)
{
	return SSL_session_reused(c->ssl) == 1;
}

const char *tlsterm_strerror(const struct tlsterm_conn *c, int err, char *buf, size_t size)
{
	if (size == 0)
		return buf;
	if (err == TLSTERM_EOF)
		snprintf(buf, size, "peer closed the TLS session (close_notify)");
	else if (c != NULL && c->fail == err && c->unknown_name)
		snprintf(buf, size, "no certificate for server name %s", c->sni ? c->sni : "?");
	else if (c != NULL && c->fail == err && c->ossl_err != 0)
		ossl_reason(c->ossl_err, buf, size);
	else
		snprintf(buf, size, "%s", airdress_strerror(err));
	return buf;
}
