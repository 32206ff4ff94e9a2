"""A tiny scripted server on 127.0.0.1 for what real servers never do:
one connection, one script, every byte the client sends recorded.

Steps (tuples):
    ("S", "text")        send "text\\r\\n"
    ("RAW", b"bytes")    send bytes as they are
    ("C", "glob")        read one line (CRLF stripped); it must match glob
    ("C?",)              read one line, whatever it is
    ("DATA",)            read lines until "."
    ("SLEEP", seconds)   wait
    ("CLOSE",)           close the connection and end
    ("EXPECT_CLOSE",)    wait (up to 10 s) until the client closes
The script ends by closing the connection.
"""

import fnmatch
import socket
import threading
import time

SMTP_HELLO = [
    ("S", "220 scripted.test ESMTP"),
    ("C", "EHLO *"),
    ("S", "250-scripted.test"),
    ("S", "250-AUTH PLAIN LOGIN"),
    ("S", "250 8BITMIME"),
]

POP3_HELLO = [
    ("S", "+OK scripted POP3 ready"),
    ("C", "CAPA"),
    ("S", "+OK"),
    ("S", "USER"),
    ("S", "UIDL"),
    ("S", "TOP"),
    ("S", "."),
]


class ScriptedServer:
    def __init__(self, steps, timeout=10.0):
        self.steps = list(steps)
        self.timeout = timeout
        self.received = bytearray()
        self.error = None
        self.client_closed = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self._listener.settimeout(timeout)
        self.port = self._listener.getsockname()[1]
        self._buf = b""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # ---- server side ----
    def _recv(self, conn):
        data = conn.recv(65536)
        if not data:
            self.client_closed = True
            raise EOFError("client closed the connection")
        self.received += data
        self._buf += data

    def _line(self, conn):
        while b"\n" not in self._buf:
            self._recv(conn)
        line, self._buf = self._buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def _run(self):
        conn = None
        try:
            conn, _ = self._listener.accept()
            conn.settimeout(self.timeout)
            for step in self.steps:
                if self._step(conn, step) == "end":
                    break
        except Exception as e:  # recorded; the test asserts on it
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            if conn is not None:
                conn.close()
            self._listener.close()

    def _step(self, conn, step):
        kind = step[0]
        if kind == "S":
            conn.sendall(step[1].encode() + b"\r\n")
        elif kind == "RAW":
            conn.sendall(step[1])
        elif kind == "C":
            line = self._line(conn)
            if not fnmatch.fnmatchcase(line, step[1]):
                raise AssertionError("client sent %r, expected %r" % (line, step[1]))
        elif kind == "C?":
            self._line(conn)
        elif kind == "DATA":
            while self._line(conn) != ".":
                pass
        elif kind == "SLEEP":
            time.sleep(step[1])
        elif kind == "CLOSE":
            return "end"
        elif kind == "EXPECT_CLOSE":
            deadline = time.monotonic() + 10
            try:
                while time.monotonic() < deadline:
                    self._recv(conn)
            except (EOFError, ConnectionError):
                self.client_closed = True
                return "end"
            raise AssertionError("the client did not close the connection")
        else:
            raise ValueError("unknown step %r" % (step,))
        return None

    # ---- test side ----
    def stop(self):
        """End a script whose client never came (accept fails at once)."""
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._thread.join(15)

    def wait(self, timeout=15.0):
        """Wait for the script to end; returns the error or None."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            return "the script did not finish in %.0f s" % timeout
        return self.error
