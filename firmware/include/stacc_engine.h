/* Driver for the stacc engines (hw/accel): configure a layer, start, poll done/error, read cycles.
 * Register offsets and fields come from the generated stacc_engine_regs.h; engine k sits at STACC_ACCEL_BASE(k). */
#ifndef STACC_ENGINE_H
#define STACC_ENGINE_H

#include <stdint.h>

#include "stacc_kernels.h"

/* Element width of a precision-mode-0 operand (EngineParams.mul_width); mode m is STACC_ENGINE_MUL_WIDTH >> m. */
#ifndef STACC_ENGINE_MUL_WIDTH
#define STACC_ENGINE_MUL_WIDTH 16
#endif

/* Number of engines the SoC was built with (engine k in slot k); the firmware build defines it. */
#ifndef STACC_N_ENGINES
#define STACC_N_ENGINES 0
#endif

/* INFO.kind of engine k (STACC_DENSE, STACC_CONV2D, STACC_DEPTHWISE). */
unsigned stacc_engine_kind(unsigned k);

/* Index of the first of the STACC_N_ENGINES engines of `kind`, or -1 when the SoC has none. */
int stacc_engine_find(unsigned kind);

/* Run `layer` on engine k with the tensors at the given addresses (hw.layout images, bus-word aligned) and wait for
 * it. Returns 0 when done, the engine's err_code (1..15) when it refused or failed, or -1 when the layer does not
 * suit the engine (kind mismatch, invalid geometry). *engine_cycles receives the engine's CYCLES register. The
 * CPU's data cache is invalidated afterwards so the output is visible. */
int stacc_engine_run(unsigned k, const stacc_layer_t *layer, const uint32_t *x, const uint32_t *w,
                     const int32_t *bias, const uint32_t *requant, uint32_t *y, uint32_t *engine_cycles);

#endif /* STACC_ENGINE_H */
