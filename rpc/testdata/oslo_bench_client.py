"""Trivial-call benchmark client (oslo.messaging 14.0.3), the same for every server under test.

usage: oslo_bench_client.py TRANSPORT_URL EXCHANGE TOPIC CALLS THREADS

Calls whoami (version 3.0) CALLS times one after another (latency percentiles), then CALLS times
from THREADS threads (throughput). Prints one JSON object.
"""
import json
import logging
import sys
import threading
import time

from oslo_config import cfg
import oslo_messaging as messaging

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def main():
    url, exchange, topic = sys.argv[1:4]
    calls, threads = int(sys.argv[4]), int(sys.argv[5])
    messaging.set_transport_defaults(control_exchange=exchange)
    conf = cfg.CONF
    conf([], project="novalet-test", default_config_files=[])
    transport = messaging.get_rpc_transport(conf, url=url)
    client = messaging.RPCClient(transport, messaging.Target(topic=topic, version="3.0"), timeout=30)
    ctxt = {"request_id": "req-bench"}
    for _ in range(20):  # warm up: reply queue, connection pool
        client.call(ctxt, "whoami")
    lat = []
    t0 = time.monotonic()
    for _ in range(calls):
        s = time.monotonic()
        client.call(ctxt, "whoami")
        lat.append(time.monotonic() - s)
    seq = time.monotonic() - t0
    lat.sort()

    def worker(n):
        for _ in range(n):
            client.call(ctxt, "whoami")

    ts = [threading.Thread(target=worker, args=(calls // threads,)) for _ in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    conc = time.monotonic() - t0
    reply_q = transport._driver._reply_q
    transport.cleanup()
    print(json.dumps({
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "sequential_calls_per_s": calls / seq,
        "concurrent_calls_per_s": (calls // threads) * threads / conc,
        "reply_queue": reply_q,
    }))


if __name__ == "__main__":
    main()
