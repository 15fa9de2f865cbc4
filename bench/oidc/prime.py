#!/usr/bin/env python3
"""The set-up of bench/oidc.sh's login and code-flow runs, against a running `orgid serve`:
each account's first login (its initial password, then the forced change to PASSWORD), then
one browser's CSRF cookie and token (for the login runs) and an SSO session cookie (for the
code-flow runs). Prints shell assignments. Standard library only.

    prime.py BASE AUTHORIZE_PATH PASSWORD login=initial [login=initial ...]
"""
import http.cookiejar
import re
import sys
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browser():
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    return jar, opener


def fetch(opener, url, form=None):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with opener.open(url, data) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def field(page, name):
    m = re.search(r'name="%s"\s+value="([^"]*)"' % name, page) or re.search(
        r'value="([^"]*)"\s+name="%s"' % name, page)
    if not m:
        sys.exit(f"prime: no field {name} in the page:\n{page[:2000]}")
    return m.group(1)


def main():
    base, authz, password, *accounts = sys.argv[1:]
    session = None
    for acc in accounts:
        login, initial = acc.split("=", 1)
        jar, b = browser()
        status, page, _ = fetch(b, base + authz)
        assert status == 200, (status, page[:500])
        status, page, _ = fetch(b, base + "/login", {"csrf": field(page, "csrf"), "req": field(page, "req"),
                                                     "login": login, "password": initial})
        assert status == 200 and 'name="pending"' in page, (login, status, page[:800])
        status, page, hdrs = fetch(b, base + "/password", {"csrf": field(page, "csrf"),
                                                           "pending": field(page, "pending"),
                                                           "new": password, "repeat": password})
        assert status == 303, (login, status, page[:800])
        if session is None:
            session = "; ".join(f"{c.name}={c.value}" for c in jar)
    jar, b = browser()
    status, page, _ = fetch(b, base + authz)
    assert status == 200, (status, page[:500])
    csrf_cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    print(f"BENCH_CSRF_COOKIE='{csrf_cookie}'")
    print(f"BENCH_CSRF='{field(page, 'csrf')}'")
    print(f"BENCH_SESSION_COOKIE='{session}'")


if __name__ == "__main__":
    main()
