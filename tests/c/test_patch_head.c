/*
 * test_patch_head.c — where the patch predictor splits a network into its per-pixel head and the
 * rest, and that the head run over pixels gives what the network's own layers give over 1 × 1
 * images.
 */
#include "check.h"
#include "patch_fixture.h"
#include "patch_head.h"

#define BANDS 7

/* Splits net and checks the head's presence, the channels, and the tail's length. */
static void splits(cn_layer *net, bool has_head, int64_t channels, size_t tail_count)
{
    cn_patch_head *head = NULL;
    cn_layer *tail = NULL;
    int64_t ch = 0;
    CHECK_OK(cn_patch_head_split(net, BANDS, &head, &tail, &ch));
    CHECK((head != NULL) == has_head);
    CHECK(ch == channels);
    CHECK(cn_sequential_count(tail) == tail_count);
    CHECK(has_head ? tail != net : tail == net);
    cn_patch_head_free(head);
    cn_layer_release(tail);
}

static void the_head_ends_at_the_first_layer_that_looks_at_neighbours(void)
{
    cn_layer *net = fixture_cnn_width(BANDS, 3, 2, 1);
    const size_t total = cn_sequential_count(net); /* conv 1x1, bn, relu, conv 3x3, ... */
    splits(net, true, 3, total - 3);
    cn_layer_release(net);
}

static void a_head_wider_than_the_bands_stays_in_the_network(void)
{
    cn_layer *net = fixture_cnn_width(BANDS, BANDS + 1, 2, 1);
    splits(net, false, BANDS, cn_sequential_count(net));
    cn_layer_release(net);
}

static void batch_norm_in_training_mode_ends_the_head(void)
{
    cn_layer *net = fixture_cnn_width(BANDS, 3, 2, 1);
    cn_layer_set_training(cn_sequential_child(net, 1), true);
    splits(net, true, 3, cn_sequential_count(net) - 1);
    cn_layer_release(net);
}

static void a_network_opening_with_a_spatial_layer_has_no_head(void)
{
    cn_layer *net, *l;
    cn_sequential_new(&net);
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, BANDS, 4, 3);
    cn_conv_new(&s, &l);
    cn_sequential_add(net, l);
    cn_layer_release(l);
    cn_global_avg_pool_new(&l);
    cn_sequential_add(net, l);
    cn_layer_release(l);
    splits(net, false, BANDS, 2);
    /* nor a 1x1 convolution with a stride, nor one padded */
    cn_layer *strided, *padded;
    cn_conv_spec_default(&s, 2, BANDS, 4, 1);
    s.stride[0] = s.stride[1] = 2;
    cn_conv_new(&s, &strided);
    cn_conv_spec_default(&s, 2, BANDS, 4, 1);
    s.padding[0] = s.padding[1] = 1;
    cn_conv_new(&s, &padded);
    cn_layer *one[2] = {strided, padded};
    for (int i = 0; i < 2; i++) {
        cn_layer *n2;
        cn_sequential_new(&n2);
        cn_sequential_add(n2, one[i]);
        cn_global_avg_pool_new(&l);
        cn_sequential_add(n2, l);
        cn_layer_release(l);
        splits(n2, false, BANDS, 2);
        cn_layer_release(n2);
        cn_layer_release(one[i]);
    }
    cn_layer_release(net);
}

static void the_head_gives_what_the_layers_give_on_single_pixels(void)
{
    enum { N = 37, C = 3 };
    cn_layer *net = fixture_cnn_width(BANDS, C, 2, 5);
    cn_patch_head *head;
    cn_layer *tail;
    int64_t ch;
    CHECK_OK(cn_patch_head_split(net, BANDS, &head, &tail, &ch));
    CHECK(head != NULL && ch == C);
    /* N random pixels, as N 1 × 1 images through the network's first three layers */
    int64_t dims[4] = {N, BANDS, 1, 1};
    cn_tensor *x;
    cn_tensor_new(4, dims, &x);
    cn_rng rng;
    cn_rng_seed(&rng, 9);
    float *px = cn_tensor_data(x);
    for (int i = 0; i < N * BANDS; i++)
        px[i] = 2.0f * cn_rng_uniform(&rng) - 1.0f;
    const cn_tensor *y = x;
    for (size_t i = 0; i < 3; i++) {
        cn_tensor *out;
        CHECK_OK(cn_layer_forward(cn_sequential_child(net, i), y, &out));
        y = out;
    }
    const float *got;
    CHECK_OK(cn_patch_head_run(head, px, N, &got));
    const float *want = cn_tensor_cdata(y);
    int positive = 0;
    for (int i = 0; i < N * C; i++) {
        CHECK_NEAR(got[i], want[i], 1e-5);
        positive += want[i] > 0;
    }
    CHECK(positive > 0 && positive < N * C); /* the ReLU did something */
    /* the chunk is the limit */
    CHECK(cn_patch_head_run(head, px, 0, &got) == CN_EINVAL);
    CHECK(cn_patch_head_run(head, px, CN_HEAD_CHUNK + 1, &got) == CN_EINVAL);
    cn_tensor_release(x);
    cn_patch_head_free(head);
    cn_layer_release(tail);
    cn_layer_release(net);
}

int main(void)
{
    RUN(the_head_ends_at_the_first_layer_that_looks_at_neighbours);
    RUN(a_head_wider_than_the_bands_stays_in_the_network);
    RUN(batch_norm_in_training_mode_ends_the_head);
    RUN(a_network_opening_with_a_spatial_layer_has_no_head);
    RUN(the_head_gives_what_the_layers_give_on_single_pixels);
    return CHECK_EXIT();
}
