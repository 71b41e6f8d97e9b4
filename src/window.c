/*
 * window.c — the output-size arithmetic shared by convolution and pooling, and the messages that
 * explain a refusal.
 *
 * One place decides out = (in − F + 2P)/S + 1 with F = D·(k − 1) + 1, so every layer refuses a
 * stride that does not fit in the same words. cropnet refuses where Torch floors: a convolution
 * whose windows do not tile its padded input silently ignores the last rows and columns, which is
 * almost always a mistake in the network's design; a layer made with floor = true gets Torch's
 * behaviour (and a 2×2 max-pool over 9×9 gives 4×4).
 */
#include "layer_impl.h"

#include <stdio.h>

cn_status cn_window_out(const char *what, const char *axis, int64_t in, int64_t k, int64_t s,
                        int64_t p, int64_t d, bool floor, int64_t *out)
{
    /* The spec checks bound k, s, p, d to CN_WINDOW_MAX, so none of this overflows. */
    int64_t f = d * (k - 1) + 1, span = in - f + 2 * p;
    if (span < 0) {
        *out = 0;
        return CN_OK;
    }
    if (span % s != 0 && !floor) {
        char kern[64] = "";
        if (d != 1)
            snprintf(kern, sizeof kern, ", F = D(k - 1) + 1 = %lld(%lld - 1) + 1", (long long)d,
                     (long long)k);
        return cn_set_error(CN_ESHAPE,
                            "%s: stride %lld does not fit the %s: (N - F + 2P) / S + 1 = "
                            "(%lld - %lld + 2*%lld) / %lld + 1 = %lld/%lld + 1 is not a whole "
                            "number%s (change the padding or the stride, or use floor mode)",
                            what, (long long)s, axis, (long long)in, (long long)f, (long long)p,
                            (long long)s, (long long)span, (long long)s, kern);
    }
    *out = span / s + 1;
    return CN_OK;
}

/* "(3 x 32 x 32)" from n sizes. */
static void sizes_str(char *buf, size_t size, int n, const int64_t *v)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%lld", i ? " x " : "(", (long long)v[i]);
        if (w < 0)
            return;
        used += (size_t)w;
    }
    if (used < size)
        snprintf(buf + used, size - used, ")");
}

cn_status cn_too_small(const char *what, int nin, const int64_t *in, int nout, const int64_t *out)
{
    char a[128], b[128];
    sizes_str(a, sizeof a, nin, in);
    sizes_str(b, sizeof b, nout, out);
    return cn_set_error(CN_ESHAPE,
                        "%s: Given input size: %s. Calculated output size: %s. Output size is too "
                        "small", what, a, b);
}
