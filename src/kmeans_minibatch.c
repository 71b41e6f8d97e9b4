/*
 * kmeans_minibatch.c — mini-batch k-means (Sculley 2010, as scikit-learn's MiniBatchKMeans) and
 * partial_fit, for data that do not fit in memory or arrive tile by tile.
 *
 * A step assigns a batch with the same fused sgemm pass as Lloyd, then moves each centroid to the
 * running mean of every pixel it has ever been given: c ← (c·W + Σ batch) / (W + m), W += m.
 * Every 10·k pixels (and whenever a centre has absorbed nothing yet) centres whose W is below 1%
 * of the largest are re-seeded from the batch pixels farthest from their centroid, and their W
 * set to the smallest of the others, as scikit-learn does (it picks random batch pixels; the
 * farthest ones are deterministic and cover what the other centres miss). Early stopping is
 * scikit-learn's: the batch inertia per pixel, smoothed with weight 2·m / (n + 1), has not fallen
 * for ten steps.
 */
#include "kmeans_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REASSIGN_RATIO 0.01
#define MAX_NO_IMPROVEMENT 10

cn_status kmb_begin(cn_kmeans *km, int64_t batch, int64_t n_total, int threads, kminibatch *s)
{
    memset(s, 0, sizeof *s);
    s->km = km;
    s->batch = batch;
    s->n_total = n_total;
    s->ewa = s->ewa_min = NAN;
    if (!km->counts && !(km->counts = calloc((size_t)km->k, sizeof *km->counts)))
        return cn_set_error(CN_ENOMEM, "k-means: out of memory");
    cn_status st = kwork_new(batch, km->d, km->k, km->k, threads, CN_KMEANS_SPLIT_PIXELS, &s->w);
    if (st)
        return st;
    s->labels = malloc((size_t)batch * sizeof *s->labels);
    s->dist = malloc((size_t)batch * sizeof *s->dist);
    if (!s->labels || !s->dist) {
        kmb_end(s);
        return cn_set_error(CN_ENOMEM, "k-means: out of memory for batches of %lld pixels",
                            (long long)batch);
    }
    return CN_OK;
}

void kmb_end(kminibatch *s)
{
    kwork_free(&s->w);
    free(s->labels);
    free(s->dist);
    s->labels = NULL;
    s->dist = NULL;
}

/* Re-seeds the centres whose weight is below 1% of the largest (at most m / 2 of them) with
 * the batch rows farthest from their centroid. */
static void reassign(kminibatch *s, const float *x, int64_t m)
{
    cn_kmeans *km = s->km;
    const int k = km->k, d = km->d;
    double wmax = 0;
    for (int j = 0; j < k; j++)
        wmax = km->counts[j] > wmax ? km->counts[j] : wmax;
    int limit = m / 2 < k ? (int)(m / 2) : k, n_re = 0;
    for (int j = 0; j < k; j++)
        n_re += km->counts[j] < REASSIGN_RATIO * wmax;
    if (n_re == 0 || limit == 0 || n_re == k)
        return;
    if (n_re > limit)
        n_re = limit;
    /* the n_re lightest centres (ties: lowest index) and the n_re farthest rows */
    for (int r = 0; r < n_re; r++) {
        int light = -1;
        for (int j = 0; j < k; j++)
            if (km->counts[j] < REASSIGN_RATIO * wmax && km->counts[j] >= 0 &&
                (light < 0 || km->counts[j] < km->counts[light]))
                light = j;
        int64_t far = -1;
        for (int64_t i = 0; i < m; i++)
            if (s->labels[i] >= 0 && (far < 0 || s->dist[i] > s->dist[far]))
                far = i;
        if (light < 0 || far < 0)
            break;
        memcpy(km->centroids + (size_t)light * (size_t)d, x + (size_t)far * (size_t)d,
               (size_t)d * sizeof *km->centroids);
        km->counts[light] = -1; /* marked: set below */
        s->dist[far] = -1;      /* used */
    }
    double wmin = INFINITY;
    for (int j = 0; j < k; j++)
        if (km->counts[j] >= 0 && km->counts[j] < wmin)
            wmin = km->counts[j];
    for (int j = 0; j < k; j++)
        if (km->counts[j] < 0)
            km->counts[j] = wmin;
}

cn_status kmb_step(kminibatch *s, const float *x, int64_t m, bool *stop)
{
    cn_kmeans *km = s->km;
    const int k = km->k, d = km->d;
    if (stop)
        *stop = false;
    if (m <= 0)
        return CN_OK;
    kwork *w = &s->w;
    kwork_set_rows(w, m);
    for (int64_t i = 0; i < m; i++)
        s->labels[i] = -1;
    bool any_empty = false;
    for (int j = 0; j < k; j++)
        any_empty |= km->counts[j] == 0;
    kpass_assign(w, x, km->centroids, s->labels, NULL, KPASS_LLOYD);
    kpass_distances(w, x, km->centroids, s->labels, s->dist); /* before the centroids move */
    double inertia = 0;
    for (int64_t ch = 0; ch < w->plan.nchunks; ch++)
        inertia += w->cinertia[ch];
    for (int j = 0; j < k; j++) {
        int64_t cnt = 0;
        for (int64_t ch = 0; ch < w->plan.nchunks; ch++)
            cnt += w->counts[(size_t)ch * (size_t)k + (size_t)j];
        if (cnt == 0)
            continue;
        float *c = km->centroids + (size_t)j * (size_t)d;
        const double wj = km->counts[j], total = wj + (double)cnt;
        for (int q = 0; q < d; q++) {
            double sum = 0;
            for (int64_t ch = 0; ch < w->plan.nchunks; ch++)
                sum += w->sums[((size_t)ch * (size_t)k + (size_t)j) * (size_t)d + (size_t)q];
            c[q] = (float)(((double)c[q] * wj + sum) / total);
        }
        km->counts[j] = total;
    }
    km->since_reassign += m;
    if (any_empty || km->since_reassign >= 10 * (int64_t)k) {
        km->since_reassign = 0;
        reassign(s, x, m);
    }
    km->steps++;
    km->iterations = km->steps > INT32_MAX ? INT32_MAX : (int)km->steps;
    km->inertia = NAN;
    /* early stopping: the first step's inertia is the initialisation's, left out */
    double per_pixel = inertia / (double)m;
    if (km->steps == 1 || !stop)
        return CN_OK;
    if (isnan(s->ewa)) {
        s->ewa = per_pixel;
    } else {
        double alpha = s->n_total > 0 ? 2.0 * (double)m / ((double)s->n_total + 1) : 1.0;
        alpha = alpha > 1 ? 1 : alpha;
        s->ewa = s->ewa * (1 - alpha) + per_pixel * alpha;
    }
    if (isnan(s->ewa_min) || s->ewa < s->ewa_min) {
        s->ewa_min = s->ewa;
        s->no_improvement = 0;
    } else if (++s->no_improvement >= MAX_NO_IMPROVEMENT) {
        *stop = true;
    }
    return CN_OK;
}

cn_status kmb_init(cn_kmeans *km, const float *x, int64_t n, const cn_kmeans_options *o)
{
    kwork w;
    cn_status st = kwork_new(n, km->d, km->k, 2 + (int)log((double)km->k), o->threads,
                             o->threading, &w);
    if (st)
        return st;
    const size_t kd = (size_t)km->k * (size_t)km->d;
    float *c = malloc(kd * sizeof *c), *best = malloc(kd * sizeof *best);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    if (!c || !best || !lab) {
        st = cn_set_error(CN_ENOMEM, "k-means: out of memory");
        goto done;
    }
    const int runs = o->init == CN_KMEANS_INIT_GIVEN ? 1 : o->n_init;
    double best_inertia = INFINITY;
    for (int r = 0; r < runs; r++) {
        if ((st = kmeans_init_centroids(&w, x, o, &km->rng, c)))
            goto done;
        for (int64_t i = 0; i < n; i++)
            lab[i] = -1;
        kpass_assign(&w, x, c, lab, NULL, KPASS_PREDICT);
        double inertia = 0;
        for (int64_t ch = 0; ch < w.plan.nchunks; ch++)
            inertia += w.cinertia[ch];
        if (r == 0 || inertia < best_inertia) {
            best_inertia = inertia;
            memcpy(best, c, kd * sizeof *c);
        }
    }
    if ((st = kmeans_set_result(km, best, NAN, 0, 0)))
        goto done;
    free(km->counts);
    if (!(km->counts = calloc((size_t)km->k, sizeof *km->counts)))
        st = cn_set_error(CN_ENOMEM, "k-means: out of memory");
    km->steps = 0;
    km->since_reassign = 0;
done:
    kwork_free(&w);
    free(c);
    free(best);
    free(lab);
    return st;
}

cn_status cn_kmeans_partial_fit(cn_kmeans *km, const float *x, int64_t n, int d,
                                const cn_kmeans_options *o)
{
    if (!km || !o || (!x && n > 0) || n < 0)
        return cn_set_error(CN_EINVAL, "k-means partial_fit: NULL argument");
    if (d != km->d)
        return cn_set_error(CN_ESHAPE, "k-means partial_fit: the pixels have %d band%s, the "
                            "model has %d", d, d == 1 ? "" : "s", km->d);
    const float *v;
    int64_t valid;
    bool owned;
    cn_status st = kmeans_valid_rows(x, n, d, &v, &valid, &owned, NULL);
    if (st)
        return st;
    if (!km->centroids) {
        cn_kmeans_options oo = *o;
        oo.k = km->k;
        if (!(st = kmeans_check_options(&oo, d, valid))) {
            cn_rng_seed(&km->rng, o->seed);
            st = kmb_init(km, v, valid, &oo);
        }
    } else if (!km->counts && !(km->counts = calloc((size_t)km->k, sizeof *km->counts))) {
        st = cn_set_error(CN_ENOMEM, "k-means: out of memory");
    }
    if (!st && valid > 0) {
        kminibatch s;
        if (!(st = kmb_begin(km, valid, 0, o->threads, &s))) {
            st = kmb_step(&s, v, valid, NULL);
            kmb_end(&s);
        }
    }
    if (owned)
        free((void *)v);
    return st;
}

cn_status cn_kmeans_fit_minibatch(const float *x, int64_t n, int d, const cn_kmeans_options *o,
                                  int64_t batch, int64_t steps, int32_t *labels,
                                  cn_kmeans **out)
{
    if (!o || !out || (!x && n > 0) || n < 0 || d < 1 || batch < 0 || steps < 0)
        return cn_set_error(CN_EINVAL, "k-means: NULL argument, no band or a negative size");
    *out = NULL;
    if (batch == 0)
        batch = 1024;
    const float *v;
    int64_t valid;
    bool owned;
    cn_status st = kmeans_valid_rows(x, n, d, &v, &valid, &owned, NULL);
    if (st)
        return st;
    cn_kmeans *km = NULL;
    float *sub = NULL, *buf = NULL;
    kminibatch s;
    memset(&s, 0, sizeof s);
    if ((st = kmeans_check_options(o, d, valid)) || (st = cn_kmeans_new(o->k, d, NULL, &km)))
        goto done;
    if (batch > valid)
        batch = valid;
    cn_rng_seed(&km->rng, o->seed);
    int64_t init_size = 3 * batch > 3 * (int64_t)o->k ? 3 * batch : 3 * (int64_t)o->k;
    if (init_size > valid)
        init_size = valid;
    sub = malloc((size_t)init_size * (size_t)d * sizeof *sub);
    buf = malloc((size_t)batch * (size_t)d * sizeof *buf);
    if (!sub || !buf) {
        st = cn_set_error(CN_ENOMEM, "k-means: out of memory");
        goto done;
    }
    if ((st = kmeans_random_rows(valid, init_size, v, d, &km->rng, sub)) ||
        (st = kmb_init(km, sub, init_size, o)) ||
        (st = kmb_begin(km, batch, valid, o->threads, &s)))
        goto done;
    const bool auto_steps = steps == 0;
    if (auto_steps) {
        steps = (int64_t)o->max_iter * valid / batch;
        steps = steps < 1 ? 1 : steps;
    }
    int64_t tick = steps / 100 > 0 ? steps / 100 : 1;
    for (int64_t t = 0; t < steps; t++) {
        for (int64_t i = 0; i < batch; i++) {
            int64_t r = (int64_t)cn_rng_below(&km->rng, (uint64_t)valid);
            memcpy(buf + (size_t)i * (size_t)d, v + (size_t)r * (size_t)d,
                   (size_t)d * sizeof *buf);
        }
        bool stop;
        if ((st = kmb_step(&s, buf, batch, auto_steps ? &stop : NULL)))
            goto done;
        if (auto_steps && stop)
            break;
        if (t % tick == 0 && !kmeans_progress(o, 0, 1, (double)t / (double)steps)) {
            st = cn_set_error(CN_ECANCELLED, "k-means: cancelled");
            goto done;
        }
    }
    kmb_end(&s);
    /* the final labelling pass gives the inertia over every pixel */
    int32_t *lab = labels && !owned ? labels : malloc((size_t)valid * sizeof *lab);
    double inertia;
    if (!lab) {
        st = cn_set_error(CN_ENOMEM, "k-means: out of memory");
        goto done;
    }
    st = cn_kmeans_predict(km, v, valid, d, o->threads, lab, NULL, &inertia);
    if (!st)
        st = kmeans_set_result(km, km->centroids, inertia, km->iterations, valid);
    if (!st && labels && owned) {
        for (int64_t i = 0, m = 0; i < n; i++) {
            const float *r = x + (size_t)i * (size_t)d;
            bool ok = true;
            for (int q = 0; q < d && ok; q++)
                ok = isfinite(r[q]);
            labels[i] = ok ? lab[m++] : -1;
        }
    }
    if (lab != labels)
        free(lab);
done:
    kmb_end(&s);
    free(sub);
    free(buf);
    if (owned)
        free((void *)v);
    if (st) {
        cn_kmeans_free(km);
        return st;
    }
    *out = km;
    return CN_OK;
}
