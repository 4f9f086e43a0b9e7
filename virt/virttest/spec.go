package virttest

import (
	"path/filepath"
	"time"

	"github.com/novalet/novalet/virt"
)

// TestSpec is a small instance for the conformance suite: 1 vCPU and 128 MiB (the test guest's
// kernel needs ~96), VNC on loopback, no NICs (a type='ethernet' NIC needs its tap to exist),
// the instance directory instancesDir/<id>.
func TestSpec(name, id, instancesDir string) virt.DomainSpec {
	return virt.DomainSpec{
		UUID:        id,
		Name:        name,
		DisplayName: "conformance " + name,
		Flavor:      virt.Flavor{Name: "test.tiny", VCPUs: 1, MemoryMB: 128, RootGB: 1},
		Owner: virt.Owner{
			UserID: "0b9f3a4c5d6e7f8091a2b3c4d5e6f708", UserName: "tester",
			ProjectID: "1c0e4b5d6e7f8091a2b3c4d5e6f70819", ProjectName: "testing",
		},
		ImageID:      "6e1c1b57-2f7f-4a3a-9c55-3f6d2d1f0a11",
		InstanceDir:  filepath.Join(instancesDir, id),
		VNCListen:    "127.0.0.1",
		CreationTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		NovaVersion:  "26.2.2",
	}
}
