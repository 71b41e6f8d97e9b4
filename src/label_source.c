/*
 * label_source.c — "labels" on the command line may be a label raster or a vector file; this
 * turns either into a label raster path, rasterising a vector into a private temporary folder
 * that cn_label_source_free removes.
 */
#include "cn_labels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cn_label_source_free(cn_label_source *s)
{
    if (s->temp_dir && s->path) {
        size_t n = strlen(s->path);
        char *aux = malloc(n + 9);
        if (aux) {
            memcpy(aux, s->path, n);
            memcpy(aux + n, ".aux.xml", 9);
            unlink(aux);
            free(aux);
        }
        unlink(s->path);
    }
    if (s->temp_dir)
        rmdir(s->temp_dir);
    free(s->path);
    free(s->temp_dir);
    free(s->classes);
    memset(s, 0, sizeof *s);
}

cn_status cn_labels_resolve(const char *path, const char *field, const char *image_path,
                            cn_label_source *out)
{
    cn_gdal_init();
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return cn_set_error(CN_EINVAL, "labels: no path given");
    if (access(path, F_OK) != 0 && strncmp(path, "/vsi", 4) != 0)
        return cn_set_error(CN_EIO, "%s: no such file", path);
    CPLErrorReset();
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (ds) {
        GDALClose(ds);
        out->path = strdup(path);
        return out->path ? CN_OK : cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    }
    ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!ds)
        return cn_gdal_fail(CN_EFORMAT, path, "not a raster or vector file GDAL can read");
    GDALClose(ds);
    if (!field || !*field)
        return cn_set_error(CN_EINVAL, "%s: is a vector file: give the class field (--field)", path);
    if (!image_path || !*image_path)
        return cn_set_error(CN_EINVAL, "%s: is a vector file: an image is needed to rasterise it "
                            "onto", path);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    size_t n = strlen(tmp) + sizeof "/cropnet-labels-XXXXXX";
    out->temp_dir = malloc(n);
    out->path = malloc(n + sizeof "/labels.tif");
    if (!out->temp_dir || !out->path) {
        cn_label_source_free(out);
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    }
    snprintf(out->temp_dir, n, "%s/cropnet-labels-XXXXXX", tmp);
    if (!mkdtemp(out->temp_dir)) {
        free(out->temp_dir);
        out->temp_dir = NULL;
        cn_label_source_free(out);
        return cn_set_error(CN_EIO, "%s: cannot make a temporary folder in %s", path, tmp);
    }
    snprintf(out->path, n + sizeof "/labels.tif", "%s/labels.tif", out->temp_dir);
    cn_status st = cn_labels_from_vector(path, field, image_path, out->path, &out->classes,
                                          &out->nclasses);
    if (st)
        cn_label_source_free(out);
    return st;
}
