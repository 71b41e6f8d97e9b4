/*
 * test_cnn_model.c — convolutional networks in the model file: every new layer kind survives a
 * save and load with bit-identical outputs, batch-normalisation statistics travel as named
 * tensors, a loaded net predicts in evaluation mode, and descriptions that disagree with the
 * stored tensors or carry bad fields are refused with the tensor or field named.
 */
#include "gradcheck.h"
#include "model_file.h"

#include <jansson.h>
#include <unistd.h>

static char dir[512];

static const char *path_of(const char *name)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void add(cn_layer *seq, cn_layer *l)
{
    CHECK_OK(cn_sequential_add(seq, l));
    cn_layer_release(l);
}

static cn_layer *conv2(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, bool bias)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, in, out, k);
    s.stride[0] = s.stride[1] = stride;
    s.padding[0] = s.padding[1] = pad;
    s.bias = bias;
    cn_layer *l = NULL;
    CHECK_OK(cn_conv_new(&s, &l));
    return l;
}

static cn_layer *make(cn_layer_kind kind, float param)
{
    cn_layer *l = NULL;
    switch (kind) {
    case CN_LAYER_BATCHNORM:
        CHECK_OK(cn_batchnorm_new((int64_t)param, 1e-5f, 0.1f, &l));
        break;
    case CN_LAYER_DROPOUT:
        CHECK_OK(cn_dropout_new(param, 3, &l));
        break;
    case CN_LAYER_FLATTEN:
        CHECK_OK(cn_flatten_new(&l));
        break;
    case CN_LAYER_GLOBAL_AVG_POOL:
        CHECK_OK(cn_global_avg_pool_new(&l));
        break;
    default:
        CHECK_OK(cn_activation_new(kind, param, &l));
    }
    return l;
}

/* Input N × 1 × 6 × 7 × 7 (a band axis of 6), output N × 3: every new kind once. */
static cn_layer *make_every_kind(void)
{
    cn_layer *net = NULL, *l = NULL, *inner = NULL, *r = NULL;
    CHECK_OK(cn_sequential_new(&net));
    cn_conv_spec s3;
    cn_conv_spec_default(&s3, 3, 1, 4, 3);
    s3.padding[1] = s3.padding[2] = 1;
    CHECK_OK(cn_conv_new(&s3, &l));
    add(net, l);                                                  /* 4 × 4 × 7 × 7 */
    add(net, make(CN_LAYER_RELU, 0));
    CHECK_OK(cn_view_new(3, (int64_t[]){-1, 7, 7}, &l));
    add(net, l);                                                  /* 16 × 7 × 7 */
    add(net, conv2(16, 8, 3, 1, 1, false));
    add(net, make(CN_LAYER_BATCHNORM, 8));
    add(net, make(CN_LAYER_RELU, 0));
    CHECK_OK(cn_sequential_new(&inner));                          /* identity shortcut */
    add(inner, conv2(8, 8, 3, 1, 1, true));
    add(inner, make(CN_LAYER_BATCHNORM, 8));
    add(inner, make(CN_LAYER_LEAKY_RELU, 0.1f));
    add(inner, conv2(8, 8, 3, 1, 1, true));
    CHECK_OK(cn_residual_new(inner, NULL, &r));
    cn_layer_release(inner);
    add(net, r);
    CHECK_OK(cn_residual_new(l = conv2(8, 12, 3, 2, 1, true), inner = conv2(8, 12, 1, 2, 0, false),
                             &r));                                /* projection: 12 × 4 × 4 */
    cn_layer_release(l);
    cn_layer_release(inner);
    add(net, r);
    cn_pool_spec avg = {{3, 3}, {1, 1}, {1, 1}, false}, max = {{3, 3}, {2, 2}, {0, 0}, true};
    CHECK_OK(cn_pool_new(CN_LAYER_AVG_POOL2D, &avg, &l));
    add(net, l);
    CHECK_OK(cn_pool_new(CN_LAYER_MAX_POOL2D, &max, &l));
    add(net, l);                                                  /* floor: 12 × 1 × 1 */
    add(net, make(CN_LAYER_DROPOUT, 0.25f));
    add(net, make(CN_LAYER_FLATTEN, 0));
    CHECK_OK(cn_linear_new(12, 10, &l));
    add(net, l);
    add(net, make(CN_LAYER_BATCHNORM, 10));
    add(net, make(CN_LAYER_TANH, 0));
    CHECK_OK(cn_linear_new(10, 3, &l));
    add(net, l);
    cn_rng rng;
    cn_rng_seed(&rng, 21);
    CHECK_OK(cn_layer_init(net, CN_INIT_HE_NORMAL, 0, &rng));
    return net;
}

/* Forward in evaluation mode into a fresh copy of the output. */
static cn_tensor *predict(cn_layer *net, const cn_tensor *x)
{
    cn_tensor *y = NULL, *copy = NULL;
    cn_layer_set_training(net, false);
    CHECK_OK(cn_layer_forward(net, x, &y));
    CHECK_OK(cn_tensor_new(1, (int64_t[]){0}, &copy));
    if (y)
        CHECK_OK(cn_tensor_copy(copy, y));
    return copy;
}

/* Saves net, loads it back (NULL on failure). */
static cn_model *round_trip(cn_layer *net, const char *name)
{
    cn_model *m = NULL, *back = NULL;
    CHECK_OK(cn_model_new(net, &m));
    CHECK_OK(cn_model_save(m, path_of(name)));
    CHECK_OK(cn_model_load(path_of(name), &back));
    cn_model_free(m);
    return back;
}

static void every_kind_round_trips_with_identical_outputs(void)
{
    cn_layer *net = make_every_kind();
    cn_rng rng;
    cn_rng_seed(&rng, 4);
    cn_tensor *x = gc_random(5, (int64_t[]){5, 1, 6, 7, 7}, &rng), *y = NULL;
    for (int i = 0; i < 3; i++) /* training-mode batches move the running statistics */
        CHECK_OK(cn_layer_forward(net, x, &y));
    cn_tensor *before = predict(net, x);
    CHECK(cn_tensor_ndim(before) == 2 && cn_tensor_dim(before, 1) == 3);
    cn_model *back = round_trip(net, "every_kind.cnm");
    if (back) {
        cn_tensor *after = predict(cn_model_net(back), x);
        CHECK(cn_tensor_same_shape(before, after));
        CHECK(memcmp(cn_tensor_cdata(before), cn_tensor_cdata(after),
                     (size_t)cn_tensor_numel(before) * sizeof(float)) == 0);
        CHECK(cn_layer_param_numel(cn_model_net(back)) == cn_layer_param_numel(net));
        cn_tensor_release(after);
        cn_model_free(back);
    }
    cn_tensor_release(before);
    cn_tensor_release(x);
    cn_layer_release(net);
}

static void a_loaded_net_is_in_evaluation_mode(void)
{
    cn_layer *net = make_every_kind();
    CHECK(cn_layer_is_training(net));
    cn_model *back = round_trip(net, "mode.cnm");
    if (back) {
        cn_layer *n2 = cn_model_net(back), *dropout = cn_sequential_child(n2, 10);
        CHECK(!cn_layer_is_training(n2));
        CHECK(dropout && cn_layer_kind_of(dropout) == CN_LAYER_DROPOUT &&
              !cn_layer_is_training(dropout));
        cn_model_free(back);
    }
    cn_layer_release(net);
}

/* The file's header, parsed. */
static json_t *header_of(const char *path)
{
    FILE *fp = fopen(path, "rb");
    unsigned char len8[8] = {0};
    if (!fp || fread(len8, 1, 8, fp) != 8) {
        if (fp)
            fclose(fp);
        return NULL;
    }
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h |= (uint64_t)len8[i] << (8 * i);
    char *buf = malloc((size_t)h);
    json_t *root = NULL;
    if (buf && fread(buf, 1, (size_t)h, fp) == h)
        root = json_loadb(buf, (size_t)h, 0, NULL);
    free(buf);
    fclose(fp);
    return root;
}

static void running_statistics_are_stored_as_named_tensors(void)
{
    cn_layer *net = make_every_kind();
    cn_model *back = round_trip(net, "names.cnm");
    json_t *root = header_of(path_of("names.cnm"));
    CHECK(root != NULL);
    static const char *const names[] = {
        "layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.4.running_mean",
        "layers.4.running_var", "layers.6.inner.1.running_var", "layers.7.inner.weight",
        "layers.7.projection.weight", "layers.13.running_mean", NULL};
    for (const char *const *n = names; *n; n++)
        if (!json_object_get(root, *n)) {
            fprintf(stderr, "%s: no tensor %s in the file\n", check_current, *n);
            check_failures++;
        }
    CHECK(json_object_get(root, "layers.3.bias") == NULL);           /* conv without bias */
    CHECK(json_object_get(root, "layers.7.projection.bias") == NULL);
    json_t *shape = json_object_get(json_object_get(root, "layers.0.weight"), "shape");
    CHECK(json_array_size(shape) == 5); /* 4 × 1 × 3 × 3 × 3 */
    if (back) {
        cn_layer *b = cn_sequential_child(cn_model_net(back), 4);
        CHECK(cn_tensor_same_shape(cn_batchnorm_running_var(b),
                                   cn_batchnorm_running_var(cn_sequential_child(net, 4))));
        cn_model_free(back);
    }
    json_decref(root);
    cn_layer_release(net);
}

/* The edit rewrite_arch applies, for edit_arch_text (mfile_rewrite_header takes no context). */
static void (*arch_edit)(json_t *arch);

/* Replaces the architecture text in the header's metadata by arch_edit's edit of it. */
static void edit_arch_text(json_t *root)
{
    json_t *meta = json_object_get(root, "__metadata__");
    json_t *arch = json_loads(json_string_value(json_object_get(meta, "cropnet.arch")), 0, NULL);
    arch_edit(arch);
    char *text = json_dumps(arch, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_object_set_new(meta, "cropnet.arch", json_string(text));
    free(text);
    json_decref(arch);
}

/* Rewrites the architecture text of a saved model with edit(arch JSON) and re-seals the
 * checksum, as a hostile writer would, so the loader's structural checks are reached. */
static void rewrite_arch(const char *path, void (*edit)(json_t *arch))
{
    arch_edit = edit;
    mfile_rewrite_header(path, edit_arch_text);
}

/* The first layer of the saved net: a 2-D convolution 2 → 3, kernel 3. */
static json_t *first(json_t *arch) { return json_array_get(json_object_get(arch, "layers"), 0); }
static void kernel_5(json_t *a)
{
    json_object_set_new(first(a), "kernel", json_pack("[ii]", 5, 5));
}
static void stride_0(json_t *a)
{
    json_object_set_new(first(a), "stride", json_pack("[ii]", 0, 1));
}
static void extra_field(json_t *a) { json_object_set_new(first(a), "groups", json_integer(2)); }
static void kernel_1d(json_t *a) { json_object_set_new(first(a), "kernel", json_pack("[i]", 3)); }
static void no_inner(json_t *a)
{
    json_array_set_new(json_object_get(a, "layers"), 0, json_pack("{s:s}", "type", "residual"));
}

static void descriptions_that_disagree_are_refused_naming_the_part(void)
{
    static const struct {
        void (*edit)(json_t *);
        const char *part;
    } cases[] = {
        {kernel_5, "tensor \"layers.0.weight\" has shape (3 x 2 x 3 x 3), the architecture "
                   "needs (3 x 2 x 5 x 5)"},
        {stride_0, "\"stride\" must be an array of 2 integers from 1 to 65536"},
        {extra_field, "unknown field \"groups\""},
        {kernel_1d, "\"kernel\" must be an array of 2 integers"},
        {no_inner, "\"inner\" is missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cn_layer *net = NULL;
        CHECK_OK(cn_sequential_new(&net));
        add(net, conv2(2, 3, 3, 1, 0, true));
        cn_model *m = NULL, *back = NULL;
        CHECK_OK(cn_model_new(net, &m));
        CHECK_OK(cn_model_save(m, path_of("hostile.cnm")));
        rewrite_arch(path_of("hostile.cnm"), cases[i].edit);
        CHECK(cn_model_load(path_of("hostile.cnm"), &back) == CN_EFORMAT);
        CHECK(back == NULL);
        CHECK(gc_message_has((const char *const[]){path_of("hostile.cnm"), cases[i].part, NULL}));
        cn_model_free(m);
        cn_layer_release(net);
    }
}

static void global_pooling_and_flatten_nets_round_trip(void)
{
    cn_layer *net = NULL, *l = NULL;
    CHECK_OK(cn_sequential_new(&net));
    add(net, conv2(3, 4, 1, 1, 0, true));
    add(net, make(CN_LAYER_GLOBAL_AVG_POOL, 0));
    CHECK_OK(cn_linear_new(4, 2, &l));
    add(net, l);
    cn_rng rng;
    cn_rng_seed(&rng, 2);
    CHECK_OK(cn_layer_init(net, CN_INIT_XAVIER_UNIFORM, 0, &rng));
    cn_tensor *x = gc_random(4, (int64_t[]){2, 3, 5, 5}, &rng);
    cn_tensor *before = predict(net, x);
    cn_model *back = round_trip(net, "gap.cnm");
    if (back) {
        cn_tensor *after = predict(cn_model_net(back), x);
        CHECK(memcmp(cn_tensor_cdata(before), cn_tensor_cdata(after), 4 * sizeof(float)) == 0);
        cn_tensor_release(after);
        cn_model_free(back);
    }
    cn_tensor_release(before);
    cn_tensor_release(x);
    cn_layer_release(net);
}

int main(void)
{
    const char *tmp = getenv("CROPNET_TMP");
    snprintf(dir, sizeof dir, "%s/test_cnn_model-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    RUN(every_kind_round_trips_with_identical_outputs);
    RUN(a_loaded_net_is_in_evaluation_mode);
    RUN(running_statistics_are_stored_as_named_tensors);
    RUN(descriptions_that_disagree_are_refused_naming_the_part);
    RUN(global_pooling_and_flatten_nets_round_trip);
    const char *files[] = {"every_kind.cnm", "mode.cnm", "names.cnm", "hostile.cnm", "gap.cnm"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        remove(path_of(files[i]));
    rmdir(dir);
    return CHECK_EXIT();
}
