module github.com/novalet/novalet

go 1.26.0

require (
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/google/uuid v1.6.0
	github.com/gophercloud/gophercloud/v2 v2.15.0
	github.com/rabbitmq/amqp091-go v1.16.0
	golang.org/x/sys v0.49.0
	libvirt.org/go/libvirt v1.12007.0
	libvirt.org/go/libvirtxml v1.12007.0
)
