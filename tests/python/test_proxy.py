"""ProxyInfo from Python, against the real proxies tests/servers starts
(microsocks, dante, tinyproxy): mail sent and retrieved through each, in
every TLS mode, and each refusal raised as ProxyError with its number."""

import pytest

import mailwire
from conftest import marker, wait_delivery
from test_real import find, message, ssl_info

# name -> (class, its keyword arguments, port key, needs credentials)
PROXIES = {
    "microsocks-socks5-auth": (mailwire.SOCK5ProxyInfo, {}, "MICROSOCKS_PORT", True),
    "dante-socks5": (mailwire.SOCK5ProxyInfo, {}, "DANTE_PORT", False),
    "dante-socks5-auth": (mailwire.SOCK5ProxyInfo, {}, "DANTE_AUTH_PORT", True),
    "dante-socks4": (mailwire.SOCK4ProxyInfo, {}, "DANTE_PORT", False),
    "dante-socks4a": (mailwire.SOCK4ProxyInfo, {"socks4a": True}, "DANTE_PORT", False),
    "tinyproxy-http": (mailwire.HTTPProxyInfo, {}, "TINYPROXY_PORT", True),
}


def proxy(env, name):
    cls, kw, port_key, auth = PROXIES[name]
    if auth:
        kw = dict(kw, user=env["PROXY_USER"], password=env["PROXY_PASS"])
    # The proxy is "localhost", the mail server "127.0.0.1": TLS must check
    # the mail server's name, never the proxy's.
    return cls("localhost", env.port(port_key), **kw)


def smtp_via(env, px, how, port=None, **kw):
    kw.setdefault("timeout", 15)
    kw.setdefault("helo_name", "pytest.mailwire.test")
    if how == "channel":
        kw["ssl"] = ssl_info(env, mailwire.MODE_CHANNEL)
        port = port or env.port("SMTPS_PORT")
    elif how == "starttls":
        kw["ssl"] = ssl_info(env, mailwire.MODE_STARTTLS)
    return mailwire.SMTPClient(server="127.0.0.1", port=port or env.port("SMTP_PORT"),
                               proxy=px, **kw)


def pop3_via(env, px, how):
    kw = dict(timeout=15, user=env["USER"], password=env["PASS"], proxy=px)
    if how == "channel":
        return mailwire.POP3Client(server="127.0.0.1", port=env.port("POP3S_PORT"),
                                   ssl=ssl_info(env, mailwire.MODE_CHANNEL), **kw)
    if how == "starttls":
        kw["ssl"] = ssl_info(env, mailwire.MODE_STARTTLS)
    else:
        kw["allow_plaintext_auth"] = True
    return mailwire.POP3Client(server="127.0.0.1", port=env.port("POP3_PORT"), **kw)


@pytest.mark.parametrize("how", ["plain", "starttls", "channel"])
@pytest.mark.parametrize("name", sorted(PROXIES))
def test_send_and_retrieve_through_each_proxy(env, name, how):
    mark = marker("proxy-%s-%s" % (name, how))
    to, data = message(env, "USER", mark)
    logged = []
    px = proxy(env, name)
    with smtp_via(env, px, how, log_handler=lambda *a: logged.append(a)) as c:
        assert c.proxy is px
        assert c.is_secure == (how != "plain")
        c.send(to, [to], data)
    assert wait_delivery(env, "USER", mark) is not None
    # The steps are logged on LOG_F_PROXY; the proxy password never is.
    assert any(f == mailwire.LOG_F_PROXY for _, f, _ in logged)
    assert not any(env["PROXY_PASS"] in m for _, _, m in logged)
    with pop3_via(env, proxy(env, name), how) as pop:
        n = find(pop, mark)
        assert n is not None
        assert mark.encode() in pop.retr(n)
        pop.dele(n)


def refused(env, px, port, how="plain"):
    with pytest.raises(mailwire.ProxyError) as info:
        smtp_via(env, px, how, port=port, timeout=5).connect()
    return info.value


def test_proxies_refuse_missing_and_wrong_credentials(env):
    smtp = env.port("SMTP_PORT")
    for port_key, cls in (("MICROSOCKS_PORT", mailwire.SOCK5ProxyInfo),
                          ("DANTE_AUTH_PORT", mailwire.SOCK5ProxyInfo),
                          ("TINYPROXY_PORT", mailwire.HTTPProxyInfo)):
        e = refused(env, cls("localhost", env.port(port_key)), smtp)
        assert e.number == mailwire.eexProxyAuthrequired, (port_key, e)
        assert e.code == mailwire.errProxy
        e = refused(env, cls("localhost", env.port(port_key), user=env["PROXY_USER"],
                             password="wrong-password"), smtp)
        assert e.number == mailwire.eexProxyAuthfailed, (port_key, e)
        assert "wrong-password" not in str(e)


def test_proxies_refuse_requests(env):
    closed = env.port("CLOSED_PORT")
    auth = dict(user=env["PROXY_USER"], password=env["PROXY_PASS"])
    # Nothing listens behind the proxy.
    for px in (mailwire.SOCK5ProxyInfo("localhost", env.port("DANTE_PORT")),
               mailwire.SOCK4ProxyInfo("localhost", env.port("DANTE_PORT")),
               mailwire.SOCK5ProxyInfo("localhost", env.port("MICROSOCKS_PORT"), **auth)):
        assert refused(env, px, closed).number == mailwire.eexProxyRequestfailed
    # tinyproxy allows CONNECT to the listed ports only (403).
    e = refused(env, mailwire.HTTPProxyInfo("localhost", env.port("TINYPROXY_PORT"), **auth),
                env.port("SMTP_NOTLS_PORT"))
    assert e.number == mailwire.eexProxyRequestfailed and "403" in str(e)
    # The proxy itself is not there.
    e = refused(env, mailwire.SOCK5ProxyInfo("localhost", closed), env.port("SMTP_PORT"))
    assert e.number == mailwire.eexProxyNoconn
    assert isinstance(e, mailwire.ProxyError)


def test_remote_dns_sends_the_name_to_the_proxy(env):
    logged = []
    px = mailwire.SOCK5ProxyInfo("localhost", env.port("DANTE_PORT"))
    assert px.remote_dns is True
    c = mailwire.SMTPClient(server="no-such-host.invalid", port=env.port("SMTP_PORT"),
                            timeout=5, proxy=px, log_handler=lambda *a: logged.append(a))
    with pytest.raises(mailwire.ProxyError) as info:
        c.connect()
    assert info.value.number == mailwire.eexProxyRequestfailed
    # No local lookup of the mail server's name was made.
    assert not any("resolving no-such-host.invalid" in m for _, _, m in logged)
    c.close()


def test_refused_proxy_sends_no_mail(env):
    """A refusal at the proxy: nothing reaches the mail server."""
    mark = marker("proxy-refused")
    to, data = message(env, "USER", mark)
    c = smtp_via(env, mailwire.SOCK5ProxyInfo("localhost", env.port("MICROSOCKS_PORT")),
                 "plain", timeout=5)
    with pytest.raises(mailwire.ProxyError):
        c.connect()
    with pytest.raises(mailwire.NotConnectedError):
        c.send(to, [to], data)
    c.close()
    assert wait_delivery(env, "USER", mark, timeout=2) is None


def test_proxyinfo_arguments_and_lifetime(env):
    p = mailwire.SOCK5ProxyInfo("localhost")
    assert (p.kind, p.port, p.server) == (mailwire.MW_PROXY_SOCKS5, 1080, "localhost")
    assert mailwire.HTTPProxyInfo("localhost").port == 8080
    assert mailwire.SOCK4ProxyInfo("localhost", socks4a=True).kind == mailwire.MW_PROXY_SOCKS4A
    assert mailwire.SOCKS5ProxyInfo is mailwire.SOCK5ProxyInfo
    p.remote_dns = False
    assert p.remote_dns is False
    p.port = 1081
    assert p.port == 1081
    with pytest.raises(mailwire.InvalidArgumentError) as info:
        mailwire.ProxyInfo(99)
    assert info.value.number == mailwire.eexInvalidArgument
    for bad in ("local\0host", "local\r\nhost"):
        with pytest.raises(mailwire.InvalidArgumentError) as info:
            mailwire.SOCK5ProxyInfo(bad)
        assert info.value.number == mailwire.eexInvalidArgument
    with pytest.raises(mailwire.InvalidArgumentError):
        p.set_credentials("user\nname", "pw")
    with pytest.raises(mailwire.InvalidArgumentError):
        p.set_credentials("u" * 300, "pw")
    # A POP3 proxy on an SMTP client is refused at connect, before any I/O.
    c = mailwire.SMTPClient(server="127.0.0.1", port=env.port("SMTP_PORT"), timeout=5,
                            proxy=mailwire.POP3ProxyInfo("localhost", env.port("CLOSED_PORT")))
    with pytest.raises(mailwire.InvalidArgumentError) as info:
        c.connect()
    assert info.value.number == mailwire.eexInvalidArgument
    c.close()
    # A closed ProxyInfo cannot be attached; one dropped by Python while a
    # client holds it stays usable by the client.
    q = mailwire.SOCK5ProxyInfo("localhost")
    q.close()
    with pytest.raises(mailwire.StateError):
        mailwire.SMTPClient().set_advanced_handler(q)
