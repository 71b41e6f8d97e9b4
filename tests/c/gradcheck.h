/*
 * gradcheck.h — finite-difference gradient checks for the layer tests (test_conv.c,
 * test_pool.c, test_norm.c, ...), the approach of test_layers.c for inputs of any shape.
 *
 * L = Σ r·forward(x) with a fixed random r, computed in double; every input value and every
 * parameter value is moved by ±eps and the central difference compared with the analytic
 * gradient from one backward pass.
 */
#ifndef CROPNET_GRADCHECK_H
#define CROPNET_GRADCHECK_H

#include "check.h"
#include "cropnet.h"

#include <stdlib.h>
#include <string.h>

static inline double gc_weighted_output(cn_layer *layer, const cn_tensor *x,
                                        const cn_tensor *r)
{
    cn_tensor *y;
    if (cn_layer_forward(layer, x, &y))
        return NAN;
    double s = 0;
    for (int64_t i = 0; i < cn_tensor_numel(y); i++)
        s += (double)cn_tensor_cdata(y)[i] * cn_tensor_cdata(r)[i];
    return s;
}

/* Compares d L / d v for every value v of target with analytic; returns false on a mismatch. */
static inline bool gc_compare(cn_layer *layer, const cn_tensor *x, const cn_tensor *r,
                              cn_tensor *target, const float *analytic, const char *what)
{
    const float eps = 1e-2f;
    float *v = cn_tensor_data(target);
    for (int64_t i = 0; i < cn_tensor_numel(target); i++) {
        float keep = v[i];
        v[i] = keep + eps;
        double up = gc_weighted_output(layer, x, r);
        v[i] = keep - eps;
        double down = gc_weighted_output(layer, x, r);
        v[i] = keep;
        double numeric = (up - down) / (2.0 * eps);
        double tol = 3e-3 + 1e-2 * fabs(numeric);
        if (!(fabs(numeric - analytic[i]) <= tol)) {
            fprintf(stderr, "%s: %s gradient %lld: analytic %.6g, numeric %.6g\n", check_current,
                    what, (long long)i, (double)analytic[i], numeric);
            check_failures++;
            return false;
        }
    }
    return true;
}

/* A tensor of the given shape with values uniform in ±(0.1 .. 1). */
static inline cn_tensor *gc_random(int ndim, const int64_t *dims, cn_rng *rng)
{
    cn_tensor *x = NULL;
    if (cn_tensor_new(ndim, dims, &x))
        return NULL;
    for (int64_t i = 0; i < cn_tensor_numel(x); i++) {
        double m = 0.1 + 0.9 * cn_rng_uniform(rng);
        cn_tensor_data(x)[i] = (float)(cn_rng_below(rng, 2) ? m : -m);
    }
    return x;
}

/* A tensor whose values are distinct and at least 0.05 apart (a shuffled ramp), so a ±0.01 step
 * never changes which value of a pooling window is the largest. */
static inline cn_tensor *gc_distinct(int ndim, const int64_t *dims, cn_rng *rng)
{
    cn_tensor *x = NULL;
    if (cn_tensor_new(ndim, dims, &x))
        return NULL;
    int64_t n = cn_tensor_numel(x);
    float *v = cn_tensor_data(x);
    for (int64_t i = 0; i < n; i++)
        v[i] = 0.05f * (float)(i - n / 2);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)cn_rng_below(rng, (uint64_t)i + 1);
        float t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    return x;
}

/* Checks the input gradient and every parameter gradient of layer at input x (not consumed).
 * Parameters are initialised (Xavier normal) and shifted a little so biases are not zero. */
static inline void gc_check_at(cn_layer *layer, cn_tensor *x, uint64_t seed)
{
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    CHECK_OK(cn_layer_init(layer, CN_INIT_XAVIER_NORMAL, 0, &rng));
    size_t np = cn_layer_params(layer, NULL, NULL, 0);
    cn_tensor *p[32], *g[32];
    CHECK(np <= 32);
    cn_layer_params(layer, p, g, 32);
    for (size_t k = 0; k < np; k++)
        for (int64_t i = 0; i < cn_tensor_numel(p[k]); i++)
            cn_tensor_data(p[k])[i] += (float)(0.2 * cn_rng_uniform(&rng) - 0.1);
    cn_tensor *y = NULL, *r = NULL, *gx = NULL;
    cn_status st = cn_layer_forward(layer, x, &y);
    CHECK_OK(st);
    if (st)
        return;
    CHECK_OK(cn_tensor_new(1, (int64_t[]){1}, &r));
    CHECK_OK(cn_tensor_resize_as(r, y));
    for (int64_t i = 0; i < cn_tensor_numel(r); i++)
        cn_tensor_data(r)[i] = (float)(2.0 * cn_rng_uniform(&rng) - 1.0);
    cn_layer_zero_grad(layer);
    CHECK_OK(cn_layer_backward(layer, x, r, &gx));
    CHECK(cn_tensor_same_shape(gx, x));
    /* copies: the finite differences re-run forward (and backward buffers stay, but be safe) */
    size_t nx = (size_t)cn_tensor_numel(gx);
    float *ax = malloc(sizeof(float) * (nx ? nx : 1));
    memcpy(ax, cn_tensor_cdata(gx), sizeof(float) * nx);
    gc_compare(layer, x, r, x, ax, "input");
    free(ax);
    for (size_t k = 0; k < np; k++) {
        size_t ng = (size_t)cn_tensor_numel(g[k]);
        float *ag = malloc(sizeof(float) * (ng ? ng : 1));
        memcpy(ag, cn_tensor_cdata(g[k]), sizeof(float) * ng);
        char what[32];
        snprintf(what, sizeof what, "parameter %zu", k);
        gc_compare(layer, x, r, p[k], ag, what);
        free(ag);
    }
    cn_tensor_release(r);
}

/* gc_check_at on a random input of the given shape. */
static inline void gc_check(cn_layer *layer, int ndim, const int64_t *dims, uint64_t seed)
{
    cn_rng rng;
    cn_rng_seed(&rng, seed ^ 0x5eed);
    cn_tensor *x = gc_random(ndim, dims, &rng);
    gc_check_at(layer, x, seed);
    cn_tensor_release(x);
}

/* Whether the last error message contains every one of the NULL-terminated parts. */
static inline bool gc_message_has(const char *const *parts)
{
    for (; *parts; parts++)
        if (!strstr(cn_last_error(), *parts)) {
            fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", check_current, cn_last_error(),
                    *parts);
            return false;
        }
    return true;
}

#endif
