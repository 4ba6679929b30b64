/*
 * check_outfile.c - atomic output files.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/mlip-outfile-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

START_TEST(test_commit_and_abort)
{
	char path[128], tmp[140], buf[64] = { 0 };
	struct mlip_outfile o;
	make_dir();
	snprintf(path, sizeof(path), "%s/out.bin", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	ck_assert_int_eq(mlip_outfile_open(&o, path, NULL), 0);
	fputs("first", o.f);
	ck_assert_int_eq(access(path, F_OK), -1);   /* nothing under the final name yet */
	ck_assert_int_eq(access(tmp, F_OK), 0);
	ck_assert_int_eq(mlip_outfile_commit(&o, NULL), 0);
	ck_assert_int_eq(access(tmp, F_OK), -1);

	/* an aborted rewrite leaves the old file intact */
	ck_assert_int_eq(mlip_outfile_open(&o, path, NULL), 0);
	fputs("second, half-writ", o.f);
	mlip_outfile_abort(&o);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "first");
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_errors)
{
	struct mlip_outfile o;
	struct mlip_err err = { 0 };
	FILE *f;
	ck_assert_int_eq(mlip_outfile_open(&o, "/nonexistent-dir/x.mlb", &err), MLIP_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "cannot create '/nonexistent-dir/x.mlb.tmp'"));
	ck_assert_int_eq(mlip_open_input(&f, "/nonexistent-file", &err), MLIP_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "cannot open '/nonexistent-file'"));
	ck_assert_int_eq(mlip_open_input(&f, "-", &err), 0);
	ck_assert_ptr_eq(f, stdin);
}
END_TEST

/* Renaming a temporary file over a device would replace the device. */
START_TEST(test_devices_written_in_place)
{
	struct mlip_outfile o;
	struct stat st;
	ck_assert_int_eq(mlip_outfile_open(&o, "/dev/null", NULL), 0);
	ck_assert_ptr_null(o.tmp_path);
	fputs("discarded", o.f);
	ck_assert_int_eq(mlip_outfile_commit(&o, NULL), 0);
	ck_assert_int_eq(stat("/dev/null", &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	ck_assert_int_eq(access("/dev/null.tmp", F_OK), -1);
}
END_TEST

Suite *suite_outfile(void)
{
	Suite *s = suite_create("outfile");
	TCase *tc = tcase_create("outfile");
	tcase_add_test(tc, test_commit_and_abort);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_devices_written_in_place);
	suite_add_tcase(s, tc);
	return s;
}
