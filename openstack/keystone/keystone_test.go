package keystone

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/novalet/novalet/config"
)

// fakeKeystone answers POST /v3/auth/tokens like Keystone v3 with a catalog whose placement
// service has internal and public endpoints; it checks what novalet sends.
func fakeKeystone(t *testing.T, password string) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v3/auth/tokens":
			var body struct {
				Auth struct {
					Identity struct {
						Password struct {
							User struct {
								Name     string `json:"name"`
								Password string `json:"password"`
								Domain   struct {
									Name string `json:"name"`
								} `json:"domain"`
							} `json:"user"`
						} `json:"password"`
					} `json:"identity"`
					Scope struct {
						Project struct {
							Name   string `json:"name"`
							Domain struct {
								Name string `json:"name"`
							} `json:"domain"`
						} `json:"project"`
					} `json:"scope"`
				} `json:"auth"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			u := body.Auth.Identity.Password.User
			p := body.Auth.Scope.Project
			if u.Name != "placement" || u.Password != password || u.Domain.Name != "Default" ||
				p.Name != "project" || p.Domain.Name != "Default" {
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"error": {"code": 401, "message": "The request you have made requires authentication."}}`))
				return
			}
			w.Header().Set("X-Subject-Token", "tok-123")
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"token": map[string]any{
				"expires_at": "2099-01-01T00:00:00.000000Z",
				"catalog": []any{map[string]any{"type": "placement", "name": "placement", "endpoints": []any{
					map[string]any{"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": srv.URL + "/public-placement"},
					map[string]any{"interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "url": srv.URL + "/internal-placement"},
				}}},
			}})
		case strings.HasSuffix(r.URL.Path, "-placement"):
			if r.Header.Get("X-Auth-Token") != "tok-123" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Write([]byte(`{"versions": []}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func placementSection(authURL, password string) config.Keystone {
	return config.Keystone{
		Adapter:  config.Adapter{RegionName: "RegionOne", ValidInterfaces: []string{"internal", "public"}},
		AuthType: "password", AuthURL: authURL, Username: "placement", Password: password,
		ProjectName: "project", ProjectDomainName: "Default", UserDomainName: "Default",
	}
}

func TestServiceSessionAndEndpoint(t *testing.T) {
	ks := fakeKeystone(t, "s3cret")
	ctx := context.Background()
	sec := placementSection(ks.URL, "s3cret")
	pc, err := NewServiceSession(ctx, "placement", sec)
	if err != nil {
		t.Fatal(err)
	}
	url, err := Endpoint(pc, sec.Adapter, "placement")
	if err != nil || url != ks.URL+"/internal-placement/" {
		t.Fatalf("Endpoint = %q, %v; want the internal one first", url, err)
	}
	sec.ValidInterfaces = []string{"public"}
	if url, _ := Endpoint(pc, sec.Adapter, "placement"); url != ks.URL+"/public-placement/" {
		t.Fatalf("Endpoint(public) = %q", url)
	}
	if _, err := Endpoint(pc, sec.Adapter, "network"); !errors.Is(err, ErrNoEndpoint) {
		t.Fatalf("missing service: err = %v", err)
	}
	sec.EndpointOverride = "http://override:8778"
	if url, _ := Endpoint(pc, sec.Adapter, "placement"); url != "http://override:8778" {
		t.Fatalf("override ignored: %q", url)
	}
	if status, err := Probe(ctx, pc, ks.URL+"/internal-placement"); err != nil || status != 200 {
		t.Fatalf("Probe = %d, %v", status, err)
	}
}

func TestServiceSessionErrors(t *testing.T) {
	ks := fakeKeystone(t, "s3cret")
	ctx := context.Background()
	_, err := NewServiceSession(ctx, "placement", placementSection(ks.URL, "wrong-password"))
	if !errors.Is(err, ErrAuth) || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("bad password: err = %v", err)
	}
	_, err = NewServiceSession(ctx, "neutron", config.Keystone{})
	if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "[neutron] auth_type is not set") {
		t.Fatalf("empty section: err = %v", err)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	_, err = NewServiceSession(ctx, "placement", placementSection(dead.URL, "s3cret"))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dead keystone: err = %v", err)
	}
}
