/* artifact_fit.c - which registries an artifact fits.  See artifact_fit.h. */
#include <errno.h>
#include <stdio.h>

#include "publishers/artifact_fit.h"

bool artifact_fits(enum artifact_kind k, enum registry_type t)
{
	if (t == REGISTRY_NPM)
		return k == ARTIFACT_NPM;
	return k == ARTIFACT_WHEEL || k == ARTIFACT_SDIST;
}

static const char *kind_phrase(enum artifact_kind k)
{
	return k == ARTIFACT_NPM     ? "an npm tarball"
	       : k == ARTIFACT_WHEEL ? "a wheel"
				     : "an sdist";
}

int artifact_check_fits(enum artifact_kind k, const char *label, const char *registry,
			enum registry_type t, char *msg, size_t msglen)
{
	if (artifact_fits(k, t))
		return 0;
	snprintf(msg, msglen, "%s: %s cannot go to registry %s, which is of type %s",
		 label, kind_phrase(k), registry, registry_type_name(t));
	return -EINVAL;
}

const char *registry_type_name(enum registry_type t)
{
	return t == REGISTRY_NPM ? "npm" : "pypi";
}
