/*
 * latency: time open()+read()+close() (or open()+write()+close()) of one file.
 *
 *   latency read  PATH ITERATIONS WARMUP
 *   latency write PATH ITERATIONS WARMUP DATA
 *
 * Prints "p50_us p99_us min_us" on one line. Timing uses CLOCK_MONOTONIC
 * around the three system calls only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int once(int writing, const char *path, const char *data, size_t len)
{
	char buf[4096];
	int fd = open(path, writing ? O_WRONLY : O_RDONLY);
	if (fd < 0)
		return -errno;
	ssize_t n = writing ? write(fd, data, len) : read(fd, buf, sizeof(buf));
	int err = n < 0 ? -errno : 0;
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

int main(int argc, char **argv)
{
	if (argc < 5 || (strcmp(argv[1], "read") && strcmp(argv[1], "write")) ||
	    (!strcmp(argv[1], "write") && argc < 6)) {
		fprintf(stderr, "usage: %s read|write PATH ITERATIONS WARMUP [DATA]\n", argv[0]);
		return 2;
	}
	int writing = !strcmp(argv[1], "write");
	const char *path = argv[2];
	long iterations = atol(argv[3]);
	long warmup = atol(argv[4]);
	const char *data = writing ? argv[5] : NULL;
	size_t len = data ? strlen(data) : 0;
	if (iterations < 1) {
		fprintf(stderr, "latency: ITERATIONS must be positive\n");
		return 2;
	}
	double *samples = malloc(sizeof(double) * iterations);
	if (!samples)
		return 1;

	for (long i = 0; i < warmup; i++) {
		int err = once(writing, path, data, len);
		if (err) {
			fprintf(stderr, "latency: %s: %s\n", path, strerror(-err));
			return 1;
		}
	}
	for (long i = 0; i < iterations; i++) {
		double t0 = now_us();
		int err = once(writing, path, data, len);
		double t1 = now_us();
		if (err) {
			fprintf(stderr, "latency: %s: %s\n", path, strerror(-err));
			return 1;
		}
		samples[i] = t1 - t0;
	}
	qsort(samples, iterations, sizeof(double), cmp_double);
	long i99 = (long)(iterations * 0.99);
	if (i99 >= iterations)
		i99 = iterations - 1;
	printf("%.1f %.1f %.1f\n", samples[iterations / 2], samples[i99], samples[0]);
	free(samples);
	return 0;
}
