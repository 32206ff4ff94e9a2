"""The certificate matrix (tests/certmatrix/cases.txt) from Python: each
case's client connects to its server (tests/certmatrix/server.py) and the
outcome is checked: exception class, base code, extended number, verify
result, a text fragment, and from the server's record what went on the
wire. The C runner (tests/certmatrix/certmatrix.c) and the Lua one
(tests/lua/certmatrix_spec.lua) read the same cases."""

import os
import shutil
import socket
import subprocess
import tempfile

import pytest

import mailwire

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MATRIX = os.path.join(ROOT, "tests", "certmatrix")
FIELDS = ("name", "chain", "ca", "host", "server_name", "options", "code",
          "number", "verify", "sni", "text")


def read_cases():
    cases = []
    with open(os.path.join(MATRIX, "cases.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                values = [v.strip() for v in line.split("|")]
                assert len(values) == len(FIELDS), line
                cases.append(dict(zip(FIELDS, values)))
    return cases


CASES = read_cases()


@pytest.fixture(scope="module")
def matrix():
    """The PKI and the servers, in a temp dir; {case: port} and the dir."""
    base = tempfile.mkdtemp(prefix="mw-certmatrix-")
    work = os.path.join(base, "m")
    # The server must not inherit a sanitizer preloaded into this process.
    clean = {k: v for k, v in os.environ.items()
             if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    try:
        proc = subprocess.run([os.path.join(MATRIX, "start.sh"), work],
                              env=clean, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=120)
        if proc.returncode != 0:
            pytest.fail("certmatrix start.sh failed:\n" + proc.stdout.decode())
        with open(os.path.join(work, "ports")) as f:
            ports = {n: int(p) for n, p in (line.split() for line in f)}
        yield work, ports
    finally:
        subprocess.run([os.path.join(MATRIX, "stop.sh"), work], env=clean,
                       timeout=30)
        shutil.rmtree(base, ignore_errors=True)


def probe(port):
    """The server's record of the connections since the last probe."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(b"PROBE\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return dict(kv.split("=", 1) for kv in data.decode().split())


def value(name):
    return 0 if name in ("0", "MW_OK") else getattr(mailwire, name)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_certmatrix(matrix, case):
    work, ports = matrix
    port = ports[case["name"]]
    options = {"ca_file": os.path.join(work, case["ca"])}
    if case["server_name"] != "-":
        options["server_name"] = case["server_name"]
    ssl = mailwire.SSLInfo(mailwire.MODE_CHANNEL, **options)
    for name in case["options"].split():
        if name != "-":
            ssl.option[getattr(mailwire, name)] = True
    host = "127.0.0.1" if case["host"] == "-" else case["host"]
    client = mailwire.SMTPClient(server=host, port=port, timeout=20, ssl=ssl)
    code, number = value(case["code"]), value(case["number"])
    if code == 0:
        client.connect()
        assert client.is_secure
        client.quit()
    else:
        with pytest.raises(mailwire.Error) as ei:
            client.connect()
        e = ei.value
        assert (e.code, e.number, e.verify_result) == (
            code, number, int(case["verify"])), e.text
        assert case["text"] in e.text
        if number == mailwire.eexSSLCertName:
            assert isinstance(e, mailwire.CertificateNameError)
        elif number == mailwire.eexSSLCertificate:
            assert isinstance(e, mailwire.CertificateError)
        elif number == mailwire.eexInvalidArgument:
            assert isinstance(e, mailwire.InvalidArgumentError)
        assert not client.is_connected
    record = probe(port)
    if code == mailwire.errInvalidArgument:  # refused before connecting
        assert record["connections"] == "0", record
        return
    assert record["connections"] == "1", record
    assert record["handshake"] == ("ok" if code == 0 else "failed"), record
    assert record["sni"] == case["sni"], record
    received = bytes.fromhex(record["received"])
    if code == 0:
        assert b"EHLO " in received and b"QUIT\r\n" in received
    else:
        assert received == b"", record  # nothing but the handshake
