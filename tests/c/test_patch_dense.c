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
    /* conv relu conv bn elu conv | maxpool flatten linear */
    if (cn_conv_direct_available())
        plans(net, true, 3);
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

int main(void)
{
    RUN(the_stride_one_convolutions_and_their_activations_are_shared);
    RUN(a_strided_convolution_or_a_pool_first_shares_nothing);
    RUN(a_network_that_is_all_convolutions_shares_nothing);
    RUN(batch_norm_in_training_mode_ends_the_shared_layers);
    return CHECK_EXIT();
}
