package datasource

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"
)

// WireserverAddr is Azure's wireserver, the fabric's endpoint in every
// virtual network (its fixed address; DHCP's option 245 names the same).
const WireserverAddr = "http://168.63.129.16"

// AzureAssetTag is the chassis asset tag of every Azure VM.
const AzureAssetTag = "7783-7084-3265-9085-8269-3286-77"

// Azure is Microsoft Azure, read as cloud-init reads it:
//   - the provisioning media, a UDF (or ISO 9660) CD whose ovf-env.xml
//     gives the host name, the SSH keys and, base64 in CustomData, the
//     user-data;
//   - the instance metadata service (IMDS): the VM's id, and its name,
//     keys and userData where the media gives none;
//   - the wireserver, told that the VM is ready. Without that report,
//     Azure deems the provisioning failed and stops the VM.
//
// It is a network source: the report needs the network, and so does the
// IMDS. The media is read once, on the first try.
type Azure struct {
	IMDS       string  // MetadataAddr unless testing
	Wireserver string  // WireserverAddr unless testing
	Media      *Volume // the provisioning media; nil: none looked for
	// ReportTries is how many times the ready report is tried, a second
	// apart (0: 3).
	ReportTries int

	media    *Data // what the media gave, once read
	mediaErr error
	read     bool
}

// AzureMedia is the provisioning media: any UDF or ISO 9660 CD that holds
// ovf-env.xml.
func AzureMedia() *Volume {
	return &Volume{SourceName: "azure", Types: []string{"udf", "iso9660"}, Read: readOVF, Sysfs: "/sys", Dev: "/dev", Wait: time.Second}
}

func (a *Azure) Name() string  { return "azure" }
func (a *Azure) Network() bool { return true }

// Timeout is the time the source is given: the report to the wireserver
// is tried again if it fails, as cloud-init does.
func (a *Azure) Timeout() time.Duration { return 20 * time.Second }

func (a *Azure) Fetch(ctx context.Context) (*Data, error) {
	if !a.read && a.Media != nil {
		a.media, a.mediaErr = a.Media.Fetch(ctx)
		a.read = true
	}
	d := &Data{}
	switch {
	case a.media != nil:
		*d = *a.media
	case errors.Is(a.mediaErr, ErrIgnored):
		d.Notes = append(d.Notes, "provisioning media: "+a.mediaErr.Error())
	case a.mediaErr != nil && !Absent(a.mediaErr):
		return nil, fmt.Errorf("provisioning media: %w", a.mediaErr)
	}
	g := newGetter()
	imds, err := a.instance(ctx, g)
	switch {
	case err != nil && a.media == nil:
		return nil, absent("Azure's instance metadata service", err)
	case err != nil:
		d.Notes = append(d.Notes, "IMDS: "+err.Error())
	default:
		imds.fill(d)
	}
	d.Notes = append(d.Notes, a.reportReady(ctx, g))
	return d, nil
}

// imdsInstance is what Berth reads of IMDS's /metadata/instance.
type imdsInstance struct {
	Compute struct {
		VMID      string `json:"vmId"`
		Name      string `json:"name"`
		OSProfile struct {
			ComputerName string `json:"computerName"`
		} `json:"osProfile"`
		PublicKeys []struct {
			KeyData string `json:"keyData"`
		} `json:"publicKeys"`
		UserData string `json:"userData"` // base64
	} `json:"compute"`
}

func (a *Azure) instance(ctx context.Context, g httpGetter) (*imdsInstance, error) {
	u := strings.TrimRight(a.IMDS, "/") + "/metadata/instance?api-version=2021-08-01"
	b, _, err := g.do(ctx, http.MethodGet, u, map[string]string{"Metadata": "true"})
	if err != nil {
		return nil, err
	}
	var in imdsInstance
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if in.Compute.VMID == "" {
		return nil, fmt.Errorf("%s: no compute.vmId", u)
	}
	return &in, nil
}

// fill sets what d, from the media, lacks: the media is the provisioning
// request, and IMDS the VM as it runs.
func (in *imdsInstance) fill(d *Data) {
	c := in.Compute
	d.InstanceID = c.VMID
	if d.Hostname == "" {
		d.Hostname = c.OSProfile.ComputerName
	}
	if d.Hostname == "" {
		d.Hostname = c.Name
	}
	for _, k := range c.PublicKeys {
		if k := strings.TrimSpace(k.KeyData); k != "" && !slices.Contains(d.PublicKeys, k) {
			d.PublicKeys = append(d.PublicKeys, k)
		}
	}
	if d.UserData == nil && c.UserData != "" {
		if ud, err := base64.StdEncoding.DecodeString(c.UserData); err == nil {
			d.UserData = ud
		} else {
			d.Notes = append(d.Notes, "IMDS: compute.userData is not base64; not used")
		}
	}
}

// ovfEnv is what Berth reads of ovf-env.xml. Names are matched without
// their namespaces, as Azure's and cloud-init's files differ in prefixes.
type ovfEnv struct {
	XMLName xml.Name `xml:"Environment"`
	Linux   struct {
		HostName   string `xml:"HostName"`
		UserName   string `xml:"UserName"`
		CustomData string `xml:"CustomData"`
		UserData   string `xml:"UserData"`
		PublicKeys []struct {
			Path  string `xml:"Path"`
			Value string `xml:"Value"`
		} `xml:"SSH>PublicKeys>PublicKey"`
	} `xml:"ProvisioningSection>LinuxProvisioningConfigurationSet"`
}

// readOVF reads the provisioning media's ovf-env.xml.
func readOVF(dir string) (*Data, error) {
	b, err := readFile(filepath.Join(dir, "ovf-env.xml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no ovf-env.xml", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return parseOVF(b)
}

func parseOVF(b []byte) (*Data, error) {
	var env ovfEnv
	if err := xml.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("ovf-env.xml: %w", err)
	}
	l := env.Linux
	d := &Data{Hostname: strings.TrimSpace(l.HostName)}
	for _, k := range l.PublicKeys {
		// A key given only by its certificate's fingerprint is fetched
		// from the wireserver by the Azure agent; Berth takes the keys
		// given in full, as Azure gives every key made in its portal or
		// CLI.
		if v := strings.TrimSpace(k.Value); v != "" && !slices.Contains(d.PublicKeys, v) {
			d.PublicKeys = append(d.PublicKeys, v)
		}
	}
	custom := strings.Join(strings.Fields(l.CustomData), "")
	if custom == "" {
		custom = strings.Join(strings.Fields(l.UserData), "")
	}
	if custom != "" {
		ud, err := base64.StdEncoding.DecodeString(custom)
		if err != nil {
			return nil, fmt.Errorf("ovf-env.xml: LinuxProvisioningConfigurationSet.CustomData: expected base64: %w", err)
		}
		d.UserData = ud
	}
	return d, nil
}

// goalState is what Berth reads of the wireserver's goal state.
type goalState struct {
	Incarnation string `xml:"Incarnation"`
	Container   struct {
		ContainerID string `xml:"ContainerId"`
		Instances   []struct {
			InstanceID string `xml:"InstanceId"`
		} `xml:"RoleInstanceList>RoleInstance"`
	} `xml:"Container"`
}

// wireHeaders are sent with every wireserver request. The wireserver
// answers the protocol version it is asked for; the agent name is the one
// Azure's own agent and cloud-init send.
var wireHeaders = map[string]string{"x-ms-agent-name": "WALinuxAgent", "x-ms-version": "2012-11-30"}

var healthReport = template.Must(template.New("health").Parse(`<?xml version="1.0" encoding="utf-8"?>
<Health xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <GoalStateIncarnation>{{.Incarnation}}</GoalStateIncarnation>
  <Container>
    <ContainerId>{{.ContainerID}}</ContainerId>
    <RoleInstanceList>
      <Role>
        <InstanceId>{{.InstanceID}}</InstanceId>
        <Health>
          <State>Ready</State>
        </Health>
      </Role>
    </RoleInstanceList>
  </Container>
</Health>
`))

// reportReady tells the wireserver that the VM is ready, trying again a
// second apart, and says how that went, for hostctl config status.
func (a *Azure) reportReady(ctx context.Context, g httpGetter) string {
	tries := a.ReportTries
	if tries == 0 {
		tries = 3
	}
	var err error
	for i := 0; i < tries; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return "not reported ready to the wireserver: " + err.Error()
			case <-time.After(time.Second):
			}
		}
		var inc string
		if inc, err = a.report(ctx, g); err == nil {
			return "reported ready to the wireserver (goal state incarnation " + inc + ")"
		}
	}
	return "not reported ready to the wireserver: " + err.Error()
}

func (a *Azure) report(ctx context.Context, g httpGetter) (incarnation string, err error) {
	base := strings.TrimRight(a.Wireserver, "/")
	b, _, err := g.do(ctx, http.MethodGet, base+"/machine/?comp=goalstate", wireHeaders)
	if err != nil {
		return "", fmt.Errorf("goal state: %w", err)
	}
	var gs goalState
	if err := xml.Unmarshal(b, &gs); err != nil {
		return "", fmt.Errorf("goal state: %w", err)
	}
	if gs.Incarnation == "" || gs.Container.ContainerID == "" || len(gs.Container.Instances) == 0 || gs.Container.Instances[0].InstanceID == "" {
		return "", errors.New("goal state: no incarnation, container id or role instance id")
	}
	var body bytes.Buffer
	healthReport.Execute(&body, map[string]string{
		"Incarnation": xmlText(gs.Incarnation),
		"ContainerID": xmlText(gs.Container.ContainerID),
		"InstanceID":  xmlText(gs.Container.Instances[0].InstanceID),
	})
	h := map[string]string{"Content-Type": "text/xml; charset=utf-8"}
	for k, v := range wireHeaders {
		h[k] = v
	}
	if _, _, err := g.send(ctx, http.MethodPost, base+"/machine/?comp=health", h, body.Bytes()); err != nil {
		return "", fmt.Errorf("health report: %w", err)
	}
	return gs.Incarnation, nil
}

// xmlText escapes s for an XML text node.
func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
