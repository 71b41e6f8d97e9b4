/*
 * check.h — the minimal test harness of the C unit tests.
 *
 * A test file defines static test functions and lists them in main with RUN(name). CHECK records a
 * failure with file and line and goes on; the process exits non-zero if any check failed, which is
 * what ctest reads. No framework dependency keeps the tests buildable on a bare Debian.
 */
#ifndef CROPNET_CHECK_H
#define CROPNET_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures;
static const char *check_current = "";

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__,            \
                    check_current, #cond);                                                  \
            check_failures++;                                                               \
        }                                                                                   \
    } while (0)

#define CHECK_OK(expr)                                                                      \
    do {                                                                                    \
        cn_status check_st_ = (expr);                                                       \
        if (check_st_ != CN_OK) {                                                           \
            fprintf(stderr, "%s:%d: %s: %s returned %s: %s\n", __FILE__, __LINE__,          \
                    check_current, #expr, cn_status_name(check_st_), cn_last_error());      \
            check_failures++;                                                               \
        }                                                                                   \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                               \
    do {                                                                                    \
        double check_a_ = (a), check_b_ = (b);                                              \
        if (!(fabs(check_a_ - check_b_) <= (tol))) {                                        \
            fprintf(stderr, "%s:%d: %s: %s = %.9g, expected %.9g (tolerance %g)\n",         \
                    __FILE__, __LINE__, check_current, #a, check_a_, check_b_, (double)(tol)); \
            check_failures++;                                                               \
        }                                                                                   \
    } while (0)

#define RUN(fn)                                                                             \
    do {                                                                                    \
        check_current = #fn;                                                                \
        int before_ = check_failures;                                                       \
        fn();                                                                               \
        printf("%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #fn);                \
    } while (0)

#define CHECK_EXIT() (check_failures ? (fprintf(stderr, "%d check(s) failed\n", check_failures), 1) : 0)

#endif
