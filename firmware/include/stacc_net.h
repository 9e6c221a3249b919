/* A whole net as a chain of steps (the generated stacc_net_data.h, soc/net.py, holds them) for
 * firmware/programs/net.c: every weighted layer runs with the software kernel or on an engine, the CPU does the
 * rest (pooling, flatten, and widening an activation tensor to the width of the next layer's weights). */
#ifndef STACC_NET_H
#define STACC_NET_H

#include <stdint.h>

#include "stacc_kernels.h"

/* Steps the CPU always runs, numbered after the layer kinds (STACC_DENSE, STACC_CONV2D, STACC_DEPTHWISE). */
enum { STACC_AVG_POOL = 4, STACC_FLATTEN = 5 };

typedef struct {
    const char *name;
    /* kind: a layer kind, STACC_AVG_POOL or STACC_FLATTEN. in: the precision the step reads (a weighted layer's
     * compute width, equal to its weights'); h, w, cin: the shape it reads (dense and flatten's output: one row). */
    stacc_layer_t layer;
    stacc_prec_t src;          /* precision of the previous step's output; differs from layer.in: widen it first */
    int8_t shift;              /* STACC_AVG_POOL: the division's extra power of two (stacc_avg_pool) */
    const uint32_t *w, *requant;
    const int32_t *bias;
    uint32_t y_words;          /* words of the output's memory image */
    uint32_t y_hash;           /* stacc_hash of golden's output image */
} stacc_step_t;

/* FNV-1a over 32-bit words (soc.net.fnv1a): the check of a step's output image against golden's. */
static inline uint32_t stacc_hash(const uint32_t *words, uint32_t n) {
    uint32_t h = 2166136261u;
    for (uint32_t j = 0; j < n; ++j)
        h = (h ^ words[j]) * 16777619u;
    return h;
}

#endif /* STACC_NET_H */
