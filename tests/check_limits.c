/*
 * check_limits.c - the readers' bounds on hostile input: sizes from a file
 * are held to what the file holds and to documented limits; a damaged size
 * that a checksum cannot see (the container's JSON length) is still caught;
 * memory follows the bytes read; duplicate-key search stays exact when it is
 * hashed. The fuzz targets (tests/fuzz) and tests/cli/t0800 do the rest.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "ckpt.h"
#include "extxyz.h"
#include "le.h"
#include "structure.h"
#include "yamltree.h"

static char path[64];

static void write_ckpt(void)
{
	static double a[3] = { 1, 2, 3 };
	const double *blobs[1] = { a };
	snprintf(path, sizeof(path), "/tmp/mlip-limits-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(mlip_ckpt_write(path, "{\"a\":1}", blobs, 1, 3, NULL), 0);
}

/* Overwrite the header field at off with a u64 (and keep the CRC, which covers the body only). */
static void patch_u64(long off, uint64_t v)
{
	unsigned char b[8];
	FILE *f = fopen(path, "r+b");
	mlip_put_u64(b, v);
	fseek(f, off, SEEK_SET);
	fwrite(b, 1, 8, f);
	fclose(f);
}

static void expect_refused(const char *what)
{
	struct mlip_ckpt c;
	struct mlip_err err = { 0 };
	mlip_ckpt_init(&c);
	ck_assert_int_eq(mlip_ckpt_read(path, &c, &err), MLIP_EDATA);
	ck_assert_msg(strstr(err.msg, what) != NULL, "'%s' lacks '%s'", err.msg, what);
	ck_assert_ptr_null(c.json);
	unlink(path);
}

START_TEST(test_ckpt_json_length)
{
	/* The CRC covers the JSON and its padding, not json_bytes: a length off
	 * by one byte leaves the body and its CRC intact. */
	write_ckpt();
	patch_u64(16, 8); /* 7 bytes of JSON + one byte of padding (a NUL) */
	expect_refused("offset 71: NUL byte inside the JSON text");
	write_ckpt();
	patch_u64(16, 6); /* the closing brace becomes padding */
	expect_refused("offset 70: padding after the JSON text is not zero");
}
END_TEST

START_TEST(test_ckpt_header_limits)
{
	write_ckpt();
	patch_u64(24, (uint64_t)1 << 40);
	expect_refused("damaged header: offset 24: n_blobs is over the limit");
	write_ckpt();
	patch_u64(32, (uint64_t)1 << 40);
	expect_refused("damaged header: offset 32: blob_count is over the limit");
	write_ckpt();
	patch_u64(16, (uint64_t)1 << 33);
	expect_refused("damaged header: offset 16: json_bytes is over the limit");
	write_ckpt();
	patch_u64(56, 1);
	expect_refused("damaged header: offset 48: reserved bytes are not zero");
	/* within the limits but beyond the file: refused from the file size */
	write_ckpt();
	patch_u64(32, (uint64_t)1 << 35);
	expect_refused("truncated: 88 bytes after the header, expected 274877907008");
}
END_TEST

START_TEST(test_structure_resize)
{
	struct mlip_structure s;
	mlip_structure_init(&s);
	ck_assert_int_eq(mlip_structure_alloc(&s, 2, NULL), 0);
	s.numbers[1] = 14;
	s.positions[5] = 2.5;
	s.fixed[1] = 1;
	ck_assert_int_eq(mlip_structure_resize(&s, 1000, NULL), 0);
	ck_assert_uint_eq(s.natoms, 1000);
	ck_assert_int_eq(s.numbers[1], 14);
	ck_assert_double_eq(s.positions[5], 2.5);
	ck_assert_int_eq(s.fixed[1], 1);
	ck_assert_int_eq(s.numbers[999], 0);
	ck_assert_double_eq(s.forces[2999], 0);
	ck_assert_int_eq(mlip_structure_resize(&s, 3, NULL), 0);
	ck_assert_uint_eq(s.natoms, 3);
	ck_assert_int_eq(s.numbers[1], 14);
	mlip_structure_release(&s);
}
END_TEST

static int read_xyz(const char *text, struct mlip_structure *s, struct mlip_err *err)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	struct mlip_extxyz_reader r;
	mlip_extxyz_reader_init(&r, f, "t.xyz");
	int rc = mlip_extxyz_read_next(&r, s, err);
	mlip_extxyz_reader_release(&r);
	fclose(f);
	return rc;
}

START_TEST(test_extxyz_growth)
{
	/* 300 atoms: read through several doublings of the arrays */
	size_t n = 300;
	char *text = malloc(64 * (n + 2));
	int len = sprintf(text, "%zu\nLattice=\"400 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3:forces:R:3\n", n);
	for (size_t i = 0; i < n; i++)
		len += sprintf(text + len, "%s %zu.5 1 2 %zu 0 -1\n", i % 2 ? "Si" : "O", i, i);
	struct mlip_structure s;
	struct mlip_err err = { 0 };
	mlip_structure_init(&s);
	ck_assert_int_eq(read_xyz(text, &s, &err), 1);
	ck_assert_uint_eq(s.natoms, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(s.numbers[i], i % 2 ? 14 : 8);
		ck_assert_double_eq(s.positions[3 * i], (double)i + 0.5);
		ck_assert_double_eq(s.forces[3 * i], (double)i);
		ck_assert_double_eq(s.forces[3 * i + 2], -1);
	}
	mlip_structure_release(&s);
	free(text);
}
END_TEST

START_TEST(test_extxyz_count_limit)
{
	struct mlip_structure s;
	struct mlip_err err = { 0 };
	mlip_structure_init(&s);
	ck_assert_int_eq(read_xyz("1000001\n\nSi 0 0 0\n", &s, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "t.xyz:1: atom count 1000001 is too large: over the limit of 1000000 atoms per structure");
	ck_assert_int_eq(read_xyz("1000000\n\nSi 0 0 0\n", &s, &err), MLIP_EDATA);
	ck_assert_msg(strstr(err.msg, "1000000 atoms declared but the file ends after 1") != NULL,
		      "%s", err.msg);
	ck_assert_ptr_null(s.numbers);
}
END_TEST

START_TEST(test_yaml_many_keys)
{
	/* duplicates among many keys, found wherever they are */
	size_t n = 5000;
	char *text = malloc(16 * (n + 2));
	for (size_t dup = 1; dup < n; dup = dup * 7 + 3) {
		size_t len = 0;
		for (size_t i = 0; i < n; i++)
			len += (size_t)sprintf(text + len, "key%zu: %zu\n", i, i);
		len += (size_t)sprintf(text + len, "key%zu: again\n", dup);
		struct mlip_yaml_node *t = NULL;
		struct mlip_err err = { 0 };
		ck_assert_int_eq(mlip_yaml_load_string(text, len, "m.yaml", &t, &err), MLIP_EINVAL);
		char want[128];
		snprintf(want, sizeof(want), "m.yaml:%zu:1: duplicate key 'key%zu' (first at m.yaml:%zu:1)",
			 n + 1, dup, dup + 1);
		ck_assert_str_eq(err.msg, want);
		ck_assert_ptr_null(t);
	}
	/* and no false duplicates: every key kept, in order */
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "key%zu: %zu\n", i, i);
	struct mlip_yaml_node *t = NULL;
	ck_assert_int_eq(mlip_yaml_load_string(text, len, "m.yaml", &t, NULL), 0);
	ck_assert_uint_eq(t->n, n);
	ck_assert_str_eq(t->keys[n - 1]->text, "key4999");
	ck_assert_str_eq(mlip_yaml_get(t, "key1234")->text, "1234");
	mlip_yaml_free(t);
	free(text);
}
END_TEST

Suite *suite_limits(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("ckpt");
	tcase_add_test(tc, test_ckpt_json_length);
	tcase_add_test(tc, test_ckpt_header_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("structures");
	tcase_add_test(tc, test_structure_resize);
	tcase_add_test(tc, test_extxyz_growth);
	tcase_add_test(tc, test_extxyz_count_limit);
	suite_add_tcase(s, tc);
	tc = tcase_create("yaml");
	tcase_add_test(tc, test_yaml_many_keys);
	suite_add_tcase(s, tc);
	return s;
}
