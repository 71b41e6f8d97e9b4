/*
 * output.c — atomic output files: temporary name beside the target, rename on success.
 */
#include "cn_output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool cn_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (strcmp(a, b) == 0)
        return true;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

cn_status cn_output_begin(const char *path, const char *const *inputs, cn_output *out)
{
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return cn_set_error(CN_EINVAL, "output: no output path given");
    for (size_t i = 0; inputs && inputs[i]; i++)
        if (cn_same_file(path, inputs[i]))
            return cn_set_error(CN_EINVAL, "%s: the output path is also an input", path);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cn_set_error(CN_EIO, "%s: is a folder", path);
    /* folder part and file part */
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    char *dir = malloc(dir_len + 2);
    if (!dir)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    if (dir_len)
        memcpy(dir, path, dir_len);
    else
        dir[dir_len++] = '.';
    dir[dir_len] = '\0';
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        free(dir);
        return cn_set_error(CN_EIO, "%s: the output folder does not exist", path);
    }
    if (access(dir, W_OK | X_OK) != 0) {
        int e = errno;
        free(dir);
        return cn_set_error(CN_EIO, "%s: the output folder is not writable: %s", path, strerror(e));
    }
    free(dir);
    const char *base = slash ? slash + 1 : path;
    const char *ext = strrchr(base, '.');
    if (!ext || ext == base)
        ext = "";
    /* same folder and extension (GDAL picks drivers by extension); the pid and a clock value
     * keep concurrent runs apart */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long tag = (unsigned long)getpid() * 1000003UL ^ (unsigned long)ts.tv_nsec;
    size_t stem = strlen(path) - strlen(ext);
    int n = snprintf(NULL, 0, "%.*s.tmp-%lx%s", (int)stem, path, tag, ext);
    out->temp_path = malloc((size_t)n + 1);
    out->path = strdup(path);
    if (!out->temp_path || !out->path) {
        cn_output_abort(out);
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    }
    snprintf(out->temp_path, (size_t)n + 1, "%.*s.tmp-%lx%s", (int)stem, path, tag, ext);
    return CN_OK;
}

static char *sidecar(const char *path)
{
    size_t n = strlen(path);
    char *s = malloc(n + 9);
    if (s) {
        memcpy(s, path, n);
        memcpy(s + n, ".aux.xml", 9);
    }
    return s;
}

cn_status cn_output_commit(cn_output *out)
{
    if (!out->path || !out->temp_path)
        return cn_set_error(CN_EINVAL, "output: nothing to commit");
    char *tmp_aux = sidecar(out->temp_path), *aux = sidecar(out->path);
    cn_status st = CN_OK;
    if (!tmp_aux || !aux) {
        st = cn_set_error(CN_ENOMEM, "%s: out of memory", out->path);
    } else if (access(tmp_aux, F_OK) == 0) {
        if (rename(tmp_aux, aux) != 0)
            st = cn_set_error(CN_EIO, "%s: cannot rename %s into place: %s", out->path, tmp_aux,
                              strerror(errno));
    } else {
        unlink(aux); /* names of an older map must not stick to the new one */
    }
    if (!st && rename(out->temp_path, out->path) != 0)
        st = cn_set_error(CN_EIO, "%s: cannot rename the finished file into place: %s", out->path,
                          strerror(errno));
    free(tmp_aux);
    free(aux);
    if (st)
        cn_output_abort(out);
    else {
        free(out->path);
        free(out->temp_path);
        out->path = out->temp_path = NULL;
    }
    return st;
}

void cn_output_abort(cn_output *out)
{
    if (out->temp_path) {
        unlink(out->temp_path);
        char *aux = sidecar(out->temp_path);
        if (aux) {
            unlink(aux);
            free(aux);
        }
    }
    free(out->path);
    free(out->temp_path);
    out->path = out->temp_path = NULL;
}
