/* A whole net (the steps of the generated stacc_net_data.h, soc/net.py) on one input, once with every weighted layer
 * in software (STACC_NET_SW, default 1) and once on the engines (STACC_NET_HW, default: when the SoC has engines;
 * the first engine of the layer's kind). The CPU runs pooling and flatten, and widens activations before a layer
 * whose weights are wider (mixed-precision nets). Each step's output image is hashed and compared with golden's:
 *     STEP <name> mode=sw|hw kind=<k> engine=<k or -1> cycles=<n> widen_cycles=<n> engine_cycles=<n> ok=<0|1> rc=<rc>
 * (cycles: the whole step including widening and, on an engine, the driver), then per pass
 *     LOGITS mode=sw|hw <word0> <word1> ...      (the last step's output image, hex)
 *     NET mode=sw|hw cycles=<total> failed=<steps that failed> argmax=<index of the largest output>
 * and "RESULT PASS" or "RESULT FAIL". Exit code: number of failing steps over both passes. */
#include <stdio.h>

#include "stacc_engine.h"
#include "stacc_net.h"
#include "stacc_sys.h"
#include "stacc_net_data.h"

#ifndef STACC_NET_SW
#define STACC_NET_SW 1
#endif
#ifndef STACC_NET_HW
#define STACC_NET_HW (STACC_N_ENGINES > 0)
#endif

/* Two ping-pong activation buffers and one for widened inputs; bus-word aligned for the engines' DMA. */
static uint32_t buf[3][STACC_NET_BUF_WORDS] __attribute__((aligned(16)));

static int same_prec(stacc_prec_t a, stacc_prec_t b) {
    return a.bits == b.bits && a.is_signed == b.is_signed;
}

/* Run one step from x into y; returns 0 or an error code (-2: no engine of the layer's kind). */
static int run_step(const stacc_step_t *s, const uint32_t *x, uint32_t *y, int hw, int *engine,
                    uint32_t *engine_cycles) {
    const stacc_layer_t *l = &s->layer;
    *engine = -1;
    *engine_cycles = 0;
    switch (l->kind) {
    case STACC_AVG_POOL:
        return stacc_avg_pool(l, s->shift, x, y);
    case STACC_FLATTEN: {
        uint32_t n = (uint32_t)l->h * l->w * l->cin;
        stacc_repack(x, l->in, l->cin, y, l->out, n, n);
        return 0;
    }
    default:
        if (!hw)
            return stacc_layer_sw(l, x, s->w, s->bias, s->requant, y);
        *engine = stacc_engine_find(l->kind);
        if (*engine < 0)
            return -2;
        return stacc_engine_run((unsigned)*engine, l, x, s->w, s->bias, s->requant, y, engine_cycles);
    }
}

/* One pass over the net; returns the number of failing steps. */
static int run_net(int hw) {
    const char *mode = hw ? "hw" : "sw";
    const uint32_t *x = stacc_net_input;
    uint32_t *y = buf[0];
    uint64_t total = 0;
    int failed = 0;
    for (unsigned i = 0; i < STACC_NET_N_STEPS; ++i) {
        const stacc_step_t *s = &stacc_net_steps[i];
        y = x == buf[0] ? buf[1] : buf[0];
        uint64_t t0 = stacc_cycles(), widen = 0;
        if (!same_prec(s->src, s->layer.in)) {
            uint32_t rows = (uint32_t)s->layer.h * s->layer.w;
            stacc_repack(x, s->src, s->layer.cin, buf[2], s->layer.in, s->layer.cin, rows * s->layer.cin);
            x = buf[2];
            widen = stacc_cycles() - t0;
        }
        int engine;
        uint32_t engine_cycles;
        int rc = run_step(s, x, y, hw, &engine, &engine_cycles);
        uint64_t cycles = stacc_cycles() - t0;
        total += cycles;
        int ok = rc == 0 && stacc_hash(y, s->y_words) == s->y_hash;
        failed += !ok;
        printf("STEP %s mode=%s kind=%u engine=%d cycles=%lu widen_cycles=%lu engine_cycles=%lu ok=%d rc=%d\n",
               s->name, mode, (unsigned)s->layer.kind, engine, (unsigned long)cycles, (unsigned long)widen,
               (unsigned long)engine_cycles, ok, rc);
        x = y;
    }
    const stacc_step_t *last = &stacc_net_steps[STACC_NET_N_STEPS - 1];
    printf("LOGITS mode=%s", mode);
    for (uint32_t j = 0; j < last->y_words; ++j)
        printf(" %08lx", (unsigned long)y[j]);
    unsigned best = 0;
    for (unsigned c = 1; c < last->layer.cout; ++c)
        if (stacc_get(y, c, last->layer.out) > stacc_get(y, best, last->layer.out))
            best = c;
    printf("\nNET mode=%s cycles=%lu failed=%d argmax=%u\n", mode, (unsigned long)total, failed, best);
    return failed;
}

int main(void) {
    int failed = 0;
    if (STACC_NET_SW)
        failed += run_net(0);
    if (STACC_NET_HW)
        failed += run_net(1);
    printf("RESULT %s\n", failed ? "FAIL" : "PASS");
    return failed;
}
