package ovo

import (
	"testing"
	"time"
)

// Builders of the six golden objects from scratch in Go, with the values
// testdata/gen_golden.py gives the Python ones. The unit tests check that
// they encode to the golden primitives; the component test feeds them to
// nova's obj_from_primitive.

const (
	goldenInstanceUUID = "9d0b1c2a-0000-4000-8000-000000000001"
	goldenProject      = "6f2b1f0c7e4d4c4f9a8b3c2d1e0f0a1b"
	goldenUser         = "2c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f"
	goldenHost         = "compute-1"
	goldenNode         = "compute-1.example.org"
	goldenImage        = "c1a2b3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
	goldenNetworkInfo  = `[{"id": "0c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff", "address": "fa:16:3e:12:34:56", "network": {"id": "5b3a7f8e-1111-2222-3333-444455556666", "bridge": "brq5b3a7f8e-11", "label": "provider", "subnets": [{"cidr": "192.0.2.0/24", "dns": [{"address": "192.0.2.1", "type": "dns", "version": 4, "meta": {}}], "gateway": {"address": "192.0.2.1", "type": "gateway", "version": 4, "meta": {}}, "ips": [{"address": "192.0.2.10", "type": "fixed", "version": 4, "meta": {}, "floating_ips": []}], "routes": [], "version": 4, "meta": {"dhcp_server": "192.0.2.2"}}], "meta": {"injected": false, "tenant_id": "6f2b1f0c7e4d4c4f9a8b3c2d1e0f0a1b", "mtu": 1500, "physical_network": "provider", "tunneled": false, "should_create_bridge": true}}, "type": "bridge", "details": {"port_filter": true, "connectivity": "l2"}, "devname": "tap0c1d2e3f-aa", "ovs_interfaceid": null, "qbh_params": null, "qbg_params": null, "active": false, "vnic_type": "normal", "profile": {}, "preserve_on_delete": false, "delegate_create": false, "meta": {}}]`
)

func ts(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

// fields is an ordered list of field assignments.
type fields []struct {
	name  string
	value any
}

func f(name string, value any) struct {
	name  string
	value any
} {
	return struct {
		name  string
		value any
	}{name, value}
}

func build(t testing.TB, class string, fs fields) *Object {
	t.Helper()
	o, err := New(class)
	if err != nil {
		t.Fatalf("New(%s): %v", class, err)
	}
	set(t, o, fs)
	return o
}

func set(t testing.TB, o *Object, fs fields) {
	t.Helper()
	for _, x := range fs {
		if err := o.Set(x.name, x.value); err != nil {
			t.Fatalf("%s.Set(%s, %v): %v", o.Name(), x.name, x.value, err)
		}
	}
}

func buildFlavor(t testing.TB) *Object {
	o := build(t, "Flavor", fields{
		f("id", 1), f("name", "m1.tiny"), f("memory_mb", 512), f("vcpus", 1),
		f("root_gb", 1), f("ephemeral_gb", 0), f("flavorid", "1"), f("swap", 0),
		f("rxtx_factor", 1.0), f("vcpu_weight", nil), f("disabled", false),
		f("is_public", true),
		f("extra_specs", map[string]string{"hw:cpu_policy": "shared", "quota:disk_read_bytes_sec": "10240000"}),
		f("projects", []string{}), f("description", nil),
		f("created_at", ts(2026, 11, 1, 9, 0, 0)), f("updated_at", nil),
		f("deleted_at", nil), f("deleted", false),
	})
	o.ObjResetChangesRecursive()
	return o
}

func buildInstance(t testing.TB) *Object {
	inst := build(t, "Instance", fields{
		f("id", 42), f("uuid", goldenInstanceUUID), f("user_id", goldenUser),
		f("project_id", goldenProject), f("image_ref", goldenImage), f("kernel_id", ""),
		f("ramdisk_id", ""), f("hostname", "vm-one"), f("launch_index", 0),
		f("key_name", "mykey"),
		f("key_data", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host"),
		f("power_state", 0), f("vm_state", "building"), f("task_state", "scheduling"),
		f("memory_mb", 512), f("vcpus", 1), f("root_gb", 1), f("ephemeral_gb", 0),
		f("ephemeral_key_uuid", nil), f("host", nil), f("node", nil),
		f("instance_type_id", 1), f("user_data", "I2Nsb3VkLWNvbmZpZwo="),
		f("reservation_id", "r-abc123de"), f("launched_at", nil), f("terminated_at", nil),
		f("availability_zone", "nova"), f("display_name", "vm one"),
		f("display_description", "vm one"), f("launched_on", nil), f("locked", false),
		f("locked_by", nil), f("os_type", nil), f("architecture", nil), f("vm_mode", nil),
		f("root_device_name", "/dev/vda"), f("default_ephemeral_device", nil),
		f("default_swap_device", nil), f("config_drive", ""), f("access_ip_v4", nil),
		f("access_ip_v6", nil), f("auto_disk_config", false), f("progress", 0),
		f("shutdown_terminate", false), f("disable_terminate", false), f("cell_name", nil),
		f("metadata", map[string]string{"role": "web"}),
		f("system_metadata", map[string]any{
			"image_disk_format": "qcow2", "image_min_disk": "1",
			"image_base_image_ref": goldenImage, "owner_user_name": "demo",
			"image_kernel_id": nil,
		}),
		f("cleaned", false), f("hidden", false),
		f("created_at", ts(2026, 11, 23, 20, 15, 13)), f("updated_at", nil),
		f("deleted_at", nil), f("deleted", false),
	})
	infoCache := build(t, "InstanceInfoCache", fields{
		f("instance_uuid", goldenInstanceUUID), f("network_info", goldenNetworkInfo),
		f("created_at", ts(2026, 11, 23, 20, 15, 14)), f("updated_at", nil),
		f("deleted_at", nil), f("deleted", false),
	})
	sg := build(t, "SecurityGroup", fields{
		f("id", 3), f("uuid", "11111111-2222-4333-8444-555555555555"), f("name", "default"),
		f("description", "Default security group"), f("user_id", goldenUser),
		f("project_id", goldenProject),
	})
	sgs := build(t, "SecurityGroupList", fields{f("objects", []*Object{sg})})
	tag := build(t, "Tag", fields{f("resource_id", goldenInstanceUUID), f("tag", "blue")})
	tags := build(t, "TagList", fields{f("objects", []*Object{tag})})
	set(t, inst, fields{
		f("flavor", buildFlavor(t)), f("old_flavor", nil), f("new_flavor", nil),
		f("info_cache", infoCache), f("security_groups", sgs), f("tags", tags),
		f("fault", nil), f("pci_requests", nil), f("numa_topology", nil),
	})
	inst.ObjResetChangesRecursive()
	set(t, inst, fields{
		f("host", goldenHost), f("node", goldenNode), f("launched_on", goldenHost),
		f("task_state", nil), f("access_ip_v4", "192.0.2.10"),
		f("launched_at", ts(2026, 11, 23, 20, 16, 1)),
	})
	flavor, _ := Value[*Object](inst, "flavor")
	set(t, flavor, fields{f("vcpu_weight", 10)})
	return inst
}

func buildService(t testing.TB) *Object {
	svc := build(t, "Service", fields{
		f("id", 5), f("uuid", "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"), f("host", goldenHost),
		f("binary", "nova-compute"), f("topic", "compute"), f("report_count", 17),
		f("disabled", false), f("disabled_reason", nil), f("availability_zone", nil),
		f("last_seen_up", ts(2026, 11, 23, 20, 15, 3)), f("forced_down", false),
		f("created_at", ts(2026, 11, 20, 8, 0, 0)), f("updated_at", ts(2026, 11, 23, 20, 15, 3)),
		f("deleted_at", nil), f("deleted", false), f("version", 64),
	})
	svc.ObjResetChanges()
	set(t, svc, fields{f("report_count", 18)})
	return svc
}

func buildComputeNode(t testing.TB) *Object {
	spec := func(arch string) *Object {
		return build(t, "HVSpec", fields{f("arch", arch), f("hv_type", "qemu"), f("vm_mode", "hvm")})
	}
	cn := build(t, "ComputeNode", fields{
		f("id", 1), f("uuid", "7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a098"), f("service_id", nil),
		f("host", goldenHost), f("vcpus", 4), f("memory_mb", 7953), f("local_gb", 39),
		f("vcpus_used", 1), f("memory_mb_used", 1024), f("local_gb_used", 1),
		f("hypervisor_type", "QEMU"), f("hypervisor_version", 7002000),
		f("hypervisor_hostname", goldenNode), f("free_ram_mb", 6929), f("free_disk_gb", 38),
		f("current_workload", 0), f("running_vms", 1),
		f("cpu_info", `{"arch": "x86_64", "model": "qemu64", "vendor": "AMD", "topology": {"cells": 1, "sockets": 4, "cores": 1, "threads": 1}, "features": ["fpu", "sse2"]}`),
		f("disk_available_least", 35), f("metrics", "[]"),
		f("stats", map[string]string{
			"num_instances": "1", "num_vm_active": "1", "num_proj_" + goldenProject: "1",
			"io_workload": "0", "failed_builds": "0",
		}),
		f("host_ip", "192.0.2.5"), f("numa_topology", nil),
		f("supported_hv_specs", []*Object{spec("x86_64"), spec("i686")}),
		f("pci_device_pools", build(t, "PciDevicePoolList", nil)),
		f("cpu_allocation_ratio", 16.0), f("ram_allocation_ratio", 1.5),
		f("disk_allocation_ratio", 1.0), f("mapped", 1),
		f("created_at", ts(2026, 11, 20, 8, 0, 5)), f("updated_at", nil),
		f("deleted_at", nil), f("deleted", false),
	})
	cn.ObjResetChangesRecursive()
	set(t, cn, fields{
		f("vcpus_used", 2), f("memory_mb_used", 1536), f("updated_at", ts(2026, 11, 23, 20, 16, 0)),
	})
	return cn
}

func buildImageMeta(t testing.TB) *Object {
	props := build(t, "ImageMetaProps", fields{
		f("hw_disk_bus", "virtio"), f("hw_machine_type", "pc"),
		f("hw_numa_cpus", [][]int{{0, 1}, {2, 3}}), f("hw_numa_nodes", 2),
		f("hw_qemu_guest_agent", true), f("hw_rng_model", "virtio"), f("hw_video_ram", 16),
		f("hw_vif_model", "virtio"), f("os_distro", "cirros"),
	})
	return build(t, "ImageMeta", fields{
		f("id", goldenImage), f("name", "cirros-0.6.2"),
		f("checksum", "c8fc807773e5354afe61636071771906"), f("container_format", "bare"),
		f("disk_format", "qcow2"), f("created_at", ts(2026, 10, 1, 12, 0, 0)),
		f("updated_at", ts(2026, 10, 1, 12, 0, 30)), f("min_disk", 0), f("min_ram", 0),
		f("owner", goldenProject), f("protected", false), f("size", 21430272),
		f("status", "active"), f("tags", []string{}), f("visibility", "public"),
		f("properties", props),
	})
}

func buildInstanceActionEvent(t testing.TB) *Object {
	ev := build(t, "InstanceActionEvent", fields{
		f("id", 301), f("event", "compute__do_build_and_run_instance"), f("action_id", 77),
		f("start_time", ts(2026, 11, 23, 20, 15, 20)), f("finish_time", nil), f("result", nil),
		f("traceback", nil), f("host", goldenHost), f("details", nil),
		f("created_at", ts(2026, 11, 23, 20, 15, 20)), f("updated_at", nil),
		f("deleted_at", nil), f("deleted", false),
	})
	ev.ObjResetChanges()
	set(t, ev, fields{f("finish_time", ts(2026, 11, 23, 20, 16, 2)), f("result", "Success")})
	return ev
}

// goldenBuilders maps each golden file to the Go builder of the same object.
var goldenBuilders = map[string]func(testing.TB) *Object{
	"instance.json":              buildInstance,
	"service.json":               buildService,
	"compute_node.json":          buildComputeNode,
	"flavor.json":                buildFlavor,
	"image_meta.json":            buildImageMeta,
	"instance_action_event.json": buildInstanceActionEvent,
}
