/*
 * fuzz_tmp.h - for fuzz targets that keep a store or a tree in a temporary
 * directory for one run of the fuzzer: fuzz_rmtree(DIR) removes it whole.
 */
#ifndef BENTO_FUZZ_TMP_H
#define BENTO_FUZZ_TMP_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fuzz_rmtree(const char *dir)
{
	nftw(dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
