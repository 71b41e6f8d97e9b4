/*
 * test_model.c — the model file: round trips, the safetensors layout, and refusal of truncated,
 * corrupt, foreign, newer and hostile files without a crash and with "path: reason" messages.
 *
 * Files go to a fresh directory under $CROPNET_TMP (set by ctest) or /tmp, removed at the end.
 */
#include "check.h"
#include "cropnet.h"
#include "model_file.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[512];

static void make_dir(void)
{
    const char *base = getenv("CROPNET_TMP");
    snprintf(dir, sizeof dir, "%s/test_model-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror(dir);
        exit(2);
    }
}

/* Removes the files of d and d itself (one level of subdirectories). */
static void remove_tree(const char *d)
{
    DIR *dp = opendir(d);
    struct dirent *e;
    while (dp && (e = readdir(dp))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        if (unlink(p) != 0)
            remove_tree(p);
    }
    if (dp)
        closedir(dp);
    rmdir(d);
}

static char *path_of(const char *name)
{
    static char p[8][1024];
    static int next;
    char *s = p[next++ % 8];
    snprintf(s, 1024, "%s/%s", dir, name);
    return s;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Entries of directory d whose names contain part. */
static int count_entries(const char *d, const char *part)
{
    int n = 0;
    DIR *dp = opendir(d);
    struct dirent *e;
    while (dp && (e = readdir(dp)))
        n += strstr(e->d_name, part) != NULL;
    if (dp)
        closedir(dp);
    return n;
}

static void write_all(const char *path, const void *buf, size_t size)
{
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (!fp)
        return;
    CHECK(fwrite(buf, 1, size, fp) == size);
    CHECK(fclose(fp) == 0);
}

/* The first occurrence of needle in the n bytes at hay, or NULL. */
static char *find(unsigned char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return (char *)hay + i;
    return NULL;
}

static cn_layer *add(cn_layer *seq, cn_layer *child)
{
    CHECK_OK(cn_sequential_add(seq, child));
    cn_layer_release(child);
    return seq;
}

static cn_layer *linear(int64_t in, int64_t out)
{
    cn_layer *l = NULL;
    CHECK_OK(cn_linear_new(in, out, &l));
    return l;
}

static cn_layer *act(cn_layer_kind kind, float param)
{
    cn_layer *l = NULL;
    CHECK_OK(cn_activation_new(kind, param, &l));
    return l;
}

static cn_layer *seq_new(void)
{
    cn_layer *l = NULL;
    CHECK_OK(cn_sequential_new(&l));
    return l;
}

/* Gives every parameter (biases too) random values. */
static void randomise(cn_layer *net, uint64_t seed)
{
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    cn_tensor *p[64];
    size_t n = cn_layer_params(net, p, NULL, 64);
    for (size_t i = 0; i < n && i < 64; i++) {
        float *d = cn_tensor_data(p[i]);
        for (int64_t k = 0; k < cn_tensor_numel(p[i]); k++)
            d[k] = (float)cn_rng_normal(&rng);
    }
}

/* 204 -> 32 -> relu -> 32 -> leaky -> [32 -> 16 -> elu -> [16 -> 16 -> tanh]] -> 16 -> sigmoid
 * -> 16 -> 8 -> step -> 3: every kind, two levels of nesting. */
static cn_layer *make_mlp(void)
{
    cn_layer *inner = add(add(seq_new(), linear(16, 16)), act(CN_LAYER_TANH, 0));
    cn_layer *mid = add(add(add(seq_new(), linear(32, 16)), act(CN_LAYER_ELU, 0.7f)), inner);
    cn_layer *net = seq_new();
    add(net, linear(204, 32));
    add(net, act(CN_LAYER_RELU, 0));
    add(net, linear(32, 32));
    add(net, act(CN_LAYER_LEAKY_RELU, 0.01f));
    add(net, mid);
    add(net, linear(16, 16));
    add(net, act(CN_LAYER_SIGMOID, 0));
    add(net, linear(16, 8));
    add(net, act(CN_LAYER_STEP, 0));
    add(net, linear(8, 3));
    randomise(net, 42);
    return net;
}

/* A small model (4 -> 3 -> relu -> 2) with one metadata key and one extra tensor. */
static const char *save_small(const char *name)
{
    cn_layer *net = add(add(add(seq_new(), linear(4, 3)), act(CN_LAYER_RELU, 0)), linear(3, 2));
    randomise(net, 7);
    cn_model *m = NULL;
    CHECK_OK(cn_model_new(net, &m));
    CHECK_OK(cn_model_set_meta(m, "crop", "wheat"));
    cn_tensor *t = NULL;
    CHECK_OK(cn_tensor_new2(2, 3, &t));
    cn_tensor_fill(t, 0.5f);
    CHECK_OK(cn_model_set_tensor(m, "norm.mean", t));
    const char *path = path_of(name);
    CHECK_OK(cn_model_save(m, path));
    cn_tensor_release(t);
    cn_model_free(m);
    cn_layer_release(net);
    return path;
}

static bool same_tensor(const cn_tensor *a, const cn_tensor *b)
{
    return a && b && cn_tensor_same_shape(a, b)
           && (cn_tensor_numel(a) == 0 || memcmp(cn_tensor_cdata(a), cn_tensor_cdata(b),
                     (size_t)cn_tensor_numel(a) * sizeof(float)) == 0);
}

/* Same kinds, sizes and activation parameters, recursively. */
static bool same_structure(cn_layer *a, cn_layer *b)
{
    if (cn_layer_kind_of(a) != cn_layer_kind_of(b) || cn_layer_param(a) != cn_layer_param(b)
        || cn_linear_in(a) != cn_linear_in(b) || cn_linear_out(a) != cn_linear_out(b))
        return false;
    if (cn_layer_kind_of(a) != CN_LAYER_SEQUENTIAL)
        return true;
    if (cn_sequential_count(a) != cn_sequential_count(b))
        return false;
    for (size_t i = 0; i < cn_sequential_count(a); i++)
        if (!same_structure(cn_sequential_child(a, i), cn_sequential_child(b, i)))
            return false;
    return true;
}

/* Expects load to fail with status want (or any failure when want is CN_OK) and a message that
 * starts with the path and contains part (when not NULL). */
static void expect_refused(const char *path, cn_status want, const char *part)
{
    cn_model *m = (cn_model *)&m; /* must be reset to NULL */
    cn_status st = cn_model_load(path, &m);
    if (want != CN_OK)
        CHECK(st == want);
    CHECK(st != CN_OK);
    CHECK(m == NULL);
    if (st == CN_OK)
        cn_model_free(m);
    char prefix[1100];
    snprintf(prefix, sizeof prefix, "%s: ", path);
    CHECK(starts_with(cn_last_error(), prefix));
    if (part && !strstr(cn_last_error(), part)) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", cn_last_error(), part);
        CHECK(!"message names the reason");
    }
}

/* ---------------------------------------------------------------- round trips */

static void test_save_load_gives_identical_weights_and_outputs(void)
{
    cn_layer *net = make_mlp();
    cn_model *m = NULL, *back = NULL;
    CHECK_OK(cn_model_new(net, &m));
    const char *path = path_of("mlp.cnm");
    CHECK_OK(cn_model_save(m, path));
    CHECK_OK(cn_model_load(path, &back));
    if (!back)
        goto out;
    cn_layer *net2 = cn_model_net(back);
    CHECK(same_structure(net, net2));
    cn_tensor *pa[64], *pb[64];
    size_t na = cn_layer_params(net, pa, NULL, 64), nb = cn_layer_params(net2, pb, NULL, 64);
    CHECK(na == 14 && na == nb);
    for (size_t i = 0; i < na && i < nb; i++)
        CHECK(same_tensor(pa[i], pb[i]));

    cn_rng rng;
    cn_rng_seed(&rng, 3);
    cn_tensor *x = NULL, *ya = NULL, *yb = NULL;
    CHECK_OK(cn_tensor_new2(10, 204, &x));
    for (int64_t k = 0; k < cn_tensor_numel(x); k++)
        cn_tensor_data(x)[k] = (float)cn_rng_normal(&rng);
    CHECK_OK(cn_layer_forward(net, x, &ya));
    CHECK_OK(cn_layer_forward(net2, x, &yb));
    CHECK(same_tensor(ya, yb));
    CHECK(cn_tensor_dim(yb, 0) == 10 && cn_tensor_dim(yb, 1) == 3);
    cn_tensor_release(x);
out:
    cn_model_free(back);
    cn_model_free(m);
    cn_layer_release(net);
}

static void test_single_linear_network_round_trips_as_layers_weight(void)
{
    cn_layer *net = linear(5, 2);
    randomise(net, 11);
    cn_model *m = NULL, *back = NULL;
    CHECK_OK(cn_model_new(net, &m));
    const char *path = path_of("single.cnm");
    CHECK_OK(cn_model_save(m, path));
    size_t size = 0;
    unsigned char *buf = mfile_read(path, &size);
    json_t *root = buf ? json_loadb((const char *)buf + 8, (size_t)mfile_u64le(buf), 0, NULL) : NULL;
    CHECK(json_object_get(root, "layers.weight") != NULL);
    CHECK(json_object_get(root, "layers.bias") != NULL);
    json_decref(root);
    free(buf);
    CHECK_OK(cn_model_load(path, &back));
    if (back) {
        cn_layer *l = cn_model_net(back);
        CHECK(cn_layer_kind_of(l) == CN_LAYER_LINEAR && cn_linear_in(l) == 5);
        cn_tensor *pa[2], *pb[2];
        cn_layer_params(net, pa, NULL, 2);
        cn_layer_params(l, pb, NULL, 2);
        CHECK(same_tensor(pa[0], pb[0]) && same_tensor(pa[1], pb[1]));
    }
    cn_model_free(back);
    cn_model_free(m);
    cn_layer_release(net);
}

static void test_metadata_and_extra_tensors_round_trip(void)
{
    cn_layer *net = make_mlp();
    cn_model *m = NULL, *back = NULL;
    CHECK_OK(cn_model_new(net, &m));
    CHECK_OK(cn_model_set_meta(m, "classes", "[\"wheat\",\"maize\"]"));
    CHECK_OK(cn_model_set_meta(m, "note", "Blé d'hiver — \"quoted\"\n✓"));
    CHECK_OK(cn_model_set_meta(m, "empty", ""));
    CHECK_OK(cn_model_set_meta(m, "note", "replaced ✓"));
    int64_t d1 = 204, d2[2] = {3, 4}, d4[4] = {2, 1, 3, 2}, d0 = 0;
    cn_tensor *mean = NULL, *table = NULL, *four = NULL, *none = NULL;
    CHECK_OK(cn_tensor_new(1, &d1, &mean));
    CHECK_OK(cn_tensor_new(2, d2, &table));
    CHECK_OK(cn_tensor_new(4, d4, &four));
    CHECK_OK(cn_tensor_new(1, &d0, &none));
    for (int64_t k = 0; k < 204; k++)
        cn_tensor_data(mean)[k] = (float)k / 7.0f - 3.0f;
    for (int64_t k = 0; k < 12; k++)
        cn_tensor_data(table)[k] = k % 2 ? -0.0f : 1e-30f * (float)k;
    cn_tensor_fill(four, 3.25f);
    CHECK_OK(cn_model_set_tensor(m, "norm.mean", mean));
    CHECK_OK(cn_model_set_tensor(m, "class_table", table));
    CHECK_OK(cn_model_set_tensor(m, "four_d", four));
    CHECK_OK(cn_model_set_tensor(m, "empty", none));
    CHECK_OK(cn_model_set_tensor(m, "layersX", mean)); /* only "layers" and "layers.*" are taken */
    const char *path = path_of("meta.cnm");
    CHECK_OK(cn_model_save(m, path));
    CHECK_OK(cn_model_load(path, &back));
    if (back) {
        CHECK(cn_model_meta_count(back) == 3);
        CHECK(strcmp(cn_model_meta_key(back, 0), "classes") == 0);
        CHECK(strcmp(cn_model_meta_key(back, 1), "note") == 0);
        CHECK(cn_model_meta_key(back, 3) == NULL);
        CHECK(strcmp(cn_model_get_meta(back, "classes"), "[\"wheat\",\"maize\"]") == 0);
        CHECK(strcmp(cn_model_get_meta(back, "note"), "replaced ✓") == 0);
        CHECK(strcmp(cn_model_get_meta(back, "empty"), "") == 0);
        CHECK(cn_model_get_meta(back, "cropnet.version") == NULL);
        CHECK(same_tensor(cn_model_get_tensor(back, "norm.mean"), mean));
        CHECK(same_tensor(cn_model_get_tensor(back, "class_table"), table));
        CHECK(same_tensor(cn_model_get_tensor(back, "four_d"), four));
        CHECK(same_tensor(cn_model_get_tensor(back, "empty"), none));
        CHECK(same_tensor(cn_model_get_tensor(back, "layersX"), mean));
        CHECK(cn_model_get_tensor(back, "layers.0.weight") == NULL);
    }
    cn_tensor_release(mean);
    cn_tensor_release(table);
    cn_tensor_release(four);
    cn_tensor_release(none);
    cn_model_free(back);
    cn_model_free(m);
    cn_layer_release(net);
}

static void test_reserved_names_are_refused(void)
{
    cn_layer *net = linear(2, 2);
    cn_model *m = NULL;
    CHECK_OK(cn_model_new(net, &m));
    cn_tensor *t = NULL;
    CHECK_OK(cn_tensor_new2(1, 1, &t));
    CHECK(cn_model_set_meta(m, "cropnet.version", "9") == CN_EINVAL);
    CHECK(cn_model_set_meta(m, "cropnet.", "x") == CN_EINVAL);
    CHECK(cn_model_set_meta(m, "", "x") == CN_EINVAL);
    CHECK(cn_model_set_meta(m, "__metadata__", "x") == CN_EINVAL);
    CHECK(cn_model_set_meta(m, "bad\xff", "x") == CN_EINVAL);
    CHECK(cn_model_set_meta(m, "key", "bad\xc3") == CN_EINVAL);
    CHECK(cn_model_set_tensor(m, "layers.0.weight", t) == CN_EINVAL);
    CHECK(cn_model_set_tensor(m, "layers", t) == CN_EINVAL);
    CHECK(cn_model_set_tensor(m, "__metadata__", t) == CN_EINVAL);
    CHECK(cn_model_set_tensor(m, "", t) == CN_EINVAL);
    CHECK(cn_model_meta_count(m) == 0);
    CHECK_OK(cn_model_set_meta(m, "cropnetish", "fine"));
    cn_tensor_release(t);
    cn_model_free(m);
    cn_layer_release(net);
}

/* ---------------------------------------------------------------- the layout */

static void test_file_is_valid_safetensors(void)
{
    cn_layer *net = make_mlp();
    cn_model *m = NULL;
    CHECK_OK(cn_model_new(net, &m));
    const char *path = path_of("layout.cnm");
    CHECK_OK(cn_model_save(m, path));
    size_t size = 0;
    unsigned char *buf = mfile_read(path, &size);
    CHECK(buf && size > 8);
    if (!buf || size <= 8)
        goto out;
    uint64_t h = mfile_u64le(buf);
    CHECK(h % 8 == 0 && h <= size - 8);
    CHECK(buf[8] == '{');
    json_t *root = json_loadb((const char *)buf + 8, (size_t)h, 0, NULL);
    CHECK(json_is_object(root));
    size_t data_len = size - 8 - (size_t)h;

    json_t *w = json_object_get(root, "layers.0.weight");
    CHECK(strcmp(json_string_value(json_object_get(w, "dtype")), "F32") == 0);
    json_t *shape = json_object_get(w, "shape"), *offs = json_object_get(w, "data_offsets");
    CHECK(json_array_size(shape) == 2);
    CHECK(json_integer_value(json_array_get(shape, 0)) == 32);
    CHECK(json_integer_value(json_array_get(shape, 1)) == 204);
    json_int_t begin = json_integer_value(json_array_get(offs, 0));
    json_int_t end = json_integer_value(json_array_get(offs, 1));
    CHECK(end - begin == 32 * 204 * 4);
    CHECK(json_object_get(root, "layers.4.2.0.weight") != NULL); /* nested: mid -> inner -> 0 */
    CHECK(json_object_get(root, "layers.9.bias") != NULL);

    /* The tensors tile the data section exactly. */
    json_int_t total = 0, max_end = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        json_t *o = json_object_get(v, "data_offsets");
        total += json_integer_value(json_array_get(o, 1)) - json_integer_value(json_array_get(o, 0));
        if (json_integer_value(json_array_get(o, 1)) > max_end)
            max_end = json_integer_value(json_array_get(o, 1));
    }
    CHECK((size_t)total == data_len && (size_t)max_end == data_len);

    /* The weight's first value, read as little-endian float32. */
    cn_tensor *p[2];
    cn_layer_params(cn_sequential_child(net, 0), p, NULL, 2);
    const unsigned char *q = buf + 8 + h + begin;
    uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    CHECK(f == cn_tensor_cdata(p[0])[0]);

    json_t *meta = json_object_get(root, "__metadata__");
    CHECK(strcmp(json_string_value(json_object_get(meta, "cropnet.format")), "cropnet-model") == 0);
    CHECK(strcmp(json_string_value(json_object_get(meta, "cropnet.version")), "1") == 0);
    /* the checksum: CRC-32 of the header (its own digits as "00000000") then the data */
    char crc[16], *digits = find(buf + 8, (size_t)h, "\"cropnet.crc32\":\"");
    CHECK(digits != NULL);
    if (digits) {
        digits += strlen("\"cropnet.crc32\":\"");
        memset(digits, '0', 8);
        snprintf(crc, sizeof crc, "%08lx",
                 (unsigned long)mfile_crc32(mfile_crc32(0, buf + 8, (size_t)h), buf + 8 + h, data_len));
        CHECK(strcmp(json_string_value(json_object_get(meta, "cropnet.crc32")), crc) == 0);
    }
    json_t *arch = json_loads(json_string_value(json_object_get(meta, "cropnet.arch")), 0, NULL);
    CHECK(strcmp(json_string_value(json_object_get(arch, "type")), "sequential") == 0);
    json_t *layers = json_object_get(arch, "layers");
    CHECK(json_array_size(layers) == 10);
    json_t *l0 = json_array_get(layers, 0), *l3 = json_array_get(layers, 3);
    CHECK(json_integer_value(json_object_get(l0, "in")) == 204);
    CHECK(json_integer_value(json_object_get(l0, "out")) == 32);
    CHECK(strcmp(json_string_value(json_object_get(l3, "type")), "leaky_relu") == 0);
    CHECK(json_real_value(json_object_get(l3, "slope")) == 0.01);
    json_decref(arch);
    json_decref(root);
out:
    free(buf);
    cn_model_free(m);
    cn_layer_release(net);
}

/* ---------------------------------------------------------------- refusals */

static void test_truncated_file_is_refused_at_every_cut(void)
{
    const char *path = save_small("whole.cnm");
    size_t size = 0;
    unsigned char *buf = mfile_read(path, &size);
    CHECK(buf && size > 200);
    const char *cut = path_of("cut.cnm");
    for (size_t n = 0; buf && n < size; n += n < 200 ? 1 : 13) {
        write_all(cut, buf, n);
        expect_refused(cut, CN_EFORMAT, NULL);
    }
    write_all(cut, buf, size - 1);
    expect_refused(cut, CN_EFORMAT, "truncated");
    free(buf);
}

static void test_flipped_data_byte_is_a_checksum_error(void)
{
    const char *path = save_small("flip.cnm");
    size_t size = 0;
    unsigned char *buf = mfile_read(path, &size);
    uint64_t h = buf ? mfile_u64le(buf) : 0;
    for (size_t i = 8 + (size_t)h; buf && i < size; i += 5) {
        buf[i] ^= 0x10;
        write_all(path, buf, size);
        expect_refused(path, CN_EFORMAT, "checksum mismatch (file corrupt)");
        buf[i] ^= 0x10;
    }
    free(buf);
}

static void test_flipped_header_byte_is_an_error_not_a_crash(void)
{
    const char *path = save_small("hflip.cnm");
    size_t size = 0;
    unsigned char *buf = mfile_read(path, &size);
    uint64_t h = buf ? mfile_u64le(buf) : 0;
    int refused = 0, total = 0;
    for (size_t i = 8; buf && i < 8 + h; i++) {
        buf[i] ^= 0x01;
        write_all(path, buf, size);
        cn_model *m = NULL;
        cn_status st = cn_model_load(path, &m);
        if (st) {
            refused++;
            CHECK(starts_with(cn_last_error(), path));
        }
        cn_model_free(m);
        buf[i] ^= 0x01;
        total++;
    }
    /* The checksum covers the header too: no flipped byte goes unnoticed. */
    CHECK(refused == total);
    /* Structure, dtype and names always matter. */
    char *dtype = buf ? find(buf + 8, (size_t)h, "\"F32\"") : NULL;
    char *name = buf ? find(buf + 8, (size_t)h, "layers.0.bias") : NULL;
    CHECK(dtype && name);
    if (dtype && name) {
        buf[8] ^= 0x01;
        write_all(path, buf, size);
        expect_refused(path, CN_EFORMAT, "not a cropnet model file");
        buf[8] ^= 0x01;
        dtype[3] = '3';
        write_all(path, buf, size);
        expect_refused(path, CN_EFORMAT, "dtype F33");
        dtype[3] = '2';
        name[12] = 'z';
        write_all(path, buf, size);
        expect_refused(path, CN_EFORMAT, "checksum mismatch");
    }
    free(buf);
}

static void test_random_garbage_is_refused(void)
{
    const char *path = path_of("garbage.bin");
    cn_rng rng;
    cn_rng_seed(&rng, 99);
    unsigned char buf[4096];
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)cn_rng_below(&rng, sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)cn_rng_next(&rng);
        if (round % 2 && n > 8) { /* a plausible header length, then noise */
            uint64_t h = cn_rng_below(&rng, n - 7);
            for (int i = 0; i < 8; i++)
                buf[i] = (unsigned char)(h >> (8 * i));
            buf[8] = '{';
        }
        write_all(path, buf, n);
        expect_refused(path, CN_OK, NULL);
    }
    memset(buf, 0xff, 64);
    write_all(path, buf, 64);
    expect_refused(path, CN_EFORMAT, "not a cropnet model file");
}

static void test_newer_format_version_is_refused(void)
{
    const char *path = save_small("newer.cnm");
    size_t size = 0;
    unsigned char *buf = mfile_read(path, &size);
    char *v = buf ? find(buf, size, "\"cropnet.version\":\"1\"") : NULL;
    CHECK(v != NULL);
    if (v) {
        v[19] = '2';
        write_all(path, buf, size);
        expect_refused(path, CN_EVERSION,
                       "written by a newer cropnet (format version 2, this build reads up to 1)");
    }
    free(buf);
}

static void write_safetensors(const char *path, const char *header, const void *data, size_t n)
{
    size_t len = strlen(header);
    unsigned char buf[512];
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)len >> (8 * i));
    memcpy(buf + 8, header, len);
    memcpy(buf + 8 + len, data, n);
    write_all(path, buf, 8 + len + n);
}

static void test_safetensors_without_cropnet_metadata_is_refused(void)
{
    const char *path = path_of("foreign.safetensors");
    float one = 1.0f;
    write_safetensors(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                      &one, 4);
    expect_refused(path, CN_EFORMAT, "not a cropnet model (safetensors without cropnet metadata)");
    write_safetensors(path, "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", &one, 4);
    expect_refused(path, CN_EFORMAT, "not a cropnet model (safetensors without cropnet metadata)");
}

static void test_missing_file_is_an_io_error_naming_it(void)
{
    const char *path = path_of("does-not-exist.cnm");
    cn_model *m = NULL;
    CHECK(cn_model_load(path, &m) == CN_EIO);
    char want[1200];
    snprintf(want, sizeof want, "%s: %s", path, strerror(ENOENT));
    CHECK(strcmp(cn_last_error(), want) == 0);
    CHECK(m == NULL);
}

/* ---------------------------------------------------------------- hostile headers */

/* Renames a parameter of the network so it reads as an extra tensor: the data still tiles. */
static void rename_bias(json_t *root)
{
    json_t *e = json_incref(json_object_get(root, "layers.4.0.bias"));
    json_object_del(root, "layers.4.0.bias");
    json_object_set_new(root, "other.bias", e);
}

static void transpose_first_weight(json_t *root)
{
    json_t *shape = json_object_get(json_object_get(root, "layers.0.weight"), "shape");
    json_array_set_new(shape, 0, json_integer(4));
    json_array_set_new(shape, 1, json_integer(3));
}

static void rename_extra_into_network(json_t *root)
{
    json_t *e = json_incref(json_object_get(root, "norm.mean"));
    json_object_del(root, "norm.mean");
    json_object_set_new(root, "layers.7.weight", e);
}

static void overlap_offsets(json_t *root)
{
    json_t *o = json_object_get(json_object_get(root, "norm.mean"), "data_offsets");
    json_array_set_new(o, 0, json_integer(0));
    json_array_set_new(o, 1, json_integer(24));
}

static void make_f16(json_t *root)
{
    json_object_set_new(json_object_get(root, "norm.mean"), "dtype", json_string("F16"));
}

static void make_6d(json_t *root)
{
    json_object_set_new(json_object_get(root, "norm.mean"), "shape",
                        json_pack("[iiiiii]", 1, 1, 1, 1, 2, 3));
}

static void make_huge_shape(json_t *root)
{
    json_object_set_new(json_object_get(root, "norm.mean"), "shape",
                        json_pack("[III]", (json_int_t)1 << 40, (json_int_t)1 << 40, (json_int_t)6));
}

static void test_missing_parameter_tensor_is_named(void)
{
    cn_layer *net = make_mlp();
    cn_model *m = NULL;
    CHECK_OK(cn_model_new(net, &m));
    const char *path = path_of("missing.cnm");
    CHECK_OK(cn_model_save(m, path));
    mfile_rewrite_header(path, rename_bias);
    expect_refused(path, CN_EFORMAT, "tensor \"layers.4.0.bias\" is missing");
    cn_model_free(m);
    cn_layer_release(net);
}

static void test_hostile_tensor_entries_are_refused_with_the_tensor_name(void)
{
    struct {
        void (*fn)(json_t *);
        const char *part;
    } cases[] = {
        {transpose_first_weight, "tensor \"layers.0.weight\" has shape (4 x 3), the architecture needs (3 x 4)"},
        {rename_extra_into_network, "unexpected tensor \"layers.7.weight\""},
        {overlap_offsets, "contiguous"},
        {make_f16, "tensor \"norm.mean\" has dtype F16"},
        {make_6d, "tensor \"norm.mean\" has 6 dimensions"},
        {make_huge_shape, "tensor \"norm.mean\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = save_small("hostile.cnm");
        mfile_rewrite_header(path, cases[i].fn);
        expect_refused(path, CN_EFORMAT, cases[i].part);
    }
}

static const char *arch_text;
static void set_arch(json_t *root)
{
    json_object_set_new(json_object_get(root, "__metadata__"), "cropnet.arch",
                        json_string(arch_text));
}

static void test_hostile_architectures_are_refused(void)
{
    static char deep[4096];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "{\"type\":\"sequential\",\"layers\":[");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "]}");
    const char *cases[][2] = {
        {"not json", "not valid JSON"},
        {"[]", "not a JSON object"},
        {"{\"type\":\"conv\"}", "unknown layer type \"conv\""},
        {"{\"type\":\"linear\",\"in\":0,\"out\":2}", "\"in\" must be an integer"},
        {"{\"type\":\"linear\",\"in\":4.5,\"out\":2}", "\"in\" must be an integer"},
        {"{\"type\":\"linear\",\"in\":16777217,\"out\":2}", "\"in\" must be an integer"},
        {"{\"type\":\"linear\",\"in\":4000000,\"out\":4000000}", "layers.weight\" is missing"},
        {"{\"type\":\"sequential\",\"layers\":[{\"type\":\"elu\",\"alpha\":-1}]}", "layers.0: \"alpha\""},
        {"{\"type\":\"sequential\",\"layers\":[{\"type\":\"leaky_relu\",\"slope\":1e300}]}", "\"slope\""},
        {"{\"type\":\"sequential\",\"layers\":[{\"type\":\"leaky_relu\"}]}", "\"slope\""},
        {"{\"type\":\"sequential\",\"layers\":[{\"type\":\"relu\",\"p\":1}]}", "unknown field \"p\""},
        {"{\"type\":\"sequential\",\"layers\":{}}", "\"layers\" must be an array"},
        {"{\"type\":\"sequential\",\"layers\":[]}", "unexpected tensor \"layers.0.weight\""},
        {deep, "nested deeper than 32"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = save_small("arch.cnm");
        arch_text = cases[i][0];
        mfile_rewrite_header(path, set_arch);
        expect_refused(path, CN_EFORMAT, cases[i][1]);
    }
}

/* ---------------------------------------------------------------- saving */

static void test_save_into_missing_directory_fails_and_creates_nothing(void)
{
    cn_layer *net = linear(2, 2);
    cn_model *m = NULL;
    CHECK_OK(cn_model_new(net, &m));
    const char *path = path_of("no-such-dir/model.cnm");
    CHECK(cn_model_save(m, path) == CN_EIO);
    CHECK(starts_with(cn_last_error(), path));
    struct stat st;
    CHECK(stat(path_of("no-such-dir"), &st) != 0);
    cn_model_free(m);
    cn_layer_release(net);
}

static void test_failed_save_leaves_existing_file_untouched(void)
{
    char sub[600];
    snprintf(sub, sizeof sub, "%s/keep", dir);
    CHECK(mkdir(sub, 0755) == 0);
    char path[700];
    snprintf(path, sizeof path, "%s/model.cnm", sub);
    write_all(path, "old contents", 12);

    cn_layer *net = make_mlp(); /* about 30 kB: larger than the limit below */
    cn_model *m = NULL;
    CHECK_OK(cn_model_new(net, &m));
    struct rlimit old, small;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    small = old;
    small.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
    cn_status st = cn_model_save(m, path);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, SIG_DFL);
    CHECK(st == CN_EIO);
    CHECK(starts_with(cn_last_error(), path));

    size_t size = 0;
    unsigned char *buf = mfile_read(path, &size);
    CHECK(buf && size == 12 && memcmp(buf, "old contents", 12) == 0);
    free(buf);
    CHECK(count_entries(sub, ".tmp-") == 0);
    cn_model_free(m);
    cn_layer_release(net);
}

static void test_failed_rename_leaves_no_temporary_file(void)
{
    char sub[600], target[700], inside[800];
    snprintf(sub, sizeof sub, "%s/rename", dir);
    snprintf(target, sizeof target, "%s/model.cnm", sub);
    snprintf(inside, sizeof inside, "%s/x", target);
    CHECK(mkdir(sub, 0755) == 0);
    CHECK(mkdir(target, 0755) == 0); /* a non-empty directory where the file should go */
    write_all(inside, "x", 1);
    cn_layer *net = linear(2, 2);
    cn_model *m = NULL;
    CHECK_OK(cn_model_new(net, &m));
    CHECK(cn_model_save(m, target) == CN_EIO);
    CHECK(starts_with(cn_last_error(), target));
    CHECK(count_entries(sub, ".tmp-") == 0);
    unlink(inside);
    rmdir(target);
    cn_model_free(m);
    cn_layer_release(net);
}

static void test_overwriting_an_existing_model_succeeds(void)
{
    const char *path = save_small("twice.cnm");
    path = save_small("twice.cnm");
    cn_model *m = NULL;
    CHECK_OK(cn_model_load(path, &m));
    cn_model_free(m);
    CHECK(count_entries(dir, ".tmp-") == 0);
}

static void test_too_deep_network_is_refused_on_save(void)
{
    cn_layer *net = seq_new(), *at = net;
    for (int i = 0; i < 40; i++) {
        cn_layer *s = seq_new();
        add(at, s);
        at = s;
    }
    cn_model *m = NULL;
    CHECK_OK(cn_model_new(net, &m));
    const char *path = path_of("deep.cnm");
    CHECK(cn_model_save(m, path) == CN_EINVAL);
    CHECK(starts_with(cn_last_error(), path));
    struct stat st;
    CHECK(stat(path, &st) != 0);
    cn_model_free(m);
    cn_layer_release(net);
}

int main(void)
{
    make_dir();
    RUN(test_save_load_gives_identical_weights_and_outputs);
    RUN(test_single_linear_network_round_trips_as_layers_weight);
    RUN(test_metadata_and_extra_tensors_round_trip);
    RUN(test_reserved_names_are_refused);
    RUN(test_file_is_valid_safetensors);
    RUN(test_truncated_file_is_refused_at_every_cut);
    RUN(test_flipped_data_byte_is_a_checksum_error);
    RUN(test_flipped_header_byte_is_an_error_not_a_crash);
    RUN(test_random_garbage_is_refused);
    RUN(test_newer_format_version_is_refused);
    RUN(test_safetensors_without_cropnet_metadata_is_refused);
    RUN(test_missing_file_is_an_io_error_naming_it);
    RUN(test_missing_parameter_tensor_is_named);
    RUN(test_hostile_tensor_entries_are_refused_with_the_tensor_name);
    RUN(test_hostile_architectures_are_refused);
    RUN(test_save_into_missing_directory_fails_and_creates_nothing);
    RUN(test_failed_save_leaves_existing_file_untouched);
    RUN(test_failed_rename_leaves_no_temporary_file);
    RUN(test_overwriting_an_existing_model_succeeds);
    RUN(test_too_deep_network_is_refused_on_save);
    remove_tree(dir);
    return CHECK_EXIT();
}
