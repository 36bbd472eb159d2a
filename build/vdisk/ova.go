package vdisk

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"text/template"
	"time"
)

// Hypervisor is the virtual hardware an OVA describes. VMware's and
// VirtualBox's devices differ (VirtualBox has neither pvscsi nor
// vmxnet3), and VirtualBox ignores OVF deployment options, so each gets an
// OVA of its own.
type Hypervisor struct {
	Name string // the OVA's name suffix: vmware, virtualbox
	// SystemType is the OVF's VirtualSystemType.
	SystemType string
	// The disk controller: its CIM resource type (6 SCSI, 20 SATA) and
	// subtype.
	ControllerType    int
	ControllerSubtype string
	ControllerName    string
	NIC               string // the NIC's ResourceSubType
	Network           string // the logical network it connects to
}

// The two OVAs' hardware: what the QEMU suite boots for each.
var (
	VMware = Hypervisor{Name: "vmware", SystemType: "vmx-13", ControllerType: 6, ControllerSubtype: "VirtualSCSI",
		ControllerName: "SCSI Controller 0", NIC: "VmxNet3", Network: "VM Network"}
	VirtualBox = Hypervisor{Name: "virtualbox", SystemType: "virtualbox-2.2", ControllerType: 20, ControllerSubtype: "AHCI",
		ControllerName: "SATA Controller 0", NIC: "E1000", Network: "NAT"}
)

// OVA is one OVA to write.
type OVA struct {
	Name      string // the VM's name (the image's)
	Hardware  Hypervisor
	CPUs      int
	MemoryMiB int
	// VMDK is the streamOptimized disk; Capacity its virtual size in bytes.
	VMDK     string
	Capacity int64
	// Time stamps the tar entries (SOURCE_DATE_EPOCH).
	Time time.Time
}

// Files are the OVA's members' names, in the order the OVF specification
// wants them: the descriptor first, then the manifest, then the disk.
func (o OVA) Files() (ovf, mf, disk string) {
	base := o.Name + "-" + o.Hardware.Name
	return base + ".ovf", base + ".mf", o.Name + "-disk1.vmdk"
}

// Write writes the OVA (a ustar archive) to w.
func (o OVA) Write(w io.Writer) error {
	f, err := os.Open(o.VMDK)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("ova: read %s: %w", o.VMDK, err)
	}
	ovfName, mfName, diskName := o.Files()
	desc, err := o.Descriptor(diskName, st.Size())
	if err != nil {
		return err
	}
	sum := sha256.Sum256(desc)
	mf := fmt.Sprintf("SHA256(%s)= %s\nSHA256(%s)= %s\n", ovfName, hex.EncodeToString(sum[:]), diskName, hex.EncodeToString(h.Sum(nil)))

	tw := tar.NewWriter(w)
	add := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: 0o644, ModTime: o.Time, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := add(ovfName, int64(len(desc)), bytes.NewReader(desc)); err != nil {
		return err
	}
	if err := add(mfName, int64(len(mf)), strings.NewReader(mf)); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := add(diskName, st.Size(), f); err != nil {
		return err
	}
	return tw.Close()
}

// Descriptor is the OVF 1.0 envelope: the disk file, the disk, one
// network, and a virtual system with its CPUs, memory, disk controller,
// disk and NIC. Within each Item the rasd elements are in alphabetical
// order, as the CIM schema's sequence (and vCenter) want.
func (o OVA) Descriptor(diskFile string, diskSize int64) ([]byte, error) {
	var b bytes.Buffer
	err := ovfTemplate.Execute(&b, map[string]any{"O": o, "H": o.Hardware, "DiskFile": diskFile, "DiskSize": diskSize})
	return b.Bytes(), err
}

// Every string goes through x, XML escaping.
var ovfTemplate = template.Must(template.New("ovf").Funcs(template.FuncMap{"x": template.HTMLEscapeString}).Parse(`<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="berth" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="{{x .DiskFile}}" ovf:id="file1" ovf:size="{{.DiskSize}}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{{.O.Capacity}}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="{{x .H.Network}}">
      <Description>The {{x .H.Network}} network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{{x .O.Name}}">
    <Info>A Berth container host</Info>
    <Name>{{x .O.Name}}</Name>
    <OperatingSystemSection ovf:id="101" vmw:osType="other5xLinux64Guest">
      <Info>The kind of installed guest operating system</Info>
      <Description>Linux 64-bit</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{{x .O.Name}}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>{{x .H.SystemType}}</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>{{.O.CPUs}} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.O.CPUs}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>{{.O.MemoryMiB}}MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.O.MemoryMiB}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>Disk controller</rasd:Description>
        <rasd:ElementName>{{x .H.ControllerName}}</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>{{x .H.ControllerSubtype}}</rasd:ResourceSubType>
        <rasd:ResourceType>{{.H.ControllerType}}</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>1</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>{{x .H.Network}}</rasd:Connection>
        <rasd:Description>{{x .H.NIC}} ethernet adapter on "{{x .H.Network}}"</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>{{x .H.NIC}}</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`))
