package imagecache_test

import (
	"testing"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/imagecache/cachetest"
)

// The Fake other packages test with passes the port's conformance suite.
func TestFakeConformance(t *testing.T) {
	cachetest.Run(t, cachetest.Config{
		New: func(t *testing.T, instancesPath string) imagecache.Cache {
			c, err := imagecache.NewFake(instancesPath)
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		ReadConfigDrive: func(t *testing.T, path string) (string, map[string][]byte) {
			label, files, err := imagecache.ReadFakeConfigDrive(path)
			if err != nil {
				t.Fatal(err)
			}
			return label, files
		},
	})
}
