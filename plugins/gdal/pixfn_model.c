/*
 * pixfn_model.c — the "cropnet" pixel function: a per-pixel model file run over a VRT band's
 * sources.
 *
 *   <VRTRasterBand dataType="Byte" band="1" subClass="VRTDerivedRasterBand">
 *     <PixelFunctionType>cropnet</PixelFunctionType>
 *     <PixelFunctionArguments model="/abs/field.cropnet" output="label" nodata="0"/>
 *     <SourceTransferType>Float32</SourceTransferType>
 *     <SimpleSource>...band 1...</SimpleSource> ... one source per band the model expects
 *
 * Arguments: model= (the model file; a relative path is taken from the working directory),
 * output= (label, the default: class ids; confidence: the top class probability;
 * probability:CLASS: one class's probability, CLASS its id or name), nodata= (the sources'
 * nodata values, see sources.c) and dstnodata= (what invalid pixels get: 0, or -1 for
 * probability, as in `cropnet classify`'s maps).
 *
 * Each call handles one block in chunks of CN_PREDICT_BATCH pixels: the chunk's sources are
 * gathered pixel-interleaved, the valid pixels packed together and predicted, and the results
 * scattered back to the output buffer, so memory is fixed whatever the block size.
 */
#include "plugin.h"

#include <cpl_string.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define WHO "cropnet"

typedef enum out_kind { OUT_LABEL, OUT_CONFIDENCE, OUT_PROBABILITY } out_kind;

/* Parses output= against the model's classes; *cls is the class's index for probability. */
static cn_status parse_output(const char *arg, const char *path, const cn_pixel_model *info,
                              out_kind *kind, size_t *cls)
{
    *cls = 0;
    if (!arg || strcmp(arg, "label") == 0) {
        *kind = OUT_LABEL;
        return CN_OK;
    }
    if (strcmp(arg, "confidence") == 0) {
        *kind = OUT_CONFIDENCE;
        return CN_OK;
    }
    if (strncmp(arg, "probability:", 12) != 0 || !arg[12])
        return cn_set_error(CN_EINVAL, "output=%s: expected label, confidence or "
                            "probability:CLASS (a class id or name)", arg);
    *kind = OUT_PROBABILITY;
    const char *want = arg + 12;
    char *end;
    long id = strtol(want, &end, 10);
    bool numeric = *end == '\0';
    size_t n;
    const cn_class_info *classes = cn_pixel_model_classes(info, &n);
    for (size_t k = 0; k < n; k++)
        if ((numeric && classes[k].id == id) || strcmp(classes[k].name, want) == 0) {
            *cls = k;
            return CN_OK;
        }
    char ids[256] = "";
    for (size_t k = 0, len = 0; k < n && len + 16 < sizeof ids; k++)
        len += (size_t)snprintf(ids + len, sizeof ids - len, "%s%d", k ? ", " : "",
                                classes[k].id);
    return cn_set_error(CN_EINVAL, "output=%s: %s has no class '%s' (its class ids: %s)", arg,
                        path, want, ids);
}

/* The chunk buffers of one call. */
typedef struct chunk {
    int64_t cap;       /* pixels per chunk */
    float *pixels;     /* cap × bands */
    uint8_t *valid;    /* cap */
    int32_t *labels;   /* cap */
    float *confidence; /* cap */
    float *probs;      /* cap × classes, probability output only */
    double *out;       /* cap */
} chunk;

static void chunk_free(chunk *c)
{
    free(c->pixels);
    free(c->valid);
    free(c->labels);
    free(c->confidence);
    free(c->probs);
    free(c->out);
}

static cn_status chunk_alloc(chunk *c, int64_t npix, int bands, size_t nclasses, out_kind kind)
{
    memset(c, 0, sizeof *c);
    c->cap = npix < CN_PREDICT_BATCH ? npix : CN_PREDICT_BATCH;
    size_t cap = (size_t)c->cap;
    if ((size_t)bands > SIZE_MAX / sizeof(float) / cap ||
        nclasses > SIZE_MAX / sizeof(float) / cap)
        return cn_set_error(CN_EOVERFLOW, "block too large");
    c->pixels = malloc(cap * (size_t)bands * sizeof(float));
    c->valid = malloc(cap);
    c->labels = malloc(cap * sizeof(int32_t));
    c->confidence = malloc(cap * sizeof(float));
    c->out = malloc(cap * sizeof(double));
    if (kind == OUT_PROBABILITY)
        c->probs = malloc(cap * nclasses * sizeof(float));
    if (!c->pixels || !c->valid || !c->labels || !c->confidence || !c->out ||
        (kind == OUT_PROBABILITY && !c->probs))
        return cn_set_error(CN_ENOMEM, "out of memory");
    return CN_OK;
}

/* Classifies pixels first..first+count-1 of the block into c->out. */
static cn_status run_chunk(cn_pixel_model *pm, const cnp_sources *src, chunk *c, int64_t first,
                           int64_t count, out_kind kind, size_t cls, size_t nclasses,
                           double dstnodata)
{
    int bands = src->nsources;
    memset(c->valid, 1, (size_t)count);
    for (int b = 0; b < bands; b++)
        cnp_sources_read(src, b, first, count, c->pixels + b, bands, c->valid);
    int64_t nvalid = 0; /* pack the valid pixels at the front */
    for (int64_t i = 0; i < count; i++)
        if (c->valid[i]) {
            if (nvalid != i)
                memcpy(c->pixels + nvalid * bands, c->pixels + i * bands,
                       (size_t)bands * sizeof(float));
            nvalid++;
        }
    if (nvalid > 0) {
        cn_status st = cn_pixel_model_predict(pm, c->pixels, nvalid, c->labels, c->confidence,
                                              kind == OUT_PROBABILITY ? c->probs : NULL);
        if (st)
            return st;
    }
    for (int64_t i = 0, j = 0; i < count; i++) {
        if (!c->valid[i]) {
            c->out[i] = dstnodata;
            continue;
        }
        c->out[i] = kind == OUT_LABEL        ? (double)c->labels[j]
                    : kind == OUT_CONFIDENCE ? (double)c->confidence[j]
                                             : (double)c->probs[j * (int64_t)nclasses + cls];
        j++;
    }
    return CN_OK;
}

CPLErr cnp_pixfn_model(void **sources, int nsources, void *data, int width, int height,
                       GDALDataType src_type, GDALDataType buf_type, int pixel_space,
                       int line_space, CSLConstList args)
{
    const char *path = CSLFetchNameValue(args, "model");
    if (!path || !*path) {
        cn_set_error(CN_EINVAL, "no model given: add <PixelFunctionArguments "
                     "model=\"MODEL.cropnet\"/> to the band");
        return cnp_fail(WHO);
    }
    cnp_model *m;
    if (cnp_model_get(path, &m))
        return cnp_fail(WHO);
    const cn_pixel_model *info = cnp_model_info(m);
    int bands = cn_pixel_model_bands(info);
    if (nsources != bands) {
        cn_set_error(CN_EINVAL, "%s: the band has %d source%s but the model expects %d bands "
                     "(one source per band, in the model's band order)", path, nsources,
                     nsources == 1 ? "" : "s", bands);
        return cnp_fail(WHO);
    }
    size_t nclasses, cls;
    cn_pixel_model_classes(info, &nclasses);
    out_kind kind;
    if (parse_output(CSLFetchNameValue(args, "output"), path, info, &kind, &cls))
        return cnp_fail(WHO);
    double dstnodata = kind == OUT_PROBABILITY ? -1.0 : 0.0;
    const char *dst_arg = CSLFetchNameValue(args, "dstnodata");
    if (dst_arg && !cnp_parse_double(dst_arg, &dstnodata)) {
        cn_set_error(CN_EINVAL, "dstnodata=%s: not a number", dst_arg);
        return cnp_fail(WHO);
    }
    cnp_sources src;
    if (cnp_sources_init(&src, sources, nsources, src_type, width, height,
                         CSLFetchNameValue(args, "nodata"))) {
        cnp_sources_free(&src);
        return cnp_fail(WHO);
    }
    cnp_output out = {data, buf_type, pixel_space, line_space, width};
    int64_t npix = (int64_t)width * height;
    chunk c;
    cn_pixel_model *pm = NULL;
    cn_status st = npix > 0 ? chunk_alloc(&c, npix, bands, nclasses, kind) : CN_OK;
    if (!st && npix > 0)
        st = cnp_model_acquire(m, &pm);
    for (int64_t first = 0; !st && first < npix; first += c.cap) {
        int64_t count = npix - first < c.cap ? npix - first : c.cap;
        st = run_chunk(pm, &src, &c, first, count, kind, cls, nclasses, dstnodata);
        if (!st)
            cnp_output_write(&out, first, count, c.out);
    }
    cnp_model_release(m, pm);
    if (npix > 0)
        chunk_free(&c);
    cnp_sources_free(&src);
    return st ? cnp_fail(WHO) : CE_None;
}
