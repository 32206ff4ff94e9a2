"""Fixtures: the real servers of tests/servers (started once per session),
their environment, and helpers to find delivered mail."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # for scripted.py

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVERS = os.path.join(ROOT, "tests", "servers")


def _read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            if line.startswith("export "):
                line = line[len("export "):]
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip().strip("'\"")
    return env


class Env(dict):
    """servers.env; a missing key fails the test (never a skip)."""

    def __getitem__(self, key):
        if key not in self:
            pytest.fail("servers.env has no %s" % key)
        return dict.__getitem__(self, key)

    def port(self, key):
        return int(self[key])

    def address(self, user_key="USER"):
        return "%s@%s" % (self[user_key], self["MAIL_DOMAIN"])


@pytest.fixture(scope="session")
def env():
    start = os.path.join(SERVERS, "start.sh")
    stop = os.path.join(SERVERS, "stop.sh")
    if not os.path.exists(start):
        pytest.fail("tests/servers/start.sh is missing: cannot start the servers")
    base = tempfile.mkdtemp(prefix="mw-pytest-")
    os.chmod(base, 0o755)  # the postfix and dovecot users must reach it
    workdir = os.path.join(base, "servers")
    os.mkdir(workdir)
    # The servers must not inherit a sanitizer preloaded into this process.
    clean = {k: v for k, v in os.environ.items()
             if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    try:
        # Output to a file, not a pipe: the daemons inherit it and keep it open.
        with open(os.path.join(base, "start.out"), "w+b") as out:
            proc = subprocess.run([start, workdir], stdout=out, env=clean,
                                  stderr=subprocess.STDOUT, timeout=180)
            out.seek(0)
            output = out.read().decode(errors="replace")
        if proc.returncode != 0:
            pytest.fail("start.sh failed (%d):\n%s" % (proc.returncode, output))
        found = Env(_read_env(os.path.join(workdir, "servers.env")))
        found.path = os.path.join(workdir, "servers.env")
        yield found
    finally:
        subprocess.run([stop, workdir], stdout=subprocess.DEVNULL, env=clean,
                       stderr=subprocess.DEVNULL, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def marker(what):
    return "mw-pytest-%s-%s" % (what, uuid.uuid4().hex[:12])


def wait_delivery(env, user_key, needle, timeout=30.0):
    """The content (bytes) of the delivered message containing needle, or
    None after timeout seconds."""
    pattern = os.path.join(env["MAILDIR_ROOT"], env[user_key], "Maildir",
                           "*", "*")
    deadline = time.monotonic() + timeout
    needle = needle.encode()
    while time.monotonic() < deadline:
        for path in glob.glob(pattern):
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if needle in data:
                return data
        time.sleep(0.1)
    return None
