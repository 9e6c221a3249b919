// Verilator harness for the stacc SoC: loads a firmware image into RAM, runs until the firmware writes SIM.EXIT,
// prints the UART output on stdout and a one-line summary on stderr. Built by soc/sim.py (`python -m soc sim`).
//
// usage: Vstacc_soc IMAGE.bin MAX_CYCLES
// exit status: the firmware's exit code; 124 on timeout, 125 on a CPU trap, 126 on a bus error, 2 on bad usage.
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "Vstacc_soc.h"
#include "verilated.h"
#include "verilated_syms.h"

#ifndef STACC_RAM_WORDS
#error "define STACC_RAM_WORDS"
#endif

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s IMAGE.bin MAX_CYCLES\n", argv[0]);
        return 2;
    }
    std::FILE *f = std::fopen(argv[1], "rb");
    if (!f) {
        std::fprintf(stderr, "[soc-sim] cannot open firmware image %s\n", argv[1]);
        return 2;
    }
    std::vector<unsigned char> image((std::size_t)STACC_RAM_WORDS * 4 + 1);
    std::size_t n = std::fread(image.data(), 1, image.size(), f);
    std::fclose(f);
    if (n > (std::size_t)STACC_RAM_WORDS * 4) {
        std::fprintf(stderr, "[soc-sim] image %s is larger than the RAM (%d bytes)\n", argv[1], STACC_RAM_WORDS * 4);
        return 2;
    }
    unsigned long long max_cycles = std::strtoull(argv[2], nullptr, 0);

    VerilatedContext ctx;
    Vstacc_soc top{&ctx};
    top.clk = 0;
    top.rst = 1;
    top.eval();                                    // runs the RTL's initial blocks (RAM zeroing) first
    // The RAM array is public (soc/sim.vlt); find it by name, whatever Verilator's inlining did with the hierarchy.
    const VerilatedScope *scope = ctx.scopeFind("TOP.stacc_soc.ram");
    VerilatedVar *var = scope ? scope->varFind("mem") : nullptr;
    if (!var) {
        std::fprintf(stderr, "[soc-sim] RAM array TOP.stacc_soc.ram.mem not found; scopes are:\n");
        ctx.scopesDump();
        return 2;
    }
    auto *ram = static_cast<uint32_t *>(var->datap());
    for (std::size_t w = 0; w < (std::size_t)STACC_RAM_WORDS; ++w)
        ram[w] = image[4 * w] | image[4 * w + 1] << 8 | image[4 * w + 2] << 16 | (unsigned)image[4 * w + 3] << 24;

    unsigned long long cycle = 0;
    int status = 124;
    const char *why = "timeout";
    for (; cycle < max_cycles + 8; ++cycle) {
        top.rst = cycle < 8;
        top.clk = 1;
        top.eval();
        top.clk = 0;
        top.eval();
        if (top.uart_stb) std::putchar(top.uart_data);
        if (top.exit_stb) { status = (int)(top.exit_code & 0xff); why = "exit"; break; }
        if (top.trap) { status = 125; why = "CPU trap"; break; }
        if (top.bus_error) { status = 126; why = "bus error (access to an unmapped address)"; break; }
    }
    std::fflush(stdout);
    std::fprintf(stderr, "[soc-sim] %s: status %d after %llu cycles\n", why, status, cycle > 8 ? cycle - 8 : 0);
    top.final();
    return status;
}
