#!/usr/bin/python3
"""Write golden object primitives produced by the installed nova (26.2.2).

    /usr/bin/python3 rpc/ovo/testdata/gen_golden.py [OUTDIR]

OUTDIR defaults to rpc/ovo/testdata/golden. Each file is what nova-compute or
nova-conductor puts on the wire for one object (NovaObjectSerializer +
jsonutils, as oslo.messaging does), built with realistic values. The
*_reply.json files hold object_action replies made by the real
ConductorManager.object_action around a stand-in for the DB method; the
*_applied.json files hold the caller's object after nova's own remotable
wrapper applied such a reply.

Only one thing is normalised: "nova_object.changes" and "obj_what_changed"
come from Python sets, whose order changes from run to run, so they are
sorted. Keys are sorted and indented so that re-runs give identical bytes.
"""

import datetime
import json
import os
import sys

from oslo_serialization import jsonutils

import nova.objects
from nova.objects import base as nova_base

nova.objects.register_all()
from nova import objects  # noqa: E402
from nova.conductor import manager as conductor_manager  # noqa: E402
from nova.network import model as network_model  # noqa: E402

UTC = datetime.timezone.utc
INSTANCE_UUID = '9d0b1c2a-0000-4000-8000-000000000001'
PROJECT = '6f2b1f0c7e4d4c4f9a8b3c2d1e0f0a1b'
USER = '2c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f'
HOST = 'compute-1'
NODE = 'compute-1.example.org'
IMAGE = 'c1a2b3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d'


def ts(*args):
    return datetime.datetime(*args, tzinfo=UTC)


def network_info():
    return network_model.NetworkInfo.hydrate([{
        'id': '0c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff',
        'address': 'fa:16:3e:12:34:56',
        'network': {
            'id': '5b3a7f8e-1111-2222-3333-444455556666',
            'bridge': 'brq5b3a7f8e-11',
            'label': 'provider',
            'subnets': [{
                'cidr': '192.0.2.0/24',
                'dns': [{'address': '192.0.2.1', 'type': 'dns'}],
                'gateway': {'address': '192.0.2.1', 'type': 'gateway'},
                'ips': [{'address': '192.0.2.10', 'type': 'fixed',
                         'floating_ips': []}],
                'routes': [],
                'meta': {'dhcp_server': '192.0.2.2'},
            }],
            'meta': {'injected': False, 'tenant_id': PROJECT, 'mtu': 1500,
                     'physical_network': 'provider', 'tunneled': False,
                     'should_create_bridge': True},
        },
        'type': 'bridge',
        'details': {'port_filter': True, 'connectivity': 'l2'},
        'devname': 'tap0c1d2e3f-aa',
        'ovs_interfaceid': None,
        'active': False,
        'vnic_type': 'normal',
        'profile': {},
        'preserve_on_delete': False,
        'meta': {},
    }])


def flavor():
    f = objects.Flavor(
        id=1, name='m1.tiny', memory_mb=512, vcpus=1, root_gb=1,
        ephemeral_gb=0, flavorid='1', swap=0, rxtx_factor=1.0,
        vcpu_weight=None, disabled=False, is_public=True,
        extra_specs={'hw:cpu_policy': 'shared', 'quota:disk_read_bytes_sec':
                     '10240000'},
        projects=[], description=None,
        created_at=ts(2026, 11, 1, 9, 0, 0), updated_at=None,
        deleted_at=None, deleted=False)
    f.obj_reset_changes(recursive=True)
    return f


def instance():
    inst = objects.Instance(
        id=42, uuid=INSTANCE_UUID, user_id=USER, project_id=PROJECT,
        image_ref=IMAGE, kernel_id='', ramdisk_id='', hostname='vm-one',
        launch_index=0, key_name='mykey',
        key_data='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host',
        power_state=0, vm_state='building', task_state='scheduling',
        memory_mb=512, vcpus=1, root_gb=1, ephemeral_gb=0,
        ephemeral_key_uuid=None, host=None, node=None, instance_type_id=1,
        user_data='I2Nsb3VkLWNvbmZpZwo=', reservation_id='r-abc123de',
        launched_at=None, terminated_at=None, availability_zone='nova',
        display_name='vm one', display_description='vm one',
        launched_on=None, locked=False, locked_by=None, os_type=None,
        architecture=None, vm_mode=None, root_device_name='/dev/vda',
        default_ephemeral_device=None, default_swap_device=None,
        config_drive='', access_ip_v4=None, access_ip_v6=None,
        auto_disk_config=False, progress=0, shutdown_terminate=False,
        disable_terminate=False, cell_name=None,
        metadata={'role': 'web'},
        system_metadata={'image_disk_format': 'qcow2',
                         'image_min_disk': '1', 'image_base_image_ref': IMAGE,
                         'owner_user_name': 'demo', 'image_kernel_id': None},
        cleaned=False, hidden=False,
        created_at=ts(2026, 11, 23, 20, 15, 13), updated_at=None,
        deleted_at=None, deleted=False)
    inst.flavor = flavor()
    inst.old_flavor = None
    inst.new_flavor = None
    inst.info_cache = objects.InstanceInfoCache(
        instance_uuid=INSTANCE_UUID, network_info=network_info(),
        created_at=ts(2026, 11, 23, 20, 15, 14), updated_at=None,
        deleted_at=None, deleted=False)
    # SecurityGroupList.__init__ empties "objects", so fill it afterwards.
    inst.security_groups = objects.SecurityGroupList()
    inst.security_groups.objects = [
        objects.SecurityGroup(
            id=3, uuid='11111111-2222-4333-8444-555555555555',
            name='default', description='Default security group',
            user_id=USER, project_id=PROJECT)]
    inst.tags = objects.TagList(objects=[
        objects.Tag(resource_id=INSTANCE_UUID, tag='blue')])
    inst.fault = None
    inst.pci_requests = None
    inst.numa_topology = None
    inst.obj_reset_changes(recursive=True)
    # What the compute changes after its resource claim: these travel in
    # "changes", and the flavor change makes "flavor" dirty too.
    inst.host = HOST
    inst.node = NODE
    inst.launched_on = HOST
    inst.task_state = None
    inst.access_ip_v4 = '192.0.2.10'
    inst.launched_at = ts(2026, 11, 23, 20, 16, 1)
    inst.flavor.vcpu_weight = 10
    return inst


def service():
    svc = objects.Service(
        id=5, uuid='3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f', host=HOST,
        binary='nova-compute', topic='compute', report_count=17,
        disabled=False, disabled_reason=None, availability_zone=None,
        last_seen_up=ts(2026, 11, 23, 20, 15, 3), forced_down=False,
        created_at=ts(2026, 11, 20, 8, 0, 0),
        updated_at=ts(2026, 11, 23, 20, 15, 3), deleted_at=None,
        deleted=False)
    svc.obj_reset_changes()
    svc.report_count = 18
    return svc


def compute_node():
    cn = objects.ComputeNode(
        id=1, uuid='7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a098', service_id=None,
        host=HOST, vcpus=4, memory_mb=7953, local_gb=39, vcpus_used=1,
        memory_mb_used=1024, local_gb_used=1, hypervisor_type='QEMU',
        hypervisor_version=7002000, hypervisor_hostname=NODE,
        free_ram_mb=6929, free_disk_gb=38, current_workload=0,
        running_vms=1,
        cpu_info=jsonutils.dumps({
            'arch': 'x86_64', 'model': 'qemu64', 'vendor': 'AMD',
            'topology': {'cells': 1, 'sockets': 4, 'cores': 1,
                         'threads': 1},
            'features': ['fpu', 'sse2']}),
        disk_available_least=35, metrics='[]',
        stats={'num_instances': '1', 'num_vm_active': '1',
               'num_proj_' + PROJECT: '1', 'io_workload': '0',
               'failed_builds': '0'},
        host_ip='192.0.2.5', numa_topology=None,
        supported_hv_specs=[
            objects.HVSpec(arch='x86_64', hv_type='qemu', vm_mode='hvm'),
            objects.HVSpec(arch='i686', hv_type='qemu', vm_mode='hvm')],
        pci_device_pools=objects.PciDevicePoolList(objects=[]),
        cpu_allocation_ratio=16.0, ram_allocation_ratio=1.5,
        disk_allocation_ratio=1.0, mapped=1,
        created_at=ts(2026, 11, 20, 8, 0, 5), updated_at=None,
        deleted_at=None, deleted=False)
    cn.obj_reset_changes(recursive=True)
    cn.vcpus_used = 2
    cn.memory_mb_used = 1536
    cn.updated_at = ts(2026, 11, 23, 20, 16, 0)
    return cn


def image_meta():
    return objects.ImageMeta.from_dict({
        'id': IMAGE, 'name': 'cirros-0.6.2', 'checksum':
        'c8fc807773e5354afe61636071771906', 'container_format': 'bare',
        'disk_format': 'qcow2', 'created_at': ts(2026, 10, 1, 12, 0, 0),
        'updated_at': ts(2026, 10, 1, 12, 0, 30), 'min_disk': 0,
        'min_ram': 0, 'owner': PROJECT, 'protected': False,
        'size': 21430272, 'status': 'active', 'tags': [],
        'visibility': 'public',
        'properties': {'hw_disk_bus': 'virtio', 'hw_vif_model': 'virtio',
                       'hw_qemu_guest_agent': 'yes',
                       'hw_machine_type': 'pc', 'os_distro': 'cirros',
                       'hw_numa_nodes': '2', 'hw_numa_cpus.0': '0,1',
                       'hw_numa_cpus.1': '2,3',
                       'traits_required': ['HW_CPU_X86_AVX2'],
                       'hw_video_ram': '16', 'hw_rng_model': 'virtio',
                       'owner_specified.openstack.md5': 'ignored'},
    })


def instance_action_event():
    ev = objects.InstanceActionEvent(
        id=301, event='compute__do_build_and_run_instance', action_id=77,
        start_time=ts(2026, 11, 23, 20, 15, 20), finish_time=None,
        result=None, traceback=None, host=HOST, details=None,
        created_at=ts(2026, 11, 23, 20, 15, 20), updated_at=None,
        deleted_at=None, deleted=False)
    ev.obj_reset_changes()
    ev.finish_time = ts(2026, 11, 23, 20, 16, 2)
    ev.result = 'Success'
    return ev


class _Dispatcher(object):
    # The real ConductorManager needs a message bus and a database; the diff
    # in object_action only uses _object_dispatch, which this mirrors.
    _object_dispatch = conductor_manager.ConductorManager._object_dispatch


def _reply(objinst, method):
    updates, result = conductor_manager.ConductorManager.object_action(
        _Dispatcher(), None, objinst, method, (), {})
    return nova_base.NovaObjectSerializer().serialize_entity(
        None, (updates, result))


class _ReplayConductor(object):
    """Indirection API that answers object_action with a recorded reply.

    It hands the reply through JSON and NovaObjectSerializer as
    oslo.messaging would, so that the real remotable wrapper applies it."""

    def __init__(self, reply):
        self.reply = reply

    def object_action(self, context, objinst, objmethod, args, kwargs):
        wire = json.loads(jsonutils.dumps(self.reply))
        updates, result = nova_base.NovaObjectSerializer().deserialize_entity(
            context, wire)
        return updates, result


def _applied(obj, method, reply):
    """The caller's object after the remotable method got reply."""
    obj._context = 'ctx'  # remotable needs a context; conductor is replayed
    saved = nova_base.NovaObject.indirection_api
    nova_base.NovaObject.indirection_api = _ReplayConductor(reply)
    try:
        getattr(obj, method)()
    finally:
        nova_base.NovaObject.indirection_api = saved
    return _primitive(obj)


def instance_save_reply():
    inst = instance()

    def save(expected_task_state=None):
        # What Instance.save does to the object after the DB write: the row's
        # updated_at comes back, a refreshed info_cache, changes are reset.
        inst.updated_at = ts(2026, 11, 23, 20, 16, 2)
        inst.info_cache = objects.InstanceInfoCache(
            instance_uuid=INSTANCE_UUID,
            network_info=network_model.NetworkInfo([]),
            created_at=ts(2026, 11, 23, 20, 15, 14),
            updated_at=ts(2026, 11, 23, 20, 16, 2), deleted_at=None,
            deleted=False)
        inst.obj_reset_changes(recursive=True)
    inst.save = save
    return _reply(inst, 'save')


def _new_service():
    return objects.Service(host=HOST, binary='nova-compute', topic='compute',
                           report_count=0, disabled=False, forced_down=False)


def service_create_reply():
    svc = _new_service()

    def create():
        # Service.create fills id/uuid/timestamps from the new row; leave
        # report_count dirty so obj_what_changed is not empty.
        svc.id = 9
        svc.uuid = '0a1b2c3d-4e5f-4061-8728-394a5b6c7d8e'
        svc.created_at = ts(2026, 11, 23, 20, 15, 0)
        svc.updated_at = None
        svc.deleted_at = None
        svc.deleted = False
        svc.last_seen_up = None
        svc.obj_reset_changes()
        svc.report_count = 1
    svc.create = create
    return _reply(svc, 'create')


def _canonical(value):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ('nova_object.changes', 'obj_what_changed'):
                out[k] = sorted(v)
            else:
                out[k] = _canonical(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def _primitive(obj):
    return nova_base.NovaObjectSerializer().serialize_entity(None, obj)


GOLDEN = {
    'instance.json': lambda: _primitive(instance()),
    'service.json': lambda: _primitive(service()),
    'compute_node.json': lambda: _primitive(compute_node()),
    'flavor.json': lambda: _primitive(flavor()),
    'image_meta.json': lambda: _primitive(image_meta()),
    'instance_action_event.json': lambda: _primitive(
        instance_action_event()),
    'instance_save_reply.json': instance_save_reply,
    'service_create_reply.json': service_create_reply,
    # The caller's side: what the remotable wrapper makes of those replies.
    'instance_save_applied.json': lambda: _applied(
        instance(), 'save', instance_save_reply()),
    'service_create_applied.json': lambda: _applied(
        _new_service(), 'create', service_create_reply()),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, 'golden')
    os.makedirs(outdir, exist_ok=True)
    for name, build in sorted(GOLDEN.items()):
        # jsonutils.dumps is what oslo.messaging uses on the wire; reload it
        # so the file shows exactly the JSON types a peer receives.
        wire = json.loads(jsonutils.dumps(build()))
        text = json.dumps(_canonical(wire), sort_keys=True, indent=1) + '\n'
        with open(os.path.join(outdir, name), 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
