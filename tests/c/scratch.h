/*
 * scratch.h — the C tests' scratch folder: $CROPNET_TMP/<name> (ctest sets CROPNET_TMP; /tmp
 * otherwise), emptied at the start of a test file, with helpers to name, count and find files.
 * The fixtures (raster_fixture.h, label_fixture.h) build on it.
 */
#ifndef CROPNET_SCRATCH_H
#define CROPNET_SCRATCH_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch_dir[512];

/* A fresh scratch folder $CROPNET_TMP/<name>, emptied (not the test executable's own name,
 * which is a file in CROPNET_TMP). */
static inline void scratch_init(const char *name)
{
    const char *tmp = getenv("CROPNET_TMP");
    snprintf(scratch_dir, sizeof scratch_dir, "%s/%s", tmp && *tmp ? tmp : "/tmp", name);
    mkdir(scratch_dir, 0755);
    DIR *d = opendir(scratch_dir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", scratch_dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
}

/* scratch_dir/name in a static rotating buffer (sixteen live at a time). */
static inline const char *scratch_path(const char *name)
{
    static char bufs[16][1024];
    static int next;
    char *b = bufs[next++ % 16];
    snprintf(b, 1024, "%s/%s", scratch_dir, name);
    return b;
}

/* Number of entries of the scratch folder (no "." entries). */
static inline int scratch_count_files(void)
{
    int n = 0;
    DIR *d = opendir(scratch_dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static inline bool scratch_exists(const char *path) { return access(path, F_OK) == 0; }

#endif
