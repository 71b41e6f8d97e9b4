/*
 * split_block.c — the spatial-block mode of the train/test split: which whole blocks train.
 *
 * Neighbouring pixels of a field are nearly alike, so a random pixel split puts a test pixel
 * next to training pixels and overstates the accuracy a model reaches on new fields. Here the
 * scene is cut into B × B blocks and every block goes wholly to one side. Each block is counted
 * for the class that is its majority; per class, its blocks are shuffled and taken into training
 * until the class's pixels in them reach the class's target.
 */
#include "cn_split.h"

#include <stdlib.h>
#include <string.h>

#define BIT_SET(map, i) ((map)[(i) >> 6] |= (uint64_t)1 << ((i) & 63))

/* Each block's majority class (-1: no labelled pixel; ties: the smaller id) and its pixels of
 * that class, from per-block-row counts of every class (blocks_x × classes). */
static cn_status block_majorities(cn_split_ctx *s, int32_t *major, int64_t *major_n)
{
    size_t k = s->nclasses, bx = s->blocks_x, w = (size_t)s->width;
    size_t b = (size_t)s->opt.block;
    if (k > SIZE_MAX / sizeof(int64_t) / bx)
        return cn_set_error(CN_EOVERFLOW, "%s: too many blocks and classes", s->path);
    int64_t *counts = calloc(bx * k, sizeof *counts);
    if (!counts)
        return cn_set_error(CN_ENOMEM, "%s: out of memory counting %zu blocks of %zu classes",
                            s->path, bx, k);
    cn_status st = CN_OK;
    for (int y0 = 0, h; !st && y0 < s->height; y0 += h) {
        if ((st = cn_split_read(s, y0, &h)))
            break;
        for (int dy = 0; dy < h; dy++) {
            size_t y = (size_t)(y0 + dy);
            for (size_t x = 0; x < w; x++) {
                int32_t id = s->ids[(size_t)dy * w + x];
                if (id)
                    counts[(x / b) * k + (size_t)s->index[id] - 1]++;
            }
            if ((y + 1) % b != 0 && y + 1 != (size_t)s->height)
                continue;
            /* the last row of a block row: settle its blocks */
            size_t by = y / b;
            for (size_t i = 0; i < bx; i++) {
                int64_t *c = counts + i * k, best = 0;
                int32_t arg = -1;
                for (size_t j = 0; j < k; j++)
                    if (c[j] > best) {
                        best = c[j];
                        arg = (int32_t)j;
                    }
                major[by * bx + i] = arg;
                major_n[by * bx + i] = best;
            }
            memset(counts, 0, bx * k * sizeof *counts);
        }
    }
    s->pass++;
    free(counts);
    return st;
}

/* Class j's blocks into training, in a random order, until its target is reached. */
static cn_status take_blocks(cn_split_ctx *s, size_t j, const int32_t *major,
                             const int64_t *major_n, size_t *list)
{
    size_t nblocks = s->blocks_x * s->blocks_y, nb = 0;
    for (size_t i = 0; i < nblocks; i++)
        if (major[i] == (int32_t)j)
            list[nb++] = i;
    for (size_t i = nb; i > 1; i--) { /* Fisher–Yates */
        size_t r = (size_t)cn_rng_below(&s->rngs[j], i), t = list[i - 1];
        list[i - 1] = list[r];
        list[r] = t;
    }
    /* with a fraction, a class with two or more blocks keeps one for testing */
    size_t limit = s->opt.per_class > 0 || nb < 2 ? nb : nb - 1;
    int64_t got = 0, have = 0;
    for (size_t i = 0; i < nb; i++)
        have += major_n[list[i]];
    for (size_t i = 0; i < limit && got < s->target[j]; i++) {
        BIT_SET(s->train_blocks, list[i]);
        got += major_n[list[i]];
    }
    if (s->opt.per_class > 0 && got < s->target[j])
        return cn_set_error(CN_EINVAL, "%s: class %d has %lld labelled pixels in the %zu blocks "
                            "where it is the majority, fewer than the %lld asked (--per-class "
                            "with --block %d)", s->path, s->classes[j].id, (long long)have, nb,
                            (long long)s->opt.per_class, s->opt.block);
    return CN_OK;
}

cn_status cn_split_blocks(cn_split_ctx *s)
{
    size_t b = (size_t)s->opt.block;
    s->blocks_x = ((size_t)s->width + b - 1) / b;
    s->blocks_y = ((size_t)s->height + b - 1) / b;
    size_t n = s->blocks_x * s->blocks_y; /* <= pixels, which fit */
    int32_t *major = malloc(n * sizeof *major);
    int64_t *major_n = malloc(n * sizeof *major_n);
    size_t *list = malloc(n * sizeof *list);
    s->train_blocks = calloc((n + 63) / 64, sizeof *s->train_blocks);
    cn_status st = major && major_n && list && s->train_blocks
                       ? CN_OK
                       : cn_set_error(CN_ENOMEM, "%s: out of memory for %zu blocks", s->path, n);
    if (!st)
        st = block_majorities(s, major, major_n);
    for (size_t j = 0; !st && j < s->nclasses; j++)
        st = take_blocks(s, j, major, major_n, list);
    free(major);
    free(major_n);
    free(list);
    return st;
}
