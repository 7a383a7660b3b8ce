/* err.h - project error codes.
 *
 * Functions return 0 on success and a negative value on failure: -errno for
 * system errors, or one of the AOS_E* codes below.  aos_strerror() turns
 * either kind into a short English phrase.
 */
#ifndef AOS_ERR_H
#define AOS_ERR_H

enum {
	AOS_EBASE = 10000,
	AOS_EPARSE = -(AOS_EBASE + 1),	   /* malformed input (JSON, config) */
	AOS_ETOOBIG = -(AOS_EBASE + 2),	   /* input over its size bound */
	AOS_EHTTP = -(AOS_EBASE + 3),	   /* HTTP transport failure */
	AOS_EDENIED = -(AOS_EBASE + 4),	   /* permission denied (403 and the like) */
	AOS_ENOTFOUND = -(AOS_EBASE + 5),  /* remote object missing (404) */
	AOS_EAUTH = -(AOS_EBASE + 6),	   /* credentials rejected */
	AOS_ESEALED = -(AOS_EBASE + 7),	   /* Vault sealed */
	AOS_ESTANDBY = -(AOS_EBASE + 8),   /* Vault standby / rate limited */
	AOS_ESERVER = -(AOS_EBASE + 9),	   /* 5xx or unexpected answer */
	AOS_ECONFIG = -(AOS_EBASE + 10),   /* invalid configuration */
	AOS_ENOKEY = -(AOS_EBASE + 11),	   /* key missing from a secret */
	AOS_EWRAP = -(AOS_EBASE + 12),	   /* wrapping token check failed */
	AOS_ETOKEN = -(AOS_EBASE + 13),	   /* Vault token dead or expired */
	AOS_ESECMEM = -(AOS_EBASE + 14),   /* secure heap unavailable */
	AOS_ETIMEOUT = -(AOS_EBASE + 15),  /* operation timed out */
	AOS_ECANCELED = -(AOS_EBASE + 16), /* operation canceled */
	AOS_EFENCED = -(AOS_EBASE + 40),   /* lease lost: another owner holds the job */
	AOS_ESCHEMA = -(AOS_EBASE + 41),   /* database schema newer than this program */
	AOS_ECORRUPT = -(AOS_EBASE + 42),  /* not our database, or it failed its checks */
	AOS_EEXIST = -(AOS_EBASE + 43),	   /* idempotency key already used */
	AOS_EREDIRECT =
	    -(AOS_EBASE + 50), /* redirect refused (another origin, too many) */
};

/* Returns a static string describing err (negative errno or AOS_E*). */
const char *aos_strerror(int err);

#endif
