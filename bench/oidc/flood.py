#!/usr/bin/env python3
"""bench/oidc.sh's flood: LOGIN's first login (INITIAL, then the change to PASSWORD), then N
concurrent failed logins for unknown users from another address (127.0.0.2), and one correct
login of LOGIN from 127.0.0.1 started 30 ms into the flood. Prints how long the correct login
took and how the flood was answered. Standard library only.

    flood.py BASE AUTHORIZE_PATH PASSWORD LOGIN INITIAL N
"""
import collections
import http.client
import re
import sys
import threading
import time
import urllib.parse

from prime import NoRedirect, browser, fetch, field  # noqa: F401


def post(base, source, path, form, cookie):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60, source_address=(source, 0))
    c.request("POST", path, urllib.parse.urlencode(form),
              {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def main():
    base, authz, password, login, initial, n = sys.argv[1:]
    n = int(n)
    # The first login.
    jar, b = browser()
    status, page, _ = fetch(b, base + authz)
    status, page, _ = fetch(b, base + "/login", {"csrf": field(page, "csrf"), "req": field(page, "req"),
                                                 "login": login, "password": initial})
    assert status == 200 and 'name="pending"' in page, (status, page[:800])
    status, page, _ = fetch(b, base + "/password", {"csrf": field(page, "csrf"), "pending": field(page, "pending"),
                                                    "new": password, "repeat": password})
    assert status == 303, (status, page[:800])
    # The attacker's form.
    jar, b = browser()
    status, page, _ = fetch(b, base + authz)
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    form = {"csrf": field(page, "csrf"), "req": field(page, "req"), "password": "Guess-123"}
    answers = collections.Counter()
    lock = threading.Lock()

    def attack(i):
        s = post(base, "127.0.0.2", "/login", dict(form, login=f"nobody{i}"), cookie)
        with lock:
            answers[s] += 1

    threads = [threading.Thread(target=attack, args=(i,)) for i in range(n)]
    start = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(0.03)
    t0 = time.monotonic()
    jar, b = browser()
    status, page, _ = fetch(b, base + authz)
    status, page, hdrs = fetch(b, base + "/login", {"csrf": field(page, "csrf"), "req": field(page, "req"),
                                                    "login": login, "password": password})
    took = time.monotonic() - t0
    for t in threads:
        t.join()
    flood = time.monotonic() - start
    ok = "ok" if status == 303 and "code=" in (hdrs.get("Location") or "") else f"FAILED ({status})"
    print(f"correct login {took * 1000:.0f} ms ({ok}, target < 2000)   flood answered in {flood:.1f} s: "
          + " ".join(f"{k}x{v}" for k, v in sorted(answers.items())))


main()
