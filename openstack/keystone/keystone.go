// Package keystone is the service user's Keystone session that novalet's REST clients share,
// as keystoneauth gives nova its sessions: the 'password' plugin from a keystoneauth section
// ([placement], [neutron], ...), the endpoint lookup (endpoint_override, else the catalog by
// service type, region and valid_interfaces), a probe for `novalet check`, and the REST error
// classes the client packages wrap.
package keystone

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/novalet/novalet/config"
)

// Error classes for the REST side; the client packages (placement, neutron, glance) wrap them.
var (
	ErrAuth        = errors.New("keystone authentication failed")
	ErrNoEndpoint  = errors.New("no endpoint in the service catalog")
	ErrUnreachable = errors.New("service unreachable")
	ErrBadConfig   = errors.New("incomplete credentials")
)

// defaultHTTPTimeout bounds every request when the section sets no `timeout`.
const defaultHTTPTimeout = 30 * time.Second

// NewServiceSession authenticates the service user of a keystoneauth section ([placement],
// [neutron]) with the 'password' plugin, as nova does, and returns a client that re-authenticates
// when the token expires.
func NewServiceSession(ctx context.Context, section string, ks config.Keystone) (*gophercloud.ProviderClient, error) {
	if ks.AuthType == "" {
		return nil, fmt.Errorf("%w: [%s] auth_type is not set", ErrBadConfig, section)
	}
	if t := strings.ToLower(ks.AuthType); t != "password" && t != "v3password" {
		return nil, fmt.Errorf("%w: [%s] auth_type %q: novalet supports password and v3password", ErrBadConfig, section, ks.AuthType)
	}
	if ks.AuthURL == "" || (ks.Username == "" && ks.UserID == "") || ks.Password == "" {
		return nil, fmt.Errorf("%w: [%s] needs auth_url, username and password", ErrBadConfig, section)
	}
	opts := gophercloud.AuthOptions{
		IdentityEndpoint: v3URL(ks.AuthURL),
		Username:         ks.Username,
		UserID:           ks.UserID,
		Password:         ks.Password,
		DomainName:       ks.UserDomainName,
		DomainID:         ks.UserDomainID,
		AllowReauth:      true,
	}
	if ks.UserDomainName == "" && ks.UserDomainID == "" {
		opts.DomainID = "default"
	}
	if ks.ProjectName != "" || ks.ProjectID != "" {
		opts.Scope = &gophercloud.AuthScope{ProjectName: ks.ProjectName, ProjectID: ks.ProjectID,
			DomainName: ks.ProjectDomainName, DomainID: ks.ProjectDomainID}
		if ks.ProjectDomainName == "" && ks.ProjectDomainID == "" && ks.ProjectID == "" {
			opts.Scope.DomainID = "default"
		}
	}
	pc, err := openstack.NewClient(opts.IdentityEndpoint)
	if err != nil {
		return nil, fmt.Errorf("%w: [%s] auth_url %q: %w", ErrBadConfig, section, ks.AuthURL, err)
	}
	hc, err := httpClient(ks.Adapter)
	if err != nil {
		return nil, fmt.Errorf("%w: [%s]: %w", ErrBadConfig, section, err)
	}
	pc.HTTPClient = *hc
	if err := openstack.Authenticate(ctx, pc, opts); err != nil {
		return nil, Classify(err, ErrAuth)
	}
	return pc, nil
}

// Endpoint finds a service's URL: endpoint_override, else the catalog entry of the section's
// service type in its region, trying valid_interfaces in order (nova's default: internal, public).
func Endpoint(pc *gophercloud.ProviderClient, ad config.Adapter, serviceType string) (string, error) {
	if ad.EndpointOverride != "" {
		return ad.EndpointOverride, nil
	}
	if ad.ServiceType != "" {
		serviceType = ad.ServiceType
	}
	ifaces := ad.ValidInterfaces
	if len(ifaces) == 0 {
		ifaces = []string{"internal", "public"}
	}
	var errs []error
	for _, iface := range ifaces {
		eo := gophercloud.EndpointOpts{Type: serviceType, Region: ad.RegionName,
			Availability: gophercloud.Availability(strings.TrimSuffix(iface, "URL"))}
		u, err := pc.EndpointLocator(eo)
		if err == nil {
			return u, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("%w: %s (interfaces %s, region %q): %w", ErrNoEndpoint, serviceType,
		strings.Join(ifaces, ","), ad.RegionName, errors.Join(errs...))
}

// Probe sends a GET to a service's root (its version document), with the session's token when
// there is one, and reports the HTTP status; any answer below 500 means the service is there.
func Probe(ctx context.Context, pc *gophercloud.ProviderClient, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrUnreachable, url, err)
	}
	if pc != nil {
		req.Header.Set("X-Auth-Token", pc.Token())
	}
	req.Header.Set("Accept", "application/json")
	hc := &http.Client{Timeout: defaultHTTPTimeout}
	if pc != nil {
		hc = &pc.HTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrUnreachable, url, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return resp.StatusCode, fmt.Errorf("%w: %s answered %s", ErrUnreachable, url, resp.Status)
	}
	return resp.StatusCode, nil
}

func httpClient(ad config.Adapter) (*http.Client, error) {
	timeout := defaultHTTPTimeout
	if ad.Timeout != nil && *ad.Timeout > 0 {
		timeout = time.Duration(*ad.Timeout) * time.Second
	}
	tr, err := Transport(ad)
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: timeout, Transport: tr}, nil
}

// Transport is an HTTP transport with a section's TLS settings (cafile, insecure), for a client
// that bounds its requests itself (a download must not have a whole-request timeout).
func Transport(ad config.Adapter) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if ad.Insecure || ad.CAFile != "" {
		tc := &tls.Config{InsecureSkipVerify: ad.Insecure} //nolint:gosec // the operator's [section] insecure = true
		if ad.CAFile != "" {
			pem, err := os.ReadFile(ad.CAFile)
			if err != nil {
				return nil, fmt.Errorf("cafile: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("cafile %s holds no PEM certificate", ad.CAFile)
			}
		}
		tr.TLSClientConfig = tc
	}
	return tr, nil
}

// v3URL makes auth_url point at Keystone v3, as keystoneauth's discovery would.
func v3URL(u string) string {
	u = strings.TrimRight(u, "/")
	if strings.HasSuffix(u, "/v3") {
		return u + "/"
	}
	return u + "/v3/"
}

// Classify wraps a gophercloud error: an HTTP answer becomes class, anything else (no answer)
// ErrUnreachable.
func Classify(err error, class error) error {
	var unexpected gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &unexpected) {
		return fmt.Errorf("%w: %s answered %d", class, unexpected.URL, unexpected.Actual)
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}
