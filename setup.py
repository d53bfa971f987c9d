"""The one compiled part of albertctl: ``albertctl.data._instances`` (make-data's pass, in C).

Optional: without a C compiler (or numpy's sampling library) the install still succeeds and
make-data runs the pure-Python pass, which gives the same bytes (albertctl/data/columns.py).
Everything else about the package is in pyproject.toml.
"""

from pathlib import Path

from setuptools import Extension, setup


def extensions() -> list[Extension]:
    try:
        import numpy
    except ImportError:  # no numpy in the build environment: the pure-Python pass only
        return []
    random_lib = Path(numpy.__file__).parent / "random" / "lib"
    return [
        Extension(
            "albertctl.data._instances",
            ["albertctl/data/_instances.c"],
            include_dirs=[numpy.get_include()],
            # numpy's own sampling routines: the same draws as np.random.Generator's methods.
            library_dirs=[str(random_lib)],
            libraries=["npyrandom", "m"],
            extra_compile_args=["-O2", "-std=c99"],
            optional=True,
        )
    ]


setup(ext_modules=extensions())
