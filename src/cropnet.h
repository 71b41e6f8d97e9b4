/*
 * cropnet.h — the public C API of libcropnet.
 *
 * libcropnet is the C core of cropnet: float32 tensors, a BLAS-backed GEMM, dense-network layers,
 * losses, initialisers, optimizers, a mini-batch training loop and the model file. It has no Lua
 * dependency; the Lua module, the command and the GDAL plugin all sit on top of this header.
 *
 * Conventions
 *  - Every fallible function returns a cn_status. On failure it also sets a thread-local message,
 *    read with cn_last_error(); nothing aborts or exits on bad input.
 *  - Handles are opaque and reference counted where they are shared (tensors, layers): _retain
 *    adds a reference, _release drops one and frees on the last. Passing NULL to a release is a
 *    no-op. "Borrowed" results stay valid until the owner is changed or released.
 *  - Data is row-major. A batch of N vectors of D features is an N×D tensor.
 *  - Class ids inside the C core are 0-based and stored as floats (exact up to 2^24).
 */
#ifndef CROPNET_H
#define CROPNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CN_VERSION_MAJOR 0
#define CN_VERSION_MINOR 1
#define CN_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------- status and errors */

typedef enum cn_status {
    CN_OK = 0,
    CN_EINVAL,     /* an argument is out of range or inconsistent */
    CN_ENOMEM,     /* an allocation failed */
    CN_EOVERFLOW,  /* a size computation would overflow */
    CN_ESHAPE,     /* tensor shapes do not fit together */
    CN_EIO,        /* the operating system refused a read or write */
    CN_EFORMAT,    /* a file is truncated, corrupt or not of the expected kind */
    CN_EVERSION,   /* a file was written by a newer, incompatible cropnet */
    CN_ECANCELLED  /* a callback asked to stop */
} cn_status;

/* The message of the last failure on this thread ("" if none). Valid until the next failing call
 * on the same thread. */
const char *cn_last_error(void);

/* A short constant name for a status code ("CN_EINVAL", ...). */
const char *cn_status_name(cn_status status);

/* Sets the thread-local message (printf-style) and returns status; used by the core and by
 * front-ends that want to report through the same channel. */
cn_status cn_set_error(cn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---------------------------------------------------------------- threads */

/* Number of threads the BLAS kernels use (>= 1). Set before training for reproducible results:
 * the same seed and thread count give bit-identical weights. */
void cn_set_threads(int threads);
int cn_get_threads(void);

/* Whether the core silences GDAL's own printing (CPLError to stderr) on the threads that run its
 * raster functions; the messages still reach cn_last_error. Off by default, so a host program
 * keeps its GDAL error handling; the cropnet command and the Lua module turn it on. */
void cn_gdal_set_quiet(bool quiet);

/* The BLAS in use, e.g. "Cooperlake" (OpenBLAS's kernel family), or a note that the reference
 * kernel is used because OpenBLAS could not be loaded. */
const char *cn_blas_info(void);

/* ---------------------------------------------------------------- progress */

/* GDAL's progress convention: called with the fraction done (0..1) and an optional message;
 * return non-zero to go on, zero to cancel (the operation then fails with CN_ECANCELLED and
 * leaves no output). */
typedef int (*cn_progress_fn)(double fraction, const char *message, void *user_data);

/* ---------------------------------------------------------------- random numbers */

/* xoshiro256** generator: small, public so callers can keep one on the stack. */
typedef struct cn_rng {
    uint64_t s[4]; /* generator state; never all zero after cn_rng_seed */
} cn_rng;

void cn_rng_seed(cn_rng *rng, uint64_t seed);
uint64_t cn_rng_next(cn_rng *rng);
double cn_rng_uniform(cn_rng *rng);             /* in [0, 1) */
double cn_rng_normal(cn_rng *rng);              /* mean 0, standard deviation 1 */
uint64_t cn_rng_below(cn_rng *rng, uint64_t n); /* uniform in [0, n); n > 0 */

/* ---------------------------------------------------------------- tensors */

#define CN_MAX_DIMS 5 /* N×C×D×H×W for 3-D convolution */

typedef struct cn_tensor cn_tensor;

/* A new zero-filled contiguous tensor of ndim (1..CN_MAX_DIMS) dimensions, each >= 0, storage
 * aligned to 64 bytes. The caller owns one reference. Errors: CN_EINVAL, CN_EOVERFLOW, CN_ENOMEM. */
cn_status cn_tensor_new(int ndim, const int64_t *dims, cn_tensor **out);
cn_status cn_tensor_new2(int64_t rows, int64_t cols, cn_tensor **out);

cn_tensor *cn_tensor_retain(cn_tensor *t);
void cn_tensor_release(cn_tensor *t);

int cn_tensor_ndim(const cn_tensor *t);
int64_t cn_tensor_dim(const cn_tensor *t, int i); /* 0 when i is out of range */
int64_t cn_tensor_numel(const cn_tensor *t);
float *cn_tensor_data(cn_tensor *t);
const float *cn_tensor_cdata(const cn_tensor *t);
bool cn_tensor_same_shape(const cn_tensor *a, const cn_tensor *b);

/* Formats the shape as "(3 x 32 x 32)" into buf (always NUL-terminated); returns buf. */
char *cn_tensor_shape_str(const cn_tensor *t, char *buf, size_t size);

/* Changes the shape; keeps the storage when it is large enough (contents then unspecified),
 * otherwise reallocates. Errors: CN_EINVAL, CN_EOVERFLOW, CN_ENOMEM (t unchanged on error). */
cn_status cn_tensor_resize(cn_tensor *t, int ndim, const int64_t *dims);
cn_status cn_tensor_resize_as(cn_tensor *t, const cn_tensor *like);

/* Resizes dst to src's shape and copies the values. */
cn_status cn_tensor_copy(cn_tensor *dst, const cn_tensor *src);
void cn_tensor_fill(cn_tensor *t, float value);

/* Gathers along the first dimension: dst (resized to src's shape with count in place of the first
 * size) gets slice index[i] of src at position i. Errors: CN_EINVAL for an index outside src. */
cn_status cn_tensor_gather_rows(cn_tensor *dst, const cn_tensor *src, const int64_t *index,
                                int64_t count);

/* Standardises the columns (the last dimension: bands) of x in place, x ← (x − mean) / std, with
 * mean and std holding one value per column; a std of 0 counts as 1. Errors: CN_ESHAPE. */
cn_status cn_tensor_standardize(cn_tensor *x, const cn_tensor *mean, const cn_tensor *std);
/* The same on a raw rows × cols matrix. Errors: CN_EINVAL. */
cn_status cn_standardize_columns(float *x, int64_t rows, int64_t cols, const float *mean,
                                 const float *std);

/* ---------------------------------------------------------------- GEMM */

/* C = alpha · op(A) · op(B) + beta · C, row-major, op(X) = X or Xᵀ. M, N, K >= 0; lda, ldb, ldc
 * are the row strides of the stored matrices. cn_gemm calls cblas_sgemm; cn_gemm_ref is the plain
 * reference loop the tests compare it with. Arguments are the caller's responsibility (asserted). */
void cn_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
             const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
             int64_t ldc);
void cn_gemm_ref(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc);

/* ---------------------------------------------------------------- layers */

typedef enum cn_layer_kind {
    CN_LAYER_LINEAR = 0,
    CN_LAYER_SIGMOID,
    CN_LAYER_TANH,
    CN_LAYER_RELU,
    CN_LAYER_LEAKY_RELU, /* parameter: negative slope (default 0.01) */
    CN_LAYER_ELU,        /* parameter: alpha (default 1) */
    CN_LAYER_STEP,       /* the perceptron's Heaviside step: 1 if x > 0 else 0 */
    CN_LAYER_SEQUENTIAL,
    /* convolutional-network layers: cropnet_layers.h */
    CN_LAYER_CONV2D,
    CN_LAYER_CONV3D,
    CN_LAYER_MAX_POOL2D,
    CN_LAYER_AVG_POOL2D,
    CN_LAYER_GLOBAL_AVG_POOL,
    CN_LAYER_FLATTEN,
    CN_LAYER_VIEW,
    CN_LAYER_DROPOUT,    /* parameter: drop probability p */
    CN_LAYER_BATCHNORM,
    CN_LAYER_RESIDUAL,
    CN_LAYER_KIND_COUNT
} cn_layer_kind;

typedef struct cn_layer cn_layer;

/* A fully connected layer y = x·Wᵀ + b with W (out × in) and b (out); weights start at zero:
 * call cn_layer_init. Errors: CN_EINVAL for sizes < 1, CN_ENOMEM. */
cn_status cn_linear_new(int64_t in, int64_t out, cn_layer **layer);

/* An element-wise activation. param is the leaky slope or the ELU alpha, ignored otherwise. */
cn_status cn_activation_new(cn_layer_kind kind, float param, cn_layer **layer);
/* Whether kind is one of the element-wise activations (sigmoid, tanh, ReLU, leaky ReLU, ELU,
 * step). */
bool cn_layer_kind_is_activation(int kind);

/* An empty container that applies its children in order. */
cn_status cn_sequential_new(cn_layer **layer);
/* Appends child, taking a new reference to it. Errors: CN_EINVAL (not a sequential, NULL child,
 * or child == seq). */
cn_status cn_sequential_add(cn_layer *seq, cn_layer *child);
size_t cn_sequential_count(const cn_layer *seq);
/* A new sequential of seq's children from index first on (the same layers, new references to
 * them; none when first >= the count). Errors: CN_EINVAL (not a sequential), CN_ENOMEM. */
cn_status cn_sequential_from(cn_layer *seq, size_t first, cn_layer **out);
cn_layer *cn_sequential_child(cn_layer *seq, size_t i); /* borrowed; NULL when out of range */

cn_layer *cn_layer_retain(cn_layer *layer);
void cn_layer_release(cn_layer *layer);

cn_layer_kind cn_layer_kind_of(const cn_layer *layer);
const char *cn_layer_kind_name(cn_layer_kind kind); /* "linear", "relu", ...; NULL if unknown */
int cn_layer_kind_from_name(const char *name);      /* -1 if unknown */
float cn_layer_param(const cn_layer *layer);        /* slope / alpha / dropout p; else 0 */
int64_t cn_linear_in(const cn_layer *layer);        /* 0 for other kinds */
int64_t cn_linear_out(const cn_layer *layer);

/* Forward pass. in is N×D (or 1-D D, taken as one row). *out is the layer's own output buffer:
 * borrowed, overwritten by the next forward. Shape errors name both sizes. */
cn_status cn_layer_forward(cn_layer *layer, const cn_tensor *in, cn_tensor **out);

/* Backward pass for the forward just run on the same input: accumulates parameter gradients and
 * returns the gradient with respect to the input in *grad_in (borrowed, like *out). */
cn_status cn_layer_backward(cn_layer *layer, const cn_tensor *in, const cn_tensor *grad_out,
                            cn_tensor **grad_in);

/* Sets every parameter gradient to zero. */
void cn_layer_zero_grad(cn_layer *layer);

/* Parameter tensors in a fixed depth-first order (a linear layer gives weight, then bias). With
 * params == NULL, returns the count only; otherwise fills up to cap entries of params and grads
 * (either may be NULL) with borrowed tensors and returns the total count. */
size_t cn_layer_params(cn_layer *layer, cn_tensor **params, cn_tensor **grads, size_t cap);

/* Total number of scalar parameters. */
int64_t cn_layer_param_numel(cn_layer *layer);

/* ---------------------------------------------------------------- initialisation */

typedef enum cn_init_kind {
    CN_INIT_GAUSSIAN = 0,   /* N(0, std²) */
    CN_INIT_XAVIER_UNIFORM, /* U(-a, a), a = sqrt(6 / (in + out)): variance 2 / (in + out) */
    CN_INIT_XAVIER_NORMAL,  /* N(0, 2 / (in + out)) */
    CN_INIT_HE_NORMAL,      /* N(0, 2 / in) */
    CN_INIT_HE_UNIFORM,     /* U(-a, a), a = sqrt(6 / in) */
    CN_INIT_KIND_COUNT
} cn_init_kind;

/* Draws every weight of the layer (recursively) from rng and sets biases to zero. std is used by
 * CN_INIT_GAUSSIAN only. Errors: CN_EINVAL. */
cn_status cn_layer_init(cn_layer *layer, cn_init_kind kind, float std, cn_rng *rng);
const char *cn_init_kind_name(cn_init_kind kind);
int cn_init_kind_from_name(const char *name); /* -1 if unknown */

/* ---------------------------------------------------------------- losses */

typedef enum cn_loss_kind {
    CN_LOSS_SOFTMAX_CE = 0, /* pred N×K logits, target N class ids; mean over N */
    CN_LOSS_MSE,            /* pred and target of the same shape; mean over all elements */
    CN_LOSS_BCE,            /* pred probabilities in (0,1), target in {0,1}; mean over elements */
    CN_LOSS_PERCEPTRON,     /* pred N×1 scores, target {0,1}: mean max(0, -(2t-1)·s); its
                               gradient with SGD and batch 1 is Rosenblatt's rule */
    CN_LOSS_KIND_COUNT
} cn_loss_kind;

/* The mean loss of pred against target. Errors: CN_ESHAPE, CN_EINVAL (class id out of range). */
cn_status cn_loss_forward(cn_loss_kind kind, const cn_tensor *pred, const cn_tensor *target,
                          double *loss);
/* d loss / d pred, written into grad (resized to pred's shape). */
cn_status cn_loss_backward(cn_loss_kind kind, const cn_tensor *pred, const cn_tensor *target,
                           cn_tensor *grad);
const char *cn_loss_kind_name(cn_loss_kind kind);
int cn_loss_kind_from_name(const char *name); /* -1 if unknown */

/* ---------------------------------------------------------------- optimizers */

typedef enum cn_optim_kind {
    CN_OPTIM_SGD = 0, /* Torch optim.sgd: momentum, dampening, nesterov as configured */
    CN_OPTIM_RMSPROP,
    CN_OPTIM_ADAM,
    CN_OPTIM_KIND_COUNT
} cn_optim_kind;

/* Torch optim's configuration keys; cn_optim_defaults fills Torch's defaults for the kind. */
typedef struct cn_optim_config {
    double lr;           /* learningRate: sgd 1e-3, rmsprop 1e-2, adam 1e-3 */
    double lr_decay;     /* learningRateDecay (sgd): lr / (1 + t·lr_decay); 0 */
    double weight_decay; /* weightDecay: adds weight_decay·w to the gradient; 0 */
    double momentum;     /* sgd: 0 */
    double dampening;    /* sgd: < 0 means "equal to momentum", Torch's default */
    bool nesterov;       /* sgd: needs momentum > 0 and dampening 0 */
    double alpha;        /* rmsprop smoothing: 0.99 */
    double eps;          /* rmsprop, adam: 1e-8 */
    double beta1;        /* adam: 0.9 */
    double beta2;        /* adam: 0.999 */
} cn_optim_config;

void cn_optim_defaults(cn_optim_kind kind, cn_optim_config *config);

typedef struct cn_optim cn_optim;

/* Validates config (Torch's rules, e.g. Nesterov without momentum is refused) and returns a new
 * optimizer with empty state. Errors: CN_EINVAL, CN_ENOMEM. */
cn_status cn_optim_new(cn_optim_kind kind, const cn_optim_config *config, cn_optim **out);
void cn_optim_free(cn_optim *opt);

/* One update of every parameter of net from its accumulated gradients. The state is sized on
 * the first step; a later step with a different parameter layout fails with CN_ESHAPE. */
cn_status cn_optim_step(cn_optim *opt, cn_layer *net);

/* The current base learning rate (schedules change it between epochs). */
void cn_optim_set_lr(cn_optim *opt, double lr);
double cn_optim_get_lr(const cn_optim *opt);
const cn_optim_config *cn_optim_get_config(const cn_optim *opt);
cn_optim_kind cn_optim_kind_of(const cn_optim *opt);
const char *cn_optim_kind_name(cn_optim_kind kind);

/* Learning-rate schedules, applied at the start of each epoch e (0-based):
 *   CN_SCHEDULE_STEP: lr = lr0 · gamma^floor(e / step_size)
 *   CN_SCHEDULE_EXP:  lr = lr0 · gamma^e */
typedef enum cn_schedule_kind { CN_SCHEDULE_NONE = 0, CN_SCHEDULE_STEP, CN_SCHEDULE_EXP } cn_schedule_kind;

typedef struct cn_schedule {
    cn_schedule_kind kind;
    int step_size; /* epochs per step (CN_SCHEDULE_STEP), >= 1 */
    double gamma;  /* factor, > 0 */
} cn_schedule;

/* The learning rate of epoch e under the schedule, from base rate lr0. */
double cn_schedule_lr(const cn_schedule *schedule, double lr0, int epoch);

/* ---------------------------------------------------------------- training loop */

typedef struct cn_epoch_stats {
    int epoch;        /* 1-based */
    double loss;      /* mean training loss over the epoch */
    double accuracy;  /* training accuracy (softmax CE: argmax; BCE/perceptron: threshold) */
    double lr;        /* learning rate used this epoch */
    int64_t samples;  /* samples seen this epoch */
    double seconds;   /* wall time of the epoch */
} cn_epoch_stats;

/* Called after each epoch; return non-zero to stop training (cn_train then returns
 * CN_ECANCELLED and the weights keep the last completed update). */
typedef int (*cn_epoch_fn)(const cn_epoch_stats *stats, void *user_data);

/* Called by cn_train on each gathered batch before its forward pass, to change the inputs in
 * place (data augmentation; the shape must stay): epoch and batch are 0-based, rng is a generator
 * of the loop's own, seeded from the training seed, so a seed still fixes the weights. A status
 * other than CN_OK stops training with that status. cn_patches_augment_batch is one. */
typedef cn_status (*cn_batch_fn)(cn_tensor *x, cn_tensor *y, int epoch, int64_t batch,
                                 cn_rng *rng, void *user_data);

typedef struct cn_train_config {
    int epochs;            /* >= 1 */
    int64_t batch;         /* >= 1; the last batch of an epoch may be smaller */
    uint64_t seed;         /* shuffling seed: same seed + thread count = same weights */
    bool shuffle;          /* shuffle every epoch (true by default in front-ends) */
    cn_loss_kind loss;
    cn_schedule schedule;
    cn_epoch_fn on_epoch;  /* may be NULL */
    void *user_data;
    cn_batch_fn augment;   /* may be NULL: the batches as gathered */
    void *augment_data;    /* its user_data */
} cn_train_config;

/* Trains net on inputs X (N×D, or N×C×H×W... for convolutional nets: any shape whose first
 * dimension is N) and targets Y (N class ids for softmax CE; N×K or N values for the other
 * losses). Errors: CN_EINVAL, CN_ESHAPE, CN_ENOMEM, CN_ECANCELLED. On error the net holds the
 * weights of the last completed update. If stats is not NULL it receives the last epoch's
 * figures. The net is in training mode during the epochs and in evaluation mode in the epoch
 * callback and on return (cn_layer_set_training). */
cn_status cn_train(cn_layer *net, cn_optim *opt, const cn_tensor *x, const cn_tensor *y,
                   const cn_train_config *config, cn_epoch_stats *stats);

/* Row-wise argmax of an N×K tensor into N 0-based class ids (out resized to N). */
cn_status cn_argmax_rows(const cn_tensor *scores, cn_tensor *out);

/* ---------------------------------------------------------------- model file */

/* A model: a network plus named metadata strings and named extra tensors (normalisation
 * statistics, class tables, ...), saved as one safetensors file (8-byte little-endian header
 * length, JSON header with a "__metadata__" map, raw little-endian float32 tensors) with cropnet's
 * format version and a CRC-32 of the tensor bytes in the metadata. */
typedef struct cn_model cn_model;

/* A new model around net (a new reference is taken). */
cn_status cn_model_new(cn_layer *net, cn_model **out);
void cn_model_free(cn_model *model);
cn_layer *cn_model_net(cn_model *model); /* borrowed */

/* Metadata: keys are non-empty, do not start with "cropnet." (reserved) nor are "__metadata__";
 * values are any UTF-8 string. Setting an existing key replaces it. */
cn_status cn_model_set_meta(cn_model *model, const char *key, const char *value);
const char *cn_model_get_meta(const cn_model *model, const char *key); /* borrowed or NULL */
size_t cn_model_meta_count(const cn_model *model);
const char *cn_model_meta_key(const cn_model *model, size_t i); /* borrowed or NULL */

/* Extra tensors (names must not clash with the network's "layers." names). A new reference is
 * taken; get returns a borrowed tensor or NULL. */
cn_status cn_model_set_tensor(cn_model *model, const char *name, cn_tensor *tensor);
cn_tensor *cn_model_get_tensor(cn_model *model, const char *name);

/* Writes the model to path through a temporary file beside it, renamed on success: on failure
 * nothing is left at path and an existing file there is untouched. Errors: CN_EIO, CN_ENOMEM. */
cn_status cn_model_save(const cn_model *model, const char *path);

/* Reads a model. Every size in the file is checked against the file's length; a truncated,
 * corrupt (checksum), foreign (not safetensors, or safetensors without cropnet metadata) or
 * newer-version file is refused with a message naming path and reason. Errors: CN_EIO,
 * CN_EFORMAT, CN_EVERSION, CN_ENOMEM. */
cn_status cn_model_load(const char *path, cn_model **out);

/* The file format version this library writes and the newest it reads. */
#define CN_MODEL_FORMAT_VERSION 1

#include "cropnet_raster.h"
#include "cropnet_data.h"
#include "cropnet_scene.h"
#include "cropnet_cluster.h"
#include "cropnet_layers.h"
#include "cropnet_patches.h"

#ifdef __cplusplus
}
#endif

#endif /* CROPNET_H */
