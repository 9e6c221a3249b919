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

#define DOT(bits, as, ws) \
    static uint32_t dot_##bits##_##as##ws(const uint32_t *a, const uint32_t *w, uint32_t n) { \
        return dot(a, w, n, bits, as, ws); \
    }
#define DOTS(bits) DOT(bits, 0, 0) DOT(bits, 0, 1) DOT(bits, 1, 0) DOT(bits, 1, 1)
DOTS(4)
DOTS(8)
DOTS(16)

typedef uint32_t (*dot_fn)(const uint32_t *, const uint32_t *, uint32_t);

static dot_fn pick_dot(stacc_prec_t a, stacc_prec_t w) {
    static const dot_fn table[3][4] = {
        {dot_4_00, dot_4_01, dot_4_10, dot_4_11},
        {dot_8_00, dot_8_01, dot_8_10, dot_8_11},
        {dot_16_00, dot_16_01, dot_16_10, dot_16_11},
    };
    int row = a.bits == 4 ? 0 : a.bits == 8 ? 1 : 2;
    return table[row][(a.is_signed ? 2 : 0) + (w.is_signed ? 1 : 0)];
}

static int valid_prec(stacc_prec_t p) {
    return p.bits == 4 || p.bits == 8 || p.bits == 16;
}

/* Requantize `acc` for output channel `co` and store it in the (zeroed) output row. */
static inline void emit(const stacc_layer_t *l, const uint32_t *requant, uint32_t *out, uint16_t co, uint32_t acc) {
    uint32_t r = requant[co];
    stacc_put(out, co, stacc_requantize((int32_t)acc, r & 0xffffu, r >> 16, l->out, l->relu), l->out);
}

static void conv2d(const stacc_layer_t *l, uint16_t ho, uint16_t wo, uint16_t top, uint16_t left, const uint32_t *x,
                   const uint32_t *w, const int32_t *bias, const uint32_t *requant, uint32_t *y) {
    dot_fn dot_rows = pick_dot(l->in, l->wt);
    uint32_t x_row = stacc_row_words(l->cin, l->in.bits);
    uint32_t y_row = stacc_row_words(l->cout, l->out.bits);
    for (uint16_t oy = 0; oy < ho; ++oy) {
        for (uint16_t ox = 0; ox < wo; ++ox) {
            uint32_t *out = y + ((uint32_t)oy * wo + ox) * y_row;
            for (uint32_t j = 0; j < y_row; ++j)
                out[j] = 0;
            for (uint16_t co = 0; co < l->cout; ++co) {
                uint32_t acc = (uint32_t)bias[co];
                for (uint16_t ky = 0; ky < l->kh; ++ky) {
                    int32_t iy = (int32_t)oy * l->stride_h + ky - top;
                    if (iy < 0 || iy >= l->h)
                        continue;
                    for (uint16_t kx = 0; kx < l->kw; ++kx) {
                        int32_t ix = (int32_t)ox * l->stride_w + kx - left;
                        if (ix < 0 || ix >= l->w)
                            continue;
                        acc += dot_rows(x + ((uint32_t)iy * l->w + (uint32_t)ix) * x_row,
                                        w + (((uint32_t)co * l->kh + ky) * l->kw + kx) * x_row, x_row);
                    }
                }
                emit(l, requant, out, co, acc);
            }
        }
    }
}

/* Element e of a packed row, with the width and signedness known at compile time after inlining. */
static inline __attribute__((always_inline)) uint32_t element(const uint32_t *row, uint32_t e, unsigned bits,
                                                              int sgn) {
    return lane(row[e / (32u / bits)], e % (32u / bits), bits, sgn);
}

/* Depthwise: lanes of one weight row are taps of one channel, so elements are read one at a time. */
static inline __attribute__((always_inline)) void depthwise(const stacc_layer_t *l, uint16_t ho, uint16_t wo,
                                                            uint16_t top, uint16_t left, const uint32_t *x,
                                                            const uint32_t *w, const int32_t *bias,
                                                            const uint32_t *requant, uint32_t *y, unsigned bits,
                                                            int a_sgn, int w_sgn) {
    uint32_t x_row = stacc_row_words(l->cin, bits);
    uint32_t w_row = stacc_row_words((uint32_t)l->kh * l->kw, bits);
    uint32_t y_row = stacc_row_words(l->cout, l->out.bits);
    for (uint16_t oy = 0; oy < ho; ++oy) {
        for (uint16_t ox = 0; ox < wo; ++ox) {
            uint32_t *out = y + ((uint32_t)oy * wo + ox) * y_row;
            for (uint32_t j = 0; j < y_row; ++j)
                out[j] = 0;
            for (uint16_t c = 0; c < l->cin; ++c) {
                uint32_t acc = (uint32_t)bias[c];
                const uint32_t *taps = w + (uint32_t)c * w_row;
                for (uint16_t ky = 0; ky < l->kh; ++ky) {
                    int32_t iy = (int32_t)oy * l->stride_h + ky - top;
                    if (iy < 0 || iy >= l->h)
                        continue;
                    for (uint16_t kx = 0; kx < l->kw; ++kx) {
                        int32_t ix = (int32_t)ox * l->stride_w + kx - left;
                        if (ix < 0 || ix >= l->w)
                            continue;
                        const uint32_t *pixel = x + ((uint32_t)iy * l->w + (uint32_t)ix) * x_row;
                        acc += element(pixel, c, bits, a_sgn) * element(taps, (uint32_t)ky * l->kw + kx, bits, w_sgn);
                    }
                }
                emit(l, requant, out, c, acc);
            }
        }
    }
}

typedef void (*dw_fn)(const stacc_layer_t *, uint16_t, uint16_t, uint16_t, uint16_t, const uint32_t *,
                      const uint32_t *, const int32_t *, const uint32_t *, uint32_t *);

#define DW(bits, as, ws) \
    static void dw_##bits##_##as##ws(const stacc_layer_t *l, uint16_t ho, uint16_t wo, uint16_t top, uint16_t left, \
                                     const uint32_t *x, const uint32_t *w, const int32_t *bias, \
                                     const uint32_t *requant, uint32_t *y) { \
        depthwise(l, ho, wo, top, left, x, w, bias, requant, y, bits, as, ws); \
    }
#define DWS(bits) DW(bits, 0, 0) DW(bits, 0, 1) DW(bits, 1, 0) DW(bits, 1, 1)
DWS(4)
DWS(8)
DWS(16)

static dw_fn pick_dw(stacc_prec_t a, stacc_prec_t w) {
    static const dw_fn table[3][4] = {
        {dw_4_00, dw_4_01, dw_4_10, dw_4_11},
        {dw_8_00, dw_8_01, dw_8_10, dw_8_11},
        {dw_16_00, dw_16_01, dw_16_10, dw_16_11},
    };
    int row = a.bits == 4 ? 0 : a.bits == 8 ? 1 : 2;
    return table[row][(a.is_signed ? 2 : 0) + (w.is_signed ? 1 : 0)];
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
        pick_dw(l->in, l->wt)(l, ho, wo, top, left, x, w, bias, requant, y);
        return 0;
    default:
        return -1;
    }
}
