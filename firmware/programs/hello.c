/* Smoke test: UART, timer, the cache-maintenance hook and the exit code. Prints a line and exits with 0 if the
 * scratch register reads back and the timer advances. */
#include <stdio.h>

#include "stacc_regs.h"
#include "stacc_sys.h"

int main(void) {
    uint64_t t0 = stacc_cycles();
    STACC_SIM_SCRATCH = 0x5a5aa5a5u;
    stacc_dcache_invalidate();
    int bus_ok = STACC_SIM_SCRATCH == 0x5a5aa5a5u;
    uint64_t t1 = stacc_cycles();
    printf("hello from stacc: scratch %s, %lu cycles\n", bus_ok ? "ok" : "BAD", (unsigned long)(t1 - t0));
    return !(bus_ok && t1 > t0);
}
