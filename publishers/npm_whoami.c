/* npm_whoami.c - "GET <registry>/-/whoami" (see npm_whoami.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "publishers/npm_whoami.h"
#include "publishers/pub_util.h"
#include "publishers/registry.h"

int npm_whoami_setup(CURL *h, const char *registry, const struct secret *token,
		     struct curl_slist **ret_headers, char *errbuf, size_t errlen)
{
	char *url = registry_join(registry, "-/whoami");
	int r;

	if (url == NULL)
		return -ENOMEM;
	r = registry_get_setup(h, url, "Accept: application/json", token, "whoami",
			       ret_headers, errbuf, errlen);
	free(url);
	return r;
}

int npm_whoami_answer(long status, const char *body, size_t len, char *user,
		      size_t userlen, char *msg, size_t msglen)
{
	char q[PUB_QUOTE_MAX];
	const cJSON *name;
	cJSON *j;

	pub__quote(body != NULL ? body : "", body != NULL ? len : 0, q, sizeof(q));
	if (status == 401 || status == 403) {
		pub__errf(msg, msglen, "HTTP %ld: the registry refuses the token (%s)",
			  status, q);
		return -EACCES;
	}
	if (status != 200) {
		pub__errf(msg, msglen, "HTTP %ld to GET -/whoami (%s)", status, q);
		return -EPROTO;
	}
	j = cJSON_ParseWithLength(body, len);
	name = cJSON_GetObjectItemCaseSensitive(j, "username");
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		pub__errf(msg, msglen, "HTTP 200 but not a JSON object (%s)", q);
		return -EPROTO;
	}
	if (!cJSON_IsString(name) || name->valuestring[0] == '\0') {
		/* Anonymous: the registry does not know the token (verdaccio
		 * answers {}; npm whoami then says ENEEDAUTH). */
		cJSON_Delete(j);
		pub__errf(msg, msglen,
			  "HTTP 200 without a \"username\" (%s): the registry "
			  "does not know the token",
			  q);
		return -EACCES;
	}
	pub__quote(name->valuestring, strlen(name->valuestring), user, userlen);
	pub__errf(msg, msglen, "HTTP 200: account %s", user);
	cJSON_Delete(j);
	return 0;
}
