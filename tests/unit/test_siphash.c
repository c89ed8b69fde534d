/* Unit tests: SipHash-2-4 against the reference vectors of its paper. */
#include <criterion/criterion.h>

#include "siphash.h"

Test(siphash, reference_vectors)
{
	uint8_t key[16], msg[64];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	/* From the SipHash paper's appendix: 15-byte message 00..0e. */
	cr_assert_eq(siphash24(key, msg, 15), 0xa129ca6149be45e5ULL);
	/* Empty message, and a full block, from the reference vector table. */
	cr_assert_eq(siphash24(key, msg, 0), 0x726fdb47dd0e0e31ULL);
	cr_assert_eq(siphash24(key, msg, 8), 0x93f5f5799a932462ULL);
}
