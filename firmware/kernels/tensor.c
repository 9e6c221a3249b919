/* Geometry, packed-row access and requantization shared by the software kernels
 * (semantics: hw/golden, layout: hw/layout). */
#include "stacc_kernels.h"

uint16_t stacc_out_size(uint16_t in, uint16_t k, uint16_t stride, int same, uint16_t *before) {
    *before = 0;
    if (in == 0 || k == 0 || stride == 0)
        return 0;
    if (!same)
        return k > in ? 0 : (uint16_t)((in - k) / stride + 1);
    uint16_t out = (uint16_t)((in + stride - 1) / stride);
    int32_t total = (int32_t)(out - 1) * stride + k - in;
    *before = (uint16_t)(total > 0 ? total / 2 : 0);
    return out;
}

uint32_t stacc_row_words(uint32_t n, unsigned bits) {
    uint32_t per_word = 32u / bits;
    return (n + per_word - 1) / per_word;
}

int32_t stacc_get(const uint32_t *row, uint32_t e, stacc_prec_t prec) {
    uint32_t bit = e * prec.bits;
    uint32_t v = (row[bit >> 5] >> (bit & 31)) & ((1u << prec.bits) - 1u);
    if (prec.is_signed && (v >> (prec.bits - 1)))
        return (int32_t)(v | ~((1u << prec.bits) - 1u));
    return (int32_t)v;
}

void stacc_put(uint32_t *row, uint32_t e, int32_t value, stacc_prec_t prec) {
    uint32_t bit = e * prec.bits;
    row[bit >> 5] |= ((uint32_t)value & ((1u << prec.bits) - 1u)) << (bit & 31);
}

/* round_half_even(y / 2**shift), as hw.golden.shift_round_half_even (arithmetic, exact for negative y). */
static int64_t shift_round_half_even(int64_t y, unsigned shift) {
    if (shift == 0)
        return y;
    int64_t floor = y >> shift;                       /* GCC: arithmetic shift, i.e. floor division */
    uint64_t rem = (uint64_t)(y - (int64_t)((uint64_t)floor << shift));
    uint64_t half = (uint64_t)1 << (shift - 1);
    return floor + (rem > half || (rem == half && (floor & 1)));
}

int32_t stacc_requantize(int32_t acc, uint32_t multiplier, unsigned shift, stacc_prec_t out, int relu) {
    int64_t y = shift_round_half_even((int64_t)acc * (int64_t)multiplier, shift);
    if (relu && y < 0)
        y = 0;
    int64_t lo = out.is_signed ? -((int64_t)1 << (out.bits - 1)) : 0;
    int64_t hi = out.is_signed ? ((int64_t)1 << (out.bits - 1)) - 1 : ((int64_t)1 << out.bits) - 1;
    return (int32_t)(y < lo ? lo : y > hi ? hi : y);
}

void stacc_repack(const uint32_t *src, stacc_prec_t sp, uint32_t src_cols, uint32_t *dst, stacc_prec_t dp,
                  uint32_t dst_cols, uint32_t n) {
    uint32_t src_row = stacc_row_words(src_cols, sp.bits), dst_row = stacc_row_words(dst_cols, dp.bits);
    uint32_t dst_words = (n + dst_cols - 1) / dst_cols * dst_row;
    for (uint32_t j = 0; j < dst_words; ++j)
        dst[j] = 0;
    uint32_t sc = 0, dc = 0;                         /* column in the current source / destination row */
    for (uint32_t i = 0; i < n; ++i) {               /* no division per element: rows advance by counting */
        stacc_put(dst, dc, stacc_get(src, sc, sp), dp);
        if (++sc == src_cols) {
            sc = 0;
            src += src_row;
        }
        if (++dc == dst_cols) {
            dc = 0;
            dst += dst_row;
        }
    }
}
