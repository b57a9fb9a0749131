#!/usr/bin/env python3
"""Start-up benchmark: time from launching `atlascope serve` to its first
answered request, over several runs: on a fresh data directory (database
created and migrated; the set-up page answers) and on an existing one with
an administrator (the sign-in page answers).

Usage: cargo build --release && python3 benches/startup.py [runs]
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BINARY = os.path.join(os.path.dirname(__file__), "..", "target", "release", "atlascope")
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_answer_ms(data_dir, path):
    port = free_port()
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
    started = time.perf_counter()
    process = subprocess.Popen(
        [BINARY, "--data-dir", data_dir, "serve", "--bind", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(request)
                    if s.recv(12).startswith(b"HTTP/1.1 200"):
                        return (time.perf_counter() - started) * 1000
            except OSError:
                time.sleep(0.001)
            if time.perf_counter() - started > 10:
                raise SystemExit("the server did not answer within 10 s")
    finally:
        process.terminate()
        process.wait()


def report(label, samples):
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"{label:28} median {statistics.median(samples):6.1f} ms   p95 {p95:6.1f} ms   max {samples[-1]:6.1f} ms")


fresh, existing = [], []
keep = tempfile.mkdtemp()
subprocess.run([BINARY, "--data-dir", keep, "init"], check=True, stdout=subprocess.DEVNULL)
subprocess.run([BINARY, "--data-dir", keep, "user", "add", "bench", "--admin"],
               input=b"benchmark password\n", check=True, stdout=subprocess.DEVNULL)
try:
    for _ in range(RUNS):
        d = tempfile.mkdtemp()
        fresh.append(first_answer_ms(d, "/setup"))
        shutil.rmtree(d)
        existing.append(first_answer_ms(keep, "/login"))
finally:
    shutil.rmtree(keep)
report("fresh data directory", fresh)
report("existing data directory", existing)
