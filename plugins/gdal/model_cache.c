/*
 * model_cache.c — model files loaded once per process, and a pool of per-thread predictors.
 *
 * GDAL calls a pixel function once per block, possibly from several threads at once (several
 * readers of one VRT, GDAL's worker threads). Loading the model file on every call would
 * dominate the run, and a loaded network cannot be shared between threads (its layers hold the
 * forward buffers). So each file version (path, device, inode, size, modification time: a model
 * retrained in place is seen as new) is loaded once into an entry that lives until the process
 * ends; its network is kept as a template that is never run. A thread that needs to predict
 * takes an idle predictor from the entry's pool, or builds one over a private copy of the
 * template (net_clone.c), and gives it back when the block is done: the pool grows to the
 * number of threads that ran at once. A network the plugin cannot copy (a layer kind it does
 * not know) falls back to the template's own predictor, taken in turn.
 *
 * One mutex guards the list and the pools; loading happens under it, so threads that need the
 * same model wait for the first load instead of repeating it.
 */
#include "plugin.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct cnp_model {
    char *path;                 /* as given in model= (owned) */
    dev_t dev;                  /* the file version this entry holds */
    ino_t ino;
    off_t size;
    struct timespec mtime;
    cn_model *model;            /* the loaded file; its network is the template (owned) */
    cn_pixel_model *info;       /* predictor over the template: metadata; used to predict only
                                   when cannot_copy (owned) */
    bool cannot_copy;           /* cnp_net_clone refused the network */
    bool info_busy;             /* info is out (cannot_copy only) */
    cn_pixel_model **idle;      /* predictors over private copies, not in use (owned) */
    size_t nidle, cap;
    struct cnp_model *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t returned = PTHREAD_COND_INITIALIZER;
static cnp_model *models; /* every entry loaded so far */

static bool same_version(const cnp_model *m, const char *path, const struct stat *st)
{
    return strcmp(m->path, path) == 0 && m->dev == st->st_dev && m->ino == st->st_ino &&
           m->size == st->st_size && m->mtime.tv_sec == st->st_mtim.tv_sec &&
           m->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Refuses models a pixel function cannot run, with the way to run them instead. */
static cn_status check_pixel_model(const char *path, const cn_model *model)
{
    const char *input = cn_model_get_meta(model, "input");
    const char *rf = cn_model_get_meta(model, "receptive_field");
    if ((input && strcmp(input, "pixel") != 0) || (rf && strcmp(rf, "1") != 0))
        return cn_set_error(CN_EINVAL, "%s: is a %s model (receptive field %s pixels): a pixel "
                            "function sees no neighbourhood, so it runs per-pixel models only; "
                            "classify with `cropnet classify IMAGE %s -o MAP.tif`", path,
                            input ? input : "patch", rf ? rf : "> 1", path);
    return CN_OK;
}

static void free_entry(cnp_model *m)
{
    for (size_t i = 0; i < m->nidle; i++)
        cn_pixel_model_close(m->idle[i]);
    free(m->idle);
    cn_pixel_model_close(m->info);
    cn_model_free(m->model);
    free(m->path);
    free(m);
}

/* Loads path (with the stat it was found under) into a new entry. */
static cn_status load_entry(const char *path, const struct stat *st, cnp_model **out)
{
    cnp_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    }
    m->dev = st->st_dev;
    m->ino = st->st_ino;
    m->size = st->st_size;
    m->mtime = st->st_mtim;
    cn_status status = cn_model_load(path, &m->model);
    if (!status)
        status = check_pixel_model(path, m->model);
    if (!status) {
        status = cn_pixel_model_open(m->model, &m->info);
        if (status) { /* the core names the file "model": name it by its path */
            char msg[1024];
            const char *e = cn_last_error();
            snprintf(msg, sizeof msg, "%s", strncmp(e, "model: ", 7) == 0 ? e + 7 : e);
            cn_set_error(status, "%s: %s", path, msg);
        }
    }
    if (status) {
        free_entry(m);
        return status;
    }
    *out = m;
    return CN_OK;
}

cn_status cnp_model_get(const char *path, cnp_model **out)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return cn_set_error(CN_EIO, "%s: %s", path,
                            errno == ENOENT ? "no such file" : strerror(errno));
    if (S_ISDIR(st.st_mode))
        return cn_set_error(CN_EINVAL, "%s: is a folder, not a model file", path);
    pthread_mutex_lock(&lock);
    cnp_model *m = models;
    while (m && !same_version(m, path, &st))
        m = m->next;
    cn_status status = CN_OK;
    if (!m) {
        status = load_entry(path, &st, &m);
        if (!status) {
            m->next = models;
            models = m;
        }
    }
    pthread_mutex_unlock(&lock);
    *out = m;
    return status;
}

const cn_pixel_model *cnp_model_info(const cnp_model *m) { return m->info; }

/* A predictor over a fresh copy of the template network: a model around the copy with the
 * template's metadata and normalisation, read by cn_pixel_model_open (which keeps the network
 * and copies the rest, so the temporary model goes at once). */
static cn_status new_predictor(cnp_model *m, cn_pixel_model **out)
{
    cn_layer *net = NULL;
    cn_model *copy = NULL;
    cn_status st = cnp_net_clone(cn_model_net(m->model), &net);
    if (!st)
        st = cn_model_new(net, &copy);
    for (size_t i = 0, n = cn_model_meta_count(m->model); !st && i < n; i++) {
        const char *key = cn_model_meta_key(m->model, i);
        if (key)
            st = cn_model_set_meta(copy, key, cn_model_get_meta(m->model, key));
    }
    static const char *const norm[] = {"norm.mean", "norm.std"};
    for (size_t i = 0; !st && i < 2; i++) {
        cn_tensor *t = cn_model_get_tensor(m->model, norm[i]);
        if (t)
            st = cn_model_set_tensor(copy, norm[i], t);
    }
    if (!st)
        st = cn_pixel_model_open(copy, out);
    cn_model_free(copy);
    cn_layer_release(net);
    return st;
}

cn_status cnp_model_acquire(cnp_model *m, cn_pixel_model **out)
{
    pthread_mutex_lock(&lock);
    bool can_copy = !m->cannot_copy;
    if (can_copy && m->nidle > 0) {
        *out = m->idle[--m->nidle];
        pthread_mutex_unlock(&lock);
        return CN_OK;
    }
    pthread_mutex_unlock(&lock);
    if (can_copy) { /* the copy is made without the lock: the template is only read */
        cn_status st = new_predictor(m, out);
        if (st != CN_EINVAL)
            return st;
    }
    pthread_mutex_lock(&lock);
    m->cannot_copy = true;
    while (m->info_busy)
        pthread_cond_wait(&returned, &lock);
    m->info_busy = true;
    *out = m->info;
    pthread_mutex_unlock(&lock);
    return CN_OK;
}

void cnp_model_release(cnp_model *m, cn_pixel_model *pm)
{
    if (!pm)
        return;
    pthread_mutex_lock(&lock);
    if (pm == m->info) {
        m->info_busy = false;
        pthread_cond_broadcast(&returned);
    } else {
        if (m->nidle == m->cap) {
            size_t cap = m->cap ? 2 * m->cap : 4;
            cn_pixel_model **idle = realloc(m->idle, cap * sizeof *idle);
            if (idle) {
                m->idle = idle;
                m->cap = cap;
            }
        }
        if (m->nidle < m->cap) {
            m->idle[m->nidle++] = pm;
            pm = NULL;
        }
    }
    pthread_mutex_unlock(&lock);
    cn_pixel_model_close(pm); /* no room to keep it: NULL when kept */
}
