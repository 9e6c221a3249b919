"""Firmware build driver: compiles a program from ``firmware/`` with Debian's RISC-V GCC and picolibc.

``build(program, out_dir)`` compiles ``firmware/programs/<program>.c`` together with the runtime (``firmware/lib``) and
the software kernels (``firmware/kernels``) for ``-march=rv32im -mabi=ilp32`` and returns the raw image the SoC loads
at address 0. The link uses ``firmware/link/stacc.ld`` (the generated region table + picolibc's ``picolibc.ld``).
"""

import shutil
import subprocess
from pathlib import Path

from . import memory_map

__all__ = ["FIRMWARE", "GCC", "CFLAGS", "programs", "build"]

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
GCC = "riscv64-unknown-elf-gcc"
OBJCOPY = "riscv64-unknown-elf-objcopy"
CFLAGS = ["-march=rv32im", "-mabi=ilp32", "-O2", "--specs=picolibc.specs", "--crt0=hosted",
          "-DPICOLIBC_INTEGER_PRINTF_SCANF",
          "-ffunction-sections", "-fdata-sections", "-std=c11", "-Wall", "-Wextra", "-Werror"]


def programs():
    """Names of the programs in ``firmware/programs``."""
    return sorted(p.stem for p in (FIRMWARE / "programs").glob("*.c"))


def _check_toolchain():
    for tool in (GCC, OBJCOPY):
        if shutil.which(tool) is None:
            raise FileNotFoundError(f"{tool} not found on PATH; install the Debian packages gcc-riscv64-unknown-elf "
                                    f"and picolibc-riscv64-unknown-elf (`make setup` does it)")


def build(program, out_dir, cpu="picorv32", include_dirs=(), defines=(), ram_size=None):
    """Compile and link ``program``; return ``(image_path, elf_path)``.

    Parameters
    ----------
    program : str
        One of :func:`programs`.
    out_dir : path
        Where ``<program>.elf``, ``<program>.bin`` and ``<program>.map`` go.
    cpu : str
        Defines ``STACC_CPU_<CPU>`` (e.g. for the VexRiscv data-cache flush in ``stacc_dcache_invalidate``).
    include_dirs : iterable of path
        Extra ``-I`` directories (e.g. a directory with generated test vectors).
    defines : iterable of str
        Extra ``-D`` definitions, ``NAME`` or ``NAME=VALUE``.
    ram_size : int, optional
        Link for a RAM of this many bytes instead of ``memory_map.RAM_SIZE`` (small FPGA builds): a ``regions.ld``
        for it is written to ``out_dir`` and found before the generated one.

    Raises
    ------
    ValueError
        Unknown ``program`` (lists the valid ones).
    subprocess.CalledProcessError
        Compile or link errors (GCC's messages are on stderr).
    """
    from .cpu import CPUS
    if cpu not in CPUS:
        raise ValueError(f"unknown CPU {cpu!r}; choose one of {', '.join(CPUS)}")
    if program not in programs():
        raise ValueError(f"unknown firmware program {program!r}; choose one of {', '.join(programs())}")
    _check_toolchain()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    elf, image = out / f"{program}.elf", out / f"{program}.bin"
    link_dirs = [FIRMWARE / "link"]
    if ram_size is not None:
        (out / "regions.ld").write_text(memory_map.linker_regions(ram_size))
        link_dirs.insert(0, out)
    sources = [FIRMWARE / "programs" / f"{program}.c", *sorted((FIRMWARE / "lib").glob("*.c")),
               *sorted((FIRMWARE / "kernels").glob("*.c"))]
    cmd = [GCC, *CFLAGS, f"-I{FIRMWARE / 'include'}", *(f"-I{d}" for d in include_dirs), f"-DSTACC_CPU_{cpu.upper()}",
           *(f"-D{d}" for d in defines),
           *(f"-L{d}" for d in link_dirs), f"-T{FIRMWARE / 'link' / 'stacc.ld'}",
           f"-Wl,-Map={out / (program + '.map')}",
           *map(str, sources), "-o", str(elf)]
    subprocess.run(cmd, check=True)
    subprocess.run([OBJCOPY, "-O", "binary", str(elf), str(image)], check=True)
    return image, elf
