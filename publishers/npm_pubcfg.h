/* npm_pubcfg.h - the "publishConfig" of an npm tarball's package.json.
 *
 * npm applies publishConfig to a publish as configuration (npm/cli
 * lib/commands/publish.js, #getManifest: flatten(publishConfig, opts)):
 * "access" beats the .npmrc's (here: the registry's "access" setting), and
 * "registry" (or "@scope:registry" for a scoped name, which npm-registry-
 * fetch's pickRegistry prefers) says where the package goes.  The daemon
 * never sends a package elsewhere than the configured registry, so a
 * publishConfig registry that is not the configured one is refused.  The
 * dist-tag ("tag") is decided with the other dist-tag rules, not here.
 */
#ifndef AOS_NPM_PUBCFG_H
#define AOS_NPM_PUBCFG_H

#include <stddef.h>

struct artifact;

/* Decides the access to send for npm artifact a going to registry_url
 * (whose configured access is cfg_access, NULL for none): publishConfig
 * .access if the package has one, else cfg_access.  Sets *ret_access to
 * "public", "restricted" (static strings), cfg_access or NULL (sent as
 * null, as npm does without a setting).  Returns 0, -EINVAL (an access
 * other than "public" or "restricted", "restricted" for an unscoped name),
 * PUB_EURL (publishConfig names another registry) or PUB_EJSON, with errbuf
 * naming the file and what to do. */
int npm_pubcfg_access(const struct artifact *a, const char *registry_url,
		      const char *cfg_access, const char **ret_access, char *errbuf,
		      size_t errlen);

#endif
