/*
 * model_arch_impl.h — what model_arch.c (the dense kinds, containers, names) and
 * model_arch_conv.c (the convolutional-network kinds) share to describe networks and build them
 * back from an untrusted "cropnet.arch" text. Not part of the public API.
 */
#ifndef CROPNET_MODEL_ARCH_IMPL_H
#define CROPNET_MODEL_ARCH_IMPL_H

#include "model_impl.h"

/* Long enough for "layers" + CN_MODEL_MAX_DEPTH × ".projection" or ".<20 digits>" + a suffix. */
#define CN_ARCH_NAME_MAX 1024

typedef struct build_ctx {
    const char *path;             /* for messages */
    cn_model_lookup_fn lookup;    /* the file's tensors */
    void *lookup_ctx;
    char name[CN_ARCH_NAME_MAX];  /* name of the layer being built ("layers.2.1") */
} build_ctx;

/* ---------------------------------------------------------------- network → JSON */

/* The description of l (nested containers at depth + 1) into *out (a new reference). */
cn_status cn_arch_json(cn_layer *l, int depth, json_t **out);
/* Adds the fields of a convolutional-network kind to its object o (which holds "type"). */
cn_status cn_arch_conv_json(cn_layer *l, int depth, json_t *o);
/* The shortest decimal that reads back as f. */
double cn_arch_shortest(float f);

/* ---------------------------------------------------------------- JSON → network */

/* Appends ".<i>" to the name of length len; returns the new length. */
size_t cn_arch_name_push(char *name, size_t len, size_t i);
/* Refuses fields other than the allowed ones (NULL-terminated). */
cn_status cn_arch_only_fields(build_ctx *c, json_t *o, const char *const *allowed);
/* A required integer field from 1 to CN_MODEL_MAX_FEATURES. */
cn_status cn_arch_get_size(build_ctx *c, json_t *o, const char *field, int64_t *out);
/* A required finite number (non-negative when nonneg). */
cn_status cn_arch_get_param(build_ctx *c, json_t *o, const char *field, bool nonneg, float *out);
/* The file's values of tensor c->name + suffix, which must have exactly the given shape. */
cn_status cn_arch_fetch(build_ctx *c, const char *suffix, int ndim, const int64_t *dims,
                        const float **values);
/* Builds any layer (depth: containers above it). */
cn_status cn_arch_build_layer(build_ctx *c, json_t *o, int depth, cn_layer **out);
/* Builds a layer of a convolutional-network kind. */
cn_status cn_arch_build_conv(build_ctx *c, json_t *o, int kind, int depth, cn_layer **out);

#endif
