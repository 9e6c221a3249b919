"""stacc's RISC-V SoC: CPU (picorv32 or VexRiscv), Wishbone interconnect, CSR peripherals, RAM, engine slots.

Modules: :mod:`soc.soc` (the top), :mod:`soc.memory_map` (addresses; generates the firmware header and linker
regions), :mod:`soc.wishbone` / :mod:`soc.csr` (buses), :mod:`soc.peripherals`, :mod:`soc.ram`, :mod:`soc.cpu`,
:mod:`soc.engines` (the attachable hw.accel engines), :mod:`soc.firmware` (RISC-V GCC build), :mod:`soc.vectors`
(golden test vectors as C), :mod:`soc.sim` (Verilator), :mod:`soc.bench` (per-layer speed-up), :mod:`soc.net` (whole
nets end to end), :mod:`soc.bitstream` (YoWASP). Command line: ``python -m soc --help``.
"""
