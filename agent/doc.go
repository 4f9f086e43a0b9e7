// Package agent is the compute manager, as nova/compute/manager.py is nova-compute's: it
// registers the node (Service, ComputeNode) and heartbeats through nova-conductor, keeps the
// ComputeNode record and Placement in line with the host (the resource tracker), serves the
// compute RPC table, and runs every instance operation: build and spawn, power, terminate,
// start-up recovery, the power-state sync, consoles and the config drive.
//
// It drives its ports through small interfaces of its own (deps.go): the hypervisor and host
// (virt), the image cache (imagecache), taps (netplug), the network API (openstack/neutron),
// the report client (openstack/placement) and a metrics Observer. New takes them all at once.
// A new operation lands here as a file named for it (resize.go, snapshot.go, ...).
package agent
