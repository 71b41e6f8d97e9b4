/*
 * cn_split.h — what the two files of the train/test split share (internal): split.c streams the
 * label raster, selects pixels and writes the outputs; split_block.c chooses whole blocks.
 */
#ifndef CROPNET_SPLIT_H
#define CROPNET_SPLIT_H

#include "cn_labels.h"

typedef struct cn_split_ctx {
    cn_split_options opt;     /* validated copy, defaults filled */
    cn_raster *lab;           /* the labels being split */
    const char *path;         /* their path (borrowed) */
    int width, height;
    int strip_rows;           /* rows per strip read */
    int32_t *ids;             /* one strip of class ids */
    int *index;               /* 65536 entries: id -> 1 + class index, 0 when absent */
    cn_split_class *classes;  /* by ascending id; counts filled as the passes go */
    size_t nclasses;
    cn_rng *rngs;             /* one generator per class */
    int64_t *target;          /* training pixels wanted per class */
    int64_t *seen, *taken;    /* pixel mode: per class, pixels met and taken so far */
    size_t blocks_x, blocks_y;/* block mode: the block grid */
    uint64_t *train_blocks;   /* block mode: one bit per block, set for training blocks */
    uint64_t *train_px;       /* one bit per pixel (row-major), set for training pixels */
    int pass, npasses;        /* for progress */
} cn_split_ctx;

/* Reports progress at row y of the current pass; CN_ECANCELLED when the callback says stop. */
cn_status cn_split_progress(cn_split_ctx *s, int y);
/* Reads the strip starting at row y0 into s->ids (its height into *h), reporting progress. */
cn_status cn_split_read(cn_split_ctx *s, int y0, int *h);
/* Block mode: finds each block's majority class and fills s->train_blocks (see cropnet_data.h). */
cn_status cn_split_blocks(cn_split_ctx *s);

#endif
