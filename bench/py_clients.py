"""The Python clients of the benchmark, one per process:
    py_clients.py smtplib|mailwire-smtp HOST PORT COUNT SIZE NRCPT [plain|tls|starttls CAFILE]
    py_clients.py poplib|mailwire-pop3 HOST PORT USER PASS CAFILE [MAX [batch|stream]]
The message is the same bytes mw_bench.c and curl_bench.c send. The
mailwire clients print "PATH batch" or "PATH loop" on stderr: whether the
module had send_batch / retr_batch or the one-by-one calls were used."""

import sys


def make_message(size):
    head = (b"From: <bench@example.org>\r\nTo: <sink@example.org>\r\n"
            b"Subject: bench\r\n\r\n")
    out = bytearray(head)
    n = len(out)
    lines = {}  # 78 is a multiple of 26: every full line is one of two
    while n < size:
        line = min(78, size - n)
        dot = n % 1000 < 78
        chunk = lines.get((line, dot)) if line == 78 else None
        if chunk is None:
            chunk = bytearray((ord("a") + (n + i) % 26) for i in range(line))
            if line >= 2:
                chunk[-2:] = b"\r\n"
            if dot:
                chunk[0] = ord(".")
            chunk = bytes(chunk)
            if line == 78:
                lines[(line, dot)] = chunk
        out += chunk
        n += line
    return bytes(out)


def rcpts(n):
    return ["sink%d@example.org" % i for i in range(n)]


def smtplib_send(host, port, count, size, nrcpt, tls, cafile):
    import smtplib
    import ssl
    msg = make_message(size)
    ctx = ssl.create_default_context(cafile=cafile) if tls != "plain" else None
    if tls == "tls":
        s = smtplib.SMTP_SSL(host, port, local_hostname="bench.example.org", context=ctx)
    else:
        s = smtplib.SMTP(host, port, local_hostname="bench.example.org")
    with s:
        if tls == "starttls":
            s.starttls(context=ctx)
        for _ in range(count):
            s.sendmail("bench@example.org", rcpts(nrcpt), msg)


def path(batch):
    sys.stderr.write("PATH %s\n" % ("batch" if batch is not None else "loop"))


def mailwire_send(host, port, count, size, nrcpt, tls, cafile):
    import mailwire
    msg = make_message(size)
    kw = {}
    if tls != "plain":
        mode = mailwire.MODE_CHANNEL if tls == "tls" else mailwire.MODE_STARTTLS
        kw["ssl"] = mailwire.SSLInfo(mode, ca_file=cafile)
    with mailwire.SMTPClient(server=host, port=port, helo_name="bench.example.org",
                             allow_partial=True, **kw) as c:
        batch = getattr(c, "send_batch", None)
        path(batch)
        if batch is not None:
            batch([("bench@example.org", rcpts(nrcpt), msg)] * count)
        else:
            for _ in range(count):
                c.send("bench@example.org", rcpts(nrcpt), msg)


def poplib_retr(host, port, user, password, cafile, limit):
    import poplib
    import ssl
    ctx = ssl.create_default_context(cafile=cafile)
    p = poplib.POP3_SSL(host, port, context=ctx)
    p.user(user)
    p.pass_(password)
    count = p.stat()[0]
    got = 0
    for i in range(1, min(count, limit) + 1):
        _, lines, _ = p.retr(i)
        got += sum(len(x) + 2 for x in lines)
    p.quit()
    return got


def mailwire_retr(host, port, user, password, cafile, limit, how="batch"):
    import mailwire
    ssl = mailwire.SSLInfo(mailwire.MODE_CHANNEL, ca_file=cafile)
    got = 0
    with mailwire.POP3Client(server=host, port=port, ssl=ssl, user=user,
                             password=password) as p:
        count, _ = p.stat()
        nums = list(range(1, min(count, limit) + 1))
        batch = getattr(p, "retr_batch", None)
        if how == "stream":  # one message at a time, streamed into a callable
            sys.stderr.write("PATH stream\n")
            sizes = [0]

            def count(chunk):
                sizes[0] += len(chunk)

            for i in nums:
                p.retr(i, into=count)
            return sizes[0]
        path(batch)
        if batch is not None:
            # streamed (constant memory, as poplib's one message at a time)
            sizes = [0]

            def into(number, chunk):
                if chunk:
                    sizes[0] += len(chunk)

            batch(nums, into=into)
            got = sizes[0]
        else:
            for i in nums:
                got += len(p.retr(i))
    return got


def main(argv):
    what = argv[1]
    if what in ("smtplib", "mailwire-smtp"):
        host, port, count, size, nrcpt = argv[2], int(argv[3]), int(argv[4]), int(argv[5]), int(argv[6])
        tls = argv[7] if len(argv) > 7 else "plain"
        cafile = argv[8] if len(argv) > 8 else None
        (smtplib_send if what == "smtplib" else mailwire_send)(host, port, count, size, nrcpt,
                                                               tls, cafile)
    elif what in ("poplib", "mailwire-pop3"):
        host, port, user, password, cafile = argv[2], int(argv[3]), argv[4], argv[5], argv[6]
        limit = int(argv[7]) if len(argv) > 7 else 10 ** 9
        if what == "poplib":
            got = poplib_retr(host, port, user, password, cafile, limit)
        else:
            how = argv[8] if len(argv) > 8 else "batch"
            got = mailwire_retr(host, port, user, password, cafile, limit, how)
        if got <= 0:
            sys.exit("nothing retrieved")
    else:
        sys.exit("unknown client " + what)


if __name__ == "__main__":
    main(sys.argv)
