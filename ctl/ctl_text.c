/* ctl_text.c - control bytes of the daemon's text, escaped for terminals. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl_text.h"

/* The length of the well-formed UTF-8 sequence at s (1 to 4, its code point
 * in *ret_cp), or 0 when s[0] does not start one (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF).  s is NUL-terminated, so
 * a sequence cut by the end fails on the NUL. */
static size_t utf8_seq(const unsigned char *s, uint32_t *ret_cp)
{
	unsigned char b = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;
	uint32_t cp;

	if (b < 0x80) {
		*ret_cp = b;
		return 1;
	}
	if (b >= 0xc2 && b <= 0xdf) {
		n = 2;
		cp = b & 0x1f;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 3;
		cp = b & 0x0f;
		lo = b == 0xe0 ? 0xa0 : 0x80;
		hi = b == 0xed ? 0x9f : 0xbf;
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4;
		cp = b & 0x07;
		lo = b == 0xf0 ? 0x90 : 0x80;
		hi = b == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if (s[i] < lo || s[i] > hi)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*ret_cp = cp;
	return n;
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

/* Appends the escaped form of s to out (room: 4 bytes per byte of s). */
static char *escape_into(char *out, const char *text)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)text;

	while (*s != '\0') {
		uint32_t cp = 0;
		size_t n = utf8_seq(s, &cp);

		if (n == 0 || (is_control(cp) && cp != '\n' && cp != '\t' && cp < 0x80)) {
			/* a C0 control, DEL, or a byte that is not UTF-8 */
			*out++ = '\\';
			*out++ = 'x';
			*out++ = hex[s[0] >> 4];
			*out++ = hex[s[0] & 15];
			s++;
		} else if (is_control(cp) && cp >= 0x80) {
			/* a C1 control: 2 bytes in, 6 out */
			memcpy(out, "\\u00", 4);
			out[4] = hex[cp >> 4];
			out[5] = hex[cp & 15];
			out += 6;
			s += n;
		} else {
			memcpy(out, s, n);
			out += n;
			s += n;
		}
	}
	*out = '\0';
	return out;
}

char *ctl_escape_text(const char *s)
{
	size_t len = strlen(s);
	char *out;

	if (len > (SIZE_MAX - 1) / 4)
		return NULL;
	out = malloc(4 * len + 1);
	if (out != NULL)
		escape_into(out, s);
	return out;
}

bool ctl_escaping(enum ctl_escape mode, FILE *f)
{
	if (mode == CTL_ESCAPE_AUTO)
		return isatty(fileno(f)) == 1;
	return mode == CTL_ESCAPE_ON;
}

int ctl_escape_tree(cJSON *o)
{
	cJSON *it;

	if (cJSON_IsString(o) && o->valuestring != NULL) {
		char *esc = ctl_escape_text(o->valuestring);
		bool ok = esc != NULL && (strcmp(esc, o->valuestring) == 0 ||
					  cJSON_SetValuestring(o, esc) != NULL);

		free(esc);
		return ok ? 0 : -ENOMEM;
	}
	cJSON_ArrayForEach(it, o)
	{
		if (ctl_escape_tree(it) < 0)
			return -ENOMEM;
	}
	return 0;
}

void ctl_put_text(FILE *f, const char *s, enum ctl_escape mode)
{
	char *esc;

	if (!ctl_escaping(mode, f)) {
		fputs(s, f);
		return;
	}
	esc = ctl_escape_text(s);
	fputs(esc != NULL ? esc : "(out of memory)", f);
	free(esc);
}

void ctl_put_json(FILE *f, const char *line, enum ctl_escape mode)
{
	const unsigned char *s = (const unsigned char *)line;

	if (mode == CTL_ESCAPE_OFF) {
		fprintf(f, "%s\n", line);
		return;
	}
	while (*s != '\0') {
		uint32_t cp = 0;
		size_t n = utf8_seq(s, &cp);

		if (n == 0) {
			fputs("\\ufffd", f);
			n = 1;
		} else if (is_control(cp)) {
			fprintf(f, "\\u%04x", (unsigned)cp);
		} else {
			fwrite(s, 1, n, f);
		}
		s += n;
	}
	fputc('\n', f);
}
