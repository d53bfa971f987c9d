"""The compiled parts of albertctl (albertctl/native.py): two optional C extensions.

``albertctl.data._instances`` (make-data's pass over a group) and ``albertctl.vocab._normalize``
(the normalizer's fast check). Optional: without a C compiler (or, for the first, numpy's
sampling library) the install still succeeds and the pure-Python code runs, which gives the same
bytes. Everything else about the package is in pyproject.toml.
"""

from pathlib import Path

from setuptools import Extension, setup

_FLAGS = ["-O2", "-std=c99"]


def extensions() -> list[Extension]:
    compiled = [
        Extension(
            "albertctl.vocab._normalize",
            ["albertctl/vocab/_normalize.c"],
            extra_compile_args=_FLAGS,
            optional=True,
        )
    ]
    try:
        import numpy
    except ImportError:  # no numpy in the build environment: the pure-Python pass only
        return compiled
    random_lib = Path(numpy.__file__).parent / "random" / "lib"
    compiled.append(
        Extension(
            "albertctl.data._instances",
            ["albertctl/data/_instances.c"],
            include_dirs=[numpy.get_include()],
            # numpy's own sampling routines: the same draws as np.random.Generator's methods.
            library_dirs=[str(random_lib)],
            libraries=["npyrandom", "m"],
            extra_compile_args=_FLAGS,
            optional=True,
        )
    )
    return compiled


setup(ext_modules=extensions())
