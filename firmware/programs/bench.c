/* Speed-up benchmark: every layer case of the generated stacc_vectors.h (soc/bench.py) runs once with the software
 * kernel and once on the first engine of its kind (STACC_N_ENGINES > 0), on the same CPU. Both outputs are compared
 * word for word with the golden output embedded in the header and with each other, and one line is printed per case:
 *     BENCH <name> bits=<b> sw_cycles=<n> hw_cycles=<n> engine_cycles=<n> sw_mismatches=<m> hw_mismatches=<m>
 *           sw_hw_diff=<m> words=<w> sw_rc=<rc> hw_rc=<rc> speedup_x100=<s>
 * (one line; sw_cycles/hw_cycles: CPU timer around the kernel call / around stacc_engine_run, i.e. including the
 * driver's register writes and polling; engine_cycles: the engine's CYCLES register; hw_rc=-2: no engine of this
 * kind). Then "RESULT PASS" or "RESULT FAIL". Exit code: number of failing cases. */
#include <stdio.h>

#include "stacc_check.h"
#include "stacc_vectors.h"

/* Engines read and write whole bus words: keep the output buffers aligned for buses up to 128 bits. */
static uint32_t y_sw[STACC_MAX_Y_WORDS] __attribute__((aligned(16)));
static uint32_t y_hw[STACC_MAX_Y_WORDS] __attribute__((aligned(16)));

int main(void) {
    int failed = 0;
    for (unsigned i = 0; i < STACC_N_CASES; ++i) {
        const stacc_case_t *c = &stacc_cases[i];
        uint64_t sw_cycles, hw_cycles = 0;
        int sw_rc = stacc_layer_sw_timed(&c->layer, c->x, c->w, c->bias, c->requant, y_sw, &sw_cycles);
        uint32_t sw_bad = stacc_diff_words(y_sw, c->y, c->y_words);

        int engine = stacc_engine_find(c->layer.kind);
        int hw_rc = -2;
        uint32_t engine_cycles = 0, hw_bad = c->y_words, diff = c->y_words;
        if (engine >= 0) {
            hw_rc = stacc_engine_run_timed((unsigned)engine, &c->layer, c->x, c->w, c->bias, c->requant, y_hw,
                                           c->y_words, &hw_cycles, &engine_cycles);
            hw_bad = stacc_diff_words(y_hw, c->y, c->y_words);
            diff = stacc_diff_words(y_hw, y_sw, c->y_words);
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
