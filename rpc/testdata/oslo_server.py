"""oslo.messaging 14.0.3 RPC server driven by the Go wire tests: a stand-in conductor, declared
the way nova declares its servers (control exchange, Target(topic, server)).

usage: oslo_server.py TRANSPORT_URL EXCHANGE TOPIC SERVER NAME

Prints READY once consuming, then one JSON line per cast received ({"note": ...}); stops
cleanly (server.stop/wait, transport.cleanup) when stdin closes.
"""
import json
import logging
import sys
import threading

from oslo_config import cfg
import oslo_messaging as messaging

import nova.exception

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
out_lock = threading.Lock()


def emit(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


class ConductorStandIn(object):
    target = messaging.Target(version="3.0")

    def __init__(self, name):
        self.name = name

    def whoami(self, ctxt):
        return self.name

    def note(self, ctxt, who):
        emit({"note": who, "server": self.name, "request_id": ctxt.get("request_id")})

    def object_action(self, ctxt, objinst, objmethod, args, kwargs):
        data = objinst["nova_object.data"]
        updates = {"report_count": data["report_count"] + 1, "obj_what_changed": []}
        return [updates, {"method": objmethod, "args": args, "kwargs": kwargs}]

    def object_class_action_versions(self, ctxt, objname, objmethod, object_versions, args, kwargs):
        if objname == "Instance" and objmethod == "get_by_uuid":
            raise nova.exception.InstanceNotFound(instance_id=args[0])
        return {"objname": objname, "objmethod": objmethod, "object_versions": object_versions,
                "args": args, "kwargs": kwargs, "request_id": ctxt.get("request_id"),
                "auth_token": ctxt.get("auth_token")}

    def object_backport_versions(self, ctxt, objinst, object_versions):
        objinst = dict(objinst)
        objinst["nova_object.version"] = object_versions[objinst["nova_object.name"]]
        return objinst


def main():
    url, exchange, topic, server, name = sys.argv[1:6]
    messaging.set_transport_defaults(control_exchange=exchange)
    conf = cfg.CONF  # oslo registers some options (metrics) on the global CONF only
    conf([], project="novalet-test", default_config_files=[])
    transport = messaging.get_rpc_transport(conf, url=url, allowed_remote_exmods=["nova.exception"])
    target = messaging.Target(topic=topic, server=server)
    rpc_server = messaging.get_rpc_server(transport, target, [ConductorStandIn(name)],
                                          executor="threading")
    rpc_server.start()
    emit("READY")
    sys.stdin.read()
    rpc_server.stop()
    rpc_server.wait()
    transport.cleanup()


if __name__ == "__main__":
    main()
