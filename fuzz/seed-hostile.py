#!/usr/bin/env python3
"""seed-hostile.py OUTDIR - seed inputs for fuzz_smtp, fuzz_pop3 and
fuzz_proxy made from tests/hostile/cases: the configuration byte each
target reads first (TLS, credentials, mechanism, proxy kind), then every
byte the case's server sends, in order. Written at fuzz time into
OUTDIR/<target>/ (build output, not committed); fuzz/run.sh passes them
as a read-only corpus beside the committed seeds."""

import glob
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CASES = os.path.join(ROOT, "tests", "hostile", "cases")
SIMPLE = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\0"}
SMTP_MECHS = [None, "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"]
POP3_MECHS = [None, "USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"]
PROXY_KINDS = {"socks4": 0, "socks4a": 1, "socks5": 2, "http": 3}


def unescape(text):
    def one(m):
        e = m.group(1)
        return bytes([int(e[1:], 16)]) if len(e) == 3 else SIMPLE.get(e, e)
    return re.sub(rb"\\(x[0-9a-fA-F]{2}|.)", one, text.encode(), flags=re.S)


def parse(path):
    settings, client, server = {}, None, bytearray()
    in_script = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not in_script:
                if line.startswith("set: "):
                    k, _, v = line[5:].partition("=")
                    settings[k] = v
                elif line.startswith("client: "):
                    client = line[8:]
                elif line == "script:":
                    in_script = True
                continue
            step = line.lstrip()
            verb, colon, arg = step.partition(":")
            arg = arg[1:] if arg.startswith(" ") else arg
            if colon and verb == "SRAW":
                server += unescape(arg)
            elif colon and verb == "S":
                server += unescape(arg) + b"\r\n"
            elif colon and verb == "FLOOD":
                server += unescape(arg) * 4
    return client, settings, bytes(server)


def config_byte(client, s):
    if "proxy" in s:
        host = 1 if re.match(r"^[0-9.]+$", s.get("target", "")) else \
            2 if ":" in s.get("target", "") else 0
        return ("fuzz_proxy", PROXY_KINDS[s["proxy"]] | host << 2 |
                ("proxy_user" in s) << 4 | 1 << 5)
    mechs = SMTP_MECHS if client == "smtp" else POP3_MECHS
    mech = mechs.index(s.get("mech")) if s.get("mech") in mechs else 0
    cfg = (1 | mech << 1) if "user" in s else 0
    if s.get("tls") == "starttls":
        cfg |= 0x80
    if s.get("plaintext_auth") == "1":
        cfg |= 0x20 if client == "smtp" else 0x10
    return ("fuzz_" + client, cfg)


def main():
    out = sys.argv[1]
    n = 0
    for path in sorted(glob.glob(os.path.join(CASES, "**", "*.case"), recursive=True)):
        client, settings, server = parse(path)
        target, cfg = config_byte(client, settings)
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        name = os.path.relpath(path, CASES)[:-5].replace("/", "-")
        with open(os.path.join(d, name), "wb") as f:
            f.write(bytes([cfg]) + server)
        n += 1
    print("seed-hostile: %d seeds from %s" % (n, CASES))


main()
