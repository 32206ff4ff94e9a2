"""The stubs checked with mypy (#18 item 20): the examples in
examples/python and typing_cases.py pass --strict; a wrong use of an
overload is reported."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))


def mypy(*args):
    try:
        import mypy  # noqa: F401  (Debian's python3-mypy)
    except ImportError:
        pytest.fail("mypy is missing: scripts/install-deps.sh installs python3-mypy")
    # Run outside the source tree, so the installed package (with its
    # stubs) is checked, not bindings/python.
    return subprocess.run([sys.executable, "-m", "mypy", "--strict",
                           "--no-incremental", "--cache-dir", os.devnull] + list(args),
                          cwd="/", capture_output=True, text=True, timeout=300)


def test_examples_and_typing_cases_pass_strict():
    r = mypy(os.path.join(ROOT, "examples", "python"),
             os.path.join(HERE, "typing_cases.py"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_wrong_use_of_an_overload_is_reported(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import io\nimport mailwire\n\n\n"
        "def f(pop: mailwire.POP3Client) -> bytes:\n"
        "    return pop.retr(1, io.BytesIO()).lower()\n")
    r = mypy(str(bad))
    assert r.returncode == 1, r.stdout + r.stderr
    assert '"None" has no attribute "lower"' in r.stdout, r.stdout
