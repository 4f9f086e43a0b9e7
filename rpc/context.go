package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Context is the request context that travels as the _context_* keys of a request: every key
// the sender put there, without the prefix, values as decoded JSON (numbers as json.Number).
// Handlers must pass it on unchanged in follow-up calls: instance-action events are matched by
// request_id, and Glance/Neutron calls use auth_token and service_catalog.
type Context map[string]any

// Context keys nova uses.
const (
	CtxRequestID       = "request_id"
	CtxGlobalRequestID = "global_request_id"
	CtxUserID          = "user_id"
	CtxProjectID       = "project_id"
	CtxAuthToken       = "auth_token"
	CtxServiceCatalog  = "service_catalog"
	CtxIsAdmin         = "is_admin"
	CtxRoles           = "roles"
)

func (c Context) str(key string) string {
	s, _ := c[key].(string)
	return s
}

// RequestID is request_id ("req-<uuid>").
func (c Context) RequestID() string { return c.str(CtxRequestID) }

// GlobalRequestID is global_request_id, or "".
func (c Context) GlobalRequestID() string { return c.str(CtxGlobalRequestID) }

// UserID is user_id (nova also sends it as "user").
func (c Context) UserID() string {
	if s := c.str(CtxUserID); s != "" {
		return s
	}
	return c.str("user")
}

// ProjectID is project_id (nova also sends it as "project" and "tenant").
func (c Context) ProjectID() string {
	if s := c.str(CtxProjectID); s != "" {
		return s
	}
	return c.str("project")
}

// AuthToken is the user's Keystone token; never log it.
func (c Context) AuthToken() string { return c.str(CtxAuthToken) }

// IsAdmin is is_admin.
func (c Context) IsAdmin() bool { b, _ := c[CtxIsAdmin].(bool); return b }

// Roles is roles.
func (c Context) Roles() []string {
	list, _ := c[CtxRoles].([]any)
	out := make([]string, 0, len(list))
	for _, r := range list {
		if s, ok := r.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// ServiceCatalogEntry is one entry of the filtered catalog nova-api puts in the context.
type ServiceCatalogEntry struct {
	Type      string            `json:"type"`
	Name      string            `json:"name"`
	Endpoints []json.RawMessage `json:"endpoints"`
}

// ServiceCatalog decodes service_catalog; a missing or null catalog is empty.
func (c Context) ServiceCatalog() ([]ServiceCatalogEntry, error) {
	v, ok := c[CtxServiceCatalog]
	if !ok || v == nil {
		return nil, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("service_catalog: %w", err)
	}
	var out []ServiceCatalogEntry
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("service_catalog: %w", err)
	}
	return out, nil
}

// LogValue logs the identifying keys only; tokens and catalogs stay out of logs.
func (c Context) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("request_id", c.RequestID()),
		slog.String("global_request_id", c.GlobalRequestID()),
		slog.String("user_id", c.UserID()),
		slog.String("project_id", c.ProjectID()),
	)
}

// String is the redacted form.
func (c Context) String() string {
	return fmt.Sprintf("Context{request_id=%s user_id=%s project_id=%s}", c.RequestID(), c.UserID(), c.ProjectID())
}

// GoString keeps %#v from printing the token.
func (c Context) GoString() string { return "rpc." + c.String() }

// Clone copies the top-level map.
func (c Context) Clone() Context {
	out := make(Context, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// WithReadDeleted is a copy whose database reads include soft-deleted rows ("yes"), as
// nova's context.elevated(read_deleted='yes').
func (c Context) WithReadDeleted(mode string) Context {
	out := c.Clone()
	out["read_deleted"] = mode
	return out
}

// NewAdminContext is what nova.context.get_admin_context() sends (oslo.context 5.0 to_dict plus
// nova's keys), with a fresh request id and the timestamp in nova's format (UTC, no zone).
func NewAdminContext(now time.Time) Context {
	return Context{
		"user": nil, "project_id": nil, "system_scope": nil, "project": nil, "domain": nil,
		"user_domain": nil, "project_domain": nil, "is_admin": true, "read_only": false,
		"show_deleted": false, "auth_token": nil, "request_id": "req-" + uuid.NewString(),
		"global_request_id": nil, "resource_uuid": nil, "roles": []any{}, "user_identity": "- - - - -",
		"is_admin_project": true, "user_id": nil, "read_deleted": "no", "remote_address": nil,
		"timestamp": now.UTC().Format("2006-01-02T15:04:05.000000"), "quota_class": nil,
		"user_name": nil, "service_catalog": []any{}, "project_name": nil,
	}
}

type requestContextKey struct{}

// WithRequestContext attaches an RPC request context to a Go context, for code that makes
// follow-up calls on behalf of a request.
func WithRequestContext(ctx context.Context, rc Context) context.Context {
	return context.WithValue(ctx, requestContextKey{}, rc)
}

// RequestContextFrom returns the RPC request context attached by the server, if any.
func RequestContextFrom(ctx context.Context) (Context, bool) {
	rc, ok := ctx.Value(requestContextKey{}).(Context)
	return rc, ok
}
