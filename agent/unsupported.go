package agent

import (
	"context"
	"log/slog"

	"github.com/novalet/novalet/rpc"
)

// The compute RPC 6.x methods novalet does not implement yet. Each answers the way nova-api and
// the operator can act on, never with silence: a call gets NotImplementedError (nova-api turns
// it into 501 where the API expects it, a clear error elsewhere); a cast on an instance records
// a failed action event and a fault saying so and clears the task state the API set, so the
// server does not stay stuck in it.

// unsupportedCasts are casts that carry an instance.
var unsupportedCasts = []string{
	"soft_delete_instance", "restore_instance", "detach_interface", "attach_volume",
	"detach_volume", "swap_volume",
	"volume_snapshot_create", "volume_snapshot_delete", "live_migration",
	"rollback_live_migration_at_destination", "live_migration_force_complete", "live_migration_abort",
	"inject_network_info", "trigger_crash_dump", "unquiesce_instance",
	"add_fixed_ip_to_instance", "remove_fixed_ip_from_instance",
}

// unsupportedCalls are calls; the caller waits for the answer.
var unsupportedCalls = []string{
	"get_spice_console", "get_rdp_console", "get_mks_console", "get_serial_console", "get_diagnostics",
	"get_instance_diagnostics", "attach_interface", "reserve_block_device_name", "remove_volume_connection",
	"check_can_live_migrate_destination", "check_can_live_migrate_source", "pre_live_migration",
	"post_live_migration_at_destination", "drop_move_claim_at_destination", "check_instance_shared_storage",
	"set_admin_password", "quiesce_instance", "host_power_action", "host_maintenance_mode", "cache_images",
	"prep_snapshot_based_resize_at_dest", "prep_snapshot_based_resize_at_source",
	"finish_snapshot_based_resize_at_dest", "confirm_snapshot_based_resize_at_source",
	"revert_snapshot_based_resize_at_dest", "finish_revert_snapshot_based_resize_at_source",
}

// notImplemented is Python's builtins.NotImplementedError, which nova's RPC API lists as an
// expected exception.
func notImplemented(method string) *rpc.RemoteError {
	msg := "novalet does not implement " + method + " yet"
	return &rpc.RemoteError{Class: "NotImplementedError", Module: "builtins", Message: msg, Args: []any{msg}, Kwargs: map[string]any{}}
}

// unsupportedMethods returns the handlers for every method above.
func (a *Agent) unsupportedMethods() map[string]rpc.HandlerFunc {
	m := map[string]rpc.HandlerFunc{}
	for _, name := range unsupportedCalls {
		m[name] = func(context.Context, *rpc.Request) (any, error) { return nil, notImplemented(name) }
	}
	for _, name := range unsupportedCasts {
		m[name] = func(ctx context.Context, req *rpc.Request) (any, error) {
			if _, ok := req.Args["instance"]; !ok || req.IsCall() {
				return nil, notImplemented(name)
			}
			return a.instanceOp(ctx, req, "compute_"+name, func(context.Context, rpc.Context, *instance, *slog.Logger) (any, error) {
				return nil, newFault("NotImplementedError", 501, notImplemented(name), "novalet does not implement %s yet", name)
			})
		}
	}
	return m
}
