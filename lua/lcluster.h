/*
 * lcluster.h — what the two files of k-means in Lua share (not part of the binding's API): the
 * model handle and the argument helpers. lcluster.c holds cn.cluster (fitting, load, model),
 * lcluster_model.c the model's methods.
 */
#ifndef LCLUSTER_H
#define LCLUSTER_H

#include "lcropnet.h"

#define LCN_KMEANS "cropnet.kmeans"

typedef struct lcn_kmeans {
    cn_kmeans *km; /* NULL when closed */
    int busy;      /* inside predict_raster: close refuses */
} lcn_kmeans;

lcn_kmeans *lcl_pushmodel(lua_State *L);          /* a closed handle, to fill */
lcn_kmeans *lcl_checkmodel(lua_State *L, int idx); /* raises if closed or not one */
/* A 2-D tensor argument as rows × bands; raises otherwise. */
const float *lcl_checkrows(lua_State *L, int idx, int64_t *n, int *d);
/* Opens path as a raster handle pushed on the stack (closed by the collector). */
cn_status lcl_open_raster(lua_State *L, const char *path, lcn_raster **out);
/* Registers the model's metatable (lcluster_model.c). */
void lcl_open_model(lua_State *L);

#endif
