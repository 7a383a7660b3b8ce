/* pub_err.h - error codes of the registry publishers.
 *
 * publishers/ functions return 0 on success and a negative value on failure:
 * -errno, one of the project's AOS_E* codes (common/err.h), or one of the
 * PUB_E* codes below, which tell the kinds of bad artifact and refused
 * publish apart.  publishers_strerror() names any of them.
 */
#ifndef AOS_PUB_ERR_H
#define AOS_PUB_ERR_H

enum {
	PUB_EBASE = 20000,
	PUB_ENOTARCHIVE = -(PUB_EBASE + 1), /* not an archive of the expected format */
	PUB_ETRUNCATED = -(PUB_EBASE + 2),  /* archive ends early */
	PUB_ECORRUPT = -(PUB_EBASE + 3),    /* archive damaged otherwise */
	PUB_ENOMETA = -(PUB_EBASE + 4),	    /* no metadata file */
	PUB_EDUPMETA = -(PUB_EBASE + 5),    /* more than one metadata file */
	PUB_EOVERSIZE = -(PUB_EBASE + 6),   /* member or archive over a bound */
	PUB_EPATH = -(PUB_EBASE + 7),	    /* member path escapes the archive */
	PUB_EUTF8 = -(PUB_EBASE + 8),	    /* metadata is not valid UTF-8 */
	PUB_EJSON = -(PUB_EBASE + 9),	    /* package.json is not valid JSON */
	PUB_EMETADATA = -(PUB_EBASE + 10),  /* metadata malformed or incomplete */
	PUB_ENAME = -(PUB_EBASE + 11),	    /* file name and metadata name differ */
	PUB_EVERSION = -(PUB_EBASE + 12), /* version differs from file name or expected */
	PUB_EFILENAME = -(PUB_EBASE + 13), /* file name not a known artifact form */
	PUB_ECHANGED = -(PUB_EBASE + 14),  /* file changed since it was inspected */
	PUB_ETAG = -(PUB_EBASE + 15),	   /* dist-tag refused by the npm rules */
	PUB_EURL = -(PUB_EBASE + 16),	   /* registry URL refused */
	PUB_ENODIGEST = -(PUB_EBASE + 17), /* registry lists the file without a digest */
	PUB_ELAST = -(PUB_EBASE + 18),
};

/* Returns a static string describing err: a PUB_E* code, an AOS_E* code or
 * a negative errno. */
const char *publishers_strerror(int err);

#endif
