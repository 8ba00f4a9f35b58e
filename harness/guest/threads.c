/* threads: start N extra threads (default 3) that sleep forever, so the
 * dump holds a multi-threaded process (several tasks, one mm). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 3;
	for (int i = 0; i < n; i++) {
		pthread_t t;
		pthread_create(&t, NULL, sleeper, NULL);
	}
	printf("threads: pid %d started %d threads\n", (int)getpid(), n);
	fflush(stdout);
	for (;;)
		pause();
}
