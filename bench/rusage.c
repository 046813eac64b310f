/* SPDX-License-Identifier: MIT */
/* rusage OUT CMD [ARG...]: runs CMD and writes what wait4 says of it to OUT.
 *
 * Why not the benchmark's own wait4: a child forked by a big process starts with that
 * process's resident set, and ru_maxrss keeps the pre-exec high-water mark (Linux carries
 * it across execve). Forked from this small program, the mark is the command's own.
 *
 * OUT gets "pid N" once CMD runs, then "exit STATUS utime_us stime_us maxrss_kib wall_us". SIGTERM and
 * SIGINT are passed on to CMD. Built by bench/benchlib.py with the system C compiler. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t child;

static void forward(int sig) {
        if (child > 0)
                kill(child, sig);
}

int main(int argc, char *argv[]) {
        struct sigaction sa = { .sa_handler = forward };
        struct rusage ru;
        struct timespec t0, t1;
        FILE *out;
        int status;

        if (argc < 3) {
                fprintf(stderr, "usage: rusage OUT CMD [ARG...]\n");
                return 64;
        }
        out = fopen(argv[1], "w");
        if (!out) {
                perror(argv[1]);
                return 70;
        }
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        child = fork();
        if (child < 0) {
                perror("fork");
                return 70;
        }
        if (child == 0) {
                execvp(argv[2], argv + 2);
                perror(argv[2]);
                _exit(127);
        }
        fprintf(out, "pid %d\n", (int) child);
        fflush(out);
        while (wait4(child, &status, 0, &ru) < 0)
                if (errno != EINTR) {
                        perror("wait4");
                        return 70;
                }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        fprintf(out, "exit %d %lld %lld %ld %lld\n",
                WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                (long long) ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
                (long long) ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss,
                (long long) (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
        fclose(out);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
