#!/usr/bin/python3
"""Hydrate Nova object primitives with the installed nova and report back.

    /usr/bin/python3 rpc/ovo/testdata/from_primitive.py < primitives.json

stdin holds a JSON list of object primitives. For each, this calls
nova.objects.base.NovaObject.obj_from_primitive (what nova's RPC
serializer does with an incoming argument) and prints, as one JSON list:

  {"view": <the object as Python now holds it>,
   "primitive": <obj_to_primitive() of the hydrated object>}

where a view is {"name", "version", "what_changed": sorted
obj_what_changed(), "fields": {field: value}} with values rendered from the
Python objects: datetimes as isoformat(), sets as sorted lists, IP addresses
as str, NetworkModel as the decoded list, nested objects as views. Any
refusal by nova (bad type, bad enum value, ...) makes the script fail.
"""

import datetime
import json
import sys

import netaddr
from oslo_serialization import jsonutils

import nova.objects
from nova.objects import base as nova_base
from nova.network import model as network_model

nova.objects.register_all()


def render(value):
    if isinstance(value, nova_base.NovaObject):
        return view(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (netaddr.IPAddress, netaddr.IPNetwork)):
        return str(value)
    if isinstance(value, (network_model.NetworkInfo, network_model.VIF)):
        return json.loads(jsonutils.dumps(value))
    if isinstance(value, (set, frozenset)):
        return sorted(render(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [render(v) for v in value]
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError('cannot render %r' % type(value))


def view(obj):
    return {
        'name': obj.obj_name(),
        'version': obj.VERSION,
        'what_changed': sorted(obj.obj_what_changed()),
        'fields': {name: render(getattr(obj, name))
                   for name in sorted(obj.fields)
                   if obj.obj_attr_is_set(name)},
    }


def main():
    out = []
    for primitive in json.load(sys.stdin):
        obj = nova_base.NovaObject.obj_from_primitive(primitive)
        out.append({'view': view(obj), 'primitive': obj.obj_to_primitive()})
    json.dump(out, sys.stdout, default=jsonutils.to_primitive, sort_keys=True)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
