#!/usr/bin/env python3
"""server.py DIR CASES - the certificate matrix's servers: for each case of
CASES (cases.txt) one implicit-TLS SMTP server on 127.0.0.1 presenting the
case's chain from DIR (gen.sh). Writes "NAME PORT" lines to DIR/ports when
all listen, then serves until killed.

Each port serves one connection at a time, in order. A client whose first
bytes are "PROBE\\n" (not TLS) gets one line about the connections since
the last probe, and the record is reset:
    connections=N handshake=ok|failed|none sni=NAME|- received=HEX
received is everything the TLS clients sent after the handshake
(decrypted), hex-encoded; sni the last server name asked for. Since the
probe is served after every connection accepted before it, a runner that
probes after its client returned sees all that client did.
"""
import os
import socket
import ssl
import sys
import threading


def parse_cases(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = [x.strip() for x in line.split("|")]
            cases.append((fields[0], fields[1].split()))
    return cases


class Case:
    def __init__(self, directory, name, chain):
        self.name = name
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # Serve what the case needs (1024-bit keys, SHA-1 and MD5
        # signatures): refusing them is the client's job.
        self.ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        bundle = os.path.join(directory, "serve-%s.pem" % name)
        with open(bundle, "w") as out:
            for c in chain:
                with open(os.path.join(directory, c)) as f:
                    out.write(f.read())
        self.ctx.load_cert_chain(
            bundle, os.path.join(directory, chain[0].replace(".crt", ".key")))
        self.ctx.sni_callback = self.on_sni
        self.reset()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def reset(self):
        self.connections = 0
        self.handshake = "none"
        self.sni = "-"
        self.received = b""

    def on_sni(self, sslobj, name, ctx):
        self.sni = name if name else "-"

    def probe_line(self):
        line = "connections=%d handshake=%s sni=%s received=%s\n" % (
            self.connections, self.handshake, self.sni, self.received.hex())
        self.reset()
        return line.encode()

    def serve_tls(self, conn):
        self.connections += 1
        self.handshake = "failed"
        tls = self.ctx.wrap_socket(conn, server_side=True,
                                   do_handshake_on_connect=False)
        try:
            tls.do_handshake()
            self.handshake = "ok"
            tls.sendall(b"220 certmatrix ESMTP\r\n")
            pending = b""
            while True:
                data = tls.recv(4096)
                if not data:
                    break
                self.received += data
                pending += data
                while b"\r\n" in pending:
                    line, pending = pending.split(b"\r\n", 1)
                    verb = line[:4].upper()
                    if verb == b"QUIT":
                        tls.sendall(b"221 bye\r\n")
                        return
                    tls.sendall(b"250 certmatrix\r\n" if verb in (b"EHLO", b"HELO")
                                else b"250 ok\r\n")
        except (OSError, ssl.SSLError):
            pass
        finally:
            tls.close()

    def run(self):
        while True:
            conn, _ = self.sock.accept()
            conn.settimeout(10)
            try:
                first = conn.recv(6, socket.MSG_PEEK)
                if first == b"PROBE\n":
                    conn.recv(6)
                    conn.sendall(self.probe_line())
                    conn.close()
                elif first:
                    self.serve_tls(conn)
                else:
                    self.connections += 1
                    conn.close()
            except OSError:
                conn.close()


def main():
    directory, cases_path = sys.argv[1], sys.argv[2]
    cases = [Case(directory, name, chain)
             for name, chain in parse_cases(cases_path)]
    for c in cases:
        threading.Thread(target=c.run, daemon=True).start()
    tmp = os.path.join(directory, "ports.tmp")
    with open(tmp, "w") as f:
        for c in cases:
            f.write("%s %d\n" % (c.name, c.port))
    os.rename(tmp, os.path.join(directory, "ports"))
    threading.Event().wait()


if __name__ == "__main__":
    main()
