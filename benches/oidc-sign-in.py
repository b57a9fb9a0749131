#!/usr/bin/env python3
"""Times sign-ins through the test OpenID provider against a running atlascope.

Each sign-in is a new person in a new cookie jar: /auth/oidc/start, the
provider's form, its answer, and atlascope's callback (code exchange, ID
token checks, userinfo, account creation, session). It reports the whole
round trip and, separately, the callback alone (atlascope's own part).
Then signs in `bench-admin` (an administrator by the provider's groups, as
the local benchmark account is) and prints its session cookie, for a load
run on a provider session.

Usage: benches/oidc-sign-in.py BASE_URL [sign-ins]
"""
import functools
import http.client
import http.cookiejar
import re
import statistics
import sys
import time
import urllib.parse
import urllib.request


class StopAtCallback(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlparse(newurl).path == "/auth/oidc/callback":
            raise CallbackReached(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class CallbackReached(Exception):
    def __init__(self, url):
        self.url = url


class FromAddress(urllib.request.HTTPHandler):
    """Connects to 127.0.0.1 from another loopback address: each person
    signs in from an address of their own, as people do (atlascope limits
    sign-ins started per address)."""

    def __init__(self, address):
        super().__init__()
        self.address = address

    def http_open(self, req):
        if req.host.split(":")[0] != "127.0.0.1":
            return super().http_open(req)
        return self.do_open(functools.partial(http.client.HTTPConnection, source_address=(self.address, 0)), req)


def sign_in(base, login, n=0):
    jar = http.cookiejar.CookieJar()
    address = f"127.0.{1 + n // 250}.{2 + n % 250}"
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), StopAtCallback(), FromAddress(address)
    )
    started = time.perf_counter()
    form = opener.open(f"{base}/auth/oidc/start?next=/teams")
    action = re.search(r'action="([^"]+)"', form.read().decode()).group(1)
    form_url = urllib.parse.urljoin(form.geturl(), action)
    body = urllib.parse.urlencode({"login": login, "password": "any"}).encode()
    try:
        opener.open(form_url, data=body)
        raise SystemExit("the provider did not send the browser back")
    except CallbackReached as reached:
        callback_url = reached.url
    callback_started = time.perf_counter()
    page = opener.open(callback_url)
    finished = time.perf_counter()
    if urllib.parse.urlparse(page.geturl()).path != "/teams":
        raise SystemExit(f"not signed in: ended at {page.geturl()}")
    cookie = next(c for c in jar if c.name == "atlascope_session")
    return finished - started, finished - callback_started, f"{cookie.name}={cookie.value}"


def report(name, seconds):
    ms = sorted(s * 1000 for s in seconds)
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    print(f"  {name:<34} p50 {statistics.median(ms):6.1f} ms   p95 {p(0.95):6.1f} ms   p99 {p(0.99):6.1f} ms   max {ms[-1]:6.1f} ms")


def main():
    base = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    sign_in(base, "warm-up")
    totals, callbacks = [], []
    for n in range(count):
        total, callback, cookie = sign_in(base, f"person{n}", n + 1)
        totals.append(total)
        callbacks.append(callback)
    print(f"== {count} sign-ins through the provider, one after another (each a new account)")
    report("whole round trip", totals)
    report("atlascope's callback alone", callbacks)
    _, _, cookie = sign_in(base, "bench-admin", count + 1)
    print(f"COOKIE {cookie}")


if __name__ == "__main__":
    main()
