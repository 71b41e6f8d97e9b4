/*
 * model_impl.h — the model object shared by the model files (not part of the public API).
 *
 * model.c holds the object and its metadata and tensor tables, model_arch.c the two directions
 * between a network and its "cropnet.arch" description and tensor names, model_save.c and
 * model_load.c the file itself. docs/model-format.md describes the format.
 */
#ifndef CROPNET_MODEL_IMPL_H
#define CROPNET_MODEL_IMPL_H

#include "cropnet.h"

#include <jansson.h>

#define CN_MODEL_FORMAT_NAME "cropnet-model"
#define CN_MODEL_NET_PREFIX "layers"      /* tensor names of the network start "layers" */
#define CN_MODEL_MAX_DEPTH 32             /* nesting of sequentials, bounds the recursion */
#define CN_MODEL_MAX_FEATURES (1 << 24)   /* in / out of one linear layer */

struct cn_model {
    cn_layer *net;            /* owned reference */
    char **meta_keys;         /* owned strings, meta_count of them, in insertion order */
    char **meta_values;       /* owned strings, parallel to meta_keys */
    size_t meta_count, meta_cap;
    char **tensor_names;      /* owned strings, tensor_count of them, in insertion order */
    cn_tensor **tensors;      /* owned references, parallel to tensor_names */
    size_t tensor_count, tensor_cap;
};

/* Sets "path: message" as the error and returns status. */
cn_status cn_model_fail(const char *path, cn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Whether key may be user metadata / name may be an extra tensor (the rules of cropnet.h). */
bool cn_model_meta_key_ok(const char *key);
bool cn_model_tensor_name_ok(const char *name);

/* Appends without looking for an existing entry (the loader's JSON has no duplicate keys). */
cn_status cn_model_meta_append(cn_model *model, const char *key, const char *value);
cn_status cn_model_tensor_append(cn_model *model, const char *name, cn_tensor *tensor);

/* How the checksum field appears in the compact JSON header, just before its 8 hex digits. */
#define CN_MODEL_CRC_KEY "\"cropnet.crc32\":\""

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of n bytes, continuing from crc (0 to start). */
uint32_t cn_crc32(uint32_t crc, const void *data, size_t n);

/* Calls fn for each parameter tensor of net in the fixed depth-first order with its name
 * ("layers.0.weight", or "layers.weight" when net itself is a linear layer). Stops at the first
 * non-OK status and returns it. CN_EINVAL when net nests deeper than CN_MODEL_MAX_DEPTH. */
typedef cn_status (*cn_model_param_fn)(void *ctx, const char *name, cn_tensor *tensor);
cn_status cn_model_walk_params(cn_layer *net, cn_model_param_fn fn, void *ctx);

/* The "cropnet.arch" description of net as compact JSON text (free with free()). */
cn_status cn_model_arch_dump(cn_layer *net, char **text);

/* Given a parameter name and the shape the architecture implies, returns the file's values (the
 * shape must match exactly), or fails with a message naming the tensor. */
typedef cn_status (*cn_model_lookup_fn)(void *ctx, const char *name, int ndim,
                                        const int64_t *dims, const float **values);

/* Builds the network an untrusted "cropnet.arch" text describes: every field is checked, each
 * linear layer's tensors are looked up (and so known to be in the file) before it is allocated.
 * Errors name path: CN_EFORMAT, CN_ENOMEM. */
cn_status cn_model_arch_build(const char *path, const char *text, size_t len,
                              cn_model_lookup_fn lookup, void *ctx, cn_layer **net);

#endif
