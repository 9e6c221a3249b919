/* Pure-software reference kernels with exactly hw/golden's integer semantics, on tensors in the memory layout of
 * hw/layout.py (32-bit bus): rows of b-bit elements (b = 4, 8, 16) packed 32/b to a little-endian word, element e
 * at bits [e*b, (e+1)*b) of the row, each row zero-padded to whole words.
 *
 *   accumulator  sum of products + bias, wrapped to 32 bits   (hw.golden.conv2d / depthwise_conv2d / dense with
 *                acc_bits=32)
 *   output       hw.golden.requantize(acc, multiplier, shift, out_bits, out_signed, relu): acc * multiplier,
 *                right shift by `shift` rounding half to even, ReLU, saturate
 *   requant row  word c = multiplier[c] | shift[c] << 16      (hw.layout.requant_words)
 *
 * Tensors (hw.layout): activations one row per pixel (H*W rows of C); conv2d weights one row of Cin per
 * (cout, kh, kw); depthwise weights one row of KH*KW taps per channel; dense weights one row of In per output
 * neuron; bias Cout int32; the output is fully overwritten (row padding zeroed).
 */
#ifndef STACC_KERNELS_H
#define STACC_KERNELS_H

#include <stdint.h>

/* Precision and signedness of one tensor. */
typedef struct {
    uint8_t bits;       /* 4, 8 or 16 */
    uint8_t is_signed;  /* two's complement lanes when 1 */
} stacc_prec_t;

/* Layer kinds: the engines' INFO.kind codes (hw.accel.regs.EngineKind). */
enum { STACC_DENSE = 1, STACC_CONV2D = 2, STACC_DEPTHWISE = 3 };

/* One layer on one image. conv2d: (H, W, Cin) -> (Ho, Wo, Cout) with a (KH, KW, Cin, Cout) kernel.
 * depthwise: Cout must equal Cin. dense: H = W = KH = KW = stride = 1, Cin inputs, Cout outputs (exactly a 1x1
 * conv2d on a 1x1 image in this layout). */
typedef struct {
    uint8_t kind;        /* STACC_CONV2D, STACC_DEPTHWISE or STACC_DENSE */
    uint8_t same;        /* 1: padding="same" (TensorFlow), 0: "valid" */
    uint8_t relu;
    stacc_prec_t in, wt, out;
    uint16_t h, w, cin, cout, kh, kw, stride_h, stride_w;
} stacc_layer_t;

/* Output size of one axis with TensorFlow padding (hw/golden/layers.py); *before = padding before the input.
 * Returns 0 when the geometry is invalid. */
uint16_t stacc_out_size(uint16_t in, uint16_t k, uint16_t stride, int same, uint16_t *before);

/* 32-bit words of one row of n elements of `bits` bits. */
uint32_t stacc_row_words(uint32_t n, unsigned bits);

/* Element e of a packed row, and storing one (the row must start zeroed). */
int32_t stacc_get(const uint32_t *row, uint32_t e, stacc_prec_t prec);
void stacc_put(uint32_t *row, uint32_t e, int32_t value, stacc_prec_t prec);

/* hw.golden.requantize of one accumulator value. */
int32_t stacc_requantize(int32_t acc, uint32_t multiplier, unsigned shift, stacc_prec_t out, int relu);

/* Copy the n elements (row-major) of a tensor stored as rows of src_cols elements at precision `sp` into rows of
 * dst_cols elements at `dp` (rows zero-padded to whole words, as in hw/layout). The values are unchanged, so `dp`
 * must hold them: widening activations to the width of the next layer's weights (the engines and kernels need equal
 * input and weight widths), or flattening (H, W, C) to one row of H*W*C (dst_cols = n). */
void stacc_repack(const uint32_t *src, stacc_prec_t sp, uint32_t src_cols, uint32_t *dst, stacc_prec_t dp,
                  uint32_t dst_cols, uint32_t n);

/* hw.golden avg_pool2d followed by saturation to l->out (hw.golden.net's avg_pool2d node): window sums over the
 * (kh, kw) pool window with strides (stride_h, stride_w) and TensorFlow padding (l->same; count = real inputs in the
 * window), divided exactly by count * 2**shift (shift < 0 multiplies by 2**-shift) rounding half to even. Uses
 * h, w, cin (= cout), kh, kw, strides, same, in, out of `l` (kind, wt and relu are ignored). Returns 0, or -1 for an
 * invalid geometry, precision or |shift| > 24. */
int stacc_avg_pool(const stacc_layer_t *l, int shift, const uint32_t *x, uint32_t *y);

/* Run `layer` in software. Returns 0, or -1 for an invalid layer (bad kind, geometry or precision: the input and
 * weight widths must be equal, as on the engines). */
int stacc_layer_sw(const stacc_layer_t *layer, const uint32_t *x, const uint32_t *w, const int32_t *bias,
                   const uint32_t *requant, uint32_t *y);

#endif /* STACC_KERNELS_H */
