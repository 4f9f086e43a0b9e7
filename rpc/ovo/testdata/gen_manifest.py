#!/usr/bin/python3
"""Write the Zed object manifest (zed_manifest.json) from the installed nova code.

Run with Debian's interpreter, which has python3-nova 26.2.2:

    /usr/bin/python3 rpc/ovo/testdata/gen_manifest.py [OUTPUT]

OUTPUT defaults to rpc/ovo/zed_manifest.json. For every class in
NovaObjectRegistry (after nova.objects.register_all()) it records the newest
version, the field table (type, nullability, default, read-only) and the
version manifest that nova itself sends for it (obj_tree_get_versions). The
output is deterministic, so re-running it on the same nova yields the same
bytes; the component test checks that.
"""

import copy
import json
import os
import sys

from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields as F

import nova.objects
from nova.objects import base as nova_base
from nova.objects import fields as nova_fields
from nova import version as nova_version

# Field types are described by the nearest of these classes in their MRO.
# Order matters: subclasses first.
KINDS = [
    (F.Enum, 'Enum'),
    (F.SensitiveString, 'SensitiveString'),
    (F.VersionPredicate, 'VersionPredicate'),
    (F.String, 'String'),
    (F.UUID, 'UUID'),
    (F.MACAddress, 'MACAddress'),
    (F.PCIAddress, 'PCIAddress'),
    (F.NonNegativeInteger, 'NonNegativeInteger'),
    (F.Integer, 'Integer'),
    (F.NonNegativeFloat, 'NonNegativeFloat'),
    (F.Float, 'Float'),
    (F.FlexibleBoolean, 'FlexibleBoolean'),
    (F.Boolean, 'Boolean'),
    (F.DateTime, 'DateTime'),
    (F.IPV4Network, 'IPV4Network'),
    (F.IPV6Network, 'IPV6Network'),
    (F.IPNetwork, 'IPNetwork'),
    (F.IPV4AndV6Address, 'IPV4AndV6Address'),
    (F.IPV4Address, 'IPV4Address'),
    (F.IPV6Address, 'IPV6Address'),
    (F.IPAddress, 'IPAddress'),
    (F.List, 'List'),
    (F.Dict, 'Dict'),
    (F.Set, 'Set'),
    (F.Object, 'Object'),
    (nova_fields.ResourceClass, 'ResourceClass'),
    (nova_fields.NetworkModel, 'NetworkModel'),
    (nova_fields.NetworkVIFModel, 'NetworkVIFModel'),
    (nova_fields.USBAddress, 'USBAddress'),
    (nova_fields.SCSIAddress, 'SCSIAddress'),
    (nova_fields.IDEAddress, 'IDEAddress'),
    (nova_fields.XenAddress, 'XenAddress'),
]


def kind_of(ftype):
    for cls, kind in KINDS:
        if isinstance(ftype, cls):
            return kind
    raise SystemExit('gen_manifest: unsupported field type %s' %
                     type(ftype).__name__)


def describe(field, name):
    """Describe one oslo Field (top-level or a compound's element)."""
    ftype = field._type
    kind = kind_of(ftype)
    d = {'type': kind}
    if field.nullable:
        d['nullable'] = True
    if field.read_only:
        d['read_only'] = True
    if kind == 'Enum':
        d['enum'] = type(ftype).__name__
        # Keep order and duplicates out: InstancePowerState repeats '_unused'.
        seen = []
        for v in ftype.valid_values:
            if v not in seen:
                seen.append(v)
        d['values'] = seen
    elif kind in ('List', 'Dict', 'Set'):
        d['element'] = describe(ftype._element_type, name)
    elif kind == 'Object':
        d['object'] = ftype._obj_name
        if ftype._subclasses:
            d['subclasses'] = True
    if field.default is not F.UnspecifiedDefault:
        default = copy.deepcopy(field.default)
        if default is None:
            d['default'] = None
        else:
            value = field.coerce(None, name, default)
            d['default'] = field.to_primitive(None, name, value)
    return d


def bases_of(cls):
    names = []
    for parent in cls.mro()[1:]:
        if not hasattr(parent, 'obj_name'):
            continue
        n = parent.obj_name()
        if n not in names and n != cls.obj_name():
            names.append(n)
    return names


def build():
    nova.objects.register_all()
    registry = nova_base.NovaObjectRegistry.obj_classes()
    objects = {}
    for name in sorted(registry):
        cls = registry[name][0]  # newest registered version first
        entry = {
            'version': cls.VERSION,
            'fields': {f: describe(cls.fields[f], f)
                       for f in sorted(cls.fields)},
            'tree': ovo_base.obj_tree_get_versions(name),
        }
        if issubclass(cls, ovo_base.ObjectListBase):
            entry['list'] = True
        if issubclass(cls, nova_base.EphemeralObject):
            # Its constructor sets every defaulted field.
            entry['ephemeral'] = True
        bases = [b for b in bases_of(cls) if b in registry]
        if bases:
            entry['bases'] = bases
        objects[name] = entry
    return {
        'nova_version': nova_version.version_string(),
        'objects': objects,
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, '..', 'zed_manifest.json')
    data = json.dumps(build(), sort_keys=True, indent=1) + '\n'
    with open(out, 'w') as f:
        f.write(data)


if __name__ == '__main__':
    main()
