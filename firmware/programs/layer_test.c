/* Runs every layer case of the generated stacc_vectors.h with the software kernels and, when the SoC has engines
 * (STACC_N_ENGINES > 0), on the first engine of the case's kind; compares each output with the golden one and prints
 *     CASE <name> kernel=sw|hw cycles=<n> mismatches=<m> words=<w> rc=<rc>
 * (cycles: CPU timer around the call, i.e. including the driver for kernel=hw), followed, for outputs of at most
 * DUMP_MAX_WORDS words, by the computed output memory image in hex
 *     Y <name> <word0> <word1> ...        (software kernel)
 *     YHW <name> <word0> <word1> ...      (engine)
 * so the host can decode it with hw.layout and compare it with hw/golden itself; then "RESULT PASS" or
 * "RESULT FAIL". Exit code: number of failing runs (0 = all equal to hw/golden). */
#include <stdio.h>

#include "stacc_check.h"
#include "stacc_vectors.h"

#define DUMP_MAX_WORDS 64

/* Engines read and write whole bus words: keep the output buffer aligned for buses up to 128 bits. */
static uint32_t y_buf[STACC_MAX_Y_WORDS] __attribute__((aligned(16)));

static void dump(const char *tag, const char *name, const uint32_t *words, uint32_t n) {
    if (n > DUMP_MAX_WORDS)
        return;
    printf("%s %s", tag, name);
    for (uint32_t j = 0; j < n; ++j)
        printf(" %08lx", (unsigned long)words[j]);
    printf("\n");
}

/* Compare y_buf with the expected output, print the CASE line; return 1 if the run failed. */
static int report(const stacc_case_t *c, const char *kernel, uint64_t cycles, int rc) {
    uint32_t mismatches = stacc_diff_words(y_buf, c->y, c->y_words);
    printf("CASE %s kernel=%s cycles=%lu mismatches=%lu words=%lu rc=%d\n", c->name, kernel, (unsigned long)cycles,
           (unsigned long)mismatches, (unsigned long)c->y_words, rc);
    return rc != 0 || mismatches != 0;
}

int main(void) {
    int failed = 0;
    for (unsigned i = 0; i < STACC_N_CASES; ++i) {
        const stacc_case_t *c = &stacc_cases[i];
        uint64_t cycles;
        int rc = stacc_layer_sw_timed(&c->layer, c->x, c->w, c->bias, c->requant, y_buf, &cycles);
        failed += report(c, "sw", cycles, rc);
        dump("Y", c->name, y_buf, c->y_words);
        int engine = stacc_engine_find(c->layer.kind);
        if (engine >= 0) {
            uint32_t engine_cycles = 0;
            rc = stacc_engine_run_timed((unsigned)engine, &c->layer, c->x, c->w, c->bias, c->requant, y_buf,
                                        c->y_words, &cycles, &engine_cycles);
            failed += report(c, "hw", cycles, rc);
            printf("ENGINE %s engine=%d engine_cycles=%lu\n", c->name, engine, (unsigned long)engine_cycles);
            dump("YHW", c->name, y_buf, c->y_words);
        }
    }
    printf("RESULT %s\n", failed ? "FAIL" : "PASS");
    return failed;
}
