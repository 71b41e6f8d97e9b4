/*
 * test_patch_dense.c — which leading layers of a patch network the predictor shares between
 * patches (patch_dense.h). That the shared maps give the same crop map bit for bit is tested in
 * test_patch_classify.c.
 */
#include "check.h"
#include "conv_impl.h"
#include "patch_dense.h"
#include "patch_fixture.h"

/* Plans net for 7 × 7 patches of 5 channels; checks whether it is shared and the rest's length. */
static void plans(cn_layer *net, bool shared, size_t rest_count)
{
    cn_patch_dense *dense = NULL;
    cn_layer *rest = NULL;
    CHECK_OK(cn_patch_dense_plan(net, 5, 7, &dense, &rest));
    CHECK((dense != NULL) == shared);
    CHECK(shared ? rest != net : rest == net);
    CHECK(cn_sequential_count(rest) == rest_count);
    cn_patch_dense_free(dense);
    cn_layer_release(rest);
}

static void the_stride_one_convolutions_and_their_activations_are_shared(void)
{
    cn_layer *net = fixture_cnn_stack(5, 3, 1);
    /* conv relu conv bn elu | conv maxpool flatten linear: the 2 x 2 convolution shares nothing */
    if (cn_conv_direct_available())
        plans(net, true, 4);
    else
        plans(net, false, cn_sequential_count(net));
    cn_patch_dense_disable(true);
    plans(net, false, cn_sequential_count(net));
    cn_patch_dense_disable(false);
    cn_layer_release(net);
}

static void a_strided_convolution_or_a_pool_first_shares_nothing(void)
{
    cn_layer *net, *l;
    cn_sequential_new(&net);
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 5, 4, 3);
    s.stride[0] = s.stride[1] = 2;
    cn_conv_new(&s, &l);
    fixture_add(net, l);
    cn_global_avg_pool_new(&l);
    fixture_add(net, l);
    plans(net, false, 2);
    cn_layer_release(net);
    cn_sequential_new(&net);
    cn_pool_spec ps = {.kernel = {2, 2}, .floor = true};
    cn_pool_new(CN_LAYER_MAX_POOL2D, &ps, &l);
    fixture_add(net, l);
    fixture_add_conv(net, 5, 4, 3, 1, 1);
    cn_global_avg_pool_new(&l);
    fixture_add(net, l);
    plans(net, false, 3);
    cn_layer_release(net);
}

static void a_network_that_is_all_convolutions_shares_nothing(void)
{
    cn_layer *net, *l;
    cn_sequential_new(&net);
    fixture_add_conv(net, 5, 4, 3, 1, 1);
    cn_activation_new(CN_LAYER_RELU, 0, &l);
    fixture_add(net, l);
    plans(net, false, 2); /* nothing would be left to turn the maps into class scores */
    cn_layer_release(net);
}

static void batch_norm_in_training_mode_ends_the_shared_layers(void)
{
    cn_layer *net = fixture_cnn_stack(5, 3, 1);
    cn_layer_set_training(cn_sequential_child(net, 3), true); /* the batch norm */
    if (cn_conv_direct_available())
        plans(net, true, cn_sequential_count(net) - 3); /* conv relu conv | bn ... */
    cn_layer_release(net);
}

/* Three 'same' 3 x 3 convolutions on 3 x 3 patches: only the first has an output two patches
 * share (the centre), so only it is shared, and the map is the same as without sharing. */
static void same_padded_convolutions_on_a_small_patch_share_what_they_can(void)
{
    enum { B = 5, K = 3, P = 3, WIN = 9, N = WIN * WIN };
    cn_layer *net, *l;
    cn_sequential_new(&net);
    fixture_add_conv(net, B, 4, 3, 1, 1);
    cn_activation_new(CN_LAYER_RELU, 0, &l);
    fixture_add(net, l);
    fixture_add_conv(net, 4, 4, 3, 1, 1);
    cn_activation_new(CN_LAYER_RELU, 0, &l);
    fixture_add(net, l);
    fixture_add_conv(net, 4, 4, 3, 1, 1);
    cn_global_avg_pool_new(&l);
    fixture_add(net, l);
    cn_linear_new(4, K, &l);
    fixture_add(net, l);
    cn_rng rng;
    cn_rng_seed(&rng, 3);
    cn_layer_init(net, CN_INIT_XAVIER_UNIFORM, 0, &rng);
    cn_layer_set_training(net, false);
    if (cn_conv_direct_available()) {
        cn_patch_dense *dense = NULL;
        cn_layer *rest = NULL;
        CHECK_OK(cn_patch_dense_plan(net, B, P, &dense, &rest));
        CHECK(dense != NULL && cn_sequential_count(rest) == 5); /* conv relu | conv ... */
        cn_patch_dense_free(dense);
        cn_layer_release(rest);
    }
    /* a 7 x 7 window (9 x 9 with the halo) classified with sharing and without */
    cn_model *m = fixture_patch_model(net, B, K, P);
    static float px[2][(N + 1) * B];
    uint8_t valid[N];
    memset(valid, 1, sizeof valid);
    for (int i = 0; i < N * B; i++)
        px[0][i] = px[1][i] = 30000.0f * (float)cn_rng_uniform(&rng);
    int32_t ids[2][(WIN - 2) * (WIN - 2)];
    float probs[2][(WIN - 2) * (WIN - 2) * K];
    for (int off = 0; off < 2; off++) {
        cn_patch_dense_disable(off == 1);
        cn_patch_model *pm;
        CHECK_OK(cn_patch_model_open(m, &pm));
        CHECK_OK(cn_patch_model_predict(pm, px[off], valid, WIN - 2, WIN - 2, ids[off], NULL,
                                        probs[off]));
        cn_patch_model_close(pm);
    }
    cn_patch_dense_disable(false);
    CHECK(memcmp(ids[0], ids[1], sizeof ids[0]) == 0);
    CHECK(memcmp(probs[0], probs[1], sizeof probs[0]) == 0);
    /* one row on its own (a strip of 3 base rows, narrower than the three convolutions' reach):
     * the same as the first row of the 7 x 7 window */
    static float row[(WIN * P + 1) * B];
    cn_patch_model *pm;
    CHECK_OK(cn_patch_model_open(m, &pm));
    cn_rng_seed(&rng, 4);
    for (int i = 0; i < N * B; i++)
        px[0][i] = 30000.0f * (float)cn_rng_uniform(&rng);
    memcpy(row, px[0], sizeof(float) * WIN * P * B);
    int32_t one[WIN - 2], all[(WIN - 2) * (WIN - 2)];
    CHECK_OK(cn_patch_model_predict(pm, px[0], valid, WIN - 2, WIN - 2, all, NULL, NULL));
    CHECK_OK(cn_patch_model_predict(pm, row, valid, WIN - 2, 1, one, NULL, NULL));
    CHECK(memcmp(one, all, sizeof one) == 0);
    cn_patch_model_close(pm);
    cn_model_free(m);
    cn_layer_release(net);
}

/* A window wider than the predictor's blocks of shared maps (256 columns) and not a multiple of
 * them: the same labels and probabilities with sharing and without. */
static void a_window_of_several_blocks_is_the_same_with_and_without_sharing(void)
{
    enum { B = 5, K = 3, P = 7, W = 300, H = 3, WW = W + P - 1, WH = H + P - 1 };
    cn_layer *net = fixture_cnn_stack(B, K, 8);
    cn_model *m = fixture_patch_model(net, B, K, P);
    static float px[2][WW * WH * B];
    static uint8_t valid[WW * WH];
    static int32_t ids[2][W * H];
    static float probs[2][W * H * K];
    cn_rng rng;
    cn_rng_seed(&rng, 6);
    for (int i = 0; i < WW * WH * B; i++)
        px[0][i] = px[1][i] = 30000.0f * (float)cn_rng_uniform(&rng);
    memset(valid, 1, sizeof valid);
    valid[(P / 2 + 1) * WW + 280] = 0; /* an invalid pixel in the second block */
    for (int off = 0; off < 2; off++) {
        cn_patch_dense_disable(off == 1);
        cn_patch_model *pm;
        CHECK_OK(cn_patch_model_open(m, &pm));
        CHECK_OK(cn_patch_model_predict(pm, px[off], valid, W, H, ids[off], NULL, probs[off]));
        cn_patch_model_close(pm);
    }
    cn_patch_dense_disable(false);
    CHECK(memcmp(ids[0], ids[1], sizeof ids[0]) == 0);
    CHECK(memcmp(probs[0], probs[1], sizeof probs[0]) == 0);
    CHECK(ids[0][1 * W + 280 - P / 2] == 0); /* the invalid pixel, unclassified */
    int distinct = 0;
    for (int c = 2; c <= 2 * K; c += 2)
        for (int i = 0; i < W * H; i++)
            if (ids[0][i] == c) {
                distinct++;
                break;
            }
    CHECK(distinct >= 2); /* a map worth comparing */
    cn_model_free(m);
    cn_layer_release(net);
}

int main(void)
{
    RUN(the_stride_one_convolutions_and_their_activations_are_shared);
    RUN(a_strided_convolution_or_a_pool_first_shares_nothing);
    RUN(a_network_that_is_all_convolutions_shares_nothing);
    RUN(batch_norm_in_training_mode_ends_the_shared_layers);
    RUN(same_padded_convolutions_on_a_small_patch_share_what_they_can);
    RUN(a_window_of_several_blocks_is_the_same_with_and_without_sharing);
    return CHECK_EXIT();
}
