"""Build the two native cores: the PDQ hasher and the Hamming index.

Everything else is declared in pyproject.toml; setuptools still needs setup.py for C extensions.
Floating-point contraction is disabled so the PDQ core performs exactly the IEEE operations of
Meta's reference implementation (an FMA would change the last bit of some sums, and a hash).
"""

import platform

from setuptools import Extension, setup

# -Wno-psabi: GCC notes an ABI change of 2011 for 32-byte vector arguments; all callers are ours.
common = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-std=c11", "-Wall", "-Wno-psabi"]
if platform.machine() in ("x86_64", "AMD64"):
    common.append("-mpopcnt")

setup(
    ext_modules=[
        Extension(
            "jaga.signals._pdq",
            sources=["src/jaga/signals/_pdq.c"],
            extra_compile_args=common,
        ),
        Extension(
            "jaga.index._hamming",
            sources=["src/jaga/index/_hamming.c"],
            extra_compile_args=[*common, "-fopenmp"],
            extra_link_args=["-fopenmp"],
        ),
    ],
)
