"""oslo.messaging 14.0.3 RPC client driven by the Go wire tests.

usage: oslo_client.py TRANSPORT_URL EXCHANGE < ops.json

Each op: {"op": "call"|"cast", "topic", "server", "fanout", "version", "namespace", "method",
"args", "context", "timeout", "cm_timeout", "exmods"}. Prints one JSON object:
{"results": [{"result": ...} | {"error": {...}}], "reply_queues": [...]}.
"""
import json
import logging
import sys

from oslo_config import cfg
import oslo_messaging as messaging

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def describe(exc):
    cls = type(exc)
    return {
        "class": cls.__name__,
        "module": cls.__module__,
        "mro": [c.__name__ for c in cls.__mro__],
        "str": str(exc),
        "kwargs": getattr(exc, "kwargs", None),
        "exc_type": getattr(exc, "exc_type", None),
    }


def main():
    url, exchange = sys.argv[1], sys.argv[2]
    ops = json.load(sys.stdin)
    messaging.set_transport_defaults(control_exchange=exchange)
    conf = cfg.CONF  # oslo registers some options (metrics) on the global CONF only
    conf([], project="novalet-test", default_config_files=[])
    transports = {}
    results = []
    for op in ops:
        exmods = tuple(op.get("exmods", ["nova.exception"]))
        if exmods not in transports:
            transports[exmods] = messaging.get_rpc_transport(
                conf, url=url, allowed_remote_exmods=list(exmods))
        target = messaging.Target(topic=op["topic"], server=op.get("server"),
                                  fanout=op.get("fanout", False),
                                  version=op.get("version"), namespace=op.get("namespace"))
        client = messaging.RPCClient(transports[exmods], target,
                                     timeout=op.get("timeout", 30),
                                     call_monitor_timeout=op.get("cm_timeout"))
        ctxt = op.get("context", {"request_id": "req-python-client"})
        try:
            if op["op"] == "call":
                results.append({"result": client.call(ctxt, op["method"], **op.get("args", {}))})
            else:
                client.cast(ctxt, op["method"], **op.get("args", {}))
                results.append({"result": None})
        except Exception as exc:  # the test inspects every failure
            results.append({"error": describe(exc)})
    reply_queues = [t._driver._reply_q for t in transports.values() if t._driver._reply_q]
    for t in transports.values():
        t.cleanup()
    print(json.dumps({"results": results, "reply_queues": reply_queues}))


if __name__ == "__main__":
    main()
