/*
 * check_ckpt.c - the checkpoint container: round trip, and every way a file
 * can be wrong.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"

static char path[64];

static void write_sample(void)
{
	static double a[5] = { 1.5, -2.25, 1e-300, 3.0, 0.1 }, b[5] = { 0, 1, 2, 3, 4 };
	const double *blobs[2] = { a, b };
	snprintf(path, sizeof(path), "/tmp/mlip-ckpt-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(mlip_ckpt_write(path, "{\"model\":{\"name\":\"bpnn\"}}", blobs, 2, 5, NULL), 0);
}

static long file_size(void)
{
	FILE *f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fclose(f);
	return n;
}

static void patch_byte(long off, unsigned char x)
{
	FILE *f = fopen(path, "r+b");
	fseek(f, off, SEEK_SET);
	int c = fgetc(f);
	fseek(f, off, SEEK_SET);
	fputc(c ^ x, f);
	fclose(f);
}

START_TEST(test_round_trip)
{
	struct mlip_ckpt c;
	write_sample();
	mlip_ckpt_init(&c);
	ck_assert_int_eq(mlip_ckpt_read(path, &c, NULL), 0);
	ck_assert_str_eq(c.json, "{\"model\":{\"name\":\"bpnn\"}}");
	ck_assert_uint_eq(c.n_blobs, 2);
	ck_assert_uint_eq(c.blob_count, 5);
	ck_assert_double_eq(c.blobs[1], -2.25);
	ck_assert_double_eq(c.blobs[2], 1e-300);
	ck_assert_double_eq(c.blobs[9], 4);
	ck_assert_int_eq(file_size(), 64 + 64 + 80);
	mlip_ckpt_release(&c);
	unlink(path);
}
END_TEST

static void expect_bad(const char *what)
{
	struct mlip_ckpt c;
	struct mlip_err err = { 0 };
	mlip_ckpt_init(&c);
	ck_assert_int_eq(mlip_ckpt_read(path, &c, &err), MLIP_EDATA);
	ck_assert_msg(strstr(err.msg, what) != NULL, "'%s' lacks '%s'", err.msg, what);
	ck_assert_ptr_null(c.blobs);
}

START_TEST(test_damage)
{
	write_sample();
	patch_byte(0, 1);
	expect_bad("not an mlip checkpoint");
	write_sample();
	patch_byte(8, 1); /* version 1 -> 0 */
	expect_bad("checkpoint version 0");
	write_sample();
	patch_byte(8, 3); /* version 2 */
	expect_bad("upgrade mlip");
	write_sample();
	patch_byte(64 + 64 + 17, 0x10); /* a weight */
	expect_bad("checksum mismatch");
	write_sample();
	ck_assert_int_eq(truncate(path, file_size() - 8), 0);
	expect_bad("truncated: 136 bytes after the header, expected 144");
	write_sample();
	FILE *f = fopen(path, "ab");
	fputc('x', f);
	fclose(f);
	expect_bad("trailing data");
	write_sample();
	ck_assert_int_eq(truncate(path, 30), 0);
	expect_bad("truncated header");
	unlink(path);

	struct mlip_ckpt c;
	struct mlip_err err = { 0 };
	mlip_ckpt_init(&c);
	ck_assert_int_eq(mlip_ckpt_read("/nonexistent/model.mlip", &c, &err), MLIP_EIO);
}
END_TEST

Suite *suite_ckpt(void)
{
	Suite *s = suite_create("ckpt");
	TCase *tc = tcase_create("container");
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_damage);
	suite_add_tcase(s, tc);
	return s;
}
