#!/usr/bin/python3
"""Print the values oslo.config gives nova's options, read from the given config files.

Usage: oslo_values.py FILE... < options.json   (options.json: [["group", "name"], ...])
Prints {"group/name": value} as JSON. Registers exactly what nova-compute registers, plus the
keystoneauth 'password' plugin options that nova loads at run time for [placement] and [neutron].
"""
import json
import sys

from keystoneauth1 import loading as ks_loading

from oslo_config import cfg
from oslo_log import log
from oslo_messaging import opts as messaging_opts

import nova.conf

CONF = nova.conf.CONF


def main():
    wanted = json.load(sys.stdin)
    # What nova.config.parse_args and the oslo.messaging transport register at start-up.
    log.register_options(CONF)
    for group, opts in messaging_opts.list_opts():
        for o in opts:
            try:
                CONF.register_opt(o, group=group)
            except cfg.DuplicateOptError:
                pass
    CONF.set_default("control_exchange", "nova")  # nova.rpc.set_defaults
    for group in ("placement", "neutron"):
        ks_loading.register_auth_conf_options(CONF, group)
        opts = ks_loading.get_auth_plugin_conf_options("password")
        for o in opts:
            o.required = False  # keystoneauth checks this when it loads the plugin, not here
        CONF.register_opts([o for o in opts if o.dest not in CONF[group]], group=group)
    args = []
    for f in sys.argv[1:]:
        args += ["--config-file", f]
    CONF(args, project="nova", default_config_files=[])
    out = {}
    for group, name in wanted:
        node = CONF if group == "DEFAULT" else CONF[group]
        out[group + "/" + name] = getattr(node, name)
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
