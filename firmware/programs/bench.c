/* Speed-up benchmark: every layer case of the generated stacc_vectors.h (soc/bench.py) runs once with the software
 * kernel and once on the first engine of its kind (STACC_N_ENGINES > 0), on the same CPU. Both outputs are compared
 * word for word with the golden output embedded in the header and with each other, and one line is printed per case:
 *     BENCH <name> bits=<b> sw_cycles=<n> hw_cycles=<n> engine_cycles=<n> sw_mismatches=<m> hw_mismatches=<m>
 *           sw_hw_diff=<m> words=<w> sw_rc=<rc> hw_rc=<rc> speedup_x100=<s>
 * (one line; sw_cycles/hw_cycles: CPU timer around the kernel call / around stacc_engine_run, i.e. including the
 * driver's register writes and polling; engine_cycles: the engine's CYCLES register; hw_rc=-2: no engine of this
 * kind). Then "RESULT PASS" or "RESULT FAIL". Exit code: number of failing cases. */
#include <stdio.h>

#include "stacc_engine.h"
#include "stacc_kernels.h"
#include "stacc_sys.h"
#include "stacc_vectors.h"

#ifndef STACC_N_ENGINES
#define STACC_N_ENGINES 0
#endif

/* Engines read and write whole bus words: keep the output buffers aligned for buses up to 128 bits. */
static uint32_t y_sw[STACC_MAX_Y_WORDS] __attribute__((aligned(16)));
static uint32_t y_hw[STACC_MAX_Y_WORDS] __attribute__((aligned(16)));

static uint32_t mismatches(const uint32_t *a, const uint32_t *b, uint32_t n) {
    uint32_t count = 0;
    for (uint32_t j = 0; j < n; ++j)
        count += a[j] != b[j];
    return count;
}

/* Index of the first engine of `kind`, or -1. */
static int find_engine(unsigned kind) {
    for (unsigned k = 0; k < STACC_N_ENGINES; ++k)
        if (stacc_engine_kind(k) == kind)
            return (int)k;
    return -1;
}

int main(void) {
    int failed = 0;
    for (unsigned i = 0; i < STACC_N_CASES; ++i) {
        const stacc_case_t *c = &stacc_cases[i];
        uint64_t t0 = stacc_cycles();
        int sw_rc = stacc_layer_sw(&c->layer, c->x, c->w, c->bias, c->requant, y_sw);
        uint64_t sw_cycles = stacc_cycles() - t0;
        uint32_t sw_bad = mismatches(y_sw, c->y, c->y_words);

        int engine = find_engine(c->layer.kind);
        int hw_rc = -2;
        uint64_t hw_cycles = 0;
        uint32_t engine_cycles = 0, hw_bad = c->y_words, diff = c->y_words;
        if (engine >= 0) {
            for (uint32_t j = 0; j < c->y_words; ++j)
                y_hw[j] = 0xdeadbeefu;                   /* the engine must write every output word */
            t0 = stacc_cycles();
            hw_rc = stacc_engine_run((unsigned)engine, &c->layer, c->x, c->w, c->bias, c->requant, y_hw,
                                     &engine_cycles);
            hw_cycles = stacc_cycles() - t0;
            hw_bad = mismatches(y_hw, c->y, c->y_words);
            diff = mismatches(y_hw, y_sw, c->y_words);
        }
        uint64_t speedup = hw_cycles ? (100u * sw_cycles + hw_cycles / 2) / hw_cycles : 0;
        printf("BENCH %s bits=%u sw_cycles=%lu hw_cycles=%lu engine_cycles=%lu sw_mismatches=%lu hw_mismatches=%lu "
               "sw_hw_diff=%lu words=%lu sw_rc=%d hw_rc=%d speedup_x100=%lu\n",
               c->name, (unsigned)c->layer.in.bits, (unsigned long)sw_cycles, (unsigned long)hw_cycles,
               (unsigned long)engine_cycles, (unsigned long)sw_bad, (unsigned long)hw_bad, (unsigned long)diff,
               (unsigned long)c->y_words, sw_rc, hw_rc, (unsigned long)speedup);
        failed += sw_rc != 0 || hw_rc != 0 || sw_bad != 0 || hw_bad != 0 || diff != 0;
    }
    printf("RESULT %s\n", failed ? "FAIL" : "PASS");
    return failed;
}
