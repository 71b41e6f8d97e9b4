/*
 * model_file.h — the saved model file (safetensors) as the model tests take it apart: the whole
 * file read, the little-endian header length, a CRC-32 of our own, and the header rewritten
 * through an edit with its checksum re-sealed, as a hostile writer would, so that the loader's
 * structural checks are reached rather than its checksum check (test_model.c, test_cnn_model.c).
 *
 * The layout: 8 bytes of header length h (little-endian), h bytes of JSON padded with spaces to a
 * multiple of 8, then the tensor data; "cropnet.crc32" in the header's __metadata__ holds the
 * CRC-32 of the header (with those eight digits as '0') continued over the data.
 */
#ifndef CROPNET_MODEL_FILE_H
#define CROPNET_MODEL_FILE_H

#include "check.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file, malloc'd (one byte more than *size), or NULL when it cannot be read. */
static inline unsigned char *mfile_read(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *size = (size_t)n;
    return buf;
}

/* The 8-byte little-endian integer at p (the header length at the start of the file). */
static inline uint64_t mfile_u64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Bitwise CRC-32 (IEEE), independent of the library's table version, continuing from crc. */
static inline uint32_t mfile_crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    uint32_t c = ~crc;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* Rewrites the header of the saved file `path` through edit (which changes the parsed JSON in
 * place), keeping the data section; re-pads the header and, when it has a "cropnet.crc32",
 * re-seals it over the new header and the old data. Failures to read or parse are CHECKed. */
static inline void mfile_rewrite_header(const char *path, void (*edit)(json_t *root))
{
    static const char key[] = "\"cropnet.crc32\":\"";
    size_t size = 0;
    unsigned char *buf = mfile_read(path, &size);
    CHECK(buf != NULL);
    if (!buf)
        return;
    uint64_t h = mfile_u64le(buf);
    json_t *root = json_loadb((const char *)buf + 8, (size_t)h, 0, NULL);
    CHECK(root != NULL);
    edit(root);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    size_t n = strlen(text), padded = (n + 7) & ~(size_t)7;
    char *sealed = calloc(1, padded + 1);
    memcpy(sealed, text, n);
    memset(sealed + n, ' ', padded - n);
    char *digits = strstr(sealed, key);
    if (digits) {
        digits += strlen(key);
        memset(digits, '0', 8);
        uint32_t crc = mfile_crc32(mfile_crc32(0, (const unsigned char *)sealed, padded),
                                   buf + 8 + h, size - 8 - (size_t)h);
        char hex[9];
        snprintf(hex, sizeof hex, "%08lx", (unsigned long)crc);
        memcpy(digits, hex, 8);
    }
    FILE *fp = fopen(path, "wb");
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    fwrite(len8, 1, 8, fp);
    fwrite(sealed, 1, padded, fp);
    free(sealed);
    fwrite(buf + 8 + h, 1, size - 8 - (size_t)h, fp);
    CHECK(fclose(fp) == 0);
    free(text);
    free(buf);
}

#endif
