"""Checks the TLS side of one `modelbench run` over https (against vLLM served with
--ssl-keyfile/--ssl-certfile): the session is recorded, verification used --ca-cert, reads kept
the kernel's receive timestamps, and each connection's handshake was recorded once.

usage: check_tls.py RUN_DIR CONCURRENCY

Prints `PASS <check>: <detail>` or `FAIL <check>: <detail>` per check; exit 2 for bad usage.
Standard library only. (Tokens, TTFT and E2E against vLLM's counters: check_run.py, as over
plain HTTP.)
"""
import json
import os
import sys


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    run_dir, concurrency = sys.argv[1], int(sys.argv[2])
    with open(os.path.join(run_dir, "benchmark_results.json"), encoding="utf-8") as fh:
        doc = json.load(fh)
    info, summary = doc["run_info"], doc["benchmark_stats"]["summary"]
    tls = info.get("tls") or {}

    def check(name, ok, detail):
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")

    check("base URL is https", info.get("base_url", "").startswith("https://"), info.get("base_url"))
    check("verified with --ca-cert", tls.get("verification") == "webpki-roots + --ca-cert", tls.get("verification"))
    check("TLS 1.2 or 1.3 negotiated", tls.get("version") in ("TLSv1_2", "TLSv1_3"), tls.get("version"))
    check("ALPN http/1.1 (or none)", tls.get("alpn") in ("http/1.1", None), tls.get("alpn"))
    check("reads kernel-stamped", info.get("timestamps") == "kernel_receive_time", info.get("timestamps"))
    n = summary.get("tls_handshakes")
    check(
        "one handshake per connection (at most the concurrency, at least one)",
        isinstance(n, int) and 1 <= n <= concurrency,
        f"{n} handshakes at concurrency {concurrency}",
    )
    stamped = sum(1 for r in doc["individual_requests"] if r.get("tls_handshake_time") is not None)
    check("handshake times on the connections' first requests", stamped == n, f"{stamped} requests")
    p50 = (summary.get("tls_handshake_ms") or {}).get("tls_handshake_p50")
    check("handshake time recorded", isinstance(p50, (int, float)) and p50 > 0, f"p50 {p50} ms")


main()
