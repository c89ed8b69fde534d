/* Error codes: see error.h. */
#include <string.h>

#include "error.h"

static const char *const project_errors[] = {
	[-(AD_ECONFIG - AD_EBASE)] = "invalid configuration",
	[-(AD_EPARSE - AD_EBASE)] = "malformed input",
	[-(AD_ETRUNC - AD_EBASE)] = "truncated input",
	[-(AD_ETOOBIG - AD_EBASE)] = "over the size limit",
	[-(AD_ENOSPACE - AD_EBASE)] = "no space left in a fixed-size resource",
	[-(AD_ENOTFOUND - AD_EBASE)] = "not found",
	[-(AD_EEXISTS - AD_EBASE)] = "already exists",
	[-(AD_EKERNEL - AD_EBASE)] = "kernel lacks a needed feature",
};

const char *airdress_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err < AD_EBASE && err > AD_ELAST) {
		const char *s = project_errors[-(err - AD_EBASE)];
		return s ? s : "unknown error";
	}
	if (err < 0 && err > AD_EBASE)
		return strerror(-err);
	return "unknown error";
}
