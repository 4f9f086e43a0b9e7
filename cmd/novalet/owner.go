package main

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/internal/remotefs"
)

// novaUser is the user Debian's nova-compute runs as; the files novalet writes under
// instances_path belong to it, so the node can go back to nova-compute.
const novaUser = "nova"

// lookupNova finds the nova user; nil on a host without one.
func lookupNova() (u *user.User, uid, gid int, err error) {
	u, err = user.Lookup(novaUser)
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) {
		return nil, 0, 0, nil
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("user %s: %w", novaUser, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, 0, 0, fmt.Errorf("user %s: %w", novaUser, err)
	}
	return u, uid, gid, nil
}

// fileOwner looks the nova user up; nil (files stay the process's) on a host without one.
func fileOwner() (*imagecache.Owner, error) {
	u, uid, gid, err := lookupNova()
	if u == nil || err != nil {
		return nil, err
	}
	return &imagecache.Owner{UID: uid, GID: gid}, nil
}

// remoteUser is who runs the ssh, scp and rsync of moves between hosts: the nova user, whose
// key the other compute hosts accept (as nova-compute does, which runs as that user); nil runs
// them as novalet itself on a host without one.
func remoteUser() (*remotefs.User, error) {
	u, uid, gid, err := lookupNova()
	if u == nil || err != nil {
		return nil, err
	}
	return &remotefs.User{UID: uid, GID: gid, Home: u.HomeDir}, nil
}
