//go:build e2e

package e2e

import (
	"path/filepath"
	"testing"
	"time"
)

// TestStableRescue: a rescue image with hw_rescue_device=disk and hw_rescue_bus=virtio gives
// nova's stable device rescue (issue 15): the server keeps its disk and config drive where
// they were, disk.rescue is appended as vdb with boot order 1 and the guest boots; unrescue
// puts the server's own definition back.
func TestStableRescue(t *testing.T) {
	requireControlPlane(t)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	rescueImage := uploadImage(t, "e2e-stable-rescue", guestImage(t), "qcow2")
	if _, err := run(t, time.Minute, "openstack", "image", "set", "--property", "hw_rescue_device=disk",
		"--property", "hw_rescue_bus=virtio", rescueImage); err != nil {
		t.Fatal(err)
	}

	var created struct {
		ID string `json:"id"`
	}
	openstack(t, &created, computeAPI, "server", "create", "--flavor", "test_flavor", "--image", "guest", "--nic", "none",
		"--config-drive", "True", "e2e-stable-rescue")
	id := created.ID
	trackServer(t, id)
	settle(t, id, "ACTIVE", "active", 1)
	loginPrompt(t, id, 3*time.Minute)
	dir := filepath.Join(instancesPath, id)

	start := time.Now()
	serverAction(t, "rescue", "--image", rescueImage, id)
	settle(t, id, "RESCUE", "rescued", 1)
	t.Logf("stable rescue: %v to RESCUE", time.Since(start).Round(time.Millisecond))
	// nova defines disk.rescue after the config drive; libvirt keeps disks sorted by bus and
	// target, so it reads back after vda.
	if got := domainDisks(t, id); got != "vda:disk vdb:disk.rescue hda:disk.config" {
		t.Errorf("disks while stably rescued: %s", got)
	}
	d := inactiveDomain(t, id)
	for _, disk := range d.Devices.Disks {
		rescue := filepath.Base(disk.Source.File.File) == "disk.rescue"
		if got := disk.Boot != nil && disk.Boot.Order == 1; got != rescue {
			t.Errorf("disk %s boot %+v; want boot order 1 on the rescue disk only", disk.Target.Dev, disk.Boot)
		}
	}
	if len(d.OS.BootDevices) != 0 {
		t.Errorf("<os> boot devices %+v beside per-device boot order", d.OS.BootDevices)
	}
	rescuedBoots(t, id, dir, "unrescue.xml", "disk.rescue")

	unrescueRestores(t, id, dir, func() {
		if d := inactiveDomain(t, id); len(d.OS.BootDevices) != 1 || d.OS.BootDevices[0].Dev != "hd" {
			t.Errorf("<os> boot after unrescue %+v, want the server's own hd", d.OS.BootDevices)
		}
	})
	deleteServer(t, id)
	_ = n
}
