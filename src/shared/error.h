/*
 * Error codes. Every function that can fail returns int: 0 on success, -errno for a
 * system failure, or one of the project codes below (all under -1000). One function,
 * airdress_strerror(), turns either kind into text.
 */
#ifndef AIRDRESS_ERROR_H
#define AIRDRESS_ERROR_H

enum airdress_error {
	AD_EBASE = -1000,
	AD_ECONFIG = -1001,   /* configuration invalid */
	AD_EPARSE = -1002,    /* malformed input */
	AD_ETRUNC = -1003,    /* input ends early: more bytes needed */
	AD_ETOOBIG = -1004,   /* input or value over its limit */
	AD_ENOSPACE = -1005,  /* a fixed-size pool, ring or buffer is full */
	AD_ENOTFOUND = -1006, /* no such name or key */
	AD_EEXISTS = -1007,   /* already present */
	AD_EKERNEL = -1008,   /* the kernel lacks a needed feature */
	AD_ELAST = -1009,
};

/* Text for an error code (-errno or AD_E*). Never NULL; the string is static. */
const char *airdress_strerror(int err);

#endif
