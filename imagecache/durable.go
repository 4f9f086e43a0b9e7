package imagecache

import (
	"os"
	"path/filepath"
)

// The cache's files appear by rename from a synced temp file, then the directory is synced,
// so after a crash a name is either absent or complete: a half-written base is never taken
// for a cached image.

// syncFile fsyncs an existing file by name.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename or unlink in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Owner is the user files under instances_path belong to: nova-compute's (user nova), so
// that going back to Debian's nova-compute, which runs as nova, finds files it can write.
type Owner struct{ UID, GID int }

// own gives path to o; a nil owner leaves the process's.
func (o *Owner) own(path string) error {
	if o == nil {
		return nil
	}
	return fsErr(os.Lchown(path, o.UID, o.GID), "chown %s", path)
}

// publish makes tmp (already synced) visible as dst with nova's file mode (0644: QEMU runs
// as another user and reads the base through the overlay) and owner.
func publish(tmp, dst string, owner *Owner) error {
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fsErr(err, "chmod %s", tmp)
	}
	if err := owner.own(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fsErr(err, "rename %s to %s", tmp, dst)
	}
	return fsErr(syncDir(filepath.Dir(dst)), "sync %s", filepath.Dir(dst))
}

// tempPath reserves a unique temp name next to final: "<final name><tag><random>". It returns
// the path; the empty file exists until the caller renames or removes it.
func tempPath(dir, prefix string) (string, error) {
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return "", fsErr(err, "creating a temp file in %s", dir)
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		_ = os.Remove(name)
		return "", fsErr(err, "closing %s", name)
	}
	return name, nil
}

// writeInstanceFile produces instanceDir/name through a temp file beside it: produce writes
// the temp path, which is then synced and renamed into place. The temp file never outlives a
// failure.
func writeInstanceFile(instanceDir, name string, owner *Owner, produce func(tmp string) error) (string, error) {
	if err := os.MkdirAll(instanceDir, 0o755); err != nil {
		return "", fsErr(err, "creating %s", instanceDir)
	}
	if err := owner.own(instanceDir); err != nil {
		return "", err
	}
	tmp, err := tempPath(instanceDir, name+".part.")
	if err != nil {
		return "", err
	}
	done := false
	defer func() {
		if !done {
			_ = os.Remove(tmp)
		}
	}()
	if err := produce(tmp); err != nil {
		return "", err
	}
	if err := syncFile(tmp); err != nil {
		return "", fsErr(err, "syncing %s", tmp)
	}
	out := filepath.Join(instanceDir, name)
	if err := publish(tmp, out, owner); err != nil {
		return "", err
	}
	done = true
	return out, nil
}
