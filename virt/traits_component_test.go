//go:build component

package virt

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

func TestDriverTraitsOnThisHost(t *testing.T) {
	c := openTestConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	traits, err := c.DriverTraits(ctx, "qemu")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_STORAGE_BUS_SATA",
		"COMPUTE_GRAPHICS_MODEL_CIRRUS", "COMPUTE_NET_VIF_MODEL_VIRTIO", "COMPUTE_NET_VIF_MODEL_LAN9118"} {
		if !slices.Contains(traits, want) {
			t.Errorf("traits lack %s: %v", want, traits)
		}
	}
	// Every trait is a standard one (os-traits, as Debian's python3-os-traits has it): Placement
	// refuses unknown standard traits.
	testenv.RequirePython(t, "os_traits")
	out, err := exec.CommandContext(ctx, testenv.Python, "-c", "import os_traits; print('\\n'.join(os_traits.get_traits()))").Output()
	if err != nil {
		t.Fatal(err)
	}
	known := strings.Fields(string(out))
	for _, tr := range traits {
		if !slices.Contains(known, tr) {
			t.Errorf("%s is not an os-traits trait", tr)
		}
	}
}
