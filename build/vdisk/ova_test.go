package vdisk

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// ovfItem is a VirtualHardwareSection item, its rasd elements in order.
type ovfItem struct {
	Elems []struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	} `xml:",any"`
}

type ovfEnvelope struct {
	Files []struct {
		Href string `xml:"href,attr"`
		Size int64  `xml:"size,attr"`
	} `xml:"References>File"`
	Disks []struct {
		Capacity int64  `xml:"capacity,attr"`
		FileRef  string `xml:"fileRef,attr"`
		Format   string `xml:"format,attr"`
	} `xml:"DiskSection>Disk"`
	Networks []struct {
		Name string `xml:"name,attr"`
	} `xml:"NetworkSection>Network"`
	System struct {
		Name  string    `xml:"Name"`
		OS    string    `xml:"OperatingSystemSection>Description"`
		Type  string    `xml:"VirtualHardwareSection>System>VirtualSystemType"`
		Items []ovfItem `xml:"VirtualHardwareSection>Item"`
	} `xml:"VirtualSystem"`
}

// rasd returns an item's element's value.
func (it ovfItem) rasd(name string) string {
	for _, e := range it.Elems {
		if e.XMLName.Local == name {
			return e.Value
		}
	}
	return ""
}

func TestOVA(t *testing.T) {
	vmdk := filepath.Join(t.TempDir(), "d.vmdk")
	disk := bytes.Repeat([]byte("KDMV disk "), 1000)
	if err := os.WriteFile(vmdk, disk, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, hw := range []Hypervisor{VMware, VirtualBox} {
		t.Run(hw.Name, func(t *testing.T) {
			o := OVA{Name: "berth", Hardware: hw, CPUs: 2, MemoryMiB: 1024, VMDK: vmdk, Capacity: 2 << 30, Time: testID.Time}
			var out bytes.Buffer
			if err := o.Write(&out); err != nil {
				t.Fatal(err)
			}
			// The descriptor first, then the manifest, then the disk.
			members := map[string][]byte{}
			var order []string
			tr := tar.NewReader(bytes.NewReader(out.Bytes()))
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if h.Format != tar.FormatUSTAR || !h.ModTime.Equal(testID.Time) || h.Uid != 0 {
					t.Errorf("%s: format %v, time %v, uid %d; want ustar at the epoch, uid 0", h.Name, h.Format, h.ModTime, h.Uid)
				}
				b, _ := io.ReadAll(tr)
				members[h.Name] = b
				order = append(order, h.Name)
			}
			want := []string{"berth-" + hw.Name + ".ovf", "berth-" + hw.Name + ".mf", "berth-disk1.vmdk"}
			if strings.Join(order, " ") != strings.Join(want, " ") {
				t.Fatalf("members %v, want %v", order, want)
			}
			if !bytes.Equal(members[want[2]], disk) {
				t.Error("the OVA's disk is not the VMDK")
			}
			// The manifest's sums are the members'.
			var mf strings.Builder
			for _, n := range []string{want[0], want[2]} {
				s := sha256.Sum256(members[n])
				fmt.Fprintf(&mf, "SHA256(%s)= %s\n", n, hex.EncodeToString(s[:]))
			}
			if got := string(members[want[1]]); got != mf.String() {
				t.Errorf("manifest:\n%s\nwant:\n%s", got, mf.String())
			}

			var env ovfEnvelope
			if err := xml.Unmarshal(members[want[0]], &env); err != nil {
				t.Fatalf("the descriptor is not well-formed XML: %v", err)
			}
			if len(env.Files) != 1 || env.Files[0].Href != want[2] || env.Files[0].Size != int64(len(disk)) {
				t.Errorf("References %+v, want %s of %d bytes", env.Files, want[2], len(disk))
			}
			if len(env.Disks) != 1 || env.Disks[0].Capacity != 2<<30 || env.Disks[0].FileRef != "file1" || !strings.HasSuffix(env.Disks[0].Format, "#streamOptimized") {
				t.Errorf("DiskSection %+v", env.Disks)
			}
			if len(env.Networks) != 1 || env.Networks[0].Name != hw.Network || env.System.Name != "berth" || env.System.Type != hw.SystemType {
				t.Errorf("network %+v, system %q of type %q", env.Networks, env.System.Name, env.System.Type)
			}
			byType := map[string]ovfItem{}
			for _, it := range env.System.Items {
				byType[it.rasd("ResourceType")] = it
				var names []string
				for _, e := range it.Elems {
					names = append(names, e.XMLName.Local)
				}
				if !sort.StringsAreSorted(names) {
					t.Errorf("item %s: rasd elements %v not in alphabetical order", it.rasd("InstanceID"), names)
				}
			}
			ctl := byType[fmt.Sprint(hw.ControllerType)]
			if ctl.rasd("ResourceSubType") != hw.ControllerSubtype {
				t.Errorf("no %s controller (resource type %d)", hw.ControllerSubtype, hw.ControllerType)
			}
			if d := byType["17"]; d.rasd("Parent") != ctl.rasd("InstanceID") || d.rasd("HostResource") != "ovf:/disk/vmdisk1" {
				t.Errorf("the disk item hangs from %q (want the controller, %q) and holds %q", d.rasd("Parent"), ctl.rasd("InstanceID"), d.rasd("HostResource"))
			}
			if n := byType["10"]; n.rasd("ResourceSubType") != hw.NIC || n.rasd("Connection") != hw.Network {
				t.Errorf("NIC %q on %q, want %s on %s", n.rasd("ResourceSubType"), n.rasd("Connection"), hw.NIC, hw.Network)
			}
			if byType["3"].rasd("VirtualQuantity") != "2" || byType["4"].rasd("VirtualQuantity") != "1024" {
				t.Error("CPUs or memory are not the OVA's")
			}
			var again bytes.Buffer
			o.Write(&again)
			if !bytes.Equal(out.Bytes(), again.Bytes()) {
				t.Error("two writes differ")
			}
		})
	}
}
