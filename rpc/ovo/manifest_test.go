package ovo

import (
	"errors"
	"maps"
	"testing"
)

func TestZedManifestVersions(t *testing.T) {
	m := Zed()
	if m.NovaVersion != "26.2.2" {
		t.Fatalf("manifest generated from nova %q, want 26.2.2", m.NovaVersion)
	}
	// Versions from PROTOCOL.md §2.2 (obj_tree_get_versions on 26.2.2).
	want := map[string]string{
		"Instance": "2.7", "InstanceList": "2.6", "Service": "1.22", "ServiceList": "1.19",
		"ComputeNode": "1.19", "ComputeNodeList": "1.17", "Flavor": "1.2", "ImageMeta": "1.8",
		"ImageMetaProps": "1.34", "InstanceActionEvent": "1.4", "InstanceAction": "1.2",
		"InstanceFault": "1.2", "InstanceInfoCache": "1.5", "RequestSpec": "1.14",
		"BlockDeviceMapping": "1.21", "BlockDeviceMappingList": "1.18", "Migration": "1.7",
		"MigrationList": "1.5", "ConsoleAuthToken": "1.1", "InstanceExternalEvent": "1.5",
		"NetworkRequest": "1.3", "NetworkRequestList": "1.1", "HVSpec": "1.2",
		"PciDevicePool": "1.1", "PciDevicePoolList": "1.1", "KeyPair": "1.4",
		"KeyPairList": "1.3", "SchedulerRetries": "1.1", "SchedulerLimits": "1.0",
		"Selection": "1.1", "VirtualInterface": "1.3", "SecurityGroupList": "1.1",
		"TagList": "1.1", "EC2Ids": "1.0", "MigrationContext": "1.2",
	}
	for name, v := range want {
		c, ok := m.Class(name)
		if !ok {
			t.Errorf("%s missing from the manifest", name)
			continue
		}
		if c.Version != v {
			t.Errorf("%s version %s, want %s", name, c.Version, v)
		}
	}
	if len(m.Names()) < 100 {
		t.Errorf("only %d classes", len(m.Names()))
	}
}

func TestVersionManifest(t *testing.T) {
	got, err := VersionManifest("InstanceActionEvent")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, map[string]string{"InstanceActionEvent": "1.4"}) {
		t.Errorf("InstanceActionEvent manifest = %v", got)
	}
	got, _ = VersionManifest("ComputeNode")
	want := map[string]string{"ComputeNode": "1.19", "HVSpec": "1.2", "PciDevicePool": "1.1", "PciDevicePoolList": "1.1"}
	if !maps.Equal(got, want) {
		t.Errorf("ComputeNode manifest = %v", got)
	}
	got, _ = VersionManifest("Instance")
	if len(got) != 34 || got["Service"] != "1.22" || got["Flavor"] != "1.2" || got["InstanceList"] != "" {
		t.Errorf("Instance manifest (%d entries) = %v", len(got), got)
	}
	got["Instance"] = "9.9" // callers get a copy
	if again, _ := VersionManifest("Instance"); again["Instance"] != "2.7" {
		t.Error("VersionManifest returned shared state")
	}
	list, _ := VersionManifest("InstanceList")
	if len(list) != 35 || list["InstanceList"] != "2.6" {
		t.Errorf("InstanceList manifest = %v", list)
	}
	if _, err := VersionManifest("NoSuchThing"); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown class: err = %v", err)
	}
}

func TestManifestFieldTables(t *testing.T) {
	inst, _ := Zed().Class("Instance")
	checks := map[string]FieldType{
		"uuid":            {Kind: KindUUID},
		"host":            {Kind: KindString, Nullable: true},
		"launched_at":     {Kind: KindDateTime, Nullable: true},
		"access_ip_v4":    {Kind: KindIPV4Address, Nullable: true},
		"metadata":        {Kind: KindDict},
		"system_metadata": {Kind: KindDict},
		"flavor":          {Kind: KindObject, Object: "Flavor"},
		"info_cache":      {Kind: KindObject, Object: "InstanceInfoCache", Nullable: true},
	}
	for name, want := range checks {
		got := inst.Fields[name]
		if got == nil || got.Kind != want.Kind || got.Nullable != want.Nullable || got.Object != want.Object {
			t.Errorf("Instance.%s = %+v, want %+v", name, got, want)
		}
	}
	if e := inst.Fields["system_metadata"].Elem; e == nil || e.Kind != KindString || !e.Nullable {
		t.Errorf("system_metadata elements = %+v, want nullable strings", e)
	}
	if d := string(inst.Fields["deleted"].Default); d != "false" {
		t.Errorf("deleted default = %s", d)
	}
	cn, _ := Zed().Class("ComputeNode")
	if !cn.Fields["id"].ReadOnly || !cn.Fields["uuid"].ReadOnly {
		t.Error("ComputeNode id/uuid should be read-only")
	}
	hv, _ := Zed().Class("HVSpec")
	if a := hv.Fields["arch"]; a.Kind != KindEnum || a.Enum != "Architecture" || len(a.Values) < 10 {
		t.Errorf("HVSpec.arch = %+v", a)
	}
	list, _ := Zed().Class("InstanceList")
	if !list.IsList || list.Fields["objects"].Elem.Object != "Instance" {
		t.Errorf("InstanceList = %+v", list)
	}
	bus, _ := Zed().Class("PCIDeviceBus")
	if !bus.derivesFrom("DeviceBus") {
		t.Errorf("PCIDeviceBus bases = %v", bus.Bases)
	}
}

func TestParseManifestRejectsBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"not json":       `{`,
		"bad version":    `{"objects": {"A": {"version": "x", "fields": {}}}}`,
		"unknown kind":   `{"objects": {"A": {"version": "1.0", "fields": {"f": {"type": "Bogus"}}}}}`,
		"list no elem":   `{"objects": {"A": {"version": "1.0", "fields": {"f": {"type": "List"}}}}}`,
		"object no name": `{"objects": {"A": {"version": "1.0", "fields": {"f": {"type": "Object"}}}}}`,
		"enum no values": `{"objects": {"A": {"version": "1.0", "fields": {"f": {"type": "Enum"}}}}}`,
		"null field":     `{"objects": {"A": {"version": "1.0", "fields": {"f": null}}}}`,
	} {
		if _, err := ParseManifest([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestValidVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"1.0": true, "2.7": true, "1.22.1": true, "10.100": true,
		"": false, "1": false, "1.": false, ".1": false, "1..2": false, "1.2.3.4": false, "v1.0": false, "1.0 ": false,
	} {
		if validVersion(v) != ok {
			t.Errorf("validVersion(%q) = %v", v, !ok)
		}
	}
}
