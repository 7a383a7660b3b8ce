/* Unit tests for vault/store.c: the secret store. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/secret.h"
#include "vault/store.h"

static int setup(void **state)
{
	static const unsigned char key[SECRET_FPR_KEY_LEN] = {1, 2, 3};
	struct secret *k = NULL;
	int r;

	(void)state;
	if (secret_init_process(64 * 1024) != 0 || secret_new(key, sizeof(key), &k) != 0)
		return -1;
	r = secret_fingerprint_key_set(k); /* fingerprints are keyed */
	secret_unref(k);
	return r;
}

static struct secret *mk(const char *v)
{
	struct secret *s = NULL;

	assert_int_equal(secret_new(v, strlen(v), &s), 0);
	return s;
}

static void fpr_of(const char *v, char *out)
{
	struct secret *s = mk(v);

	secret_fingerprint(s, out);
	secret_unref(s);
}

static void test_new(void **state)
{
	static const char *const keys[] = {"PYPI_API_TOKEN", "NPM_TOKEN",
					   "PYPI_API_TOKEN", "NPM_TOKEN", "X"};
	struct secret_store *st = NULL;
	const struct store_entry *e;

	(void)state;
	assert_int_equal(store_new(keys, 5, &st), 0);
	assert_int_equal(store_size(st), 3);
	assert_string_equal(store_entry_at(st, 0)->key, "PYPI_API_TOKEN");
	assert_string_equal(store_entry_at(st, 1)->key, "NPM_TOKEN");
	assert_string_equal(store_entry_at(st, 2)->key, "X");
	assert_null(store_entry_at(st, 3));
	e = store_entry_at(st, 0);
	assert_null(e->value);
	assert_int_equal(e->version, 0);
	assert_int_equal(store_kv_version(st), 0);
	assert_int_equal(store_missing(st), 3);
	assert_null(store_get(st, "PYPI_API_TOKEN"));
	assert_null(store_get(st, "UNKNOWN"));
	store_free(st);
	store_free(NULL);

	/* No keys at all is a valid (empty) store. */
	st = NULL;
	assert_int_equal(store_new(NULL, 0, &st), 0);
	assert_int_equal(store_size(st), 0);
	assert_int_equal(store_missing(st), 0);
	store_free(st);
}

static void test_new_bad_names(void **state)
{
	char longkey[STORE_KEY_MAX + 1];
	const char *keys[2] = {"OK", longkey};
	struct secret_store *st = NULL;

	(void)state;
	memset(longkey, 'K', STORE_KEY_MAX);
	longkey[STORE_KEY_MAX] = '\0';
	assert_int_equal(store_new(keys, 2, &st), -EINVAL);
	assert_null(st);
	/* STORE_KEY_MAX - 1 bytes fit. */
	longkey[STORE_KEY_MAX - 1] = '\0';
	assert_int_equal(store_new(keys, 2, &st), 0);
	assert_string_equal(store_entry_at(st, 1)->key, longkey);
	store_free(st);
	st = NULL;
	keys[1] = "";
	assert_int_equal(store_new(keys, 2, &st), -EINVAL);
	assert_null(st);
}

static void test_update_changes(void **state)
{
	static const char *const keys[] = {"PYPI_API_TOKEN", "NPM_TOKEN"};
	struct secret_store *st = NULL;
	struct store_change ch[4];
	struct secret *vals[2];
	const struct store_entry *e;
	char fa[SECRET_FPR_LEN + 1], fb[SECRET_FPR_LEN + 1], fc[SECRET_FPR_LEN + 1];
	size_t live = secret_live_count();

	(void)state;
	fpr_of("test-pypi-a", fa);
	fpr_of("test-npm-b", fb);
	fpr_of("test-pypi-c", fc);
	assert_int_equal(store_new(keys, 2, &st), 0);

	/* First load: both keys appear, old_version 0. */
	vals[0] = mk("test-pypi-a");
	vals[1] = mk("test-npm-b");
	assert_int_equal(
	    store_update(st, 3, "2024-05-03T10:00:00Z", keys, vals, 2, ch, 4), 2);
	secret_unref(vals[0]);
	secret_unref(vals[1]);
	assert_string_equal(ch[0].key, "PYPI_API_TOKEN");
	assert_int_equal(ch[0].old_version, 0);
	assert_int_equal(ch[0].new_version, 3);
	assert_string_equal(ch[0].old_fpr, "-");
	assert_string_equal(ch[0].new_fpr, fa);
	assert_string_equal(ch[1].key, "NPM_TOKEN");
	assert_string_equal(ch[1].new_fpr, fb);
	assert_int_equal(store_kv_version(st), 3);
	assert_int_equal(store_missing(st), 0);
	e = store_entry_at(st, 0);
	assert_int_equal(e->version, 3);
	assert_string_equal(e->created_time, "2024-05-03T10:00:00Z");
	assert_string_equal(e->fingerprint, fa);
	/* The store holds its own references. */
	assert_int_equal(secret_live_count(), live + 2);

	/* Version 4 changes PYPI only; NPM keeps version 3 and its time. */
	vals[0] = mk("test-pypi-c");
	vals[1] = mk("test-npm-b");
	assert_int_equal(
	    store_update(st, 4, "2024-05-04T10:00:00Z", keys, vals, 2, ch, 4), 1);
	secret_unref(vals[0]);
	secret_unref(vals[1]);
	assert_string_equal(ch[0].key, "PYPI_API_TOKEN");
	assert_int_equal(ch[0].old_version, 3);
	assert_int_equal(ch[0].new_version, 4);
	assert_string_equal(ch[0].old_fpr, fa);
	assert_string_equal(ch[0].new_fpr, fc);
	assert_int_equal(store_kv_version(st), 4);
	e = store_entry_at(st, 0);
	assert_int_equal(e->version, 4);
	assert_string_equal(e->created_time, "2024-05-04T10:00:00Z");
	e = store_entry_at(st, 1);
	assert_int_equal(e->version, 3);
	assert_string_equal(e->created_time, "2024-05-03T10:00:00Z");
	assert_string_equal(e->fingerprint, fb);
	/* The equal-valued copy was dropped, the old PYPI value wiped. */
	assert_int_equal(secret_live_count(), live + 2);

	/* Version 5: NPM disappears from the secret. */
	vals[0] = mk("test-pypi-c");
	vals[1] = NULL;
	assert_int_equal(
	    store_update(st, 5, "2024-05-05T10:00:00Z", keys, vals, 2, ch, 4), 1);
	secret_unref(vals[0]);
	assert_string_equal(ch[0].key, "NPM_TOKEN");
	assert_int_equal(ch[0].old_version, 3);
	assert_int_equal(ch[0].new_version, 0);
	assert_string_equal(ch[0].old_fpr, fb);
	assert_string_equal(ch[0].new_fpr, "-");
	e = store_entry_at(st, 1);
	assert_null(e->value);
	assert_int_equal(e->version, 0);
	assert_string_equal(e->created_time, "");
	assert_string_equal(e->fingerprint, "");
	assert_int_equal(store_missing(st), 1);
	assert_null(store_get(st, "NPM_TOKEN"));
	assert_int_equal(secret_live_count(), live + 1);

	/* Still absent at version 6: no change reported. */
	vals[0] = mk("test-pypi-c");
	assert_int_equal(store_update(st, 6, "t6", keys, vals, 2, ch, 4), 0);
	secret_unref(vals[0]);
	assert_int_equal(store_kv_version(st), 6);
	assert_int_equal(store_entry_at(st, 0)->version, 4);

	store_free(st);
	assert_int_equal(secret_live_count(), live);
}

static void test_update_unknown_and_limits(void **state)
{
	static const char *const keys[] = {"A", "B", "C"};
	static const char *const upd[] = {"A", "UNKNOWN", "B", "C"};
	struct secret_store *st = NULL;
	struct store_change ch[1];
	struct secret *vals[4];
	size_t live = secret_live_count();
	int i;

	(void)state;
	assert_int_equal(store_new(keys, 3, &st), 0);
	vals[0] = mk("test-a");
	vals[1] = mk("test-unknown");
	vals[2] = mk("test-b");
	vals[3] = mk("test-c");
	/* Three changes, room for one: the first is written, the count capped. */
	assert_int_equal(store_update(st, 1, NULL, upd, vals, 4, ch, 1), 1);
	assert_string_equal(ch[0].key, "A");
	/* NULL created_time reads as empty. */
	assert_string_equal(store_entry_at(st, 0)->created_time, "");
	for (i = 0; i < 4; i++)
		secret_unref(vals[i]);
	/* The unknown key's value was not kept. */
	assert_int_equal(secret_live_count(), live + 3);
	assert_null(store_get(st, "UNKNOWN"));
	/* No change buffer at all. */
	vals[0] = mk("test-a2");
	assert_int_equal(store_update(st, 2, "t", upd, vals, 1, NULL, 0), 0);
	secret_unref(vals[0]);
	assert_string_equal(secret_value(store_entry_at(st, 0)->value), "test-a2");
	store_free(st);
	assert_int_equal(secret_live_count(), live);
}

static void test_get_keeps_old_value_alive(void **state)
{
	static const char *const keys[] = {"PYPI_API_TOKEN"};
	struct secret_store *st = NULL;
	struct store_change ch[1];
	struct secret *v, *held, *cur;
	size_t live = secret_live_count();

	(void)state;
	assert_int_equal(store_new(keys, 1, &st), 0);
	v = mk("test-old-value");
	assert_int_equal(store_update(st, 1, "t1", keys, &v, 1, ch, 1), 1);
	secret_unref(v);

	/* An upload takes a reference. */
	held = store_get(st, "PYPI_API_TOKEN");
	assert_non_null(held);
	assert_ptr_equal(held, store_entry_at(st, 0)->value);
	assert_int_equal(secret_refs(held), 2);

	/* Rotation replaces the value while the upload runs. */
	v = mk("test-new-value");
	assert_int_equal(store_update(st, 2, "t2", keys, &v, 1, ch, 1), 1);
	secret_unref(v);
	assert_int_equal(secret_live_count(), live + 2);
	assert_int_equal(secret_refs(held), 1);
	assert_string_equal(secret_value(held), "test-old-value");
	cur = store_get(st, "PYPI_API_TOKEN");
	assert_string_equal(secret_value(cur), "test-new-value");
	secret_unref(cur);

	/* The upload ends: the old value goes. */
	secret_unref(held);
	assert_int_equal(secret_live_count(), live + 1);
	store_free(st);
	assert_int_equal(secret_live_count(), live);
}

static void test_migrate(void **state)
{
	static const char *const old_keys[] = {"PYPI_API_TOKEN", "NPM_TOKEN", "GONE"};
	static const char *const new_keys[] = {"NPM_TOKEN", "PYPI_API_TOKEN", "NEW"};
	struct secret_store *from = NULL, *to = NULL;
	struct secret *vals[3], *s;
	const struct store_entry *e;
	size_t live = secret_live_count();
	int i;

	(void)state;
	assert_int_equal(store_new(old_keys, 3, &from), 0);
	assert_int_equal(store_new(new_keys, 3, &to), 0);
	vals[0] = mk("test-pypi");
	vals[1] = mk("test-npm");
	vals[2] = mk("test-gone");
	assert_int_equal(store_update(from, 7, "t7", old_keys, vals, 3, NULL, 0), 0);
	for (i = 0; i < 3; i++)
		secret_unref(vals[i]);
	s = store_get(from, "NPM_TOKEN");

	store_migrate(to, from);
	assert_int_equal(store_kv_version(to), 7);
	assert_int_equal(store_missing(to), 1);
	e = store_entry_at(to, 0);
	assert_string_equal(e->key, "NPM_TOKEN");
	assert_ptr_equal(e->value, s);
	assert_int_equal(e->version, 7);
	assert_string_equal(e->created_time, "t7");
	assert_string_equal(secret_value(store_entry_at(to, 1)->value), "test-pypi");
	assert_null(store_entry_at(to, 2)->value);
	/* from is empty; the value of the dropped key is gone. */
	assert_int_equal(store_missing(from), 3);
	assert_int_equal(secret_live_count(), live + 2);
	/* References moved, not duplicated. */
	assert_int_equal(secret_refs(s), 2);
	secret_unref(s);
	store_free(from);
	assert_int_equal(secret_live_count(), live + 2);
	store_free(to);
	assert_int_equal(secret_live_count(), live);
}

static void test_migrate_keeps_newer(void **state)
{
	static const char *const keys[] = {"K"};
	struct secret_store *from = NULL, *to = NULL;
	struct secret *v;
	size_t live = secret_live_count();

	(void)state;
	assert_int_equal(store_new(keys, 1, &from), 0);
	assert_int_equal(store_new(keys, 1, &to), 0);
	v = mk("test-old");
	store_update(from, 1, "t1", keys, &v, 1, NULL, 0);
	secret_unref(v);
	v = mk("test-fresh");
	store_update(to, 2, "t2", keys, &v, 1, NULL, 0);
	secret_unref(v);
	/* A value already in `to` wins; its KV version is kept. */
	store_migrate(to, from);
	assert_string_equal(secret_value(store_entry_at(to, 0)->value), "test-fresh");
	assert_int_equal(store_kv_version(to), 2);
	assert_int_equal(secret_live_count(), live + 1);
	store_free(from);
	store_free(to);
	assert_int_equal(secret_live_count(), live);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new),
	    cmocka_unit_test(test_new_bad_names),
	    cmocka_unit_test(test_update_changes),
	    cmocka_unit_test(test_update_unknown_and_limits),
	    cmocka_unit_test(test_get_keeps_old_value_alive),
	    cmocka_unit_test(test_migrate),
	    cmocka_unit_test(test_migrate_keeps_newer),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
