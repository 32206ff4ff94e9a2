"""bench/run.py [--quick] [--runs N] - mailwire against its peers, one
client process at a time, on loopback. For each scenario and client: the
median wall time, CPU time (user+sys of the client process) and peak RSS,
and the ratio to the best peer. Run by bench/run.sh (as root: it starts
Postfix's smtp-sink and the test Dovecot)."""

import argparse
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "build", "bench")
VENV_PY = os.environ.get("MW_BENCH_PYTHON", os.path.join(ROOT, "build", "venv", "bin", "python"))
LUA_TREE = os.environ.get("MW_BENCH_LUA_TREE", os.path.join(ROOT, "build", "lua-tree"))


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
    of that process alone. The client's "PATH x" line on stderr (which
    call the binding used) is kept in LAST_PATH."""
    global LAST_PATH
    proc = subprocess.run([os.path.join(OUT, "measure")] + argv, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv[:3]), err[-500:]))
    line = [l for l in err.splitlines() if l.startswith("MEASURE ")][-1]
    paths = [l.split()[1] for l in err.splitlines() if l.startswith("PATH ")]
    LAST_PATH = paths[-1] if paths else None
    wall, cpu, rss = line.split()[1:]
    return float(wall), float(cpu), int(rss) / 1024.0


LAST_PATH = None


def label(argv):
    """A short name for a client command line: program and what it does."""
    if argv[0] == "lua5.4":
        return "lua_clients.lua " + argv[3]
    if argv[0] in (VENV_PY, sys.executable):
        return ("mailwire Python " if argv[0] == VENV_PY else "") + argv[2]
    return os.path.basename(argv[0]) + " " + argv[1]
CHECKS = []  # (program, subcommand, sink mode, messages, bytes, BDAT) per run


def median_of(runs, argv, env=None, check=None):
    """check: (sink, messages, bytes, recipients) - the sink must have
    counted exactly that in each run, and no error (bytes None: not
    compared, smtp-source writes its own message)."""
    res = []
    for _ in range(runs):
        before = check[0].totals() if check else None
        res.append(measure(argv, env))
        if check:
            sink, msgs, nbytes, nrcpt = check
            got = [a - b for a, b in zip(sink.totals(), before)]
            if got[0] != msgs or (nbytes is not None and got[1] != nbytes) \
                    or got[2] != nrcpt or got[4] != 0 or got[1] < msgs:
                raise RuntimeError("%s: the sink counted %d messages, %d bytes, %d recipients, "
                                   "%d errors; expected %d, %s, %d, 0" % (
                                       " ".join(os.path.basename(a) for a in argv[:3]),
                                       got[0], got[1], got[2], got[4], msgs, nbytes, nrcpt))
            CHECKS.append((label(argv), sink.mode, got[0], got[1], got[5]))
    return tuple(statistics.median(r[i] for r in res) for i in range(3))


class Sink:
    """bench/sink.c in one mode; totals() asks it (SIGUSR1) for its counts:
    [messages, bytes, recipients, connections, errors, BDAT messages]."""

    def __init__(self, mode, cert=None, key=None, maxconn=None):
        self.mode = mode
        self.port = free_port()
        argv = [os.path.join(OUT, "sink"), str(self.port), mode]
        if mode != "plain":
            argv += [cert, key]
        if maxconn:
            argv.append(str(maxconn))
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
        if self.proc.stdout.readline().strip() != b"ready":
            sys.exit("sink %s did not start" % mode)

    def totals(self):
        self.proc.send_signal(signal.SIGUSR1)
        r, _, _ = select.select([self.proc.stdout], [], [], 5)
        if not r:
            raise RuntimeError("sink %s does not answer" % self.mode)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != b"TOTAL":
            raise RuntimeError("sink %s: %r" % (self.mode, line))
        return [int(x) for x in line[1:]]


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

    def start_our_sink(self, mode, maxconn=None):
        sink = Sink(mode, self.env["CERT_FILE"], self.env["KEY_FILE"], maxconn)
        self.procs.append(sink.proc)
        return sink

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

    def open_dovecot(self, sessions):
        """Let Dovecot take `sessions` POP3 sessions of one user at once
        (the test config keeps its defaults: 10 per user and address, 100
        login processes)."""
        conf = os.path.join(self.dove, "dovecot", "dovecot.conf")
        with open(conf, "a") as f:
            f.write("mail_max_userip_connections = %d\n"
                    "default_process_limit = %d\n"
                    "default_client_limit = %d\n" % (sessions + 50, sessions + 50,
                                                       4 * sessions + 1000))
        subprocess.run(["doveadm", "-c", conf, "reload"], check=True)
        time.sleep(1)

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
    """rows: [(client, is_peer, (wall, cpu, rss))]; a row whose figures are
    a string says why that client has none."""
    peers = [r for r in rows if r[1] and not isinstance(r[2], str)]
    best = {i: min(r[2][i] for r in peers) for i in range(3)} if peers else None
    lines = ["", "### " + title, "",
             "| client | wall s | CPU s | peak RSS MiB | wall / best peer | CPU / best peer |",
             "|---|---|---|---|---|---|"]
    for name, is_peer, figures in rows:
        if isinstance(figures, str):
            lines.append("| %s | %s | | | | |" % (name, figures))
            continue
        wall, cpu, rss = figures
        ratio = ("%.2f" % (wall / best[0]), "%.2f" % (cpu / best[1])) if best else ("", "")
        lines.append("| %s%s | %.3f | %.3f | %.1f | %s | %s |" % (
            name, "" if is_peer else " **", wall, cpu, rss, ratio[0], ratio[1]))
    for t in targets:
        lines.append("")
        lines.append("Target: " + t)
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def tagged(name):
    """name plus the path the binding took (batch / loop) in the last run."""
    return "%s (%s)" % (name, LAST_PATH) if LAST_PATH else name


def concurrency(s, env, args, runs, size, out):
    """6. N sessions at once from one thread: mailwire's event-loop driver
    (bench/mw_evloop.c) against N easy handles in one libcurl multi
    (bench/curl_multi.c); then memory per idle connected session."""
    evl = os.path.join(OUT, "mw_evloop")
    cmulti = os.path.join(OUT, "curl_multi")
    user, pw, ca = env["USER"], env["PASS"], env["CA_FILE"]
    n_sess, n_msg = (50, 4) if args.quick else (200, 10)
    sink = s.start_our_sink("plain", maxconn=1024)
    tls_sink = s.start_our_sink("tls", maxconn=1024)
    smtp_sink = s.start_sink()
    target = ["wall <= 0.5 x libcurl multi; CPU <= 0.3 x libcurl multi"]
    # The same client waiting with epoll instead of one poll() per round.
    epoll = dict(os.environ, MW_EVLOOP_EPOLL="1")
    total = n_sess * n_msg
    for title, port, check in (("bench/sink (PIPELINING, CHUNKING)", sink.port,
                                (sink, total, total * size, total)),
                               ("Postfix smtp-sink (PIPELINING)", smtp_sink, None)):
        argv = ["127.0.0.1", str(port), str(n_sess), str(n_msg), str(size)]
        rows = [("mailwire event loop (batch)", False,
                 median_of(runs, [evl, "smtp"] + argv + ["batch"], check=check)),
                ("mailwire event loop (batch, epoll)", False,
                 median_of(runs, [evl, "smtp"] + argv + ["batch"], env=epoll, check=check)),
                ("mailwire event loop (one send at a time)", False,
                 median_of(runs, [evl, "smtp"] + argv + ["loop"], check=check)),
                ("libcurl multi", True,
                 median_of(runs, [cmulti, "smtp", "smtp://127.0.0.1:%d" % port,
                                  str(n_sess), str(n_msg), str(size)], check=check))]
        out.append(report("6%s. %d SMTP sessions at once from one thread, %d x 20 KB each, %s"
                          % ("a" if check else "b", n_sess, n_msg, title), rows, target))
    s.fill(user, n_msg, size)
    s.open_dovecot(n_sess)
    pop3s = env["POP3S_PORT"]
    pop_argv = [evl, "pop3", "127.0.0.1", pop3s, str(n_sess), str(n_msg), user, pw, ca]
    rows = [("mailwire event loop (batch)", False, median_of(runs, pop_argv)),
            ("mailwire event loop (batch, epoll)", False, median_of(runs, pop_argv, env=epoll)),
            ("libcurl multi", True,
             median_of(runs, [cmulti, "pop3", "pop3s://%s:%s@127.0.0.1:%s" % (user, pw, pop3s),
                              str(n_sess), str(n_msg), ca]))]
    out.append(report("6c. %d POP3S sessions at once from one thread, each retrieving %d x 20 KB "
                      "(Dovecot)" % (n_sess, n_msg), rows, target))
    # Memory per idle connected session: RSS with N connected sessions minus
    # the RSS before the clients were made, over N (printed by the client);
    # to bench/sink (plaintext and implicit TLS), which takes 1024 at once.
    n_idle = 200 if args.quick else 500
    lines = ["", "### 6d. memory per idle connected session (%d sessions, one thread)" % n_idle, "",
             "| client | plaintext KiB | implicit TLS KiB |",
             "|---|---|---|"]
    def idle(argv):
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(argv[:2]), p.stderr.decode()[-300:]))
        f = (p.stdout + p.stderr).decode().split("IDLE ")[1].split()
        return (int(f[2]) - int(f[1])) / float(f[0])
    mw_plain = idle([evl, "idle", "127.0.0.1", str(sink.port), str(n_idle), "smtp"])
    mw_tls = idle([evl, "idle", "127.0.0.1", str(tls_sink.port), str(n_idle), "smtp", "tls", ca])
    cu_plain = idle([cmulti, "idle", "smtp://127.0.0.1:%d" % sink.port, str(n_idle), ca])
    cu_tls = idle([cmulti, "idle", "smtps://127.0.0.1:%d" % tls_sink.port, str(n_idle), ca])
    lines.append("| mailwire event loop ** | %.1f | %.1f |" % (mw_plain, mw_tls))
    lines.append("| libcurl multi (CONNECT_ONLY) | %.1f | %.1f |" % (cu_plain, cu_tls))
    lines.append("")
    lines.append("Target: <= 64 KiB per idle plaintext session, <= 128 KiB with TLS")
    out.append("\n".join(lines))
    print(out[-1])


def run_all(args):
    os.makedirs(OUT, exist_ok=True)
    mw = os.path.join(OUT, "mw_bench")
    curl = os.path.join(OUT, "curl_bench")
    py = [VENV_PY, os.path.join(HERE, "py_clients.py")]
    syspy = [sys.executable, os.path.join(HERE, "py_clients.py")]
    lua = ["lua5.4", os.path.join(HERE, "lua_clients.lua"), LUA_TREE]
    have_py = os.path.exists(VENV_PY)
    have_lua = os.path.isdir(LUA_TREE) and shutil.which("lua5.4") is not None
    runs = args.runs
    n_smtp, n_pop, n_big, n_huge = (200, 200, 3, 1) if args.quick else (2000, 2000, 10, 2)
    n_lat_smtp, n_lat_pop = (40, 100) if args.quick else (200, 500)
    size = 20480
    out = ["# mailwire benchmark, %s, %d runs each (medians)" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), runs)]
    s = Servers()
    try:
        env = s.start_dovecot()
        if args.only == "6":
            concurrency(s, env, args, runs, size, out)
            return finish(out)
        user, pw, ca = env["USER"], env["PASS"], env["CA_FILE"]
        pop3s = env["POP3S_PORT"]
        smtp_sink = s.start_sink()
        sinks = {m: s.start_our_sink(m) for m in ("plain", "tls", "starttls")}

        # 1. SMTP throughput over one connection: smtp-sink (plaintext), then
        # our sink in plaintext, implicit TLS and STARTTLS (CHUNKING offered).
        def smtp_rows(port, tls, sink, nrcpt, n, runs_peer, with_source):
            """The rows for one SMTP target; sink None: smtp-sink (no counts)."""
            argv = ["127.0.0.1", str(port), str(n), str(size), str(nrcpt)]
            tls_args = [] if tls == "plain" else ["channel" if tls == "tls" else "starttls", ca]
            check = (sink, n, n * size, n * nrcpt) if sink else None
            rows = [("mailwire C", False, median_of(runs, [mw, "smtp"] + argv + tls_args,
                                                    check=check))]
            if have_py:
                r = median_of(runs, py + ["mailwire-smtp"] + argv + [tls, ca], check=check)
                rows.append((tagged("mailwire Python"), False, r))
            if have_lua:
                r = median_of(runs, lua + ["smtp"] + argv + [tls, ca], check=check)
                rows.append((tagged("mailwire Lua"), False, r))
            scheme = "smtps" if tls == "tls" else "smtp"
            curl_argv = [curl, "smtp", "%s://127.0.0.1:%d" % (scheme, port), str(n), str(size),
                         str(nrcpt)] + ([] if tls == "plain" else [ca, tls])
            rows.append(("libcurl", True, median_of(runs_peer, curl_argv, check=check)))
            if with_source:
                if tls == "plain":
                    # smtp-source writes its own message of -l bytes plus headers:
                    # the sink checks messages and recipients, not bytes.
                    src_check = (sink, n, None, n * nrcpt) if sink else None
                    rows.append(("smtp-source", True, median_of(runs_peer, [
                        "/usr/sbin/smtp-source", "-d", "-s", "1", "-m", str(n),
                        "-l", str(size), "-f", "bench@example.org", "-t",
                        "sink0@example.org", "127.0.0.1:%d" % port], check=src_check)))
                else:
                    rows.append(("smtp-source", True, "cannot do TLS: no figures"))
            # smtplib over TLS waits ~40 ms a message (see bench/README.md): one run.
            rows.append(("smtplib", True, median_of(runs_peer if tls == "plain" else 1,
                                                    syspy + ["smtplib"] + argv + [tls, ca],
                                                    check=check)))
            return rows

        target1 = ["wall <= smtp-source; CPU <= 0.5 x libcurl; Python >= 3x smtplib"]
        rows = smtp_rows(smtp_sink, "plain", None, 1, n_smtp, runs, True)
        out.append(report("1a. %d x 20 KB over one SMTP connection, plaintext, Postfix "
                          "smtp-sink (PIPELINING, no CHUNKING)" % n_smtp, rows, target1))
        rows = smtp_rows(sinks["plain"].port, "plain", sinks["plain"], 1, n_smtp, runs, True)
        out.append(report("1b. %d x 20 KB over one SMTP connection, plaintext, bench/sink "
                          "(PIPELINING, CHUNKING)" % n_smtp, rows, target1))
        rows = smtp_rows(sinks["tls"].port, "tls", sinks["tls"], 1, n_smtp, runs, True)
        out.append(report("1c. %d x 20 KB over one SMTP connection, implicit TLS, bench/sink"
                          % n_smtp, rows, ["CPU <= 0.5 x libcurl; Python >= 3x smtplib"]))
        rows = smtp_rows(sinks["starttls"].port, "starttls", sinks["starttls"], 1, n_smtp, runs,
                         True)
        out.append(report("1d. %d x 20 KB over one SMTP connection, STARTTLS, bench/sink"
                          % n_smtp, rows, ["CPU <= 0.5 x libcurl; Python >= 3x smtplib"]))

        s.fill(user, n_pop, size)
        s.fill(env["USER2"], n_big, 10 * 1024 * 1024)
        # 2. POP3S retrieval.
        pop_argv = ["127.0.0.1", pop3s, user, pw, ca]
        rows = [("mailwire C (batch)", False, median_of(runs, [mw, "pop3"] + pop_argv + ["batch"])),
                ("mailwire C (loop)", False, median_of(runs, [mw, "pop3"] + pop_argv + ["loop"]))]
        if have_py:
            r = median_of(runs, py + ["mailwire-pop3"] + pop_argv)
            rows.append((tagged("mailwire Python"), False, r))
        if have_lua:
            r = median_of(runs, lua + ["pop3"] + pop_argv)
            rows.append((tagged("mailwire Lua"), False, r))
        rows += [("libcurl", True, median_of(runs, [curl, "pop3", "pop3s://%s:%s@127.0.0.1:%s" % (user, pw, pop3s), str(n_pop), ca])),
                 ("poplib", True, median_of(runs, syspy + ["poplib"] + pop_argv))]
        out.append(report("2. retrieve %d x 20 KB over POP3S (Dovecot)" % n_pop, rows,
                          ["wall <= 0.8 x libcurl; CPU <= 0.5 x libcurl; Python >= 3x poplib"]))

        # 3. Peak memory with 10 MB, then 100 MB messages.
        u2, p2 = env["USER2"], env["PASS2"]
        for n, mb in ((n_big, 10), (n_huge, 100)):
            if mb == 100:
                s.fill(u2, n_huge, 100 * 1024 * 1024)
            big_argv = ["127.0.0.1", pop3s, u2, p2, ca]
            rows = [("mailwire C (stream)", False, median_of(1, [mw, "pop3"] + big_argv + ["stream"])),
                    ("mailwire C (batch)", False, median_of(1, [mw, "pop3"] + big_argv + ["batch"]))]
            if have_py:
                r = median_of(1, py + ["mailwire-pop3"] + big_argv + ["1000000000", "stream"])
                rows.append(("mailwire Python (stream)", False, r))
            if have_lua:
                r = median_of(1, lua + ["pop3"] + big_argv + ["1000000000", "stream"])
                rows.append(("mailwire Lua (stream)", False, r))
            rows += [("libcurl", True, median_of(1, [curl, "pop3", "pop3s://%s:%s@127.0.0.1:%s" % (u2, p2, pop3s), str(n), ca])),
                     ("poplib", True, median_of(1, syspy + ["poplib"] + big_argv))]
            out.append(report("3%s. retrieve %d x %d MB over POP3S: peak RSS"
                              % ("a" if mb == 10 else "b", n, mb), rows,
                              ["mailwire peak RSS < 16 MB, the same for 10 MB and 100 MB"]))

        # 4. Through a 20 ms round trip.
        lat_sink = s.start_relay(sinks["plain"].port)
        rows = smtp_rows(lat_sink, "plain", sinks["plain"], 5, n_lat_smtp, 1, False)
        lat_smtp_sink = s.start_relay(smtp_sink)
        argv = ["127.0.0.1", str(lat_smtp_sink), str(n_lat_smtp), str(size), "5"]
        rows.insert(1, ("mailwire C, to smtp-sink (no CHUNKING)", False,
                        median_of(runs, [mw, "smtp"] + argv)))
        out.append(report("4a. %d messages to 5 recipients, 20 ms round trip, bench/sink "
                          "(plaintext)" % n_lat_smtp, rows,
                          [">= 10x faster than smtplib and libcurl"]))
        lat_pop = s.start_relay(int(pop3s))
        lat_argv = ["127.0.0.1", str(lat_pop), user, pw, ca]
        rows = [("mailwire C (batch)", False, median_of(runs, [mw, "pop3"] + lat_argv + ["batch", str(n_lat_pop)]))]
        if have_py:
            r = median_of(1, py + ["mailwire-pop3"] + lat_argv + [str(n_lat_pop)])
            rows.append((tagged("mailwire Python"), False, r))
        if have_lua:
            r = median_of(1, lua + ["pop3"] + lat_argv + [str(n_lat_pop)])
            rows.append((tagged("mailwire Lua"), False, r))
        rows += [("libcurl", True, median_of(1, [curl, "pop3", "pop3s://%s:%s@127.0.0.1:%d" % (user, pw, lat_pop), str(n_lat_pop), ca])),
                 ("poplib", True, median_of(1, syspy + ["poplib"] + lat_argv + [str(n_lat_pop)]))]
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
        # What the sink counted, per client run (the correctness check).
        out.append("")
        out.append("### sink counts (checked after every run against bench/sink)")
        out.append("")
        out.append("| client | mode | runs | messages | bytes | of them BDAT |")
        out.append("|---|---|---|---|---|---|")
        seen = {}
        for key in CHECKS:
            seen[key] = seen.get(key, 0) + 1
        for (name, mode, msgs, nbytes, bdat), k in seen.items():
            out.append("| %s | %s | %d | %d | %d | %d |" % (name, mode, k, msgs, nbytes, bdat))
        print("\n".join(out[-(len(seen) + 4):]))
        # 6. Many sessions from one thread (the event-loop driver).
        concurrency(s, env, args, runs, size, out)
    finally:
        s.stop()
    finish(out)


def finish(out):
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("\nwritten to build/bench/results.md")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer messages, one run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["6"], help="run one scenario (6: many sessions "
                    "from one thread)")
    a = ap.parse_args()
    if a.quick:
        a.runs = 1
    run_all(a)
