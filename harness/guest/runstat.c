/* runstat OUT PROGRAM ARGS...: runs PROGRAM (stdin, stdout and stderr
 * inherited) and writes one JSON line to OUT: its exit code (128+N when
 * killed by signal N, 127 when it could not be run), wall time, CPU times
 * and peak RSS (wait4's ru_maxrss, KiB). For the kdump capture kernel's
 * initramfs, which has no /usr/bin/time; built static by harness/run.
 * Exits with PROGRAM's exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double ms(struct timeval tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; }

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: runstat OUT PROGRAM [ARGS...]\n");
		return 2;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0) {
		perror("runstat: fork");
		return 127;
	}
	if (pid == 0) {
		execv(argv[2], argv + 2);
		perror("runstat: exec");
		_exit(127);
	}
	int status = 0;
	struct rusage ru = {0};
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("runstat: wait4");
		return 127;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	double wall = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	FILE *f = fopen(argv[1], "w");
	if (!f) {
		perror("runstat: open OUT");
		return code;
	}
	fprintf(f, "{\"exit\": %d, \"wall_ms\": %.1f, \"user_ms\": %.1f, \"sys_ms\": %.1f, \"maxrss_kb\": %ld}\n",
		code, wall, ms(ru.ru_utime), ms(ru.ru_stime), ru.ru_maxrss);
	fclose(f);
	return code;
}
