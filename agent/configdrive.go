package agent

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/novalet/novalet/rpc/ovo"
)

// configDriveVersions are the openstack/<version> directories nova 26.2.2 writes
// (nova/api/metadata/base.py OPENSTACK_VERSIONS), then "latest".
var configDriveVersions = []string{"2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
	"2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14", "latest"}

// needsConfigDrive is nova's configdrive.required_by: the instance has one (config_drive
// "True": the user asked, or an earlier spawn recorded it), the operator forces it for an
// instance never launched yet (force_config_drive spares launched guests, which may rely on
// the metadata service), or the image says mandatory.
func needsConfigDrive(inst *instance, image map[string]any, force bool) bool {
	if hasConfigDrive(inst) {
		return true
	}
	if force && !launched(inst) {
		return true
	}
	if props, ok := image["properties"].(map[string]any); ok && props["img_config_drive"] == "mandatory" {
		return true
	}
	return false
}

// hasConfigDrive reads instance.config_drive, a string field nova treats as a boolean.
func hasConfigDrive(inst *instance) bool {
	v := strings.ToLower(inst.str("config_drive"))
	return v != "" && v != "false" && v != "0" && v != "no"
}

// launched says whether the instance has launched_at, i.e. was spawned before.
func launched(inst *instance) bool {
	v, ok := inst.obj.Get("launched_at")
	return ok && v != nil
}

// injectedFile is one of the build's injected_files: a path in the guest and its contents.
type injectedFile struct {
	Path     string
	Contents []byte
}

// configDriveInput is what the metadata is made of besides the instance.
type configDriveInput struct {
	AdminPass   string
	Files       []injectedFile
	NetworkData []byte // network_data.json; nil means no networks
	DHCPDomain  string
	DefaultAZ   string
}

// configDriveFiles returns the files of the config drive, relative to its root, as nova's
// InstanceMetadata lays them out for the openstack/ tree (the EC2 tree is not written).
func configDriveFiles(inst *instance, in configDriveInput) (map[string][]byte, error) {
	files := map[string][]byte{}
	var fileRefs []map[string]string
	for i, f := range in.Files {
		ref := fmt.Sprintf("/content/%04d", i)
		files["openstack"+ref] = f.Contents
		fileRefs = append(fileRefs, map[string]string{"path": f.Path, "content_path": ref})
	}
	userData, err := decodeUserData(inst.str("user_data"))
	if err != nil {
		return nil, err
	}
	netData := in.NetworkData
	if netData == nil {
		netData = []byte(`{"links": [], "networks": [], "services": []}`)
	}
	for _, v := range configDriveVersions {
		md, err := metaDataJSON(inst, in, fileRefs, v)
		if err != nil {
			return nil, err
		}
		dir := "openstack/" + v + "/"
		files[dir+"meta_data.json"] = md
		files[dir+"vendor_data.json"] = []byte("{}")
		if userData != nil {
			files[dir+"user_data"] = userData
		}
		if atLeast(v, "2015-10-15") {
			files[dir+"network_data.json"] = netData
		}
		if atLeast(v, "2016-10-06") {
			files[dir+"vendor_data2.json"] = []byte("{}")
		}
	}
	return files, nil
}

func atLeast(version, since string) bool { return version == "latest" || version >= since }

// decodeUserData: the API stores user_data base64-encoded; the guest gets the bytes.
func decodeUserData(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("user_data is not base64: %w", err)
	}
	return b, nil
}

// metaDataJSON is openstack/<version>/meta_data.json (nova's _metadata_as_json).
func metaDataJSON(inst *instance, in configDriveInput, fileRefs []map[string]string, version string) ([]byte, error) {
	md := map[string]any{"uuid": inst.uuid()}
	if meta, ok := ovo.Value[map[string]any](inst.obj, "metadata"); ok && len(meta) > 0 {
		md["meta"] = meta
	}
	if len(fileRefs) > 0 {
		md["files"] = fileRefs
	}
	if in.AdminPass != "" {
		md["admin_pass"] = in.AdminPass
	}
	if inst.str("key_name") != "" {
		if name, typ, key, ok := firstKeypair(inst); ok {
			md["public_keys"] = map[string]string{name: key}
			md["keys"] = []map[string]string{{"name": name, "type": typ, "data": key}}
		}
	}
	hostname := inst.str("hostname")
	if in.DHCPDomain != "" {
		hostname += "." + in.DHCPDomain
	}
	md["hostname"] = hostname
	md["name"] = inst.str("display_name")
	md["launch_index"] = inst.int("launch_index")
	az := inst.str("availability_zone")
	if az == "" {
		az = in.DefaultAZ
	}
	md["availability_zone"] = az
	if atLeast(version, "2013-04-04") {
		seed := make([]byte, 512)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		md["random_seed"] = base64.StdEncoding.EncodeToString(seed)
	}
	if atLeast(version, "2015-10-15") {
		md["project_id"] = inst.str("project_id")
	}
	if atLeast(version, "2016-06-30") {
		md["devices"] = []any{}
	}
	if atLeast(version, "2020-10-14") {
		md["dedicated_cpus"] = []any{}
	}
	return json.Marshal(md)
}

// firstKeypair reads instance.keypairs[0] (nova uses the first), falling back to key_name and
// key_data for an instance sent without its keypairs.
func firstKeypair(inst *instance) (name, typ, key string, ok bool) {
	if list, _ := ovo.Value[*ovo.Object](inst.obj, "keypairs"); list != nil {
		if objs, _ := ovo.Value[[]*ovo.Object](list, "objects"); len(objs) > 0 {
			name, _ = ovo.Value[string](objs[0], "name")
			typ, _ = ovo.Value[string](objs[0], "type")
			key, _ = ovo.Value[string](objs[0], "public_key")
			if typ == "" {
				typ = "ssh"
			}
			return name, typ, key, key != ""
		}
	}
	if kd := inst.str("key_data"); kd != "" {
		return inst.str("key_name"), "ssh", kd, true
	}
	return "", "", "", false
}
