#!/usr/bin/python3
"""Dump every option nova 26.2.2 knows (and the libraries its nova.conf carries) to JSON.

novalet embeds the output (config/nova_options.json) so that its defaults, types, limits,
choices and deprecated names are nova's own, and so that it can tell an operator which
options in nova.conf nova does not know. Run with Debian's python3 (python3-nova installed):

    /usr/bin/python3 config/gen_options.py > config/nova_options.json

The component test TestOptionTableMatchesNova re-runs this and compares.
"""
import json
import sys

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg, generator, types

# The namespaces nova's own config generator (etc/nova/nova-config-generator.conf) lists.
NAMESPACES = [
    "nova.conf", "keystonemiddleware.auth_token", "os_vif", "os_brick", "castellan.config",
    "oslo.cache", "oslo.concurrency", "oslo.db", "oslo.db.concurrency", "oslo.limit",
    "oslo.log", "oslo.messaging", "oslo.middleware", "oslo.policy", "oslo.privsep",
    "oslo.reports", "oslo.service.periodic_task", "oslo.service.service",
    "oslo.versionedobjects",
]


def type_of(t):
    # keystoneauth registers some options with a plain `str` as their type.
    d = {"type": "String" if t is str else type(t).__name__}
    if isinstance(t, types.Integer) or isinstance(t, types.Float):
        if getattr(t, "min", None) is not None:
            d["min"] = t.min
        if getattr(t, "max", None) is not None:
            d["max"] = t.max
    choices = getattr(t, "choices", None)
    if choices:
        d["choices"] = [c for c in choices]
    if isinstance(t, types.List) and t.item_type is not None:
        d["item"] = type_of(t.item_type)
    return d


def default_of(opt):
    if opt.default is None:
        return None
    if isinstance(opt.default, (list, tuple)):
        return [str(v) if not isinstance(v, (bool, int, float)) else v for v in opt.default]
    if isinstance(opt.default, dict):
        return {str(k): str(v) for k, v in opt.default.items()}
    if isinstance(opt.default, (bool, int, float, str)):
        return opt.default
    return str(opt.default)


def listings():
    for ns, listing in generator._list_opts(NAMESPACES):
        yield listing
    # keystonemiddleware registers the auth plugin's options at run time, for the plugin named
    # by auth_type; the reference install uses 'password' there.
    yield [("keystone_authtoken", ks_loading.get_auth_plugin_conf_options("password"))]


def main():
    groups = {}
    for listing in listings():
        for group, opts in listing:
            gname = "DEFAULT" if group is None else (group if isinstance(group, str) else group.name)
            g = groups.setdefault(gname, {})
            for opt in opts:
                if opt.dest in g:
                    continue
                o = type_of(opt.type)
                o["default"] = default_of(opt)
                sample = opt.sample_default
                if isinstance(sample, str) and sample.startswith("<"):
                    # Computed on the machine nova runs on (hostname, IP, install path):
                    # novalet computes its own; the value seen here would be this machine's.
                    o["default"] = None
                    o["dynamic"] = sample
                if opt.multi:
                    o["multi"] = True
                if opt.secret:
                    o["secret"] = True
                dep = [[d.group or gname, d.name or opt.name] for d in opt.deprecated_opts]
                if dep:
                    o["deprecated"] = dep
                if opt.deprecated_for_removal:
                    o["deprecated_for_removal"] = True
                g[opt.dest] = o
    json.dump({"nova": "26.2.2", "groups": groups}, sys.stdout, indent=0, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
