#!/usr/bin/python3
"""revocation-matrix.py - the servers of the revocation matrix.

    revocation-matrix.py start DIR   make the PKI in the empty DIR, start the
                                     servers, write DIR/cases.tsv, return
    revocation-matrix.py stop DIR    stop what start started (by pid)

The case list is tests/servers/revocation-cases.txt; DIR/cases.tsv is the
same list with each case's server port (column "port", after "leaf") and
its CRL files as absolute paths, which is what the runners in C, Python
and Lua read.

What runs on 127.0.0.1 (all in one background process, plus openssl ocsp):
  - openssl ocsp, the real responder, for the leaves of revocation-pki.sh;
  - an HTTP server: GET /NAME serves DIR/NAME (the CRLs of the
    distribution points), POST /ocsp/NAME answers with DIR/canned-NAME.der
    (a canned OCSP answer), any other POST gets 501;
  - a listener that never accepts (a responder that hangs), and one that
    answers every connection with a line that is not HTTP;
  - one TLS server per (leaf, staple, TLS version) of the case list: it
    staples DIR/staple-NAME.der, speaks just enough SMTP for a client to
    connect (220, EHLO, QUIT), and is pyOpenSSL (Debian's python3-openssl),
    since openssl s_server cannot greet.

Besides the PKI of revocation-pki.sh, this makes (with python3-cryptography):
  CRLs of the intermediate (serials: crlrev 0x2002, plain 0x2001):
    int-old.pem         number 1, lists nothing       int-new.pem  number 2,
    lists crlrev; int-old-new.pem / int-new-old.pem both in one file;
    int-n5-rev.pem      number 5, an hour older than int-n4-later.pem
                        (number 4), lists crlrev: the number decides
    int-caonly.pem      number 3, IssuingDistributionPoint onlyContainsCACerts
    int-useronly.pem    number 7, onlyContainsUserCerts, lists crlrev
    int-reasons.pem     number 8, onlySomeReasons keyCompromise, lists nothing
    int-reasons-rev.pem number 9, the same listing crlrev
    int-indirect.pem    number 10, indirectCRL
    int-delta.pem       delta CRL number 11 (base 1), lists crlrev
    int-expired-empty.pem  out of date, lists nothing
    int-hold.pem        number 13, plain on certificateHold; int-n14.pem,
                        number 14, lifts it (lists nothing)
    int-badsig.pem      claims to be int's (lists plain), signed by the root
  leaves canned-NAME whose OCSP responder is POST /ocsp/NAME, and the
  answers canned-NAME.der (nonce: none unless said; signer: int):
    two        good then revoked for the leaf, in one answer
    fresh      good, nextUpdate tomorrow
    old        good, thisUpdate 400 days ago, no nextUpdate
    future     good, thisUpdate tomorrow
    stalerev   revoked, thisUpdate 400 days ago, nextUpdate 399 days ago
    noncerev   revoked with a nonce no client sent
    noncegood  good with a nonce no client sent
    other      good for another serial (plain) only
    rootsig    good, signed by the root (not int's responder)
    noeku      good, signed by a certificate of int without OCSPSigning
    delegated  good, signed by a certificate of int with OCSPSigning
    expiredsigner  the same, but that certificate has expired
    badsig     good, with its signature damaged
    int3, anchorleaf   good, for a chain known by OCSP only: int3 is an
               intermediate of the root, anchorleaf a leaf of int3
    garbage    HTTP 200 with bytes that are not OCSP
    trylater, internalerror, unauthorized   unsuccessful answers
  ocspjunk: a leaf whose responder answers something that is not HTTP
  staples: staple-two.der (= canned-two.der), staple-garbage.der (not
  OCSP), staple-good-down.der (good for ocspdown), and revocation-pki.sh's
  staple-good/rev/forged.der.
"""

import datetime
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "revocation-cases.txt")
ONE_DAY = datetime.timedelta(days=1)


def read_cases(path=CASES):
    cases = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cols = [c.strip() for c in line.split(" | ")]
            if len(cols) != 12:
                raise SystemExit("%s: %d columns, not 12: %s" %
                                 (path, len(cols), line))
            cases.append(cols)
    return cases


def listen():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def free_port():
    s = listen()
    port = s.getsockname()[1]
    s.close()
    return port


# ---- DER, just enough to put two answers in one OCSP response ----

def der_read(buf, pos=0):
    """(tag, content start, end) of the TLV at pos."""
    tag, n = buf[pos], buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    return tag, pos, pos + n


def der_children(buf):
    out, pos = [], 0
    while pos < len(buf):
        _, start, end = der_read(buf, pos)
        out.append(buf[pos:end])
        pos = end
    return out


def der(tag, content):
    n = len(content)
    if n < 0x80:
        head = bytes([tag, n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([tag, 0x80 | len(raw)]) + raw
    return head + content


def content(tlv):
    _, start, end = der_read(tlv)
    return tlv[start:end]


# ---- the PKI ----

class Pki:
    def __init__(self, d, http_port):
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        self.d, self.http = d, http_port
        self.x509 = x509
        self.now = datetime.datetime.utcnow().replace(microsecond=0)
        self.certs, self.keys = {}, {}
        for name in ("root", "int", "plain", "crlrev", "ocspdown"):
            with open(self.path(name + ".pem"), "rb") as f:
                self.certs[name] = x509.load_pem_x509_certificate(f.read())
        for name in ("root", "int"):
            with open(self.path(name + ".key"), "rb") as f:
                self.keys[name] = serialization.load_pem_private_key(
                    f.read(), None)

    def path(self, name):
        return os.path.join(self.d, name)

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)

    def cert(self, name, cn, serial, issuer, ocsp=None, eku=None, ca=False,
             expired=False):
        """An EC leaf (responder, intermediate) certificate signed by
        issuer; NAME-chain.pem holds it and issuer (unless the root)."""
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        x509 = self.x509
        from cryptography.x509.oid import NameOID, AuthorityInformationAccessOID
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailwire tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        b = (x509.CertificateBuilder().subject_name(subject)
             .issuer_name(self.certs[issuer].subject)
             .public_key(key.public_key()).serial_number(serial)
             .not_valid_before(self.now - (30 if expired else 1) * ONE_DAY)
             .not_valid_after(self.now - ONE_DAY if expired
                              else self.now + 30 * ONE_DAY)
             .add_extension(x509.BasicConstraints(ca, None), True))
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(eku), False)
        if ca:
            b = b.add_extension(x509.KeyUsage(
                False, False, False, False, False, True, True, False, False),
                True)
        if ocsp and not ca:
            import ipaddress
            b = b.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        if ocsp:
            b = b.add_extension(x509.AuthorityInformationAccess([
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP,
                    x509.UniformResourceIdentifier(ocsp))]), False)
        cert = b.sign(self.keys[issuer], hashes.SHA256())
        self.certs[name], self.keys[name] = cert, key
        pem = cert.public_bytes(serialization.Encoding.PEM)
        self.write(name + ".pem", pem)
        self.write(name + ".key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        with open(self.path(issuer + ".pem"), "rb") as f:
            up = f.read() if issuer != "root" else b""
        self.write(name + "-chain.pem", pem + up)
        return cert

    # -- CRLs --

    def crl(self, name, number, listed=(), this=None, nxt=None, idp=None,
            delta=None, hold=(), signer="int"):
        from cryptography.hazmat.primitives import hashes, serialization
        x509 = self.x509
        this = this or self.now - datetime.timedelta(hours=2)
        nxt = nxt or self.now + 7 * ONE_DAY
        b = (x509.CertificateRevocationListBuilder()
             .issuer_name(self.certs["int"].subject)
             .last_update(this).next_update(nxt)
             .add_extension(x509.CRLNumber(number), False))
        for who in list(listed) + list(hold):
            entry = (x509.RevokedCertificateBuilder()
                     .serial_number(self.certs[who].serial_number)
                     .revocation_date(this - datetime.timedelta(minutes=5)))
            if who in hold:
                entry = entry.add_extension(x509.CRLReason(
                    x509.ReasonFlags.certificate_hold), False)
            b = b.add_revoked_certificate(entry.build())
        if idp:
            b = b.add_extension(x509.IssuingDistributionPoint(**idp), True)
        if delta is not None:
            b = b.add_extension(x509.DeltaCRLIndicator(delta), True)
        pem = b.sign(self.keys[signer], hashes.SHA256()).public_bytes(
            serialization.Encoding.PEM)
        self.write(name, pem)
        return pem

    def crls(self):
        hour = datetime.timedelta(hours=1)
        old = self.crl("int-old.pem", 1, this=self.now - 3 * hour)
        new = self.crl("int-new.pem", 2, ["crlrev"], this=self.now - hour)
        self.write("int-old-new.pem", old + new)
        self.write("int-new-old.pem", new + old)
        self.crl("int-n5-rev.pem", 5, ["crlrev"], this=self.now - 2 * hour)
        self.crl("int-n4-later.pem", 4, this=self.now - hour)
        none = dict(full_name=None, relative_name=None,
                    only_contains_user_certs=False,
                    only_contains_ca_certs=False, only_some_reasons=None,
                    indirect_crl=False, only_contains_attribute_certs=False)
        self.crl("int-caonly.pem", 3, this=self.now - hour / 2,
                 idp=dict(none, only_contains_ca_certs=True))
        self.crl("int-useronly.pem", 7, ["crlrev"],
                 idp=dict(none, only_contains_user_certs=True))
        reasons = frozenset([self.x509.ReasonFlags.key_compromise])
        self.crl("int-reasons.pem", 8, idp=dict(none, only_some_reasons=reasons))
        self.crl("int-reasons-rev.pem", 9, ["crlrev"],
                 idp=dict(none, only_some_reasons=reasons))
        self.crl("int-indirect.pem", 10, idp=dict(none, indirect_crl=True))
        self.crl("int-delta.pem", 11, ["crlrev"], delta=1)
        self.crl("int-expired-empty.pem", 12, this=self.now - 2 * ONE_DAY,
                 nxt=self.now - ONE_DAY)
        self.crl("int-hold.pem", 13, hold=["plain"], this=self.now - 2 * hour)
        self.crl("int-n14.pem", 14, this=self.now - hour)
        self.crl("int-badsig.pem", 15, ["plain"], signer="root")

    # -- OCSP answers --

    def ocsp(self, leaf, status="good", this=None, nxt=None, nonce=None,
             signer="int", serial_of=None, issuer="int"):
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509 import ocsp
        st = {"good": ocsp.OCSPCertStatus.GOOD,
              "revoked": ocsp.OCSPCertStatus.REVOKED}[status]
        this = this or self.now - datetime.timedelta(minutes=5)
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=self.certs[serial_of or leaf], issuer=self.certs[issuer],
            algorithm=hashes.SHA1(), cert_status=st, this_update=this,
            next_update=nxt,
            revocation_time=this - ONE_DAY if status == "revoked" else None,
            revocation_reason=None)
        b = b.responder_id(ocsp.OCSPResponderEncoding.HASH,
                           self.certs[signer])
        if signer not in ("int", "root", issuer):
            b = b.certificates([self.certs[signer]])
        if nonce:
            b = b.add_extension(self.x509.OCSPNonce(nonce), False)
        return b.sign(self.keys[signer], hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)

    def two_answers(self, leaf):
        """One answer holding "good" then "revoked" for leaf, signed by int:
        the single responses of two answers, signed again together."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        tomorrow = self.now + ONE_DAY
        good = self.ocsp(leaf, "good", nxt=tomorrow)
        bad = self.ocsp(leaf, "revoked", nxt=tomorrow)

        def parts(resp):
            # OCSPResponse -> [0] -> ResponseBytes -> OCTET STRING -> Basic
            rb = content(der_children(content(resp))[1])
            basic = content(der_children(content(rb))[1])
            tbs, alg, _sig = der_children(content(basic))[:3]
            return tbs, alg, der_children(content(tbs))

        tbs, alg, fields = parts(good)
        single_bad = der_children(content(parts(bad)[2][2]))[0]
        # ResponseData: responderID, producedAt, responses (no version)
        responses = der(0x30, content(fields[2]) + single_bad)
        tbs = der(0x30, fields[0] + fields[1] + responses +
                  b"".join(fields[3:]))
        sig = self.keys["int"].sign(tbs, ec.ECDSA(hashes.SHA256()))
        basic = der(0x30, tbs + alg + der(0x03, b"\0" + sig))
        oid = bytes.fromhex("06092b0601050507300101")  # id-pkix-ocsp-basic
        rb = der(0x30, oid + der(0x04, basic))
        return der(0x30, bytes.fromhex("0a0100") + der(0xA0, rb))

    def canned(self, junk_port):
        from cryptography.hazmat.primitives import serialization
        from cryptography.x509 import ocsp
        from cryptography.x509.oid import ExtendedKeyUsageOID
        names = ["two", "fresh", "old", "future", "stalerev", "noncerev",
                 "noncegood", "other", "rootsig", "noeku", "delegated",
                 "badsig", "garbage", "trylater", "internalerror",
                 "unauthorized", "expiredsigner"]
        for i, n in enumerate(names):
            self.cert("canned-" + n, "canned %s leaf" % n, 0x4000 + i, "int",
                      ocsp="http://127.0.0.1:%d/ocsp/%s" % (self.http, n))
        self.cert("responder-noeku", "responder without OCSPSigning", 0x5001,
                  "int")
        self.cert("responder", "delegated responder", 0x5002, "int",
                  eku=[ExtendedKeyUsageOID.OCSP_SIGNING])
        self.cert("responder-expired", "expired delegated responder", 0x5003,
                  "int", eku=[ExtendedKeyUsageOID.OCSP_SIGNING], expired=True)
        # A chain known by OCSP only, so that no source speaks for the
        # root: int3 (answered for by the root), anchorleaf under it.
        self.cert("int3", "ocsp-only intermediate", 0x6001, "root", ca=True,
                  ocsp="http://127.0.0.1:%d/ocsp/int3" % self.http)
        self.cert("anchorleaf", "leaf under the ocsp-only intermediate",
                  0x6002, "int3",
                  ocsp="http://127.0.0.1:%d/ocsp/anchorleaf" % self.http)
        self.cert("ocspjunk", "ocsp-junk leaf", 0x6003, "int",
                  ocsp="http://127.0.0.1:%d/" % junk_port)
        day, old = ONE_DAY, self.now - 400 * ONE_DAY
        out = {
            "two": self.two_answers("canned-two"),
            "fresh": self.ocsp("canned-fresh", nxt=self.now + day),
            "old": self.ocsp("canned-old", this=old),
            "future": self.ocsp("canned-future", this=self.now + day,
                                nxt=self.now + 2 * day),
            "stalerev": self.ocsp("canned-stalerev", "revoked", this=old,
                                  nxt=old + day),
            "noncerev": self.ocsp("canned-noncerev", "revoked",
                                  nxt=self.now + day, nonce=b"not yours"),
            "noncegood": self.ocsp("canned-noncegood", nxt=self.now + day,
                                   nonce=b"not yours"),
            "other": self.ocsp("canned-other", nxt=self.now + day,
                               serial_of="plain"),
            "rootsig": self.ocsp("canned-rootsig", nxt=self.now + day,
                                 signer="root"),
            "noeku": self.ocsp("canned-noeku", nxt=self.now + day,
                               signer="responder-noeku"),
            "delegated": self.ocsp("canned-delegated", nxt=self.now + day,
                                   signer="responder"),
            "expiredsigner": self.ocsp("canned-expiredsigner",
                                       nxt=self.now + day,
                                       signer="responder-expired"),
            "int3": self.ocsp("int3", nxt=self.now + day, signer="root",
                              issuer="root"),
            "anchorleaf": self.ocsp("anchorleaf", nxt=self.now + day,
                                    signer="int3", issuer="int3"),
            "garbage": b"this is not an OCSP response\n",
            "trylater": ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(
                    serialization.Encoding.DER),
            "unauthorized": ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(
                    serialization.Encoding.DER),
            "internalerror": ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.INTERNAL_ERROR).public_bytes(
                    serialization.Encoding.DER),
        }
        bad = bytearray(self.ocsp("canned-badsig", nxt=self.now + day))
        bad[-20] ^= 0x55  # inside the signature: the last bytes
        out["badsig"] = bytes(bad)
        for n, data in out.items():
            self.write("canned-%s.der" % n, data)
        self.write("staple-two.der", out["two"])
        self.write("staple-garbage.der", out["garbage"])
        self.write("staple-good-down.der",
                   self.ocsp("ocspdown", nxt=self.now + day))


# ---- the servers ----

def http_handler(d):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=d, **kw)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(n)
            name = self.path[len("/ocsp/"):] if self.path.startswith(
                "/ocsp/") else ""
            path = os.path.join(d, "canned-%s.der" % name)
            if not name.isalnum() or not os.path.exists(path):
                self.send_error(501)
                return
            with open(path, "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    return Handler


def smtp_over_tls(conn):
    """Greet, answer EHLO/HELO/NOOP/RSET with 250, QUIT with 221."""
    from OpenSSL import SSL
    try:
        conn.do_handshake()
        conn.sendall(b"220 localhost revocation matrix ESMTP\r\n")
        buf = b""
        while True:
            data = conn.recv(4096)
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                verb = line.strip().upper()[:4]
                if verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    conn.shutdown()
                    return
                conn.sendall(b"250 localhost\r\n" if verb in (
                    b"EHLO", b"HELO") else b"250 ok\r\n")
    except (SSL.Error, OSError):
        pass
    finally:
        try:
            conn.close()  # the socket's close (pyOpenSSL passes it on)
        except OSError:
            pass


def tls_server(d, sock, leaf, staple, tls):
    from OpenSSL import SSL
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.use_certificate_chain_file(os.path.join(d, leaf + "-chain.pem"))
    ctx.use_privatekey_file(os.path.join(d, leaf + ".key"))
    if tls == "12":
        ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
    else:
        ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    if staple != "-":
        with open(os.path.join(d, "staple-%s.der" % staple), "rb") as f:
            der_bytes = f.read()
        ctx.set_ocsp_server_callback(lambda conn, data: der_bytes)
    while True:
        client, _ = sock.accept()
        conn = SSL.Connection(ctx, client)
        conn.set_accept_state()
        threading.Thread(target=smtp_over_tls, args=(conn,),
                         daemon=True).start()


def junk_server(sock):
    while True:
        client, _ = sock.accept()
        try:
            client.settimeout(5)
            client.recv(65536)
            client.sendall(b"SSH-2.0-not-http\r\n\r\n")
            # drain until the client closes: closing with unread bytes
            # would reset the connection before it reads the answer
            client.shutdown(socket.SHUT_WR)
            while client.recv(65536):
                pass
        except OSError:
            pass
        client.close()


# A runner that dies without calling stop leaves nothing for longer.
LIFETIME = 900


def serve(d, http_sock, junk_sock, tls_socks, ocsp_pid):
    """The background process: HTTP and TLS servers until SIGTERM (or
    LIFETIME seconds); it stops openssl ocsp too."""
    # blocked before any thread starts, so that only sigtimedwait takes it
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), http_handler(d), bind_and_activate=False)
    httpd.socket.close()
    httpd.socket = http_sock
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    threading.Thread(target=junk_server, args=(junk_sock,),
                     daemon=True).start()
    for (leaf, staple, tls), sock in tls_socks.items():
        threading.Thread(target=tls_server, args=(d, sock, leaf, staple, tls),
                         daemon=True).start()
    signal.sigtimedwait([signal.SIGTERM, signal.SIGINT], LIFETIME)
    try:
        os.kill(ocsp_pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    os._exit(0)


def wait_ocsp(log):
    for _ in range(200):
        if os.path.exists(log) and b"waiting for OCSP" in open(log, "rb").read():
            return True
        time.sleep(0.05)
    return False


def start(d):
    d = os.path.abspath(d)
    os.makedirs(d, exist_ok=True)
    cases = read_cases()
    http_sock, slow_sock, junk_sock = listen(), listen(), listen()
    http_port = http_sock.getsockname()[1]
    ocsp_port, dead_port = free_port(), free_port()
    pki_log = open(os.path.join(d, "pki.log"), "w")
    subprocess.run([os.path.join(HERE, "revocation-pki.sh"), d,
                    str(ocsp_port), str(http_port), str(dead_port),
                    str(slow_sock.getsockname()[1])], check=True,
                   stdout=pki_log, stderr=subprocess.STDOUT)
    pki = Pki(d, http_port)
    pki.crls()
    pki.canned(junk_sock.getsockname()[1])
    log = os.path.join(d, "ocsp.log")
    with open(log, "w") as out:
        ocsp = subprocess.Popen(
            ["openssl", "ocsp", "-index", "int-index.txt", "-port",
             str(ocsp_port), "-rsigner", "int.pem", "-rkey", "int.key",
             "-CA", "int.pem", "-ndays", "7"], cwd=d, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    tls_socks = {}
    for c in cases:
        tls_socks.setdefault((c[1], c[2], c[3]), listen())
    pid = os.fork()
    if pid == 0:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        serve(d, http_sock, junk_sock, tls_socks, ocsp.pid)
    with open(os.path.join(d, "matrix.pids"), "w") as f:
        f.write("%d %d\n" % (pid, ocsp.pid))
    if not wait_ocsp(log):
        stop(d)
        raise SystemExit("openssl ocsp did not start: see %s" % log)
    with open(os.path.join(d, "cases.tsv"), "w") as f:
        for c in cases:
            port = tls_socks[(c[1], c[2], c[3])].getsockname()[1]
            crl = ":".join(os.path.join(d, n) for n in c[5].split(":")) \
                if c[5] != "-" else "-"
            row = [c[0], c[1], str(port)] + c[2:5] + [crl] + c[6:]
            f.write("\t".join(row) + "\n")
    with open(os.path.join(d, "matrix.env"), "w") as f:
        f.write("CA_FILE=%s\n" % os.path.join(d, "root.pem"))


def stop(d):
    path = os.path.join(d, "matrix.pids")
    if not os.path.exists(path):
        return
    for pid in open(path).read().split():
        try:
            os.kill(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            pass
    os.unlink(path)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop", "clean"):
        raise SystemExit("usage: %s start|stop|clean DIR" % sys.argv[0])
    if sys.argv[1] == "start":
        start(sys.argv[2])
    else:
        stop(sys.argv[2])
        if sys.argv[1] == "clean":
            shutil.rmtree(sys.argv[2], ignore_errors=True)


if __name__ == "__main__":
    main()
