/* outcome.c - outcome words (outcome.h). */
#include <stdio.h>
#include <string.h>

#include "common/outcome.h"

static const char *const names[] = {
    [OUT_NONE] = "none",	 [OUT_PUBLISHED] = "published",
    [OUT_EXISTS] = "exists",	 [OUT_CONFLICT] = "conflict",
    [OUT_AUTH] = "auth",	 [OUT_INVALID] = "invalid",
    [OUT_REJECTED] = "rejected", [OUT_UNAVAILABLE] = "unavailable",
    [OUT_ERROR] = "error",	 [OUT_DRY_RUN] = "dry-run",
};

#define NNAMES (sizeof(names) / sizeof(names[0]))

const char *outcome_name(enum pub_outcome out)
{
	return (size_t)out < NNAMES ? names[out] : names[OUT_NONE];
}

enum pub_outcome outcome_parse(const char *word)
{
	size_t i;

	for (i = 1; word != NULL && i < NNAMES; i++)
		if (strcmp(word, names[i]) == 0)
			return (enum pub_outcome)i;
	return OUT_NONE;
}

const char *outcome_text(enum pub_outcome out, const char *message, char *buf, size_t len)
{
	if (message == NULL)
		message = "";
	if (out == OUT_NONE)
		snprintf(buf, len, "%s", message);
	else
		snprintf(buf, len, "%s: %s", outcome_name(out), message);
	return buf;
}
