package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/openstack/keystone"
)

// checkOpenStack proves the service users of [placement] and [neutron] get tokens and that
// Placement, Glance and Neutron answer at the endpoints the agent will use.
func checkOpenStack(cfg *config.Config, bounded func(func(context.Context) row) row) []row {
	var rows []row
	var placement, neutron *gophercloud.ProviderClient
	session := func(section string, ks config.Keystone, out **gophercloud.ProviderClient) row {
		return bounded(func(ctx context.Context) row {
			name := "keystone [" + section + "]"
			pc, err := keystone.NewServiceSession(ctx, section, ks)
			if err != nil {
				return fail(name, err, keystoneFix(err, section, ks))
			}
			*out = pc
			return ok(name, "token for %s in project %s from %s", ks.Username, ks.ProjectName, ks.AuthURL)
		})
	}
	endpoint := func(name string, pc *gophercloud.ProviderClient, ad config.Adapter, serviceType string, override string) row {
		return bounded(func(ctx context.Context) row {
			url := override
			if url == "" {
				if pc == nil {
					return row{Name: name, Detail: "no Keystone session to look the endpoint up", Fix: "fix the keystone row above"}
				}
				var err error
				if url, err = keystone.Endpoint(pc, ad, serviceType); err != nil {
					return fail(name, err, "register the "+serviceType+" endpoint in Keystone (openstack endpoint create ...) or set endpoint_override")
				}
			}
			status, err := keystone.Probe(ctx, pc, url)
			if err != nil {
				return fail(name, err, "start the "+serviceType+" API service or fix its endpoint")
			}
			return ok(name, "%s answered HTTP %d", url, status)
		})
	}
	rows = append(rows, session("placement", cfg.Placement, &placement))
	rows = append(rows, endpoint("placement endpoint", placement, cfg.Placement.Adapter, "placement", ""))
	glanceURL := ""
	if len(cfg.Glance.APIServers) > 0 {
		glanceURL = cfg.Glance.APIServers[0]
	}
	rows = append(rows, endpoint("glance endpoint", placement, cfg.Glance.Adapter, "image", glanceURL))
	rows = append(rows, session("neutron", cfg.Neutron.Keystone, &neutron))
	rows = append(rows, endpoint("neutron endpoint", neutron, cfg.Neutron.Adapter, "network", ""))
	return rows
}

func keystoneFix(err error, section string, ks config.Keystone) string {
	switch {
	case errors.Is(err, keystone.ErrAuth):
		return fmt.Sprintf("check username, password, project_name and the domains in [%s] (openstack user show %s)", section, ks.Username)
	case errors.Is(err, keystone.ErrUnreachable):
		return fmt.Sprintf("start Keystone or fix [%s] auth_url (%s)", section, ks.AuthURL)
	}
	return fmt.Sprintf("set auth_type = password, auth_url, username, password, project_name, "+
		"user_domain_name and project_domain_name in [%s] for a Keystone user with the service role", section)
}
