/*
 * mat_check.c — a MAT file's structure checked before matio reads it.
 *
 * matio trusts the file: handed a MAT v5 file cut short inside a compressed element it logs a
 * warning, fills the rest of the array with whatever its buffers held and reports success, and it
 * sizes its reads from the dimensions the file claims. So before matio sees a v5 file, every
 * top-level element is checked to lie inside the file, and every compressed element is inflated
 * once here (into a scratch buffer, zlib's checksum included) to prove it complete and to learn how
 * many bytes its matrix really holds; an array claiming more elements than that is refused by the
 * importer before anything is allocated. v7.3 files are HDF5, whose library checks its own
 * structure (the end-of-file address against the file's length, checksummed metadata).
 */
#include "scene_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define MI_MATRIX 14
#define MI_COMPRESSED 15
#define HEADER 128
#define HEAD_MAX 4096 /* bytes of a matrix element parsed here: tag, flags, dims, name, data tag */

static uint32_t u32(const uint8_t *p, bool big_endian)
{
    return big_endian ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                      : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Inflates len bytes of f (at its current position) as one zlib stream; *total gets the
 * inflated size and head its first HEAD_MAX bytes. */
static cn_status inflate_element(FILE *f, const char *path, size_t index, uint64_t at,
                                 uint64_t len, uint64_t *total, uint8_t *head)
{
    enum { CHUNK = 1 << 16 };
    unsigned char *in = malloc(CHUNK), *out = malloc(CHUNK);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (!in || !out || inflateInit(&z) != Z_OK) {
        free(in);
        free(out);
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    }
    cn_status st = CN_OK;
    uint64_t left = len, produced = 0;
    int zr = Z_OK;
    while (zr != Z_STREAM_END) {
        if (z.avail_in == 0) {
            if (left == 0) {
                st = cn_set_error(CN_EFORMAT, "%s: corrupt MAT file: the compressed data of "
                                  "variable %zu (at byte %llu) ends before its stream does",
                                  path, index + 1, (unsigned long long)at);
                break;
            }
            size_t want = left < CHUNK ? (size_t)left : CHUNK;
            if (fread(in, 1, want, f) != want) {
                st = cn_set_error(CN_EIO, "%s: read error: %s", path, strerror(errno));
                break;
            }
            left -= want;
            z.next_in = in;
            z.avail_in = (uInt)want;
        }
        z.next_out = out;
        z.avail_out = CHUNK;
        zr = inflate(&z, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END) {
            st = cn_set_error(CN_EFORMAT, "%s: corrupt MAT file: variable %zu (at byte %llu) "
                              "does not inflate: %s", path, index + 1, (unsigned long long)at,
                              z.msg ? z.msg : zError(zr));
            break;
        }
        size_t got = CHUNK - z.avail_out;
        for (size_t i = 0; i < got && produced + i < HEAD_MAX; i++)
            head[produced + i] = out[i];
        produced += got;
    }
    inflateEnd(&z);
    free(in);
    free(out);
    *total = produced;
    return st;
}

/* Bytes per value of a MAT v5 storage type; 0 for a type that cannot hold a numeric array. */
static unsigned storage_size(uint32_t type)
{
    switch (type) {
    case 1: case 2: return 1;                 /* miINT8, miUINT8 */
    case 3: case 4: return 2;                 /* miINT16, miUINT16 */
    case 5: case 6: case 7: return 4;         /* miINT32, miUINT32, miSINGLE */
    case 9: case 12: case 13: return 8;       /* miDOUBLE, miINT64, miUINT64 */
    default: return 0;
    }
}

/* The tag of the sub-element at p (left bytes available): its type, its data size, where its data
 * starts (*skip) and how far the next sub-element is (*next). The small format packs up to 4 bytes
 * of data in the tag itself. */
static bool sub_element(const uint8_t *p, uint64_t left, bool big, uint32_t *type,
                        uint32_t *nbytes, uint64_t *skip, uint64_t *next)
{
    if (left < 8)
        return false;
    uint32_t w = u32(p, big);
    if (w >> 16) {
        *type = w & 0xffff;
        *nbytes = w >> 16;
        *skip = 4;
        *next = 8;
        return *nbytes <= 4;
    }
    *type = w;
    *nbytes = u32(p + 4, big);
    *skip = 8;
    *next = 8 + ((uint64_t)*nbytes + 7) / 8 * 8;
    return true;
}

/* Reads the header of a matrix element (head: its first len bytes, tag included; payload: its
 * full size) into e: class, rank and element count, and whether the real part holds a value for
 * every element. Anything that does not parse leaves e->mclass at -1. */
static void parse_matrix(const uint8_t *h, uint64_t len, uint64_t payload, bool big,
                         mat_element *e)
{
    uint32_t type, nbytes;
    uint64_t skip, next, pos = 8;
    e->mclass = -1;
    if (!sub_element(h + pos, len - pos, big, &type, &nbytes, &skip, &next) || nbytes != 8 ||
        skip != 8 || len - pos < 16)
        return;
    uint32_t flags = u32(h + pos + 8, big);
    pos += next;
    if (!sub_element(h + pos, len - pos, big, &type, &nbytes, &skip, &next) || type != 5 ||
        nbytes % 4 || nbytes < 8 || next > len - pos)
        return;
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < nbytes / 4; d++) {
        uint64_t dim = u32(h + pos + skip + 4 * d, big);
        if (dim && nelem > UINT64_MAX / dim)
            e->overflow = true;
        else
            nelem *= dim;
    }
    e->rank = (int)(nbytes / 4);
    pos += next;
    if (!sub_element(h + pos, len - pos, big, &type, &nbytes, &skip, &next) || next > len - pos)
        return; /* the name */
    pos += next;
    e->mclass = (int)(flags & 0xff);
    e->complex = flags & 0x800;
    e->nelem = nelem;
    if (!sub_element(h + pos, len - pos, big, &type, &nbytes, &skip, &next))
        return; /* the real part: only its tag needs to be in the head */
    unsigned size = storage_size(type);
    e->storage = size ? (int)type : 0;
    e->data_ok = size && !e->overflow && nelem <= UINT64_MAX / size && nbytes >= nelem * size &&
                 pos + skip + nbytes <= payload;
}

static cn_status check_v5(FILE *f, const char *path, uint64_t size, bool big, mat_layout *L)
{
    uint64_t at = HEADER;
    size_t cap = 0;
    uint8_t *head = malloc(HEAD_MAX);
    cn_status st = CN_OK;
    if (!head)
        return cn_set_error(CN_ENOMEM, "%s: out of memory", path);
    while (at < size && !st) {
        size_t i = L->count;
        uint8_t tag[8];
        if (size - at < 8) {
            st = cn_set_error(CN_EFORMAT, "%s: truncated MAT file: %llu bytes at byte %llu, "
                              "too few for a variable", path, (unsigned long long)(size - at),
                              (unsigned long long)at);
            break;
        }
        if (fseeko(f, (off_t)at, SEEK_SET) != 0 || fread(tag, 1, 8, f) != 8) {
            st = cn_set_error(CN_EIO, "%s: read error: %s", path, strerror(errno));
            break;
        }
        uint32_t type = u32(tag, big), nbytes = u32(tag + 4, big);
        if (type != MI_MATRIX && type != MI_COMPRESSED) {
            st = cn_set_error(CN_EFORMAT, "%s: corrupt MAT file: element %zu (at byte %llu) has "
                              "type %u, not a matrix", path, i + 1, (unsigned long long)at, type);
            break;
        }
        if (nbytes > size - at - 8) {
            st = cn_set_error(CN_EFORMAT, "%s: truncated MAT file: variable %zu (at byte %llu) "
                              "needs %llu bytes, the file ends after %llu", path, i + 1,
                              (unsigned long long)at, (unsigned long long)nbytes + 8,
                              (unsigned long long)(size - at));
            break;
        }
        mat_element e = {.payload = (uint64_t)nbytes + 8, .mclass = -1};
        uint64_t have;
        if (type == MI_COMPRESSED) {
            st = inflate_element(f, path, i, at, nbytes, &e.payload, head);
            if (st)
                break;
            have = e.payload < HEAD_MAX ? e.payload : HEAD_MAX;
            /* the inner tag's size is not checked: matio itself writes some of them 8 bytes
             * too large, and the inflated size is what bounds the reads */
            if (have < 8 || u32(head, big) != MI_MATRIX) {
                st = cn_set_error(CN_EFORMAT, "%s: corrupt MAT file: compressed variable %zu "
                                  "(at byte %llu) holds no complete matrix", path, i + 1,
                                  (unsigned long long)at);
                break;
            }
        } else {
            have = e.payload < HEAD_MAX ? e.payload : HEAD_MAX;
            memcpy(head, tag, 8);
            if (fread(head + 8, 1, (size_t)have - 8, f) != (size_t)have - 8) {
                st = cn_set_error(CN_EIO, "%s: read error: %s", path, strerror(errno));
                break;
            }
        }
        parse_matrix(head, have, e.payload, big, &e);
        if (L->count == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            mat_element *p = realloc(L->elements, ncap * sizeof *p);
            if (!p) {
                st = cn_set_error(CN_ENOMEM, "%s: out of memory", path);
                break;
            }
            L->elements = p;
            cap = ncap;
        }
        L->elements[L->count++] = e;
        at += 8 + (uint64_t)nbytes;
    }
    free(head);
    return st;
}

cn_status mat_check(const char *path, mat_layout *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cn_set_error(CN_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    uint8_t h[HEADER];
    cn_status st = CN_OK;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = cn_set_error(CN_EIO, "%s: not a regular file", path);
        goto done;
    }
    out->file_size = (uint64_t)sb.st_size;
    if (fread(h, 1, HEADER, f) != HEADER || (memcmp(h + 126, "IM", 2) && memcmp(h + 126, "MI", 2))
        || memcmp(h, "MATLAB", 6) != 0) {
        st = cn_set_error(CN_EFORMAT, "%s: not a MAT file (MATLAB v5, v7 or v7.3)", path);
        goto done;
    }
    bool big = memcmp(h + 126, "MI", 2) == 0; /* the file's byte order */
    unsigned version = big ? (unsigned)h[124] << 8 | h[125] : (unsigned)h[125] << 8 | h[124];
    if (version == 0x0100) {
        out->version = 5;
        st = check_v5(f, path, out->file_size, big, out);
    } else if (version == 0x0200) {
        static const uint8_t hdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
        uint8_t sig[8];
        out->version = 73;
        if (fseeko(f, 512, SEEK_SET) != 0 || fread(sig, 1, 8, f) != 8 || memcmp(sig, hdf5, 8))
            st = cn_set_error(CN_EFORMAT, "%s: truncated or corrupt MAT v7.3 file: no HDF5 "
                              "signature at byte 512", path);
    } else {
        st = cn_set_error(CN_EFORMAT, "%s: not a MAT file: unknown version 0x%04x", path,
                          version);
    }
done:
    fclose(f);
    if (st)
        mat_layout_free(out);
    return st;
}

void mat_layout_free(mat_layout *layout)
{
    free(layout->elements);
    memset(layout, 0, sizeof *layout);
}
