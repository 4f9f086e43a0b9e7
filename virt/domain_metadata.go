package virt

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// NovaMetadataNS is the namespace of the <nova:instance> element nova keeps in the domain's
// <metadata>. What novalet must remember across a restart (flavor, owner, ports) lives there,
// and ceilometer's libvirt inspector reads it by the "nova:" prefix, so the prefix matters too.
const NovaMetadataNS = "http://openstack.org/xmlns/libvirt/nova/1.1"

// creationTimeLayout is nova's "%Y-%m-%d %H:%M:%S" (in UTC).
const creationTimeLayout = "2006-01-02 15:04:05"

// InstanceMetadata is the <nova:instance> element as nova 26 writes it. The tags carry the
// literal "nova:" prefix because encoding/xml cannot choose prefixes; ParseInstanceMetadata
// maps any prefix bound to NovaMetadataNS back onto them.
type InstanceMetadata struct {
	XMLName      xml.Name         `xml:"nova:instance"`
	NS           string           `xml:"xmlns:nova,attr"`
	Package      MetadataPackage  `xml:"nova:package"`
	Name         string           `xml:"nova:name"`
	CreationTime string           `xml:"nova:creationTime"` // creationTimeLayout, UTC
	Flavor       MetadataFlavor   `xml:"nova:flavor"`
	Owner        MetadataOwner    `xml:"nova:owner"`
	Root         *MetadataRoot    `xml:"nova:root"`
	Ports        MetadataPortList `xml:"nova:ports"`
}

// MetadataPackage is nova's version string.
type MetadataPackage struct {
	Version string `xml:"version,attr"`
}

// MetadataFlavor is the flavor the instance was built (or last resized) with.
type MetadataFlavor struct {
	Name      string `xml:"name,attr"`
	MemoryMB  int    `xml:"nova:memory"`
	DiskGB    int    `xml:"nova:disk"`
	SwapMB    int    `xml:"nova:swap"`
	Ephemeral int    `xml:"nova:ephemeral"`
	VCPUs     int    `xml:"nova:vcpus"`
}

// MetadataOwner is the instance's user and project.
type MetadataOwner struct {
	User    MetadataNamedID `xml:"nova:user"`
	Project MetadataNamedID `xml:"nova:project"`
}

// MetadataNamedID is an id with its display name as text.
type MetadataNamedID struct {
	UUID string `xml:"uuid,attr"`
	Name string `xml:",chardata"`
}

// MetadataRoot says where the instance booted from: type "image" and the image id.
type MetadataRoot struct {
	Type string `xml:"type,attr"`
	UUID string `xml:"uuid,attr"`
}

// MetadataPortList is the instance's Neutron ports.
type MetadataPortList struct {
	Ports []MetadataPort `xml:"nova:port"`
}

// MetadataPort is one port and its addresses.
type MetadataPort struct {
	UUID string       `xml:"uuid,attr"`
	IPs  []MetadataIP `xml:"nova:ip"`
}

// MetadataIP is one address of a port.
type MetadataIP struct {
	Type      string `xml:"type,attr"`
	Address   string `xml:"address,attr"`
	IPVersion int    `xml:"ipVersion,attr"`
}

// instanceMetadata is what _get_guest_config_meta records for the spec.
func (s *DomainSpec) instanceMetadata() InstanceMetadata {
	m := InstanceMetadata{
		NS:           NovaMetadataNS,
		Package:      MetadataPackage{Version: s.NovaVersion},
		Name:         s.DisplayName,
		CreationTime: s.CreationTime.UTC().Format(creationTimeLayout),
		Flavor: MetadataFlavor{
			Name:      s.Flavor.Name,
			MemoryMB:  s.Flavor.MemoryMB,
			DiskGB:    s.Flavor.RootGB,
			SwapMB:    s.Flavor.SwapMB,
			Ephemeral: s.Flavor.EphemeralGB,
			VCPUs:     s.Flavor.VCPUs,
		},
		Owner: MetadataOwner{
			User:    MetadataNamedID{UUID: s.Owner.UserID, Name: s.Owner.UserName},
			Project: MetadataNamedID{UUID: s.Owner.ProjectID, Name: s.Owner.ProjectName},
		},
	}
	if s.ImageID != "" {
		m.Root = &MetadataRoot{Type: "image", UUID: s.ImageID}
	}
	for _, v := range s.VIFs {
		p := MetadataPort{UUID: v.PortID}
		for _, ip := range v.IPs {
			p.IPs = append(p.IPs, MetadataIP{Type: ip.Type, Address: ip.Address, IPVersion: ip.Version})
		}
		m.Ports.Ports = append(m.Ports.Ports, p)
	}
	return m
}

// configureMetadata writes the <nova:instance> element into <metadata>. libvirtxml keeps
// metadata as raw inner XML, so the element is marshalled here, indented to sit in the domain.
func configureMetadata(s *DomainSpec, d *libvirtxml.Domain) error {
	raw, err := xml.MarshalIndent(s.instanceMetadata(), "    ", "  ")
	if err != nil {
		return fmt.Errorf("virt: marshal nova metadata: %w", err)
	}
	d.Metadata = &libvirtxml.DomainMetadata{XML: "\n" + string(raw) + "\n  "}
	return nil
}

// ParseInstanceMetadata finds the <nova:instance> element in x (a domain's <metadata> content,
// or the element alone as virDomainGetMetadata returns it) whatever prefix binds the nova
// namespace. No such element is ErrNotFound; malformed XML is ErrInvalid.
func ParseInstanceMetadata(x string) (InstanceMetadata, error) {
	return parseInstanceMetadata(x, false)
}

// parseInstanceMetadata is ParseInstanceMetadata; bare says elements without a namespace are
// nova's too, which is how virDomainGetMetadata returns the element it was asked for.
func parseInstanceMetadata(x string, bare bool) (InstanceMetadata, error) {
	var m InstanceMetadata
	dec := xml.NewTokenDecoder(novaPrefixer{d: xml.NewDecoder(strings.NewReader(x)), bare: bare})
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return m, fmt.Errorf("virt: no nova:instance metadata: %w", ErrNotFound)
		}
		if err != nil {
			return m, fmt.Errorf("virt: parse nova metadata: %v: %w", err, ErrInvalid)
		}
		if start, ok := tok.(xml.StartElement); ok && start.Name.Local == "nova:instance" {
			if err := dec.DecodeElement(&m, &start); err != nil {
				return m, fmt.Errorf("virt: parse nova metadata: %v: %w", err, ErrInvalid)
			}
			m.NS = NovaMetadataNS
			return m, nil
		}
	}
}

// novaPrefixer renames elements in the nova namespace to "nova:<local>" and drops namespace
// declarations, so InstanceMetadata's prefixed tags match however the XML spelled the prefix
// (libvirt keeps the writer's, but a default namespace is just as valid).
type novaPrefixer struct {
	d    *xml.Decoder
	bare bool // elements in no namespace are nova's
}

func (p novaPrefixer) Token() (xml.Token, error) {
	tok, err := p.d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case xml.StartElement:
		t = t.Copy()
		t.Name = p.novaName(t.Name)
		attrs := t.Attr[:0]
		for _, a := range t.Attr {
			if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
				continue
			}
			attrs = append(attrs, a)
		}
		t.Attr = attrs
		return t, nil
	case xml.EndElement:
		t.Name = p.novaName(t.Name)
		return t, nil
	}
	return tok, nil
}

func (p novaPrefixer) novaName(n xml.Name) xml.Name {
	if n.Space == NovaMetadataNS || (p.bare && n.Space == "") {
		return xml.Name{Local: "nova:" + n.Local}
	}
	return n
}
