/* stacc firmware runtime: UART console (stdout), cycle timer, simulation exit. */
#ifndef STACC_SYS_H
#define STACC_SYS_H

#include <stdint.h>

/* Send one byte over the UART (waits while the transmitter is busy). */
void stacc_uart_putc(char c);

/* Cycles since reset, a consistent 64-bit sample of the TIMER peripheral. */
uint64_t stacc_cycles(void);

/* Make data written to RAM by a bus master other than the CPU (an engine's DMA) visible to the CPU: invalidates
 * VexRiscv's data cache (firmware built with -DSTACC_CPU_VEXRISCV); picorv32 has no cache, so a no-op there. */
static inline void stacc_dcache_invalidate(void) {
#ifdef STACC_CPU_VEXRISCV
    __asm__ volatile(".word 0x500f" ::: "memory");   /* VexRiscv (LiteX configuration) data-cache flush */
#else
    __asm__ volatile("" ::: "memory");
#endif
}

/* End the program: in simulation the harness stops with this exit status (0 = pass); on a board it spins. */
void stacc_exit(int code) __attribute__((noreturn));

#endif /* STACC_SYS_H */
