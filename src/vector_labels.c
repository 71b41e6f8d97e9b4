/*
 * vector_labels.c — training labels drawn as polygons or points in a vector file, rasterised
 * onto an image's pixel grid.
 *
 * Field work usually comes back as a GeoPackage or a shapefile of parcels with a crop name, in
 * a geographic CRS, while the image is in a projected one. The features are read once, each
 * geometry reprojected to the image's CRS and given the id of its class (the value of an integer
 * field; the rank of a text value among the sorted distinct values), then burnt strip by strip
 * with GDALRasterizeGeometries into a label raster on the image grid. GDAL's default rule, a
 * pixel is burnt when its centre is inside, keeps parcel edges from bleeding into neighbours.
 */
#include "cn_labels.h"

#include <gdal_alg.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct feature_set {
    OGRGeometryH *geoms; /* reprojected geometries (owned) */
    double *burn;        /* class id per geometry */
    char **text;         /* text field: value per geometry (owned), before ids are known */
    size_t n, cap;
} feature_set;

static void features_free(feature_set *f)
{
    for (size_t i = 0; i < f->n; i++) {
        OGR_G_DestroyGeometry(f->geoms[i]);
        if (f->text)
            free(f->text[i]);
    }
    free(f->geoms);
    free(f->burn);
    free(f->text);
    memset(f, 0, sizeof *f);
}

static cn_status features_push(feature_set *f, OGRGeometryH g, double burn, const char *text,
                               const char *path)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 64;
        OGRGeometryH *g2 = realloc(f->geoms, cap * sizeof *g2);
        if (g2)
            f->geoms = g2;
        double *b2 = g2 ? realloc(f->burn, cap * sizeof *b2) : NULL;
        if (b2)
            f->burn = b2;
        char **t2 = b2 ? realloc(f->text, cap * sizeof *t2) : NULL;
        if (t2)
            f->text = t2;
        if (!t2) {
            OGR_G_DestroyGeometry(g);
            return cn_set_error(CN_ENOMEM, "%s: out of memory reading features", path);
        }
        f->cap = cap;
    }
    f->text[f->n] = text ? strdup(text) : NULL;
    if (text && !f->text[f->n]) {
        OGR_G_DestroyGeometry(g);
        return cn_set_error(CN_ENOMEM, "%s: out of memory reading features", path);
    }
    f->geoms[f->n] = g;
    f->burn[f->n++] = burn;
    return CN_OK;
}

/* "VECTOR: no field 'crop' (fields: id, name)" */
static cn_status missing_field(const char *path, OGRFeatureDefnH defn, const char *field)
{
    char list[512] = "";
    size_t used = 0;
    for (int i = 0; i < OGR_FD_GetFieldCount(defn) && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(defn, i)));
    return cn_set_error(CN_EINVAL, "%s: no field '%s' (fields: %s)", path, field,
                        used ? list : "none");
}

/* The transformation from the layer's CRS to the image's, or NULL when none is needed. */
static cn_status make_transform(const char *vpath, OGRLayerH layer, const char *wkt,
                                OGRCoordinateTransformationH *out)
{
    *out = NULL;
    OGRSpatialReferenceH src = OGR_L_GetSpatialRef(layer);
    if (!src || !wkt || !*wkt)
        return CN_OK;
    OGRSpatialReferenceH a = OSRClone(src), b = OSRNewSpatialReference(wkt);
    cn_status st = CN_OK;
    if (a && b && !OSRIsSame(a, b)) {
        /* GDAL 3 with PROJ follows the CRS's axis order (latitude first for EPSG:4326); the
         * coordinates in files are x/y, longitude first */
        OSRSetAxisMappingStrategy(a, OAMS_TRADITIONAL_GIS_ORDER);
        OSRSetAxisMappingStrategy(b, OAMS_TRADITIONAL_GIS_ORDER);
        CPLErrorReset();
        *out = OCTNewCoordinateTransformation(a, b);
        if (!*out)
            st = cn_gdal_fail(CN_EFORMAT, vpath, "cannot reproject to the image's CRS");
    }
    OSRDestroySpatialReference(a);
    OSRDestroySpatialReference(b);
    return st;
}

/* Reads every feature with a class into f: geometry reprojected, integer id or text kept. */
static cn_status read_features(const char *path, OGRLayerH layer, int fi, bool text,
                               OGRCoordinateTransformationH ct, feature_set *f)
{
    cn_status st = CN_OK;
    OGR_L_ResetReading(layer);
    OGRFeatureH feat;
    while (!st && (feat = OGR_L_GetNextFeature(layer)) != NULL) {
        OGRGeometryH g = OGR_F_GetGeometryRef(feat);
        if (g && OGR_F_IsFieldSetAndNotNull(feat, fi)) {
            const char *s = text ? OGR_F_GetFieldAsString(feat, fi) : NULL;
            double v = text ? 0 : OGR_F_GetFieldAsDouble(feat, fi);
            if (!text && (v < 1 || v > 65535 || v != (double)(int)v))
                st = cn_set_error(CN_EINVAL, "%s: feature %lld has class %.9g; class ids are "
                                  "integers in 1..65535", path, (long long)OGR_F_GetFID(feat), v);
            else if (!text || *s) {
                OGRGeometryH c = OGR_G_Clone(g);
                if (c && ct && OGR_G_Transform(c, ct) != OGRERR_NONE) {
                    OGR_G_DestroyGeometry(c); /* outside the target CRS's domain: cannot overlap */
                    c = NULL;
                }
                if (c)
                    st = features_push(f, c, v, s, path);
            }
        }
        OGR_F_Destroy(feat);
    }
    return st;
}

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The classes of the features: text values sorted and numbered 1..K (f->burn set), or the
 * distinct integer ids. *out is malloc'd. */
static cn_status make_classes(const char *path, feature_set *f, bool text, cn_class_info **out,
                              size_t *count)
{
    size_t k = 0;
    cn_class_info *cls = NULL;
    if (text) {
        char **sorted = malloc((f->n ? f->n : 1) * sizeof *sorted);
        if (!sorted)
            return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
        memcpy(sorted, f->text, f->n * sizeof *sorted);
        qsort(sorted, f->n, sizeof *sorted, compare_str);
        for (size_t i = 0; i < f->n; i++)
            if (i == 0 || strcmp(sorted[i], sorted[k - 1]) != 0)
                sorted[k++] = sorted[i];
        if (k > 65535) {
            free(sorted);
            return cn_set_error(CN_EINVAL, "%s: %zu distinct classes, more than 65535", path, k);
        }
        cls = calloc(k ? k : 1, sizeof *cls);
        for (size_t i = 0; cls && i < k; i++) {
            cls[i].id = (int)i + 1;
            snprintf(cls[i].name, sizeof cls[i].name, "%s", sorted[i]);
            cn_class_default_rgb(cls[i].id, cls[i].rgb);
        }
        for (size_t i = 0; cls && i < f->n; i++) {
            char **hit = bsearch(&f->text[i], sorted, k, sizeof *sorted, compare_str);
            f->burn[i] = (double)(hit - sorted + 1);
        }
        free(sorted);
    } else {
        uint8_t *seen = calloc(65536, 1);
        for (size_t i = 0; seen && i < f->n; i++)
            seen[(int)f->burn[i]] = 1;
        for (int id = 1; seen && id < 65536; id++)
            k += seen[id];
        cls = seen ? calloc(k ? k : 1, sizeof *cls) : NULL;
        for (int id = 1, j = 0; cls && id < 65536; id++)
            if (seen[id]) {
                cls[j].id = id;
                cn_class_default_rgb(id, cls[j++].rgb);
            }
        free(seen);
    }
    if (!cls)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    *out = cls;
    *count = k;
    return CN_OK;
}

/* Burns the features strip by strip into lm; *burnt counts labelled pixels. */
static cn_status burn(const char *vpath, const cn_raster *img, feature_set *f, cn_labelmap *lm,
                      int64_t *burnt)
{
    int width = cn_raster_width(img), height = cn_raster_height(img);
    int rows = cn_strip_rows(width, height, 2 * sizeof(int32_t));
    int32_t *ids = malloc((size_t)width * (size_t)rows * sizeof *ids);
    if (!ids)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", vpath);
    double gt[6]; /* without a geotransform, GDAL's default: coordinates are pixel positions */
    cn_raster_geotransform(img, gt);
    const char *wkt = cn_raster_wkt(img);
    GDALDriverH mem = GDALGetDriverByName("MEM");
    cn_status st = CN_OK;
    *burnt = 0;
    for (int y0 = 0; !st && y0 < height; y0 += rows) {
        int h = height - y0 < rows ? height - y0 : rows;
        GDALDatasetH ds = GDALCreate(mem, "", width, h, 1, GDT_Int32, NULL);
        if (!ds) {
            st = cn_gdal_fail(CN_ENOMEM, vpath, "cannot make a rasterisation buffer");
            break;
        }
        double sgt[6] = {gt[0] + y0 * gt[2], gt[1], gt[2], gt[3] + y0 * gt[5], gt[4], gt[5]};
        GDALSetGeoTransform(ds, sgt);
        if (*wkt)
            GDALSetProjection(ds, wkt);
        int band = 1;
        CPLErrorReset();
        if (f->n && GDALRasterizeGeometries(ds, 1, &band, (int)f->n, f->geoms, NULL, NULL, f->burn,
                                            NULL, NULL, NULL) != CE_None)
            st = cn_gdal_fail(CN_EFORMAT, vpath, "cannot rasterise the features");
        if (!st && GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, width, h, ids, width, h,
                                GDT_Int32, 0, 0) != CE_None)
            st = cn_gdal_fail(CN_EIO, vpath, "cannot read the rasterisation buffer");
        GDALClose(ds);
        for (size_t i = 0; !st && i < (size_t)width * (size_t)h; i++)
            *burnt += ids[i] != 0;
        if (!st)
            st = cn_labelmap_write(lm, 0, y0, width, h, ids);
    }
    free(ids);
    return st;
}

cn_status cn_labels_from_vector(const char *vector_path, const char *field, const char *image_path,
                                const char *out_path, cn_class_info **classes, size_t *nclasses)
{
    cn_gdal_init();
    if (classes)
        *classes = NULL;
    if (nclasses)
        *nclasses = 0;
    if (!vector_path || !field || !*field)
        return cn_set_error(CN_EINVAL, "%s: a class field is needed", vector_path ? vector_path : "labels");
    if (access(vector_path, F_OK) != 0 && strncmp(vector_path, "/vsi", 4) != 0)
        return cn_set_error(CN_EIO, "%s: no such file", vector_path);
    cn_raster *img = NULL;
    GDALDatasetH vec = NULL;
    OGRCoordinateTransformationH ct = NULL;
    feature_set f;
    memset(&f, 0, sizeof f);
    cn_class_info *cls = NULL;
    size_t k = 0;
    cn_labelmap *lm = NULL;
    cn_status st = cn_raster_open(image_path, &img);
    if (!st) {
        CPLErrorReset();
        vec = GDALOpenEx(vector_path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
        if (!vec)
            st = cn_gdal_fail(CN_EFORMAT, vector_path, "not a vector file GDAL can read");
    }
    OGRLayerH layer = !st && GDALDatasetGetLayerCount(vec) > 0 ? GDALDatasetGetLayer(vec, 0) : NULL;
    if (!st && !layer)
        st = cn_set_error(CN_EFORMAT, "%s: has no layer", vector_path);
    OGRFeatureDefnH defn = st ? NULL : OGR_L_GetLayerDefn(layer);
    int fi = st ? -1 : OGR_FD_GetFieldIndex(defn, field);
    if (!st && fi < 0)
        st = missing_field(vector_path, defn, field);
    bool text = false;
    if (!st) {
        OGRFieldType type = OGR_Fld_GetType(OGR_FD_GetFieldDefn(defn, fi));
        text = type == OFTString;
        if (type != OFTString && type != OFTInteger && type != OFTInteger64 && type != OFTReal)
            st = cn_set_error(CN_EINVAL, "%s: field '%s' is of type %s; a class field holds "
                              "integers or text", vector_path, field, OGR_GetFieldTypeName(type));
    }
    if (!st)
        st = make_transform(vector_path, layer, cn_raster_wkt(img), &ct);
    if (!st)
        st = read_features(vector_path, layer, fi, text, ct, &f);
    if (!st)
        st = make_classes(vector_path, &f, text, &cls, &k);
    if (!st && k == 0)
        st = cn_set_error(CN_EINVAL, "%s: no feature has a class in '%s'", vector_path, field);
    const char *inputs[] = {vector_path, image_path, NULL};
    double gt[6];
    if (!st)
        st = cn_labelmap_create(out_path, inputs, cn_raster_width(img), cn_raster_height(img),
                                cn_georef_of(img, gt), cls[k - 1].id, cls, k, NULL, &lm);
    int64_t burnt = 0;
    if (!st)
        st = burn(vector_path, img, &f, lm, &burnt);
    if (!st && burnt == 0)
        st = cn_set_error(CN_EINVAL, "%s: no feature with a class in '%s' overlaps the image %s",
                          vector_path, field, image_path);
    if (!st) {
        st = cn_labelmap_commit(lm);
        lm = NULL;
    }
    cn_labelmap_abort(lm);
    features_free(&f);
    if (ct)
        OCTDestroyCoordinateTransformation(ct);
    if (vec)
        GDALClose(vec);
    cn_raster_close(img);
    if (!st && classes) {
        *classes = cls;
        cls = NULL;
    }
    if (!st && nclasses)
        *nclasses = k;
    free(cls);
    return st;
}
