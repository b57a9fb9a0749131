#!/usr/bin/env python3
"""Live fan-out latency: opens event streams on one or more atlascope
servers (split evenly), then makes changes one at a time through the
servers in turn and measures, for every stream, the time from sending a
change to receiving its `item-…` event. Prints p50, p99 and the worst.

Usage: COOKIE=atlascope_session=… python3 benches/fanout-latency.py \
         SYSTEM_PATH STREAMS CHANGES BASE_URL [BASE_URL …]
Called by benches/cluster-load.sh.
"""
import os
import socket
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request

system, streams, changes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bases = sys.argv[4:]
cookie = os.environ["COOKIE"]
TECHNIQUES = ["AML.T0051", "AML.T0054", "AML.T0043", "AML.T0015", "AML.T0024", "AML.T0048"]

arrivals = {}  # (stream, event name) -> first arrival time (monotonic)
lock = threading.Lock()
opened = threading.Barrier(streams + 1)


def follow(index, base):
    url = urllib.parse.urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port))
    sock.sendall(
        f"GET {system}/events HTTP/1.1\r\nHost: {url.netloc}\r\nAccept: text/event-stream\r\n"
        f"Cookie: {cookie}\r\n\r\n".encode()
    )
    opened.wait()
    buffered = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return
        now = time.monotonic()
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        with lock:
            for line in lines:
                if line.startswith(b"event: item-"):
                    arrivals.setdefault((index, line[7:].decode().strip()), now)


for i in range(streams):
    threading.Thread(target=follow, args=(i, bases[i % len(bases)]), daemon=True).start()
opened.wait()
time.sleep(1.0)  # every stream subscribed

latencies = []
for n in range(changes):
    technique = TECHNIQUES[n % len(TECHNIQUES)]
    event = "item-" + technique.replace(".", "_")
    with lock:
        for key in [k for k in arrivals if k[1] == event]:
            del arrivals[key]
    base = bases[n % len(bases)]
    choice = "applies" if (n // len(TECHNIQUES)) % 2 == 0 else "not_applicable"
    request = urllib.request.Request(
        f"{base}{system}/techniques/{technique}",
        # A rationale of its own, so that every change changes something.
        data=f"applicability={choice}&rationale=change+{n}".encode(),
        headers={"Cookie": cookie, "HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded"},
    )
    sent = time.monotonic()
    urllib.request.urlopen(request).read()
    deadline = sent + 2.0
    while time.monotonic() < deadline:
        with lock:
            got = [arrivals[(i, event)] for i in range(streams) if (i, event) in arrivals]
        if len(got) == streams:
            break
        time.sleep(0.002)
    missing = streams - len(got)
    if missing:
        print(f"change {n}: {missing} stream(s) got nothing within 2 s")
    latencies.extend((t - sent) * 1000 for t in got)
    time.sleep(0.05)

latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
print(
    f"{streams} streams on {len(bases)} instance(s), {changes} changes: "
    f"p50 {statistics.median(latencies):.1f} ms, p99 {p(0.99):.1f} ms, worst {latencies[-1]:.1f} ms "
    f"({len(latencies)} deliveries)"
)
