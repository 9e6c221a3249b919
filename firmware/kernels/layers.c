/* Software conv2d, depthwise conv2d and dense with hw.golden.{conv2d,depthwise_conv2d,dense}(..., acc_bits=32) +
 * hw.golden.requantize semantics on hw/layout tensors. */
#include "stacc_kernels.h"

/* Lane i of a packed word as a (sign-extended) value, reinterpreted as uint32 for wrapping arithmetic. */
static inline __attribute__((always_inline)) uint32_t lane(uint32_t word, unsigned i, unsigned bits, int sgn) {
    unsigned up = 32u - bits * (i + 1);
    return sgn ? (uint32_t)((int32_t)(word << up) >> (32u - bits)) : (word << up) >> (32u - bits);
}

/* Sum of products of two packed rows of `words` words with the same element width: zero padding adds nothing. */
static inline __attribute__((always_inline)) uint32_t dot(const uint32_t *a, const uint32_t *w, uint32_t words,
                                                          unsigned bits, int a_sgn, int w_sgn) {
    uint32_t acc = 0;
    for (uint32_t j = 0; j < words; ++j) {
        uint32_t aw = a[j], ww = w[j];
        for (unsigned i = 0; i < 32u / bits; ++i)
            acc += lane(aw, i, bits, a_sgn) * lane(ww, i, bits, w_sgn);
    }
    return acc;
}

/* The inner loops are specialized for every (element width, input signedness, weight signedness), so the width and
 * signedness are constants after inlining. PRECISIONS(X, f) applies X to each in the order of the dispatch index
 * variant(); KERNEL(f, ...) defines the specialization f_<bits>_<as><ws> of the always_inline generic f from its
 * f_ret / f_params / f_args macros, and PICK(f) all of them, their pointer type f_fn and pick_f(a, w), which returns
 * the specialization for the operand precisions from one table. */
#define PRECISIONS(X, f) \
    X(f, 4, 0, 0) X(f, 4, 0, 1) X(f, 4, 1, 0) X(f, 4, 1, 1) \
    X(f, 8, 0, 0) X(f, 8, 0, 1) X(f, 8, 1, 0) X(f, 8, 1, 1) \
    X(f, 16, 0, 0) X(f, 16, 0, 1) X(f, 16, 1, 0) X(f, 16, 1, 1)
#define NAME(f, bits, as, ws) f##_##bits##_##as##ws
#define KERNEL(f, bits, as, ws) \
    static f##_ret NAME(f, bits, as, ws)(f##_params) { return f(f##_args, bits, as, ws); }
#define ENTRY(f, bits, as, ws) NAME(f, bits, as, ws),
#define PICK(f) \
    PRECISIONS(KERNEL, f) \
    typedef f##_ret (*f##_fn)(f##_params); \
    static f##_fn pick_##f(stacc_prec_t a, stacc_prec_t w) { \
        static const f##_fn table[] = {PRECISIONS(ENTRY, f)}; \
        return table[variant(a, w)]; \
    }

/* Index of the operands' specialization in PRECISIONS order (the widths are equal and valid). */
static unsigned variant(stacc_prec_t a, stacc_prec_t w) {
    return (a.bits == 4 ? 0u : a.bits == 8 ? 4u : 8u) + (a.is_signed ? 2u : 0u) + (w.is_signed ? 1u : 0u);
}

#define dot_ret uint32_t
#define dot_params const uint32_t *a, const uint32_t *w, uint32_t n
#define dot_args a, w, n
PICK(dot)

static int valid_prec(stacc_prec_t p) {
    return p.bits == 4 || p.bits == 8 || p.bits == 16;
}

/* Requantize `acc` for output channel `co` and store it in the (zeroed) output row. */
static inline void emit(const stacc_layer_t *l, const uint32_t *requant, uint32_t *out, uint16_t co, uint32_t acc) {
    uint32_t r = requant[co];
    stacc_put(out, co, stacc_requantize((int32_t)acc, r & 0xffffu, r >> 16, l->out, l->relu), l->out);
}

/* Element e of a packed row, with the width and signedness known at compile time after inlining. */
static inline __attribute__((always_inline)) uint32_t element(const uint32_t *row, uint32_t e, unsigned bits,
                                                              int sgn) {
    return lane(row[e / (32u / bits)], e % (32u / bits), bits, sgn);
}

/* num / den rounded half to even (den > 0), as hw.golden.div_round_half_even. */
static int64_t div_round_half_even(int64_t num, int64_t den) {
    int64_t q = num / den, r = num % den;              /* C truncates: make it floor division, 0 <= r < den */
    if (r < 0) {
        q -= 1;
        r += den;
    }
    return q + (2 * r > den || (2 * r == den && (q & 1)));
}

/* hw.golden avg_pool2d of a window sum over `count` inputs, saturated to `out`. */
static int32_t pool_value(int64_t sum, int64_t count, int shift, stacc_prec_t out) {
    int64_t v = div_round_half_even(sum * ((int64_t)1 << (shift < 0 ? -shift : 0)), count << (shift > 0 ? shift : 0));
    int32_t clamped = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
    return stacc_requantize(clamped, 1, 0, out, 0);                /* multiplier 1, shift 0: saturation only */
}

enum { CONV, DEPTHWISE, POOL };

/* The loop nest of the windowed layers: every output pixel and channel co gets a value from the kernel (or pool)
 * window's taps that fall inside the input, written into the zeroed output row. CONV: bias + per tap the dot
 * product of the pixel's and the weight's Cin-long rows through `dot_rows`, requantized. DEPTHWISE (width and
 * signedness constant after inlining): bias + per tap channel co's element times its tap weight (the lanes of one
 * weight row are taps of one channel), requantized. POOL: the average of channel co over the taps (pool_value). */
static inline __attribute__((always_inline)) void window(const stacc_layer_t *l, uint16_t ho, uint16_t wo,
                                                         uint16_t top, uint16_t left, const uint32_t *x,
                                                         const uint32_t *w, const int32_t *bias,
                                                         const uint32_t *requant, uint32_t *y, dot_fn dot_rows,
                                                         int mode, int shift, unsigned bits, int a_sgn, int w_sgn) {
    uint32_t x_row = stacc_row_words(l->cin, l->in.bits);
    uint32_t w_row = mode == DEPTHWISE ? stacc_row_words((uint32_t)l->kh * l->kw, l->wt.bits) : 0;
    uint32_t y_row = stacc_row_words(l->cout, l->out.bits);
    for (uint16_t oy = 0; oy < ho; ++oy) {
        for (uint16_t ox = 0; ox < wo; ++ox) {
            uint32_t *out = y + ((uint32_t)oy * wo + ox) * y_row;
            for (uint32_t j = 0; j < y_row; ++j)
                out[j] = 0;
            for (uint16_t co = 0; co < l->cout; ++co) {
                uint32_t acc = mode == POOL ? 0 : (uint32_t)bias[co];
                int64_t sum = 0, count = 0;
                for (uint16_t ky = 0; ky < l->kh; ++ky) {
                    int32_t iy = (int32_t)oy * l->stride_h + ky - top;
                    if (iy < 0 || iy >= l->h)
                        continue;
                    for (uint16_t kx = 0; kx < l->kw; ++kx) {
                        int32_t ix = (int32_t)ox * l->stride_w + kx - left;
                        if (ix < 0 || ix >= l->w)
                            continue;
                        const uint32_t *pixel = x + ((uint32_t)iy * l->w + (uint32_t)ix) * x_row;
                        if (mode == POOL) {
                            sum += stacc_get(pixel, co, l->in);
                            ++count;
                        } else if (mode == DEPTHWISE) {
                            acc += element(pixel, co, bits, a_sgn)
                                   * element(w + (uint32_t)co * w_row, (uint32_t)ky * l->kw + kx, bits, w_sgn);
                        } else {
                            acc += dot_rows(pixel, w + (((uint32_t)co * l->kh + ky) * l->kw + kx) * x_row, x_row);
                        }
                    }
                }
                if (mode == POOL)
                    stacc_put(out, co, pool_value(sum, count, shift, l->out), l->out);
                else
                    emit(l, requant, out, co, acc);
            }
        }
    }
}

static void conv2d(const stacc_layer_t *l, uint16_t ho, uint16_t wo, uint16_t top, uint16_t left, const uint32_t *x,
                   const uint32_t *w, const int32_t *bias, const uint32_t *requant, uint32_t *y) {
    window(l, ho, wo, top, left, x, w, bias, requant, y, pick_dot(l->in, l->wt), CONV, 0, 0, 0, 0);
}

/* Depthwise conv2d at a compile-time width and signedness (specialized by PICK). Returns 0. */
static inline __attribute__((always_inline)) int depthwise(const stacc_layer_t *l, uint16_t ho, uint16_t wo,
                                                           uint16_t top, uint16_t left, const uint32_t *x,
                                                           const uint32_t *w, const int32_t *bias,
                                                           const uint32_t *requant, uint32_t *y, unsigned bits,
                                                           int a_sgn, int w_sgn) {
    window(l, ho, wo, top, left, x, w, bias, requant, y, 0, DEPTHWISE, 0, bits, a_sgn, w_sgn);
    return 0;
}

#define depthwise_ret int
#define depthwise_params \
    const stacc_layer_t *l, uint16_t ho, uint16_t wo, uint16_t top, uint16_t left, const uint32_t *x, \
        const uint32_t *w, const int32_t *bias, const uint32_t *requant, uint32_t *y
#define depthwise_args l, ho, wo, top, left, x, w, bias, requant, y
PICK(depthwise)

int stacc_avg_pool(const stacc_layer_t *l, int shift, const uint32_t *x, uint32_t *y) {
    uint16_t top, left;
    uint16_t ho = stacc_out_size(l->h, l->kh, l->stride_h, l->same, &top);
    uint16_t wo = stacc_out_size(l->w, l->kw, l->stride_w, l->same, &left);
    if (!ho || !wo || !l->cin || l->cout != l->cin || !valid_prec(l->in) || !valid_prec(l->out) || shift < -24
        || shift > 24)
        return -1;
    window(l, ho, wo, top, left, x, 0, 0, 0, y, 0, POOL, shift, 0, 0, 0);
    return 0;
}

int stacc_layer_sw(const stacc_layer_t *l, const uint32_t *x, const uint32_t *w, const int32_t *bias,
                   const uint32_t *requant, uint32_t *y) {
    uint16_t top, left;
    uint16_t ho = stacc_out_size(l->h, l->kh, l->stride_h, l->same, &top);
    uint16_t wo = stacc_out_size(l->w, l->kw, l->stride_w, l->same, &left);
    if (!ho || !wo || !l->cin || !l->cout || !valid_prec(l->in) || !valid_prec(l->out) || l->wt.bits != l->in.bits)
        return -1;
    switch (l->kind) {
    case STACC_DENSE:               /* a 1x1 conv2d on a 1x1 image in this layout */
        if (l->h != 1 || l->w != 1 || l->kh != 1 || l->kw != 1)
            return -1;
        conv2d(l, ho, wo, top, left, x, w, bias, requant, y);
        return 0;
    case STACC_CONV2D:
        conv2d(l, ho, wo, top, left, x, w, bias, requant, y);
        return 0;
    case STACC_DEPTHWISE:
        if (l->cout != l->cin)
            return -1;
        return pick_depthwise(l->in, l->wt)(l, ho, wo, top, left, x, w, bias, requant, y);
    default:
        return -1;
    }
}
