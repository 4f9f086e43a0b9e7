package agent

import (
	"time"

	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/virt"
)

// domainSpec is the domain definition of an image-backed instance: what nova's _get_guest_xml
// reads of the instance, its flavor and network_info, with the host's defaults. imageID is
// the instance's image (nova:root); the caller sets what is particular to its operation
// (Rescue).
func (c *compute) domainSpec(inst *instance, flavor flavorInfo, imageID string, configDrive bool, vifs []netmodel.VIF) virt.DomainSpec {
	uuid := inst.uuid()
	sysmeta := inst.sysmeta()
	d := c.opts.Domain
	return virt.DomainSpec{
		UUID: uuid, Name: virt.InstanceName(inst.int("id")), DisplayName: inst.str("display_name"),
		Flavor: virt.Flavor{Name: flavor.Name, VCPUs: flavor.VCPUs, MemoryMB: flavor.MemoryMB, RootGB: flavor.RootGB},
		Owner: virt.Owner{UserID: inst.str("user_id"), UserName: sysmeta["owner_user_name"],
			ProjectID: inst.str("project_id"), ProjectName: sysmeta["owner_project_name"]},
		ImageID: imageID, InstanceDir: c.instanceDir(uuid), VNCListen: d.VNCListen, ConfigDrive: configDrive, VIFs: domainVIFs(vifs),
		MachineType: d.MachineType, VirtType: d.VirtType, CPUMode: d.CPUMode, CPUModel: d.CPUModel,
		DiskCacheMode: d.DiskCacheMode, CreationTime: time.Now(), NovaVersion: d.NovaVersion,
	}
}
