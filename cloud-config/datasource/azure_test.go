package datasource

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ovfEnvXML is an ovf-env.xml as Azure writes it on the provisioning
// media (its namespace prefixes, a key given in full and one by its
// fingerprint only, CustomData in base64 over two lines).
func ovfEnvXML(custom string) string {
	b64 := base64.StdEncoding.EncodeToString([]byte(custom))
	return `<?xml version="1.0" encoding="utf-8"?>
<ns0:Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:ns0="http://schemas.dmtf.org/ovf/environment/1" xmlns:ns1="http://schemas.microsoft.com/windowsazure" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <ns1:ProvisioningSection>
    <ns1:Version>1.0</ns1:Version>
    <ns1:LinuxProvisioningConfigurationSet>
      <ns1:ConfigurationSetType>LinuxProvisioningConfiguration</ns1:ConfigurationSetType>
      <ns1:HostName>azvm-berth</ns1:HostName>
      <ns1:UserName>azureuser</ns1:UserName>
      <ns1:DisableSshPasswordAuthentication>true</ns1:DisableSshPasswordAuthentication>
      <ns1:SSH>
        <ns1:PublicKeys>
          <ns1:PublicKey>
            <ns1:Fingerprint>EB0C0AB4B2D5FC35F2F0658D19F44C8283E2DD62</ns1:Fingerprint>
            <ns1:Path>/home/azureuser/.ssh/authorized_keys</ns1:Path>
            <ns1:Value>` + key + `</ns1:Value>
          </ns1:PublicKey>
          <ns1:PublicKey>
            <ns1:Fingerprint>1AF9E5E0C1A47C2E3E3B6BA7A5C06E33E1A38C07</ns1:Fingerprint>
            <ns1:Path>/home/azureuser/.ssh/authorized_keys</ns1:Path>
          </ns1:PublicKey>
        </ns1:PublicKeys>
      </ns1:SSH>
      <ns1:CustomData>` + b64[:len(b64)/2] + "\n        " + b64[len(b64)/2:] + `</ns1:CustomData>
    </ns1:LinuxProvisioningConfigurationSet>
  </ns1:ProvisioningSection>
  <ns1:PlatformSettingsSection>
    <ns1:Version>1.0</ns1:Version>
    <ns1:PlatformSettings>
      <ns1:KmsServerHostname>kms.core.windows.net</ns1:KmsServerHostname>
      <ns1:ProvisionGuestAgent>false</ns1:ProvisionGuestAgent>
      <ns1:GuestAgentPackageName xsi:nil="true" />
      <ns1:PreprovisionedVm>false</ns1:PreprovisionedVm>
    </ns1:PlatformSettings>
  </ns1:PlatformSettingsSection>
</ns0:Environment>
`
}

const imdsKey = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7imds imds-key"

// imdsInstanceJSON is IMDS's /metadata/instance (api-version 2021-08-01),
// cut to what matters and a little around it.
func imdsInstanceJSON(userData string) string {
	return `{"compute": {"azEnvironment": "AzurePublicCloud", "location": "westeurope",
  "name": "azvm-imds", "osProfile": {"adminUsername": "azureuser", "computerName": "azvm-imds", "disablePasswordAuthentication": "true"},
  "osType": "Linux", "provider": "Microsoft.Compute",
  "publicKeys": [{"keyData": "` + imdsKey + `", "path": "/home/azureuser/.ssh/authorized_keys"},
                 {"keyData": "` + key + `", "path": "/home/azureuser/.ssh/authorized_keys"}],
  "userData": "` + base64.StdEncoding.EncodeToString([]byte(userData)) + `",
  "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6", "vmSize": "Standard_B1s"},
 "network": {"interface": [{"ipv4": {"ipAddress": [{"privateIpAddress": "10.0.0.4", "publicIpAddress": ""}], "subnet": [{"address": "10.0.0.0", "prefix": "24"}]}, "macAddress": "000D3A0B7C3E"}]}}`
}

const goalStateXML = `<?xml version="1.0" encoding="utf-8"?>
<GoalState xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="goalstate10.xsd">
  <Version>2012-11-30</Version>
  <Incarnation>1</Incarnation>
  <Machine>
    <ExpectedState>Started</ExpectedState>
    <StopRolesDeadlineHint>300000</StopRolesDeadlineHint>
    <LBProbePorts><Port>16001</Port></LBProbePorts>
    <ExpectHealthReport>FALSE</ExpectHealthReport>
  </Machine>
  <Container>
    <ContainerId>50109d51-ef1a-4d9e-a4ba-0e0bf9d1a3f0</ContainerId>
    <RoleInstanceList>
      <RoleInstance>
        <InstanceId>896d9ff8-0f37-4bd2-a1f7-fd4c0c3f5f63._azvm-berth</InstanceId>
        <State>Started</State>
        <Configuration>
          <HostingEnvironmentConfig>http://168.63.129.16:80/machine/896d9ff8?comp=config&amp;type=hostingEnvironmentConfig&amp;incarnation=1</HostingEnvironmentConfig>
        </Configuration>
      </RoleInstance>
    </RoleInstanceList>
  </Container>
</GoalState>
`

// azureCloud serves IMDS and the wireserver, as Azure does: IMDS only to
// a request with Metadata: true, the wireserver only to one that names
// its protocol version. It records the health reports.
type azureCloud struct {
	imds, wire *httptest.Server
	mu         sync.Mutex
	reports    []string
	failWire   int // the first goal-state requests fail with a 503
}

func newAzureCloud(t *testing.T, userData string) *azureCloud {
	c := &azureCloud{}
	c.imds = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" || r.URL.Query().Get("api-version") == "" {
			http.Error(w, `{"error": "Bad request. Required metadata header not specified"}`, http.StatusBadRequest)
			return
		}
		if r.URL.Path != "/metadata/instance" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, imdsInstanceJSON(userData))
	}))
	c.wire = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-ms-version") != "2012-11-30" {
			http.Error(w, "unsupported version", http.StatusBadRequest)
			return
		}
		switch comp := r.URL.Query().Get("comp"); {
		case r.Method == http.MethodGet && comp == "goalstate":
			c.mu.Lock()
			fail := c.failWire > 0
			c.failWire--
			c.mu.Unlock()
			if fail {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, goalStateXML)
		case r.Method == http.MethodPost && comp == "health":
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/xml") {
				http.Error(w, "bad content type", http.StatusBadRequest)
				return
			}
			b, _ := io.ReadAll(r.Body)
			c.mu.Lock()
			c.reports = append(c.reports, string(b))
			c.mu.Unlock()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { c.imds.Close(); c.wire.Close() })
	return c
}

func (c *azureCloud) source(media *Data) *Azure {
	return &Azure{IMDS: c.imds.URL, Wireserver: c.wire.URL, media: media, read: true}
}

// health is what a report says, as the wireserver reads it.
type health struct {
	Incarnation string `xml:"GoalStateIncarnation"`
	Container   string `xml:"Container>ContainerId"`
	Instance    string `xml:"Container>RoleInstanceList>Role>InstanceId"`
	State       string `xml:"Container>RoleInstanceList>Role>Health>State"`
}

func (c *azureCloud) checkReported(t *testing.T, n int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reports) != n {
		t.Fatalf("%d health reports, want %d", len(c.reports), n)
	}
	for _, r := range c.reports {
		var h health
		if err := xml.Unmarshal([]byte(r), &h); err != nil {
			t.Fatalf("health report is not XML: %v\n%s", err, r)
		}
		want := health{"1", "50109d51-ef1a-4d9e-a4ba-0e0bf9d1a3f0", "896d9ff8-0f37-4bd2-a1f7-fd4c0c3f5f63._azvm-berth", "Ready"}
		if diff := cmp.Diff(want, h); diff != "" {
			t.Errorf("health report (-want +got)\n%s", diff)
		}
	}
}

func TestParseOVF(t *testing.T) {
	d, err := parseOVF([]byte(ovfEnvXML("#cloud-config\nhostname: custom\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := &Data{Hostname: "azvm-berth", PublicKeys: []string{key}, UserData: []byte("#cloud-config\nhostname: custom\n")}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	for _, tc := range []struct{ name, xml, want string }{
		{"not base64", strings.Replace(ovfEnvXML("x"), "<ns1:CustomData>", "<ns1:CustomData>!!", 1), "CustomData: expected base64"},
		{"not XML", "<ns0:Environment><", "ovf-env.xml: XML syntax error"},
		{"another document", "<GoalState/>", "expected element type <Environment>"},
	} {
		if _, err := parseOVF([]byte(tc.xml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestReadOVF(t *testing.T) {
	dir := t.TempDir()
	if _, err := readOVF(dir); !Absent(err) {
		t.Errorf("a CD without ovf-env.xml: %v, want it not present", err)
	}
	os.WriteFile(filepath.Join(dir, "ovf-env.xml"), []byte(ovfEnvXML("#cloud-config\n")), 0o644)
	if d, err := readOVF(dir); err != nil || d.Hostname != "azvm-berth" {
		t.Errorf("readOVF = %+v, %v", d, err)
	}
}

func TestAzure(t *testing.T) {
	c := newAzureCloud(t, "#cloud-config\nhostname: from-imds\n")
	media, err := parseOVF([]byte(ovfEnvXML("#cloud-config\nhostname: from-media\n")))
	if err != nil {
		t.Fatal(err)
	}
	// The media's user-data, host name and keys come first; IMDS gives
	// the VM's id and the keys the media lacks.
	d, err := c.source(media).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := &Data{
		InstanceID: "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
		Hostname:   "azvm-berth",
		PublicKeys: []string{key, imdsKey},
		UserData:   []byte("#cloud-config\nhostname: from-media\n"),
		Notes:      []string{"reported ready to the wireserver (goal state incarnation 1)"},
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("with media (-want +got)\n%s", diff)
	}
	c.checkReported(t, 1)

	// No media (a VM made with IMDS user-data only): IMDS gives it all.
	d, err = c.source(nil).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want = &Data{
		InstanceID: "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
		Hostname:   "azvm-imds",
		PublicKeys: []string{imdsKey, key},
		UserData:   []byte("#cloud-config\nhostname: from-imds\n"),
		Notes:      []string{"reported ready to the wireserver (goal state incarnation 1)"},
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("IMDS only (-want +got)\n%s", diff)
	}
	c.checkReported(t, 2)
}

func TestAzureWireserverRetried(t *testing.T) {
	c := newAzureCloud(t, "")
	c.failWire = 2
	a := c.source(nil)
	a.ReportTries = 3
	d, err := a.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Notes) != 1 || !strings.HasPrefix(d.Notes[0], "reported ready") {
		t.Errorf("notes %q, want reported ready on the third try", d.Notes)
	}
	c.checkReported(t, 1)

	// A wireserver that never answers costs the host its report, not its
	// user-data; the note says why.
	c.failWire = 10
	a = c.source(&Data{UserData: []byte("#cloud-config\n")})
	a.ReportTries = 2
	d, err = a.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(d.UserData) != "#cloud-config\n" || len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "not reported ready to the wireserver: goal state: GET "+c.wire.URL+"/machine/?comp=goalstate: 503") {
		t.Errorf("got user-data %q, notes %q", d.UserData, d.Notes)
	}
	c.checkReported(t, 1)
}

func TestAzureAbsent(t *testing.T) {
	// Nothing answers and there is no media: the source is not there (and
	// is asked again, as a network source, until its time is up).
	a := &Azure{IMDS: "http://127.0.0.1:1", Wireserver: "http://127.0.0.1:1", read: true}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := a.Fetch(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("got %v, want ErrUnavailable", err)
	}
	// Something else answers at the address (another cloud's service):
	// not Azure.
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	a = &Azure{IMDS: other.URL, Wireserver: other.URL, read: true}
	if _, err := a.Fetch(context.Background()); !Absent(err) || errors.Is(err, ErrUnavailable) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
	// Media that is there but broken is an error, not an absence.
	a = &Azure{IMDS: other.URL, Wireserver: other.URL, read: true, mediaErr: os.ErrPermission}
	if _, err := a.Fetch(context.Background()); err == nil || Absent(err) || !strings.HasPrefix(err.Error(), "provisioning media: ") {
		t.Errorf("got %v, want the media's error", err)
	}
}

func TestCloudFromDMIAzure(t *testing.T) {
	dir := t.TempDir()
	for f, v := range map[string]string{"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine", "chassis_asset_tag": AzureAssetTag} {
		os.WriteFile(filepath.Join(dir, f), []byte(v+"\n"), 0o644)
	}
	if got := CloudFromDMI(dir); got != "azure" {
		t.Errorf("Azure's DMI: %q", got)
	}
	// Hyper-V on premises has the same vendor and product, and no tag.
	os.WriteFile(filepath.Join(dir, "chassis_asset_tag"), []byte("None\n"), 0o644)
	if got := CloudFromDMI(dir); got != "" {
		t.Errorf("Hyper-V's DMI: %q", got)
	}
}
