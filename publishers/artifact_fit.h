/* artifact_fit.h - does this artifact fit this registry?
 *
 * The one answer to the question that a publish request (publish/), a
 * spooled request (worker/spool.c) and a pipeline's targets
 * (worker/worker_pipeline.c) all ask: npm tarballs go to npm registries,
 * wheels and sdists to PyPI-like ones.
 */
#ifndef AOS_ARTIFACT_FIT_H
#define AOS_ARTIFACT_FIT_H

#include <stdbool.h>
#include <stddef.h>

#include "publishers/answer.h"	 /* enum registry_type */
#include "publishers/artifact.h" /* enum artifact_kind */

/* Returns whether an artifact of kind k may go to a registry of type t. */
bool artifact_fits(enum artifact_kind k, enum registry_type t);

/* As artifact_fits().  Returns 0 if it fits; else -EINVAL with msg saying
 * "<label>: a wheel cannot go to registry <registry>, which is of type npm". */
int artifact_check_fits(enum artifact_kind k, const char *label, const char *registry,
			enum registry_type t, char *msg, size_t msglen);

/* Returns the configuration's name of a registry type: "npm" or "pypi". */
const char *registry_type_name(enum registry_type t);

#endif
