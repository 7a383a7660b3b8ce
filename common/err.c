#include <string.h>

#include "common/err.h"

const char *aos_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case AOS_EPARSE: return "malformed input";
	case AOS_ETOOBIG: return "input too large";
	case AOS_EHTTP: return "HTTP transport error";
	case AOS_EDENIED: return "permission denied";
	case AOS_ENOTFOUND: return "not found";
	case AOS_EAUTH: return "credentials rejected";
	case AOS_ESEALED: return "Vault is sealed";
	case AOS_ESTANDBY: return "Vault node is in standby or rate limited";
	case AOS_ESERVER: return "unexpected server answer";
	case AOS_ECONFIG: return "invalid configuration";
	case AOS_ENOKEY: return "key missing from secret";
	case AOS_EWRAP: return "wrapping token failed its checks";
	case AOS_ETOKEN: return "Vault token expired or revoked";
	case AOS_ESECMEM: return "secure heap unavailable";
	case AOS_ETIMEOUT: return "timed out";
	case AOS_ECANCELED: return "canceled";
	case AOS_EFENCED: return "the job's lease was lost to another owner";
	case AOS_ESCHEMA: return "database written by a newer version";
	case AOS_ECORRUPT: return "database damaged or not ours";
	case AOS_EEXIST: return "already exists";
	case AOS_EREDIRECT: return "redirect refused";
	}
	if (err < 0 && err > -AOS_EBASE) {
		/* The table's text, never strerror()'s buffer for a number it
		 * does not know (rewritten by the next call). */
		const char *desc = strerrordesc_np(-err);

		return desc != NULL ? desc : "unknown error";
	}
	return "unknown error";
}
