/*
 * fuzz_model_load.c — libFuzzer target for cn_model_load: any byte string must be loaded or
 * refused with a status, never crash, hang, leak or read out of bounds.
 *
 * cn_model_load takes a path, so each input is written to one temporary file (created once per
 * process under $TMPDIR or /tmp). A successful load is also saved and loaded again, which checks
 * that whatever the loader accepts the writer can reproduce.
 *
 * Build (clang): -fsanitize=fuzzer,address,undefined, linked with libcropnet; run with a corpus of
 * saved models, e.g.  ./fuzz_model_load -max_len=65536 corpus/
 */
#include "cropnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[512], resaved[520];

static void make_paths(void)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/fuzz_model_load-XXXXXX", dir && dir[0] ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror(path);
        abort();
    }
    close(fd);
    snprintf(resaved, sizeof resaved, "%s.2", path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0])
        make_paths();
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp) != 0)
        abort();
    cn_model *m = NULL;
    cn_status st = cn_model_load(path, &m);
    if (st == CN_OK) {
        cn_model *again = NULL;
        if (cn_model_save(m, resaved) != CN_OK || cn_model_load(resaved, &again) != CN_OK)
            abort();
        cn_model_free(again);
    } else if (strncmp(cn_last_error(), path, strlen(path)) != 0) {
        abort(); /* every message names the file */
    }
    cn_model_free(m);
    return 0;
}
