/* What the test programs do with a layer: run it with the software kernel or on an engine, timed with the CPU's
 * cycle counter, and count the output words that differ from an expected image. */
#ifndef STACC_CHECK_H
#define STACC_CHECK_H

#include <stdint.h>

#include "stacc_engine.h"
#include "stacc_kernels.h"
#include "stacc_sys.h"

/* Words in which the n-word images a and b differ. */
static inline uint32_t stacc_diff_words(const uint32_t *a, const uint32_t *b, uint32_t n) {
    uint32_t count = 0;
    for (uint32_t j = 0; j < n; ++j)
        count += a[j] != b[j];
    return count;
}

/* stacc_layer_sw with *cycles = the CPU cycles of the call. */
static inline int stacc_layer_sw_timed(const stacc_layer_t *l, const uint32_t *x, const uint32_t *w,
                                       const int32_t *bias, const uint32_t *requant, uint32_t *y, uint64_t *cycles) {
    uint64_t t0 = stacc_cycles();
    int rc = stacc_layer_sw(l, x, w, bias, requant, y);
    *cycles = stacc_cycles() - t0;
    return rc;
}

/* stacc_engine_run on engine k with *cycles = the CPU cycles of the driver call. The y_words words of `y` are first
 * filled with 0xdeadbeef, so a word the engine does not write shows as a difference. */
static inline int stacc_engine_run_timed(unsigned k, const stacc_layer_t *l, const uint32_t *x, const uint32_t *w,
                                         const int32_t *bias, const uint32_t *requant, uint32_t *y, uint32_t y_words,
                                         uint64_t *cycles, uint32_t *engine_cycles) {
    for (uint32_t j = 0; j < y_words; ++j)
        y[j] = 0xdeadbeefu;
    uint64_t t0 = stacc_cycles();
    int rc = stacc_engine_run(k, l, x, w, bias, requant, y, engine_cycles);
    *cycles = stacc_cycles() - t0;
    return rc;
}

#endif /* STACC_CHECK_H */
