"""bench/run.py [--quick] [--runs N] - mailwire against its peers, one
client process at a time, on loopback. For each scenario and client: the
median wall time, CPU time (user+sys of the client process) and peak RSS,
and the ratio to the best peer. Run by bench/run.sh (as root: it starts
Postfix's smtp-sink and the test Dovecot)."""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "build", "bench")
VENV_PY = os.path.join(ROOT, "build", "venv", "bin", "python")
LUA_TREE = os.path.join(ROOT, "build", "lua-tree")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("port %d does not answer" % port)


def measure(argv, env=None):
    """Run argv through the measure launcher; (wall s, cpu s, peak RSS MiB)
    of that process alone."""
    proc = subprocess.run([os.path.join(OUT, "measure")] + argv, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv[:3]), err[-500:]))
    line = [l for l in err.splitlines() if l.startswith("MEASURE ")][-1]
    wall, cpu, rss = line.split()[1:]
    return float(wall), float(cpu), int(rss) / 1024.0


def median_of(runs, argv, env=None):
    res = [measure(argv, env) for _ in range(runs)]
    return tuple(statistics.median(r[i] for r in res) for i in range(3))


# ---- the servers ----

class Servers:
    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="mw-bench-")
        os.chmod(self.base, 0o755)
        self.procs = []
        self.dove = os.path.join(self.base, "servers")
        os.mkdir(self.dove)

    def start_sink(self):
        port = free_port()
        p = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", "nobody",
                              "127.0.0.1:%d" % port, "256"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        wait_port(port)
        return port

    def start_relay(self, target, delay_ms=10):
        port = free_port()
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "relay.py"),
                              str(port), str(target), str(delay_ms)],
                             stdout=subprocess.PIPE)
        p.stdout.readline()
        self.procs.append(p)
        return port

    def start_dovecot(self):
        subprocess.run([os.path.join(ROOT, "tests", "servers", "start.sh"), self.dove],
                       check=True, stdout=subprocess.DEVNULL)
        env = {}
        for line in open(os.path.join(self.dove, "servers.env")):
            if "=" in line:
                k, v = line.strip().split("=", 1)
                env[k] = v.strip("'\"")
        self.env = env
        return env

    def fill(self, user, count, size):
        """count messages of size bytes straight into user's Maildir."""
        sys.path.insert(0, HERE)
        from py_clients import make_message
        msg = make_message(size)
        cur = os.path.join(self.env["MAILDIR_ROOT"], user, "Maildir", "cur")
        os.makedirs(cur, exist_ok=True)
        for f in os.listdir(cur):
            os.unlink(os.path.join(cur, f))
        for i in range(count):
            with open(os.path.join(cur, "%d.%06d.bench:2," % (int(time.time()), i)), "wb") as f:
                f.write(msg)
        subprocess.run(["chown", "-R", "dovecot:dovecot",
                        os.path.join(self.env["MAILDIR_ROOT"], user)], check=True)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run([os.path.join(ROOT, "tests", "servers", "stop.sh"), self.dove],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.base, ignore_errors=True)


# ---- the table ----

def report(title, rows, targets=()):
    """rows: [(client, is_peer, (wall, cpu, rss))]."""
    peers = [r for r in rows if r[1]]
    best = {i: min(r[2][i] for r in peers) for i in range(3)} if peers else None
    lines = ["", "### " + title, "",
             "| client | wall s | CPU s | peak RSS MiB | wall / best peer | CPU / best peer |",
             "|---|---|---|---|---|---|"]
    for name, is_peer, (wall, cpu, rss) in rows:
        ratio = ("%.2f" % (wall / best[0]), "%.2f" % (cpu / best[1])) if best else ("", "")
        lines.append("| %s%s | %.3f | %.3f | %.1f | %s | %s |" % (
            name, "" if is_peer else " **", wall, cpu, rss, ratio[0], ratio[1]))
    for t in targets:
        lines.append("")
        lines.append("Target: " + t)
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def run_all(args):
    os.makedirs(OUT, exist_ok=True)
    mw = os.path.join(OUT, "mw_bench")
    curl = os.path.join(OUT, "curl_bench")
    py = [VENV_PY, os.path.join(HERE, "py_clients.py")]
    syspy = [sys.executable, os.path.join(HERE, "py_clients.py")]
    have_py = os.path.exists(VENV_PY)
    runs = args.runs
    n_smtp, n_pop, n_big = (200, 200, 3) if args.quick else (2000, 2000, 10)
    n_lat_smtp, n_lat_pop = (40, 100) if args.quick else (200, 500)
    out = ["# mailwire benchmark, %s, %d runs each (medians)" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), runs)]
    s = Servers()
    try:
        sink = s.start_sink()
        # 1. SMTP throughput over one connection, plaintext smtp-sink.
        argv = ["127.0.0.1", str(sink), str(n_smtp), "20480", "1"]
        rows = [("mailwire C", False, median_of(runs, [mw, "smtp"] + argv)),
                ("libcurl", True, median_of(runs, [curl, "smtp", "smtp://127.0.0.1:%d" % sink,
                                                    str(n_smtp), "20480", "1"])),
                ("smtp-source", True, median_of(runs, [
                    "/usr/sbin/smtp-source", "-d", "-s", "1", "-m", str(n_smtp),
                    "-l", "20480", "-f", "bench@example.org", "-t", "sink0@example.org",
                    "127.0.0.1:%d" % sink])),
                ("smtplib", True, median_of(runs, syspy + ["smtplib"] + argv))]
        if have_py:
            rows.insert(1, ("mailwire Python", False,
                            median_of(runs, py + ["mailwire-smtp"] + argv)))
        out.append(report("1. %d x 20 KB over one SMTP connection (smtp-sink)" % n_smtp, rows,
                          ["wall <= smtp-source; CPU <= 0.5 x libcurl; Python >= 3x smtplib"]))

        env = s.start_dovecot()
        user, pw, ca = env["USER"], env["PASS"], env["CA_FILE"]
        pop3s = env["POP3S_PORT"]
        s.fill(user, n_pop, 20480)
        s.fill(env["USER2"], n_big, 10 * 1024 * 1024)
        # 2. POP3S retrieval.
        rows = [("mailwire C (batch)", False, median_of(runs, [mw, "pop3", "127.0.0.1", pop3s, user, pw, ca, "batch"])),
                ("mailwire C (loop)", False, median_of(runs, [mw, "pop3", "127.0.0.1", pop3s, user, pw, ca, "loop"])),
                ("libcurl", True, median_of(runs, [curl, "pop3", "pop3s://%s:%s@127.0.0.1:%s" % (user, pw, pop3s), str(n_pop), ca])),
                ("poplib", True, median_of(runs, syspy + ["poplib", "127.0.0.1", pop3s, user, pw, ca]))]
        if have_py:
            rows.insert(2, ("mailwire Python", False, median_of(
                runs, py + ["mailwire-pop3", "127.0.0.1", pop3s, user, pw, ca])))
        out.append(report("2. retrieve %d x 20 KB over POP3S (Dovecot)" % n_pop, rows,
                          ["wall <= 0.8 x libcurl; CPU <= 0.5 x libcurl; Python >= 3x poplib"]))
        # 3. Peak memory with 10 MB messages.
        u2, p2 = env["USER2"], env["PASS2"]
        rows = [("mailwire C (stream)", False, median_of(1, [mw, "pop3", "127.0.0.1", pop3s, u2, p2, ca, "stream"])),
                ("mailwire C (batch)", False, median_of(1, [mw, "pop3", "127.0.0.1", pop3s, u2, p2, ca, "batch"])),
                ("libcurl", True, median_of(1, [curl, "pop3", "pop3s://%s:%s@127.0.0.1:%s" % (u2, p2, pop3s), str(n_big), ca])),
                ("poplib", True, median_of(1, syspy + ["poplib", "127.0.0.1", pop3s, u2, p2, ca]))]
        out.append(report("3. retrieve %d x 10 MB over POP3S: peak RSS" % n_big, rows,
                          ["mailwire peak RSS < 16 MB"]))
        # 4. Through a 20 ms round trip.
        lat_sink = s.start_relay(sink)
        argv = ["127.0.0.1", str(lat_sink), str(n_lat_smtp), "20480", "5"]
        rows = [("mailwire C", False, median_of(runs, [mw, "smtp"] + argv)),
                ("libcurl", True, median_of(1, [curl, "smtp", "smtp://127.0.0.1:%d" % lat_sink,
                                                 str(n_lat_smtp), "20480", "5"])),
                ("smtplib", True, median_of(1, syspy + ["smtplib"] + argv))]
        out.append(report("4a. %d messages to 5 recipients, 20 ms round trip" % n_lat_smtp, rows,
                          [">= 10x faster than smtplib and libcurl"]))
        lat_pop = s.start_relay(int(pop3s))
        rows = [("mailwire C (batch)", False, median_of(runs, [mw, "pop3", "127.0.0.1", str(lat_pop), user, pw, ca, "batch", str(n_lat_pop)])),
                ("libcurl", True, median_of(1, [curl, "pop3", "pop3s://%s:%s@127.0.0.1:%d" % (user, pw, lat_pop), str(n_lat_pop), ca])),
                ("poplib", True, median_of(1, syspy + ["poplib", "127.0.0.1", str(lat_pop), user, pw, ca, str(n_lat_pop)]))]
        out.append(report("4b. retrieve %d messages, 20 ms round trip" % n_lat_pop, rows,
                          [">= 10x faster than poplib and libcurl"]))
        # 5. TLS connections per second (connect, greeting, QUIT).
        n_tls = 50 if args.quick else 300
        rows = []
        for how in ("fresh", "resume"):
            w, c, r = median_of(runs, [mw, "tls", "127.0.0.1", pop3s, ca, str(n_tls), how])
            rows.append(("mailwire C (%s)" % how, False, (w, c, r)))
            w, c, r = median_of(runs, [curl, "tls", "pop3s://127.0.0.1:%s/" % pop3s, str(n_tls), ca, how])
            rows.append(("libcurl (%s)" % how, True, (w, c, r)))
        out.append(report("5. %d POP3S connections (connections/s = %d / wall)" % (n_tls, n_tls), rows))
    finally:
        s.stop()
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("\nwritten to build/bench/results.md")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer messages, one run")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if a.quick:
        a.runs = 1
    run_all(a)
