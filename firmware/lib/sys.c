/* stacc firmware runtime: stdout over the UART for picolibc's printf, the cycle timer and the exit hook. */
#include <stdio.h>
#include <stdlib.h>

#include "stacc_regs.h"
#include "stacc_sys.h"

#define UART_TX_READY 1u

void stacc_uart_putc(char c) {
    while (!(STACC_UART_STATUS & UART_TX_READY)) {
    }
    STACC_UART_TXDATA = (uint8_t)c;
}

static int uart_put(char c, FILE *file) {
    (void)file;
    stacc_uart_putc(c);
    return (unsigned char)c;
}

static FILE uart_stream = FDEV_SETUP_STREAM(uart_put, NULL, NULL, _FDEV_SETUP_WRITE);
FILE *const stdout = &uart_stream;
FILE *const stderr = &uart_stream;

uint64_t stacc_cycles(void) {
    uint32_t lo = STACC_TIMER_CYCLE_LO;            /* latches CYCLE_HI */
    uint32_t hi = STACC_TIMER_CYCLE_HI;
    return (uint64_t)hi << 32 | lo;
}

void stacc_exit(int code) {
    fflush(stdout);
    STACC_SIM_EXIT = (uint32_t)code;
    for (;;) {
    }
}

/* picolibc's exit() (also reached by returning from main) ends here. */
void _exit(int code) {
    stacc_exit(code);
}
