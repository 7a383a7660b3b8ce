#include "common/err.h"
#include "publishers/pub_err.h"

const char *publishers_strerror(int err)
{
	switch (err) {
	case PUB_ENOTARCHIVE: return "not an archive";
	case PUB_ETRUNCATED: return "archive truncated";
	case PUB_ECORRUPT: return "archive corrupt";
	case PUB_ENOMETA: return "metadata file missing";
	case PUB_EDUPMETA: return "more than one metadata file";
	case PUB_EOVERSIZE: return "archive member too large";
	case PUB_EPATH: return "member path escapes the archive";
	case PUB_EUTF8: return "invalid UTF-8";
	case PUB_EJSON: return "invalid JSON";
	case PUB_EMETADATA: return "invalid metadata";
	case PUB_ENAME: return "name mismatch";
	case PUB_EVERSION: return "version mismatch";
	case PUB_EFILENAME: return "unrecognised artifact file name";
	case PUB_ECHANGED: return "file changed since inspection";
	case PUB_ETAG: return "dist-tag refused";
	case PUB_EURL: return "registry URL refused";
	case PUB_ENODIGEST: return "registry gave no digest for the file";
	}
	return aos_strerror(err);
}
