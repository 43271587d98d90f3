// SPDX-License-Identifier: GPL-2.0-only
// A process that does nothing but call getpid(2) until it is told to stop
// (SIGTERM, SIGINT or SIGHUP): the real task test_klp_syscall's transition
// waits for.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void stop(int sig)
{
	(void)sig;
	stopping = 1;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = stop };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	while (!stopping)
		syscall(SYS_getpid);
	return 0;
}
