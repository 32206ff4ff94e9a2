"""Build the mailwire extension: SWIG runs at build time into the build
directory (nothing generated is committed), then the C library, the SWIG
wrapper and the hand-written glue are compiled into one extension module,
mailwire._mailwire, linked with OpenSSL. Metadata lives in pyproject.toml.
"""

import glob
import os
import shutil
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
SWIG_ENTRY = os.path.join("swig", "python", "mailwire.i")
# core/src has a folder per layer; every one is on the include path.
LAYERS = sorted(os.path.relpath(d, HERE)
                for d in glob.glob(os.path.join(HERE, "core", "src", "*", "")))
INCLUDES = ["core/include", "core/src", *LAYERS, "bindings/python/src"]


def relative(paths):
    return sorted(os.path.relpath(p, HERE) for p in paths)


class BuildWithSwig(build_ext):
    """Generate the SWIG wrapper into build_temp before compiling."""

    def swig_sources(self, sources, extension):
        interfaces = [s for s in sources if s.endswith(".i")]
        others = [s for s in sources if not s.endswith(".i")]
        if interfaces != [SWIG_ENTRY]:
            raise RuntimeError("expected exactly %s as SWIG input" % SWIG_ENTRY)
        swig = shutil.which("swig") or shutil.which("swig4.0")
        if not swig:
            raise RuntimeError("SWIG is needed to build mailwire (apt-get install swig)")
        os.makedirs(self.build_temp, exist_ok=True)
        wrapper = os.path.join(self.build_temp, "_mailwire_wrap.c")
        command = [swig, "-python", "-threads", "-noproxy",
                   "-interface", "_mailwire", "-Iswig",
                   *["-I" + d for d in INCLUDES],
                   "-outdir", self.build_temp, "-o", wrapper, SWIG_ENTRY]
        self.announce(" ".join(command), level=2)
        subprocess.check_call(command, cwd=HERE)
        return others + [wrapper]


mailwire_ext = Extension(
    "mailwire._mailwire",
    sources=relative(glob.glob(os.path.join(HERE, "core", "src", "*.c"))
                     + glob.glob(os.path.join(HERE, "core", "src", "*", "*.c")))
    + ["bindings/python/src/mwpy_glue.c", SWIG_ENTRY],
    include_dirs=INCLUDES,
    define_macros=[("_POSIX_C_SOURCE", "200809L")],
    extra_compile_args=["-std=c11", "-fvisibility=hidden", "-Wall",
                        "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
    libraries=["ssl", "crypto", "idn2"],
    depends=relative(glob.glob(os.path.join(HERE, "core", "*", "*.h"))
                     + glob.glob(os.path.join(HERE, "core", "src", "*", "*.h"))
                     + glob.glob(os.path.join(HERE, "swig", "*.i"))
                     + glob.glob(os.path.join(HERE, "swig", "python", "*.i"))
                     + glob.glob(os.path.join(HERE, "bindings", "python", "src", "*.h"))),
)

# Build products stay under build/python (also the egg-info), out of the
# source tree and apart from the CMake builds.
BUILD_BASE = os.path.join("build", "python")
os.makedirs(os.path.join(HERE, BUILD_BASE), exist_ok=True)

setup(ext_modules=[mailwire_ext], cmdclass={"build_ext": BuildWithSwig},
      options={"build": {"build_base": BUILD_BASE},
               "egg_info": {"egg_base": BUILD_BASE}})
