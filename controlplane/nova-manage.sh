#!/bin/bash
# nova-manage.sh ARGS... -- nova-manage as user nova with the controller's configuration.
# On this machine /etc/nova/nova.conf is the compute node's file (no [database]), so a bare
# `nova-manage cell_v2 discover_hosts` would not find the databases; this is the controller's view.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
nova_manage "$@"
