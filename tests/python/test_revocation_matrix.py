"""The revocation matrix from Python: every case of
tests/servers/revocation-cases.txt (one SMTP connection over implicit TLS
each) against the servers of tests/servers/revocation-matrix.py, asserting
the same as the C runner (tests/c/test_revocation_matrix.c) and the Lua one
(tests/lua/revocation_spec.lua): base code, extended number, verify result,
SSLRevocationStatus, pieces of SSLRevocationDetail and of the text."""

import os
import subprocess
import tempfile

import pytest

import mailwire

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVERS = os.path.join(ROOT, "tests", "servers")
SCRIPT = os.path.join(SERVERS, "revocation-matrix.py")
COLUMNS = ("id", "leaf", "port", "staple", "tls", "options", "crl", "code",
           "eex", "verify", "status", "detail", "text")


def case_ids():
    """The ids of the case list; MW_REVOCATION_FILTER (a piece of an id)
    keeps only some: scripts/valgrind-bindings.sh runs a few, since the
    bindings add nothing of their own to revocation."""
    only = os.environ.get("MW_REVOCATION_FILTER", "")
    ids = []
    with open(os.path.join(SERVERS, "revocation-cases.txt")) as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith("#"):
                ids.append(line.split(" | ")[0].strip())
    return [i for i in ids if only in i]


@pytest.fixture(scope="module")
def matrix():
    """The resolved cases by id, with their servers running."""
    d = tempfile.mkdtemp(prefix="mw-revmatrix-")
    clean = {k: v for k, v in os.environ.items()
             if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    try:
        with open(os.path.join(d, "start.log"), "w") as log:
            rc = subprocess.run([SCRIPT, "start", d], stdout=log,
                                stderr=subprocess.STDOUT, env=clean,
                                timeout=120).returncode
        if rc != 0:
            pytest.fail("%s failed: %s" % (
                SCRIPT, open(os.path.join(d, "start.log")).read()))
        cases = {}
        with open(os.path.join(d, "cases.tsv")) as f:
            for line in f:
                row = dict(zip(COLUMNS, line.rstrip("\n").split("\t")))
                cases[row["id"]] = row
        yield d, cases
    finally:
        subprocess.run([SCRIPT, "clean", d], env=clean, timeout=60)


def make_ssl(d, case):
    ssl = mailwire.SSLInfo(mailwire.MODE_CHANNEL)
    ssl.option[mailwire.SSLCAFile] = os.path.join(d, "root.pem")
    if case["crl"] != "-":
        ssl.option[mailwire.SSLCRLFile] = case["crl"]
    if case["options"] == "-":
        return ssl
    for opt in case["options"].split(","):
        if opt == "end":
            ssl.option[mailwire.SSLRevocationCheckEnd] = True
        elif opt == "noall":
            ssl.option[mailwire.SSLRevocationCheckAll] = False
        elif opt == "root":
            ssl.option[mailwire.SSLRevocationExcludeRoot] = True
        elif opt.startswith("timeout="):
            ssl.option[mailwire.SSLRevocationTimeout] = int(opt[8:])
        elif opt not in ("nrc", "ro", "strict"):
            pytest.fail("unknown option %r" % opt)
        if opt in ("nrc", "strict"):
            ssl.option[mailwire.SSLRevocationIgnoreNRC] = False
        if opt in ("ro", "strict"):
            ssl.option[mailwire.SSLRevocationIgnoreRO] = False
    return ssl


def check_pieces(what, got, want):
    if want == "-":
        return
    for piece in want.split(" && "):
        if piece.startswith("!"):
            assert piece[1:] not in got, "%s %r holds %r" % (what, got, piece)
        else:
            assert piece in got, "%s %r lacks %r" % (what, got, piece)


@pytest.mark.parametrize("case_id", case_ids())
def test_revocation_matrix(matrix, case_id):
    d, cases = matrix
    case = cases[case_id]
    ssl = make_ssl(d, case)
    client = mailwire.SMTPClient(server="127.0.0.1", port=int(case["port"]),
                                 timeout=20, ssl=ssl)
    try:
        client.connect()
    except mailwire.Error as e:
        err = e
    else:
        err = None
        client.quit()
    if case["code"] == "ok":
        assert err is None, str(err)
    else:
        assert err is not None, "connected"
        assert isinstance(err, mailwire.CertificateError)
        assert err.code == getattr(mailwire, case["code"])
        assert err.number == getattr(mailwire, case["eex"])
        assert err.verify_result == int(case["verify"])
        check_pieces("text", err.text, case["text"])
    status = ssl.option[mailwire.SSLRevocationStatus]
    detail = ssl.option[mailwire.SSLRevocationDetail]
    assert status == getattr(mailwire, "SSL_REVOCATION_" + case["status"]), \
        detail
    check_pieces("detail", detail, case["detail"])
