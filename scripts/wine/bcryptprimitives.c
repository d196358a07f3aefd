/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stand-in for Windows 10's bcryptprimitives.dll, which Wine 8 lacks and
 * the Go runtime loads at start (for ProcessPrng). Used only by
 * scripts/wine-tests.sh to run Windows test binaries under Wine.
 */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
		if (!RtlGenRandom(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
