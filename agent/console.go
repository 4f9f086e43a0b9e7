package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// Consoles: get_vnc_console (with the token nova-novncproxy checks), validate_console_port,
// get_console_output. They are calls and take no instance lock, as in nova.

// maxConsoleBytes is nova's MAX_CONSOLE_BYTES: the libvirt driver returns at most this much
// of the end of console.log.
const maxConsoleBytes = 100 * 1024

// ConsoleOptions are [vnc] and [consoleauth].
type ConsoleOptions struct {
	VNCEnabled         bool
	NoVNCProxyBaseURL  string // [vnc] novncproxy_base_url
	ProxyClientAddress string // [vnc] server_proxyclient_address: where novncproxy connects
	TokenTTL           int    // [consoleauth] token_ttl, seconds
}

// vncPort is the driver's get_vnc_console: the live domain's port, or the nova exception the
// API turns into a clear answer.
func (a *Agent) vncPort(ctx context.Context, inst *instance) (int, error) {
	port, err := a.c.hv.VNCPort(ctx, inst.uuid())
	switch {
	case err == nil:
		return port, nil
	case errors.Is(err, virt.ErrNotFound) && inst.str("vm_state") == vmBuilding,
		errors.Is(err, virt.ErrConflict):
		return 0, rpc.NovaError("InstanceNotReady", fmt.Sprintf("Instance %s is not ready", inst.uuid()), map[string]any{"code": 409, "instance_id": inst.uuid()})
	case errors.Is(err, virt.ErrNotFound):
		return 0, rpc.NovaError("ConsoleTypeUnavailable", "Unavailable console type vnc.", map[string]any{"code": 400, "console_type": "vnc"})
	}
	return 0, err
}

func consoleType(req *rpc.Request) string {
	var t string
	_ = json.Unmarshal(req.Args["console_type"], &t)
	return t
}

// checkConsoleType is nova's: VNC off is ConsoleTypeUnavailable, anything but novnc is
// ConsoleTypeInvalid (xvpvnc was removed in nova 25's era of novalet's scope).
func (a *Agent) checkConsoleType(t string) error {
	if !a.c.opts.Console.VNCEnabled {
		return rpc.NovaError("ConsoleTypeUnavailable", fmt.Sprintf("Unavailable console type %s.", t), map[string]any{"code": 400, "console_type": t})
	}
	if t != "novnc" {
		return rpc.NovaError("ConsoleTypeInvalid", fmt.Sprintf("Invalid console type %s", t), map[string]any{"code": 400, "console_type": t})
	}
	return nil
}

func (a *Agent) getVNCConsole(ctx context.Context, req *rpc.Request) (any, error) {
	inst, err := decodeInstance(req.Args["instance"])
	if err != nil {
		return nil, rpc.NovaError("InvalidInput", "get_vnc_console: "+err.Error(), map[string]any{"code": 400})
	}
	t := consoleType(req)
	if err := a.checkConsoleType(t); err != nil {
		return nil, err
	}
	port, err := a.vncPort(ctx, inst)
	if err != nil {
		return nil, err
	}
	o := a.c.opts.Console
	tok, err := ovo.New("ConsoleAuthToken")
	if err == nil {
		err = set(tok, map[string]any{"console_type": t, "host": o.ProxyClientAddress, "port": int64(port),
			"internal_access_path": nil, "instance_uuid": inst.uuid(), "access_url_base": o.NoVNCProxyBaseURL})
	}
	if err != nil {
		return nil, err
	}
	raw, err := a.svc.objs.action(ctx, elevated(req.Context), tok, "authorize", []any{int64(o.TokenTTL)}, nil)
	if err != nil {
		return nil, fmt.Errorf("ConsoleAuthToken.authorize: %w", err)
	}
	var token string
	if err := json.Unmarshal(raw, &token); err != nil || token == "" {
		return nil, fmt.Errorf("ConsoleAuthToken.authorize returned %s", raw)
	}
	return map[string]any{
		"host": o.ProxyClientAddress, "port": port, "internal_access_path": nil, "token": token,
		"access_url": o.NoVNCProxyBaseURL + "?path=%3Ftoken%3D" + token,
	}, nil
}

func (a *Agent) validateConsolePort(ctx context.Context, req *rpc.Request) (any, error) {
	inst, err := decodeInstance(req.Args["instance"])
	if err != nil {
		return nil, rpc.NovaError("InvalidInput", "validate_console_port: "+err.Error(), map[string]any{"code": 400})
	}
	var port string
	if err := json.Unmarshal(req.Args["port"], &port); err != nil {
		var n int
		if json.Unmarshal(req.Args["port"], &n) != nil {
			return nil, rpc.NovaError("InvalidInput", "validate_console_port: port must be a string", map[string]any{"code": 400})
		}
		port = fmt.Sprint(n)
	}
	if err := a.checkConsoleType(consoleType(req)); err != nil {
		return nil, err
	}
	actual, err := a.vncPort(ctx, inst)
	if err != nil {
		return nil, err
	}
	return fmt.Sprint(actual) == port, nil
}

func (a *Agent) getConsoleOutput(ctx context.Context, req *rpc.Request) (any, error) {
	inst, err := decodeInstance(req.Args["instance"])
	if err != nil {
		return nil, rpc.NovaError("InvalidInput", "get_console_output: "+err.Error(), map[string]any{"code": 400})
	}
	var tail *int
	_ = decodeOptional(req.Args["tail_length"], &tail)
	data, err := readTail(filepath.Join(a.c.instanceDir(inst.uuid()), "console.log"), maxConsoleBytes)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, rpc.NovaError("ConsoleNotAvailable", "Guest does not have a console available.", map[string]any{"code": 409})
		}
		return nil, err
	}
	out := asciiReplace(data)
	if tail != nil {
		lines := strings.Split(out, "\n")
		if *tail < len(lines) {
			lines = lines[len(lines)-max(*tail, 0):]
		}
		out = strings.Join(lines, "\n")
	}
	return out, nil
}

// readTail returns at most n bytes from the end of the file.
func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	k, err := f.ReadAt(buf, off)
	if err != nil && k < len(buf) {
		return nil, err
	}
	return buf[:k], nil
}

// asciiReplace is Python's bytes.decode('ascii', 'replace'): every byte above 0x7f becomes
// U+FFFD.
func asciiReplace(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		if c < utf8.RuneSelf {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(utf8.RuneError)
		}
	}
	return sb.String()
}
