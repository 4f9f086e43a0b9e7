package netmodel

// RequestedNetwork is one NetworkRequest of a build: a network (with an optional fixed IP)
// or a pre-created port. A single request whose NetworkID is "none" allocates nothing; no
// request, a single empty one or "auto" takes the project's only available network.
type RequestedNetwork struct {
	NetworkID string
	PortID    string
	Address   string
}

// InstanceRef is what port allocation needs to know about the instance.
type InstanceRef struct {
	UUID      string
	ProjectID string
	// AvailabilityZone makes device_owner "compute:<az>" (nova writes "compute:None" when the
	// instance has none).
	AvailabilityZone string
	// Hostname is the port's dns_name when Neutron has the dns-integration extension.
	Hostname string
	// Host is binding:host_id: [DEFAULT] host, which must equal the L2 agent's host.
	Host string
	// SecurityGroups are the names or ids requested at boot; just "default" means none, as
	// Neutron applies it anyway.
	SecurityGroups []string
}
