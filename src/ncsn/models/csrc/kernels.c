/* CPU kernels of the U-Net's layers that PyTorch runs slowly on channels_last float32 tensors; built and
 * loaded by ncsn/models/native.py (once per machine, cached). Samples are spread over PyTorch's own
 * OpenMP threads (the library links the libgomp that PyTorch loaded); each sample's result is computed by
 * one thread in a fixed order, so results do not depend on the number of threads. Compiled without
 * -ffinite-math-only, so that NaN and infinity propagate as in PyTorch (exp is a polynomial the compiler
 * can vectorise, not libm's) or -fassociative-math (which would undo exp's rounding trick).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 16 floats in one vector register (GCC and Clang vector extension; lowered to narrower registers where
 * the CPU has no 512-bit ones). */
typedef float f32x16 __attribute__((vector_size(64)));

static inline f32x16 load16(const float *p) {
    f32x16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store16(float *p, f32x16 v) { memcpy(p, &v, sizeof v); }

/* Sums over the pixels run in float over blocks of BLOCK vectors and in double across blocks: converting
 * every vector to double took three times as long as the rest of a statistics pass (instance norm), and
 * made group norm's backward pass 1.6x slower (1.25 -> 0.78 ms at [128, 16, 28, 28], 2 threads). */
#define BLOCK 8

typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef double f64x8 __attribute__((vector_size(64)));

/* where mask (all ones or zeros per lane), a; else b */
static inline f32x16 select16(i32x16 mask, f32x16 a, f32x16 b) {
    return (f32x16)((mask & (i32x16)a) | (~mask & (i32x16)b));
}

/* exp(v) within 2 ulp for |v| <= 88 (clamped beyond; NaN stays NaN): 2^n * e^r with |r| <= ln(2)/2,
 * e^r by its degree-7 Taylor-like minimax polynomial (Cephes' expf coefficients). */
static inline float exp_clamped(float v) {
    v = v > 88.0f ? 88.0f : v;
    v = v < -88.0f ? -88.0f : v;
    float t = v * 1.44269504088896341f + 12582912.0f; /* 1.5 * 2^23: rounds v / ln(2) to an integer */
    float n = t - 12582912.0f;
    union { float f; int32_t i; } rounded = {t};
    int32_t exponent = rounded.i - 0x4B400000;
    float r = v - n * 0.693359375f; /* ln(2) in two parts, exact products */
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } scale = {(exponent + 127) << 23};
    return p * scale.f;
}

/* exp_clamped on 16 lanes, step by step the same. */
static inline f32x16 exp_clamped16(f32x16 v) {
    const f32x16 hi = {88.0f, 88.0f, 88.0f, 88.0f, 88.0f, 88.0f, 88.0f, 88.0f,
                       88.0f, 88.0f, 88.0f, 88.0f, 88.0f, 88.0f, 88.0f, 88.0f};
    v = select16(v > hi, hi, v);
    v = select16(v < -hi, -hi, v);
    f32x16 t = v * 1.44269504088896341f + 12582912.0f;
    f32x16 n = t - 12582912.0f;
    i32x16 exponent = (i32x16)t - 0x4B400000;
    f32x16 r = v - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    f32x16 p = 1.9875691500e-4f * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * (f32x16)((exponent + 127) << 23);
}

/* d silu(z) / dz times the incoming gradient gy: sigmoid(z) (1 + z (1 - sigmoid(z))) gy. */
static inline float silu_grad(float gy, float z) {
    const float sig = 1.0f / (1.0f + exp_clamped(-z));
    return gy * (sig * (1.0f + z * (1.0f - sig)));
}

static inline f32x16 silu_grad16(f32x16 gy, f32x16 z) {
    const f32x16 sig = 1.0f / (1.0f + exp_clamped16(-z));
    return gy * (sig * (1.0f + z * (1.0f - sig)));
}

/* Running sums in double of 16 float lanes, in two vectors of 8. */
typedef struct {
    f64x8 lo, hi;
} sum16;

static inline void add16(sum16 *sum, f32x16 v) {
    sum->lo += __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), f64x8);
    sum->hi += __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15), f64x8);
}

static inline void store_sum16(double *out, sum16 sum) {
    for (int k = 0; k < 8; k++) {
        out[k] = sum.lo[k];
        out[8 + k] = sum.hi[k];
    }
}

/* silu(group_norm(x + offset)) of x, out: [n][hw][c] float32 (out may be x); weight, bias: [c]; offset:
 * [n][c] or NULL. PyTorch's form of this function makes six passes over the activations, each from main
 * memory; here each sample's [hw][c] slab is read once from memory and once more from the core's cache:
 *   1. per channel, the sums of d and d^2 (BLOCK) for d = x - x[pixel 0] (the shift keeps the one-pass
 *      variance accurate for activations far from zero mean);
 *   2. per group, mean and variance by the law of total variance (mean of the channel variances plus
 *      the variance of the channel means), in double;
 *   3. out = silu(x * scale_c + shift_c), scale_c = weight_c / std_g, shift_c = bias_c + (offset_c -
 *      mean_g) * scale_c: the per-sample, per-channel offset (the U-Net's noise-level embedding) is added
 *      to x without a pass of its own.
 * Channel counts that are multiples of 16 run on vectors of 16, others one channel at a time. */
/* Steps 1 and 2 for one sample's slab xs: the per-channel scale and shift of step 3, and (if stats is not
 * NULL) the group means of x + offset and their 1 / std, [groups][2]. */
static void group_norm_scale_shift(const float *xs, int64_t hw, int64_t c, int64_t groups, const float *weight,
                                   const float *bias, const float *off, float eps, float *scale, float *shift,
                                   double *stats) {
    const int64_t per_group = c / groups;
    float shift_ref[c];
    double sum[c], sq[c], mean[c], var[c];
    for (int64_t k = 0; k < c; k++) shift_ref[k] = xs[k];
    if (c % 16 == 0) {
        /* 16 channels at a time, pixel after pixel: d and its block sums in float, the totals in double */
        for (int64_t k0 = 0; k0 < c; k0 += 16) {
            const f32x16 ref = load16(shift_ref + k0);
            sum16 s1 = {{0.0}, {0.0}}, s2 = {{0.0}, {0.0}};
            for (int64_t p0 = 0; p0 < hw; p0 += BLOCK) {
                const int64_t p1 = p0 + BLOCK < hw ? p0 + BLOCK : hw;
                f32x16 b1 = {0.0f}, b2 = {0.0f};
                for (int64_t p = p0; p < p1; p++) {
                    const f32x16 d = load16(xs + p * c + k0) - ref;
                    b1 += d;
                    b2 += d * d;
                }
                add16(&s1, b1);
                add16(&s2, b2);
            }
            store_sum16(sum + k0, s1);
            store_sum16(sq + k0, s2);
        }
    } else {
        for (int64_t k = 0; k < c; k++) sum[k] = sq[k] = 0.0;
        for (int64_t p = 0; p < hw; p++)
            for (int64_t k = 0; k < c; k++) {
                const double d = xs[p * c + k] - shift_ref[k];
                sum[k] += d;
                sq[k] += d * d;
            }
    }
    for (int64_t k = 0; k < c; k++) {
        double m = sum[k] / hw, v = sq[k] / hw - m * m;
        mean[k] = shift_ref[k] + m + (off ? off[k] : 0.0f);
        var[k] = v > 0.0 ? v : 0.0;
    }
    for (int64_t g = 0; g < groups; g++) {
        const int64_t k0 = g * per_group, k1 = k0 + per_group;
        double mean_g = 0.0, var_g = 0.0;
        for (int64_t k = k0; k < k1; k++) mean_g += mean[k];
        mean_g /= per_group;
        for (int64_t k = k0; k < k1; k++) var_g += var[k] + (mean[k] - mean_g) * (mean[k] - mean_g);
        var_g /= per_group;
        const double rstd = 1.0 / sqrt(var_g + eps);
        if (stats) {
            stats[g * 2] = mean_g;
            stats[g * 2 + 1] = rstd;
        }
        for (int64_t k = k0; k < k1; k++) {
            const double sc = rstd * weight[k];
            scale[k] = (float)sc;
            shift[k] = (float)(bias[k] + ((off ? off[k] : 0.0f) - mean_g) * sc);
        }
    }
}

static inline f32x16 silu16(f32x16 a) { return a / (1.0f + exp_clamped16(-a)); }

void ncsn_group_norm_silu_nhwc(const float *x, float *out, int64_t n, int64_t hw, int64_t c, int64_t groups,
                               const float *weight, const float *bias, const float *offset, float eps,
                               double *stats) {
#pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x + s * hw * c;
        float *os = out + s * hw * c;
        float scale[c], shift[c];
        /* for the backward pass: [n][groups][mean of x + offset, 1 / std] */
        group_norm_scale_shift(xs, hw, c, groups, weight, bias, offset ? offset + s * c : 0, eps, scale, shift,
                               stats ? stats + s * groups * 2 : 0);
        if (c % 16 == 0) {
            for (int64_t p = 0; p < hw; p++)
                for (int64_t k0 = 0; k0 < c; k0 += 16)
                    store16(os + p * c + k0, silu16(load16(xs + p * c + k0) * load16(scale + k0) + load16(shift + k0)));
        } else {
            for (int64_t p = 0; p < hw; p++) {
                const float *row = xs + p * c;
                float *orow = os + p * c;
                for (int64_t k = 0; k < c; k++) {
                    float a = row[k] * scale[k] + shift[k];
                    orow[k] = a / (1.0f + exp_clamped(-a));
                }
            }
        }
    }
}

/* The gradient of silu(group_norm(x + offset)) from the forward pass's `stats` (mean and 1 / std per
 * sample and group) and the incoming gradient `grad` [n][hw][c], in two passes over each sample's slab
 * (the second from the core's cache), with z = weight_c * xhat + bias_c, xhat = (x + offset_c - mean) / std:
 *   1. per channel, A_c = sum of g * xhat and B_c = sum of g over the pixels (BLOCK), for
 *      g = grad * silu'(z) (z recomputed from x);
 *   2. grad_x = rstd * (weight_c * g - M_B - xhat * M_A), with M_B, M_A the group means of weight_c * B_c
 *      and weight_c * A_c over its (channels x pixels) elements; grad_offset_c (if asked) the sum of
 *      grad_x over the pixels.
 * grad_weight and grad_bias are the sums of A and B over the samples, added in sample order after the
 * parallel loop, so that they do not depend on the number of threads. */
void ncsn_group_norm_silu_backward_nhwc(const float *x, const float *grad, float *grad_x, int64_t n, int64_t hw,
                                        int64_t c, int64_t groups, const float *weight, const float *bias,
                                        const float *offset, const double *stats, double *partial,
                                        float *grad_weight, float *grad_bias, float *grad_offset) {
    const int64_t per_group = c / groups;
#pragma omp parallel
    {
    /* g of the sample in hand, kept from pass 1 for pass 2 (it stays in the core's cache); recomputed where
     * this cannot be allocated */
    float *kept = c % 16 == 0 ? malloc(sizeof(float) * hw * c) : 0;
#pragma omp for schedule(static)
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x + s * hw * c, *gs = grad + s * hw * c;
        float *dxs = grad_x + s * hw * c;
        const float *off = offset ? offset + s * c : 0;
        float rstd[c], shift_hat[c], scale[c], shift[c], coef_g[c], coef_b[c], coef_a[c];
        double a[c], b[c], doff[c];
        for (int64_t k = 0; k < c; k++) {
            const double mean = stats[(s * groups + k / per_group) * 2], r = stats[(s * groups + k / per_group) * 2 + 1];
            rstd[k] = (float)r;
            shift_hat[k] = (float)(((off ? off[k] : 0.0f) - mean) * r); /* xhat = x * rstd + shift_hat */
            scale[k] = (float)(r * weight[k]);
            shift[k] = (float)(bias[k] + ((off ? off[k] : 0.0f) - mean) * r * weight[k]);
            a[k] = b[k] = doff[k] = 0.0;
        }
        if (c % 16 == 0) {
            for (int64_t k0 = 0; k0 < c; k0 += 16) {
                const f32x16 sc = load16(scale + k0), sh = load16(shift + k0), r = load16(rstd + k0),
                             sh_hat = load16(shift_hat + k0);
                sum16 sum_gx = {{0.0}, {0.0}}, sum_g = {{0.0}, {0.0}};
                for (int64_t p0 = 0; p0 < hw; p0 += BLOCK) {
                    const int64_t p1 = p0 + BLOCK < hw ? p0 + BLOCK : hw;
                    f32x16 block_gx = {0.0f}, block_g = {0.0f};
                    for (int64_t p = p0; p < p1; p++) {
                        const f32x16 v = load16(xs + p * c + k0);
                        const f32x16 g = silu_grad16(load16(gs + p * c + k0), v * sc + sh);
                        if (kept) store16(kept + p * c + k0, g);
                        block_gx += g * (v * r + sh_hat);
                        block_g += g;
                    }
                    add16(&sum_gx, block_gx);
                    add16(&sum_g, block_g);
                }
                store_sum16(a + k0, sum_gx);
                store_sum16(b + k0, sum_g);
            }
        } else {
            for (int64_t p = 0; p < hw; p++)
                for (int64_t k = 0; k < c; k++) {
                    const float v = xs[p * c + k], g = silu_grad(gs[p * c + k], v * scale[k] + shift[k]);
                    a[k] += (double)(g * (v * rstd[k] + shift_hat[k]));
                    b[k] += g;
                }
        }
        for (int64_t g0 = 0; g0 < groups; g0++) {
            const int64_t k0 = g0 * per_group, k1 = k0 + per_group;
            double mean_b = 0.0, mean_a = 0.0;
            for (int64_t k = k0; k < k1; k++) {
                mean_b += weight[k] * b[k];
                mean_a += weight[k] * a[k];
            }
            mean_b /= (double)per_group * hw;
            mean_a /= (double)per_group * hw;
            for (int64_t k = k0; k < k1; k++) {
                coef_g[k] = rstd[k] * weight[k];
                coef_a[k] = (float)(-rstd[k] * mean_a);
                coef_b[k] = (float)(-rstd[k] * mean_b);
            }
        }
        if (c % 16 == 0) {
            for (int64_t k0 = 0; k0 < c; k0 += 16) {
                const f32x16 sc = load16(scale + k0), sh = load16(shift + k0), r = load16(rstd + k0),
                             sh_hat = load16(shift_hat + k0), cg = load16(coef_g + k0), ca = load16(coef_a + k0),
                             cb = load16(coef_b + k0);
                sum16 sum_dx = {{0.0}, {0.0}};
                for (int64_t p0 = 0; p0 < hw; p0 += BLOCK) {
                    const int64_t p1 = p0 + BLOCK < hw ? p0 + BLOCK : hw;
                    f32x16 block_dx = {0.0f};
                    for (int64_t p = p0; p < p1; p++) {
                        const f32x16 v = load16(xs + p * c + k0);
                        const f32x16 g = kept ? load16(kept + p * c + k0) : silu_grad16(load16(gs + p * c + k0), v * sc + sh);
                        const f32x16 dx = cg * g + ca * (v * r + sh_hat) + cb;
                        store16(dxs + p * c + k0, dx);
                        block_dx += dx;
                    }
                    if (grad_offset) add16(&sum_dx, block_dx);
                }
                store_sum16(doff + k0, sum_dx);
            }
        } else {
            for (int64_t p = 0; p < hw; p++)
                for (int64_t k = 0; k < c; k++) {
                    const float v = xs[p * c + k], g = silu_grad(gs[p * c + k], v * scale[k] + shift[k]);
                    const float dx = coef_g[k] * g + coef_a[k] * (v * rstd[k] + shift_hat[k]) + coef_b[k];
                    dxs[p * c + k] = dx;
                    doff[k] += dx;
                }
        }
        for (int64_t k = 0; k < c; k++) {
            partial[(s * c + k) * 2] = a[k];
            partial[(s * c + k) * 2 + 1] = b[k];
            if (grad_offset) grad_offset[s * c + k] = (float)doff[k];
        }
    }
    free(kept);
    }
    for (int64_t k = 0; k < c; k++) {
        double sum_a = 0.0, sum_b = 0.0;
        for (int64_t s = 0; s < n; s++) {
            sum_a += partial[(s * c + k) * 2];
            sum_b += partial[(s * c + k) * 2 + 1];
        }
        grad_weight[k] = (float)sum_a;
        grad_bias[k] = (float)sum_b;
    }
}

/* out[s][p] = (bias + sum over the 3 x 3 taps q and channels k of x[s][p + q][k] * weight[q][k]) / divisor[s]:
 * a 3 x 3 convolution (padding 1, stride 1) from c channels to one, of channels_last float32 x [n][h][w][c];
 * weight [9][c] (tap-major: row, column); divisor [n] or NULL (1). oneDNN's kernels, made for many output
 * channels, take as long for this one output channel as for sixteen. */
/* The sum over the 3 x 3 taps inside the image and channels k0 .. k0 + 16 of px[k] * wq[k]: 16 partial
 * sums in one vector, added at the end as a tree (4 dependent steps instead of 16). */
static inline float taps_dot16(const float *xs, const float *weight, int64_t h, int64_t w, int64_t c, int64_t i,
                               int64_t j, int64_t k0) {
    f32x16 acc = {0.0f};
    for (int64_t di = -1; di <= 1; di++) {
        if (i + di < 0 || i + di >= h) continue;
        for (int64_t dj = -1; dj <= 1; dj++) {
            if (j + dj < 0 || j + dj >= w) continue;
            acc += load16(xs + ((i + di) * w + (j + dj)) * c + k0) * load16(weight + ((di + 1) * 3 + (dj + 1)) * c + k0);
        }
    }
    float lanes[16];
    memcpy(lanes, &acc, sizeof lanes);
    for (int k = 0; k < 8; k++) lanes[k] += lanes[k + 8];
    for (int k = 0; k < 4; k++) lanes[k] += lanes[k + 4];
    return (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]);
}

/* The same for any number of channels, one at a time. */
static inline float taps_dot(const float *xs, const float *weight, int64_t h, int64_t w, int64_t c, int64_t i,
                             int64_t j) {
    float total = 0.0f;
    for (int64_t di = -1; di <= 1; di++) {
        if (i + di < 0 || i + di >= h) continue;
        for (int64_t dj = -1; dj <= 1; dj++) {
            if (j + dj < 0 || j + dj >= w) continue;
            const float *px = xs + ((i + di) * w + (j + dj)) * c;
            const float *wq = weight + ((di + 1) * 3 + (dj + 1)) * c;
            for (int64_t k = 0; k < c; k++) total += px[k] * wq[k];
        }
    }
    return total;
}

void ncsn_conv3x3_to_one_nhwc(const float *x, float *out, int64_t n, int64_t h, int64_t w, int64_t c,
                              const float *weight, const float *bias, const float *divisor) {
#pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x + s * h * w * c;
        const float d = divisor ? divisor[s] : 1.0f;
        for (int64_t i = 0; i < h; i++) {
            for (int64_t j = 0; j < w; j++) {
                float total = 0.0f;
                if (c % 16 == 0)
                    for (int64_t k0 = 0; k0 < c; k0 += 16) total += taps_dot16(xs, weight, h, w, c, i, j, k0);
                else
                    total = taps_dot(xs, weight, h, w, c, i, j);
                out[(s * h + i) * w + j] = (total + (bias ? bias[0] : 0.0f)) / d;
            }
        }
    }
}

/* ---- The U-Net's 3 x 3 convolutions (stride 1, padding 1) without autograd ----
 * out[s][i][j][o] = bias[o] + residual[s][i][j][o] + sum over taps (di, dj) and channels k of
 *                   in[s][i + di][j + dj][k] * weight[o][k][di + 1][dj + 1]
 * of channels_last float32 tensors, where `in` is x itself, silu(group_norm(x + offset)) (the U-Net's
 * residual blocks, whose normalised activations then never go to memory) or x upsampled 2x by nearest
 * neighbour (its upsampling convolutions); residual may be NULL. weight comes packed in blocks of 16 output
 * channels, [oc / 16][3][3][c][16].
 * Each thread writes a sample's `in` into a buffer of its own with a zero border, read from the core's
 * cache from then on, and computes rows of up to CONV_PIXELS output pixels x 16 output channels in vector
 * registers: each input value is broadcast once per row tap and meets the three column taps' weight
 * vectors, so each multiply-add loads less than half a vector. The loop bounds are compile-time constants
 * for the channel counts in CONV_CHANNELS (offsets become immediates): with a run-time count, GCC spent
 * registers on addresses and the kernel ran at the speed of oneDNN's. */
#define CONV_PIXELS 14 /* 14 accumulators, 3 weights and a broadcast in 32 vector registers */

static inline __attribute__((always_inline)) void conv_row(const float *in, int64_t in_row, const int64_t c,
                                                           const float *weight, const float *bias,
                                                           const float *residual, float *out, int64_t oc,
                                                           const int pixels, int64_t stored) {
    f32x16 acc[CONV_PIXELS];
    const f32x16 b = load16(bias);
    _Pragma("GCC unroll 16") for (int p = 0; p < pixels; p++) acc[p] = residual ? b + load16(residual + p * oc) : b;
    for (int di = 0; di < 3; di++) {
        const float *row = in + di * in_row * c;
        const float *taps = weight + di * 3 * c * 16;
        for (int64_t k = 0; k < c; k++) {
            const f32x16 w0 = load16(taps + k * 16), w1 = load16(taps + (c + k) * 16),
                         w2 = load16(taps + (2 * c + k) * 16);
            _Pragma("GCC unroll 16") for (int q = 0; q < pixels + 2; q++) {
                /* x - 0 is x for every float (x + 0 is not, for -0), and compiles to a plain broadcast */
                const f32x16 v = row[q * c + k] - (f32x16){0.0f};
                if (q < pixels) acc[q] += v * w0;
                if (q >= 1 && q <= pixels) acc[q - 1] += v * w1;
                if (q >= 2) acc[q - 2] += v * w2;
            }
        }
    }
    for (int p = 0; p < stored; p++) store16(out + p * oc, acc[p]);
}

/* One sample's rows from its bordered input (rows of in_row pixels; output pixel (i, j) reads in's pixels
 * (i .. i + 2, j .. j + 2)): row blocks of CONV_PIXELS pixels; a map 7 wide in one block of 7. */
static inline __attribute__((always_inline)) void conv_sample(const float *in, int64_t in_row, const int64_t c,
                                                              int64_t h, int64_t w, const float *weight,
                                                              const float *bias, const float *residual,
                                                              float *out, int64_t oc) {
    for (int64_t i = 0; i < h; i++) {
        const float *in_i = in + i * in_row * c;
        for (int64_t o0 = 0; o0 < oc; o0 += 16) {
            const float *wo = weight + o0 * 9 * c;
            const int64_t at = i * w * oc + o0;
            const float *res = residual ? residual + at : 0;
            if (w == 7) {
                conv_row(in_i, in_row, c, wo, bias + o0, res, out + at, oc, 7, 7);
                continue;
            }
            for (int64_t j = 0; j < w; j += CONV_PIXELS) {
                const int64_t stored = w - j < CONV_PIXELS ? w - j : CONV_PIXELS;
                conv_row(in_i + j * c, in_row, c, wo, bias + o0, res ? res + j * oc : 0, out + at + j * oc, oc,
                         CONV_PIXELS, stored);
            }
        }
    }
}

#define CONV_CHANNELS(X) X(16) X(32) X(48) X(64) X(96) X(128)

int ncsn_conv3x3_channels_supported(int64_t c) {
#define CONV_CASE(C) if (c == C) return 1;
    CONV_CHANNELS(CONV_CASE)
#undef CONV_CASE
    return 0;
}

/* Whether the kernel has the 32 vector registers of 16 floats that its row blocks are made for (AVX-512).
 * Elsewhere GCC splits each vector in two and the accumulators no longer fit: correct, but slower. */
int ncsn_conv3x3_registers_fit(void) {
#ifdef __AVX512F__
    return 1;
#else
    return 0;
#endif
}

/* Returns 0, or 1 where a thread could not allocate its buffer (out is then incomplete). */
int ncsn_conv3x3_nhwc(const float *x, float *out, int64_t n, int64_t h, int64_t w, int64_t c, int64_t oc,
                      const float *weight, const float *bias, const float *residual, int32_t upsample,
                      int64_t groups, const float *norm_weight, const float *norm_bias, const float *offset,
                      float eps) {
    /* a zero border of one pixel, and CONV_PIXELS more zero pixels on the right for a row's last, partial block */
    const int64_t in_row = w + 2 + CONV_PIXELS, in_size = (h + 2) * in_row * c;
    const int64_t xh = upsample ? h / 2 : h, xw = upsample ? w / 2 : w;
    int failed = 0;
#pragma omp parallel
    {
        float *in = calloc(in_size, sizeof(float));
        float scale[groups ? c : 1], shift[groups ? c : 1];
        if (!in) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int64_t s = 0; s < n; s++) {
            if (!in) continue;
            const float *xs = x + s * xh * xw * c;
            if (groups)
                group_norm_scale_shift(xs, xh * xw, c, groups, norm_weight, norm_bias, offset ? offset + s * c : 0,
                                       eps, scale, shift, 0);
            for (int64_t i = 0; i < h; i++)
                for (int64_t j = 0; j < w; j++) {
                    const float *px = xs + ((upsample ? i / 2 : i) * xw + (upsample ? j / 2 : j)) * c;
                    float *to = in + ((i + 1) * in_row + j + 1) * c;
                    for (int64_t k0 = 0; k0 < c; k0 += 16)
                        store16(to + k0, groups ? silu16(load16(px + k0) * load16(scale + k0) + load16(shift + k0))
                                                : load16(px + k0));
                }
            const float *res = residual ? residual + s * h * w * oc : 0;
            float *os = out + s * h * w * oc;
#define CONV_CASE(C) \
    if (c == C) conv_sample(in, in_row, C, h, w, weight, bias, res, os, oc);
            CONV_CHANNELS(CONV_CASE)
#undef CONV_CASE
        }
        free(in);
    }
    return failed;
}

/* ---- The reference network's conditional instance norm++ (+ ELU) ----
 * A [hw][c] slab is read here as flat vectors of 16 floats whatever c is (the reference network has 8, 12,
 * 16 and 24 channels): the flat index i holds channel i % c, so the per-channel pattern of a vector repeats
 * every `period` = lcm(c, 16) floats, period / 16 vectors. Whole periods run on vectors, the rest of the slab
 * (when hw * c is not a multiple of the period) one float at a time. */

static int64_t period_of(int64_t c) {
    int64_t a = c, b = 16;
    while (b) {
        const int64_t t = a % b;
        a = b;
        b = t;
    }
    return c / a * 16;
}

/* The 16 lanes of the vector at flat offset v (within a period) added to their channels' sums. */
static void add_lanes_to_channels(double *per_channel, sum16 lanes, int64_t v, int64_t c) {
    double values[16];
    store_sum16(values, lanes);
    for (int j = 0; j < 16; j++) per_channel[(v + j) % c] += values[j];
}

/* pattern[i] = per_channel[i % c] for i < period */
static void tile(float *pattern, const float *per_channel, int64_t c, int64_t period) {
    for (int64_t i = 0; i < period; i++) pattern[i] = per_channel[i % c];
}

/* exp of min(z, 0) written so that NaN stays NaN */
static inline f32x16 elu16(f32x16 z) {
    const f32x16 zero = {0.0f};
    return select16(z > zero, z, exp_clamped16(select16(z > zero, zero, z)) - 1.0f);
}

static inline float elu1(float z) { return z > 0.0f ? z : exp_clamped(z) - 1.0f; }

/* dELU/dz times g, from z: g where z > 0, else g * exp(z) */
static inline f32x16 elu_grad16(f32x16 g, f32x16 z) {
    const f32x16 zero = {0.0f};
    return select16(z > zero, g, g * exp_clamped16(select16(z > zero, zero, z)));
}

static inline float elu_grad1(float g, float z) { return z > 0.0f ? g : g * exp_clamped(z); }

/* Per channel, the sums of d and d^2 in double over a slab, d = x - ref_c (ref_c: pixel 0's value, which keeps
 * the one-pass variance accurate far from zero mean). */
static void shifted_channel_sums(const float *xs, int64_t size, int64_t c, int64_t period, const float *ref,
                                 double *sum, double *sq) {
    const int64_t whole = size / period * period;
    for (int64_t k = 0; k < c; k++) sum[k] = sq[k] = 0.0;
    for (int64_t v = 0; v < period; v += 16) {
        const f32x16 r = load16(ref + v);
        sum16 s1 = {{0.0}, {0.0}}, s2 = {{0.0}, {0.0}};
        for (int64_t q0 = v; q0 < whole; q0 += BLOCK * period) {
            f32x16 b1 = {0.0f}, b2 = {0.0f};
            for (int64_t q = q0; q < whole && q < q0 + BLOCK * period; q += period) {
                const f32x16 d = load16(xs + q) - r;
                b1 += d;
                b2 += d * d;
            }
            add16(&s1, b1);
            add16(&s2, b2);
        }
        add_lanes_to_channels(sum, s1, v, c);
        add_lanes_to_channels(sq, s2, v, c);
    }
    for (int64_t i = whole; i < size; i++) {
        const double d = xs[i] - ref[i % c];
        sum[i % c] += d;
        sq[i % c] += d * d;
    }
}

/* The standardised channel means of one sample (the "++" term): (mean_k - M) / sqrt(V + eps), M and V the
 * mean and the unbiased variance of the c channel means; returns 1 / sqrt(V + eps). */
static double standardised_means(const double *mean, int64_t c, float eps, double *mhat) {
    double m = 0.0, v = 0.0;
    for (int64_t k = 0; k < c; k++) m += mean[k];
    m /= c;
    for (int64_t k = 0; k < c; k++) v += (mean[k] - m) * (mean[k] - m);
    const double rs = 1.0 / sqrt(v / (c - 1) + eps);
    for (int64_t k = 0; k < c; k++) mhat[k] = (mean[k] - m) * rs;
    return rs;
}

/* out = [elu](gamma_k * (xhat + alpha_k * mhat_k) + beta_k) of x, out: [n][hw][c] float32 (out may be x);
 * gamma, alpha, beta: [n][c]; xhat = (x - mean_k) / sqrt(var_k + eps) per sample and channel (biased
 * variance), mhat the standardised channel means. PyTorch's form takes about a dozen passes over the
 * activations (statistics, scale and shift, ELU's clamp, exp, subtraction and maximum); here each sample's
 * slab is read once from memory and once more from the core's cache:
 *   1. per channel, the sums of d and d^2 in double, d = x - x[pixel 0];
 *   2. per channel, in double: mean, 1 / std, mhat, then scale = gamma / std and bias = beta + gamma alpha mhat;
 *   3. out = (x - mean) * scale + bias, through ELU if `elu`.
 * stats (or NULL): [n][c][mean, 1 / std] in double, for the backward pass. */
void ncsn_cond_instance_norm_plus_nhwc(const float *x, float *out, int64_t n, int64_t hw, int64_t c,
                                      const float *gamma, const float *alpha, const float *beta, float eps,
                                      int32_t elu, double *stats) {
    const int64_t period = period_of(c), size = hw * c, whole = size / period * period;
#pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x + s * size;
        float *os = out + s * size;
        const float *ga = gamma + s * c, *al = alpha + s * c, *be = beta + s * c;
        float ref[period], mean_p[period], scale_p[period], bias_p[period], mean_f[c], scale[c], bias[c];
        double sum[c], sq[c], mean[c], mhat[c];
        tile(ref, xs, c, period);
        shifted_channel_sums(xs, size, c, period, ref, sum, sq);
        for (int64_t k = 0; k < c; k++) {
            const double m = sum[k] / hw;
            mean[k] = ref[k] + m;
            sq[k] = sq[k] / hw - m * m; /* now the variance */
        }
        standardised_means(mean, c, eps, mhat);
        for (int64_t k = 0; k < c; k++) {
            const double rstd = 1.0 / sqrt((sq[k] > 0.0 ? sq[k] : 0.0) + eps);
            mean_f[k] = (float)mean[k];
            scale[k] = (float)(ga[k] * rstd);
            bias[k] = (float)(be[k] + (double)ga[k] * al[k] * mhat[k]);
            if (stats) {
                stats[(s * c + k) * 2] = mean[k];
                stats[(s * c + k) * 2 + 1] = rstd;
            }
        }
        tile(mean_p, mean_f, c, period);
        tile(scale_p, scale, c, period);
        tile(bias_p, bias, c, period);
        for (int64_t q = 0; q < whole; q += period)
            for (int64_t v = 0; v < period; v += 16) {
                const f32x16 z = (load16(xs + q + v) - load16(mean_p + v)) * load16(scale_p + v) + load16(bias_p + v);
                store16(os + q + v, elu ? elu16(z) : z);
            }
        for (int64_t i = whole; i < size; i++) {
            const float z = (xs[i] - mean_f[i % c]) * scale[i % c] + bias[i % c];
            os[i] = elu ? elu1(z) : z;
        }
    }
}

/* The gradients of the function above with respect to x, gamma, alpha and beta ([n][c] each: the rows of
 * the noise-level embedding that each sample used), from the incoming `grad` [n][hw][c] and the forward
 * pass's `stats`, in two passes over each sample's slab (the second from the core's cache), with
 * g = grad * elu'(z) (z recomputed from x; g = grad without ELU), d = x - mean_k, xhat = d / std_k:
 *   1. per channel, A_k = sum of g * xhat and B_k = sum of g over the pixels, in double;
 *   2. grad_beta = B, grad_gamma = A + alpha mhat B, grad_alpha = gamma mhat B; through the channel means,
 *      G_k = gamma_k alpha_k B_k (the gradient of mhat_k) gives
 *      grad_mean_k = (G_k - mean(G) - mhat_k sum_j(G_j mhat_j) / (c - 1)) / sqrt(V + eps);
 *      grad_x = gamma_k / std_k * (g - B_k / hw - xhat A_k / hw) + grad_mean_k / hw. */
void ncsn_cond_instance_norm_plus_backward_nhwc(const float *x, const float *grad, float *grad_x, int64_t n,
                                               int64_t hw, int64_t c, const float *gamma, const float *alpha,
                                               const float *beta, float eps, int32_t elu, const double *stats,
                                               float *grad_gamma, float *grad_alpha, float *grad_beta) {
    const int64_t period = period_of(c), size = hw * c, whole = size / period * period;
#pragma omp parallel
    {
    /* g of the sample in hand, kept from pass 1 for pass 2 (in the core's cache); without ELU g is grad itself,
     * and where this cannot be allocated g is recomputed */
    float *kept = elu ? malloc(sizeof(float) * size) : 0;
#pragma omp for schedule(static)
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x + s * size, *gs = grad + s * size;
        float *dxs = grad_x + s * size;
        const float *ga = gamma + s * c, *al = alpha + s * c, *be = beta + s * c;
        float mean_p[period], rstd_p[period], scale_p[period], bias_p[period], coef_g[period], coef_d[period],
            coef_1[period], mean_f[c], rstd_f[c], scale[c], bias[c], cg[c], cd[c], c1[c];
        double mean[c], rstd[c], mhat[c], a[c], b[c];
        for (int64_t k = 0; k < c; k++) {
            mean[k] = stats[(s * c + k) * 2];
            rstd[k] = stats[(s * c + k) * 2 + 1];
            a[k] = b[k] = 0.0;
        }
        const double rs = standardised_means(mean, c, eps, mhat);
        for (int64_t k = 0; k < c; k++) {
            mean_f[k] = (float)mean[k];
            rstd_f[k] = (float)rstd[k];
            scale[k] = (float)(ga[k] * rstd[k]);
            bias[k] = (float)(be[k] + (double)ga[k] * al[k] * mhat[k]);
        }
        tile(mean_p, mean_f, c, period);
        tile(rstd_p, rstd_f, c, period);
        tile(scale_p, scale, c, period);
        tile(bias_p, bias, c, period);
        for (int64_t v = 0; v < period; v += 16) {
            const f32x16 mv = load16(mean_p + v), rv = load16(rstd_p + v), sv = load16(scale_p + v),
                         bv = load16(bias_p + v);
            sum16 sum_gx = {{0.0}, {0.0}}, sum_g = {{0.0}, {0.0}};
            for (int64_t q0 = v; q0 < whole; q0 += BLOCK * period) {
                f32x16 block_gx = {0.0f}, block_g = {0.0f};
                for (int64_t q = q0; q < whole && q < q0 + BLOCK * period; q += period) {
                    const f32x16 d = load16(xs + q) - mv;
                    f32x16 g = load16(gs + q);
                    if (elu) {
                        g = elu_grad16(g, d * sv + bv);
                        if (kept) store16(kept + q, g);
                    }
                    block_gx += g * (d * rv);
                    block_g += g;
                }
                add16(&sum_gx, block_gx);
                add16(&sum_g, block_g);
            }
            add_lanes_to_channels(a, sum_gx, v, c);
            add_lanes_to_channels(b, sum_g, v, c);
        }
        for (int64_t i = whole; i < size; i++) {
            const int64_t k = i % c;
            const float d = xs[i] - mean_f[k];
            const float g = elu ? elu_grad1(gs[i], d * scale[k] + bias[k]) : gs[i];
            a[k] += (double)(g * (d * rstd_f[k]));
            b[k] += g;
        }
        double g_mean = 0.0, g_dot_mhat = 0.0;
        for (int64_t k = 0; k < c; k++) {
            const double g_mhat = (double)ga[k] * al[k] * b[k];
            g_mean += g_mhat;
            g_dot_mhat += g_mhat * mhat[k];
            grad_beta[s * c + k] = (float)b[k];
            grad_gamma[s * c + k] = (float)(a[k] + al[k] * mhat[k] * b[k]);
            grad_alpha[s * c + k] = (float)(ga[k] * mhat[k] * b[k]);
        }
        g_mean /= c;
        for (int64_t k = 0; k < c; k++) {
            const double grad_mean = (ga[k] * al[k] * b[k] - g_mean - mhat[k] * g_dot_mhat / (c - 1)) * rs;
            const double gr = ga[k] * rstd[k];
            cg[k] = (float)gr;
            cd[k] = (float)(-gr * rstd[k] * a[k] / hw); /* times d: -gamma / std * xhat * A / hw */
            c1[k] = (float)((-gr * b[k] + grad_mean) / hw);
        }
        tile(coef_g, cg, c, period);
        tile(coef_d, cd, c, period);
        tile(coef_1, c1, c, period);
        for (int64_t v = 0; v < period; v += 16) {
            const f32x16 mv = load16(mean_p + v), sv = load16(scale_p + v), bv = load16(bias_p + v),
                         gv = load16(coef_g + v), dv = load16(coef_d + v), ov = load16(coef_1 + v);
            for (int64_t q = v; q < whole; q += period) {
                const f32x16 d = load16(xs + q) - mv;
                const f32x16 g = !elu ? load16(gs + q) : kept ? load16(kept + q) : elu_grad16(load16(gs + q), d * sv + bv);
                store16(dxs + q, gv * g + dv * d + ov);
            }
        }
        for (int64_t i = whole; i < size; i++) {
            const int64_t k = i % c;
            const float d = xs[i] - mean_f[k];
            const float g = elu ? elu_grad1(gs[i], d * scale[k] + bias[k]) : gs[i];
            dxs[i] = cg[k] * g + cd[k] * d + c1[k];
        }
    }
    free(kept);
    }
}

/* ---- The reference network's 5 x 5 mean pooling (stride 1, zero padding counted) ----
 * out[i][j] = scale * sum over |di|, |dj| <= radius of x[i + di][j + dj], zeros outside the image, of
 * channels_last x [n][h][w][c]: PyTorch's avg_pool2d(x, 2 radius + 1, stride=1, padding=radius) with
 * scale = 1 / (2 radius + 1)^2. The operator is symmetric, so its backward pass is itself applied to the
 * gradient. Per sample, separably: each row's horizontal sums go to a per-thread buffer (a row is w * c
 * floats, and the neighbour dj of flat index f is f + dj * c, with `radius * c` zeros padded at both ends),
 * then each output row is the sum of 2 radius + 1 buffered rows, all on vectors of 16 floats. PyTorch's
 * channels_last kernel reads the 25 neighbours of every pixel. */
static void horizontal_sums(const float *row, float *padded, float *sums, int64_t wc, int64_t reach, int64_t c) {
    memcpy(padded + reach, row, sizeof(float) * wc);
    int64_t f = 0;
    for (; f + 16 <= wc; f += 16) {
        f32x16 total = load16(padded + f);
        for (int64_t t = c; t <= 2 * reach; t += c) total += load16(padded + f + t);
        store16(sums + f, total);
    }
    for (; f < wc; f++) {
        float total = padded[f];
        for (int64_t t = c; t <= 2 * reach; t += c) total += padded[f + t];
        sums[f] = total;
    }
}

void ncsn_box_mean_nhwc(const float *x, float *out, int64_t n, int64_t h, int64_t w, int64_t c, int64_t radius,
                        float scale) {
    const int64_t wc = w * c, reach = radius * c;
#pragma omp parallel
    {
    float *sums = malloc(sizeof(float) * h * wc), *padded = calloc(wc + 2 * reach, sizeof(float));
#pragma omp for schedule(static)
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x + s * h * wc;
        float *os = out + s * h * wc;
        if (!sums || !padded) { /* no buffer: one output at a time, straight from x */
            for (int64_t i = 0; i < h; i++)
                for (int64_t j = 0; j < w; j++)
                    for (int64_t k = 0; k < c; k++) {
                        float total = 0.0f;
                        for (int64_t di = -radius; di <= radius; di++)
                            for (int64_t dj = -radius; dj <= radius; dj++)
                                if (i + di >= 0 && i + di < h && j + dj >= 0 && j + dj < w)
                                    total += xs[((i + di) * w + j + dj) * c + k];
                        os[(i * w + j) * c + k] = total * scale;
                    }
            continue;
        }
        for (int64_t i = 0; i < h; i++) horizontal_sums(xs + i * wc, padded, sums + i * wc, wc, reach, c);
        for (int64_t i = 0; i < h; i++) {
            const int64_t first = i - radius < 0 ? 0 : i - radius, last = i + radius >= h ? h - 1 : i + radius;
            float *orow = os + i * wc;
            int64_t f = 0;
            for (; f + 16 <= wc; f += 16) {
                f32x16 total = load16(sums + first * wc + f);
                for (int64_t r = first + 1; r <= last; r++) total += load16(sums + r * wc + f);
                store16(orow + f, total * scale);
            }
            for (; f < wc; f++) {
                float total = sums[first * wc + f];
                for (int64_t r = first + 1; r <= last; r++) total += sums[r * wc + f];
                orow[f] = total * scale;
            }
        }
    }
    free(sums);
    free(padded);
    }
}
