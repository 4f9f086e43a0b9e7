"""A stand-in for nova-conductor's ComputeTaskManager, driven by the agent's wire tests: an
oslo.messaging 14 RPC server with namespace compute_task, deserializing
its arguments with nova's own serializers (RequestContextSerializer around
NovaObjectSerializer), as nova-conductor does. migrate_server has nova 26.2.2's signature and
reports what it received; with FAIL set it raises MaxRetriesExceeded, as the conductor does
when no alternate host is left.

usage: conductor_task_server.py TRANSPORT_URL EXCHANGE TOPIC [FAIL]

TOPIC stands for "conductor": a queue's name is its topic whatever the exchange, and the
tests share the broker with a real control plane, whose nova-conductor consumes "conductor".

Prints READY once consuming, then one JSON line per call; stops when stdin closes.
"""
import json
import logging
import sys

from oslo_config import cfg
import oslo_messaging as messaging

from nova import exception
from nova import objects
from nova.objects import base as objects_base
from nova import rpc as nova_rpc

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class ComputeTaskStandIn(object):
    target = messaging.Target(namespace="compute_task", version="1.24")

    def __init__(self, fail):
        self.fail = fail

    def migrate_server(self, context, instance, scheduler_hint, live, rebuild,
                       flavor, block_migration, disk_over_commit, reservations=None,
                       clean_shutdown=True, request_spec=None, host_list=None):
        emit({
            "method": "migrate_server",
            "request_id": context.request_id,
            "instance_class": type(instance).__name__,
            "instance_uuid": instance.uuid,
            "task_state": instance.task_state,
            "vm_state": instance.vm_state,
            "flavor_class": type(flavor).__name__,
            "flavorid": flavor.flavorid,
            "scheduler_hint": scheduler_hint,
            "live": live, "rebuild": rebuild,
            "block_migration": block_migration, "disk_over_commit": disk_over_commit,
            "reservations": reservations, "clean_shutdown": clean_shutdown,
            "request_spec": request_spec,
            "host_list": [[type(h).__name__, h.service_host, h.nodename] for h in host_list or []],
        })
        if self.fail:
            raise exception.MaxRetriesExceeded(reason="Exhausted all hosts available for retrying resize failures.")


def main():
    url, exchange, topic = sys.argv[1:4]
    fail = len(sys.argv) > 4
    objects.register_all()
    messaging.set_transport_defaults(control_exchange=exchange)
    conf = cfg.CONF
    conf([], project="novalet-test", default_config_files=[])
    transport = messaging.get_rpc_transport(conf, url=url)
    serializer = nova_rpc.RequestContextSerializer(objects_base.NovaObjectSerializer())
    rpc_server = messaging.get_rpc_server(transport, messaging.Target(topic=topic, server="standin"),
                                          [ComputeTaskStandIn(fail)], executor="threading",
                                          serializer=serializer)
    rpc_server.start()
    emit("READY")
    sys.stdin.read()
    rpc_server.stop()
    rpc_server.wait()
    transport.cleanup()


if __name__ == "__main__":
    main()
