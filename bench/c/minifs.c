/*
 * minifs: the smallest useful libfuse (FUSE 2 high-level API) filesystem, the
 * reference the JavaScript FUSE layer is measured against. It serves one
 * directory chain a/b/c (depth given by the file path) with one file:
 *
 *   minifs MOUNTPOINT FILEPATH [fuse options...]
 *
 * e.g. minifs /tmp/m kernel/livepatch/p/enabled -f -o direct_io,...
 * The file reads "0\n" and accepts any write (a trivial store).
 */
#define FUSE_USE_VERSION 29
#define _GNU_SOURCE
#include <errno.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char file_path[1024];     /* "/kernel/livepatch/p/enabled" */
static size_t file_path_len;
static const char content[] = "0\n";

/* 1: directory on the chain, 2: the file, 0: nothing */
static int classify(const char *path)
{
	size_t len = strlen(path);
	if (len == 1 && path[0] == '/')
		return 1;
	if (len == file_path_len && !memcmp(path, file_path, len))
		return 2;
	if (len < file_path_len && !memcmp(path, file_path, len) && file_path[len] == '/')
		return 1;
	return 0;
}

static int mini_getattr(const char *path, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	switch (classify(path)) {
	case 1:
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	case 2:
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = 4096;
		return 0;
	}
	return -ENOENT;
}

static int mini_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
			struct fuse_file_info *fi)
{
	(void)off; (void)fi;
	if (classify(path) != 1)
		return -ENOTDIR;
	fill(buf, ".", NULL, 0);
	fill(buf, "..", NULL, 0);
	/* the next component of the chain */
	size_t len = strcmp(path, "/") ? strlen(path) : 0;
	const char *next = file_path + len + 1;
	const char *end = strchr(next, '/');
	char name[256];
	size_t n = end ? (size_t)(end - next) : strlen(next);
	if (n >= sizeof(name))
		return -ENAMETOOLONG;
	memcpy(name, next, n);
	name[n] = 0;
	fill(buf, name, NULL, 0);
	return 0;
}

static int mini_open(const char *path, struct fuse_file_info *fi)
{
	(void)fi;
	return classify(path) == 2 ? 0 : -ENOENT;
}

static int mini_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)path; (void)fi;
	size_t len = sizeof(content) - 1;
	if ((size_t)off >= len)
		return 0;
	if (size > len - off)
		size = len - off;
	memcpy(buf, content + off, size);
	return size;
}

static int mini_write(const char *path, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)path; (void)buf; (void)off; (void)fi;
	return size;
}

static int mini_truncate(const char *path, off_t size)
{
	(void)path; (void)size;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s MOUNTPOINT FILEPATH [fuse options]\n", argv[0]);
		return 2;
	}
	const char *fp = argv[2];
	snprintf(file_path, sizeof(file_path), "%s%s", fp[0] == '/' ? "" : "/", fp);
	file_path_len = strlen(file_path);

	static struct fuse_operations ops = {
		.getattr = mini_getattr,
		.readdir = mini_readdir,
		.open = mini_open,
		.read = mini_read,
		.write = mini_write,
		.truncate = mini_truncate,
	};
	/* argv for fuse_main: program, mountpoint, options (FILEPATH dropped) */
	char **fargv = calloc(argc, sizeof(char *));
	int fargc = 0;
	fargv[fargc++] = argv[0];
	fargv[fargc++] = argv[1];
	for (int i = 3; i < argc; i++)
		fargv[fargc++] = argv[i];
	return fuse_main(fargc, fargv, &ops, NULL);
}
