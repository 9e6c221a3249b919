/* Engine driver: the register protocol of hw/accel/regs.py (write the layer registers, pulse CTRL.start, poll
 * STATUS until busy falls, then done or error/err_code). */
#include "stacc_engine.h"
#include "stacc_engine_regs.h"
#include "stacc_regs.h"
#include "stacc_sys.h"

#define ENGINE_REG(k, name) STACC_REG(STACC_ACCEL_BASE(k) + STACC_ENGINE_##name##_OFFSET)
#define FIELD(reg, field, value) (((uint32_t)(value) << STACC_ENGINE_##reg##_##field##_SHIFT) \
                                  & STACC_ENGINE_##reg##_##field##_MASK)
#define GET(reg, field, word) (((word) & STACC_ENGINE_##reg##_##field##_MASK) >> STACC_ENGINE_##reg##_##field##_SHIFT)

/* Precision-mode code of an element width: log2(STACC_ENGINE_MUL_WIDTH / bits), at most 3. */
static uint32_t mode_of(unsigned bits) {
    uint32_t mode = 0;
    while (mode < 3 && ((unsigned)STACC_ENGINE_MUL_WIDTH >> mode) > bits)
        ++mode;
    return mode;
}

unsigned stacc_engine_kind(unsigned k) {
    return GET(INFO, KIND, ENGINE_REG(k, INFO));
}

int stacc_engine_find(unsigned kind) {
    for (int k = 0; k < STACC_N_ENGINES; ++k)          /* int: no "always false" warning when there are none */
        if (stacc_engine_kind((unsigned)k) == kind)
            return k;
    return -1;
}

int stacc_engine_run(unsigned k, const stacc_layer_t *l, const uint32_t *x, const uint32_t *w, const int32_t *bias,
                     const uint32_t *requant, uint32_t *y, uint32_t *engine_cycles) {
    uint16_t top, left;
    uint16_t ho = stacc_out_size(l->h, l->kh, l->stride_h, l->same, &top);
    uint16_t wo = stacc_out_size(l->w, l->kw, l->stride_w, l->same, &left);
    if (!ho || !wo || stacc_engine_kind(k) != l->kind)
        return -1;
    ENGINE_REG(k, PREC) = FIELD(PREC, A_MODE, mode_of(l->in.bits)) | FIELD(PREC, A_SIGNED, l->in.is_signed)
                          | FIELD(PREC, W_MODE, mode_of(l->wt.bits)) | FIELD(PREC, W_SIGNED, l->wt.is_signed)
                          | FIELD(PREC, O_MODE, mode_of(l->out.bits)) | FIELD(PREC, O_SIGNED, l->out.is_signed)
                          | FIELD(PREC, RELU, l->relu);
    ENGINE_REG(k, IN_SHAPE) = FIELD(IN_SHAPE, IN_H, l->h) | FIELD(IN_SHAPE, IN_W, l->w);
    ENGINE_REG(k, CHANNELS) = FIELD(CHANNELS, CIN, l->cin) | FIELD(CHANNELS, COUT, l->cout);
    ENGINE_REG(k, KERNEL) = FIELD(KERNEL, KH, l->kh) | FIELD(KERNEL, KW, l->kw)
                            | FIELD(KERNEL, STRIDE_H, l->stride_h) | FIELD(KERNEL, STRIDE_W, l->stride_w);
    ENGINE_REG(k, OUT_SHAPE) = FIELD(OUT_SHAPE, OUT_H, ho) | FIELD(OUT_SHAPE, OUT_W, wo);
    ENGINE_REG(k, PAD) = FIELD(PAD, PAD_TOP, top) | FIELD(PAD, PAD_LEFT, left);
    ENGINE_REG(k, ADDR_IN) = (uint32_t)(uintptr_t)x;
    ENGINE_REG(k, ADDR_W) = (uint32_t)(uintptr_t)w;
    ENGINE_REG(k, ADDR_BIAS) = (uint32_t)(uintptr_t)bias;
    ENGINE_REG(k, ADDR_RQ) = (uint32_t)(uintptr_t)requant;
    ENGINE_REG(k, ADDR_OUT) = (uint32_t)(uintptr_t)y;
    ENGINE_REG(k, CTRL) = FIELD(CTRL, START, 1);
    uint32_t status;
    do {
        status = ENGINE_REG(k, STATUS);
    } while (GET(STATUS, BUSY, status));
    *engine_cycles = ENGINE_REG(k, CYCLES);
    stacc_dcache_invalidate();
    if (GET(STATUS, ERROR, status))
        return (int)GET(STATUS, ERR_CODE, status);
    return GET(STATUS, DONE, status) ? 0 : -1;
}
