package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// ComputeIDFile is where the compute node's uuid is kept under state_path (the file name
// nova 2023.1 later adopted for stable compute uuids), so it survives restarts.
const ComputeIDFile = "compute_id"

// loadComputeID reads the kept uuid; "" when there is none yet.
func loadComputeID(statePath string) (string, error) {
	b, err := os.ReadFile(filepath.Join(statePath, ComputeIDFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(b))
	if _, err := uuid.Parse(id); err != nil {
		return "", fmt.Errorf("%s holds %q, not a uuid: %w", filepath.Join(statePath, ComputeIDFile), id, err)
	}
	return id, nil
}

// saveComputeID writes the uuid through a temp file, so a crash never leaves half a uuid. The
// file is given to owner (user nova) as nova 2023.1, running as nova, writes and reads it: a
// node rolled back to nova-compute and upgraded can still read its uuid.
func saveComputeID(statePath, id string, owner *imagecache.Owner) error {
	if err := os.MkdirAll(statePath, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(statePath, ".compute_id-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(id + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if owner != nil {
		if err := tmp.Chown(owner.UID, owner.GID); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(statePath, ComputeIDFile))
}

// findComputeNode reads this host's record for the node; nil when there is none.
func findComputeNode(ctx context.Context, objs objects, host, node string) (*ovo.Object, error) {
	raw, err := objs.classAction(ctx, rpc.NewAdminContext(nowUTC()), "ComputeNode", "get_by_host_and_nodename", []any{host, node}, nil)
	var re *rpc.RemoteError
	if errors.As(err, &re) && re.Class == "ComputeHostNotFound" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ComputeNode.get_by_host_and_nodename(%s, %s): %w", host, node, err)
	}
	return decodeObject(raw)
}

// ErrHostRenamed: the compute record this node keeps the uuid of belongs to another host or
// node name.
var ErrHostRenamed = errors.New("host renamed")

// computeNodeByUUID reads a (not deleted) compute node record by uuid; nil when there is none.
func computeNodeByUUID(ctx context.Context, objs objects, id string) (*ovo.Object, error) {
	raw, err := objs.classAction(ctx, rpc.NewAdminContext(nowUTC()), "ComputeNode", "get_by_uuid", []any{id}, nil)
	var re *rpc.RemoteError
	if errors.As(err, &re) && re.Class == "ComputeHostNotFound" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ComputeNode.get_by_uuid(%s): %w", id, err)
	}
	return decodeObject(raw)
}

// ensureComputeNode returns the node's record, creating it with fields when missing. An
// existing record (left by the distribution's nova-compute, or by an earlier run) is adopted
// and its uuid kept under state_path. A missing record is created with a new uuid, as Zed's
// resource tracker does (ComputeNode.create picks one), never the kept one: when the record is
// missing because the operator deleted the service (`openstack compute service delete`), nova's
// compute_node_create would revive the soft-deleted row of a reused uuid with mapped = 1, so
// `cell_v2 discover_hosts` would never map the host again and every boot on it would fail
// ("Host is not mapped to any cell"). A new uuid is a new, unmapped node, and a renamed host
// gets a node of its own instead of another's uuid. The uuid is written down before the
// record is created.
func ensureComputeNode(ctx context.Context, log *slog.Logger, objs objects, statePath string, owner *imagecache.Owner, host, node string, fields map[string]any) (*ovo.Object, error) {
	cn, err := findComputeNode(ctx, objs, host, node)
	if err != nil {
		return nil, err
	}
	kept, err := loadComputeID(statePath)
	if err != nil {
		return nil, err
	}
	if cn != nil {
		id, _ := ovo.Value[string](cn, "uuid")
		if kept != id {
			if err := saveComputeID(statePath, id, owner); err != nil {
				return nil, fmt.Errorf("keep compute node uuid: %w", err)
			}
		} else if owner != nil {
			// a file an older novalet wrote as root is handed over
			if err := os.Lchown(filepath.Join(statePath, ComputeIDFile), owner.UID, owner.GID); err != nil {
				return nil, fmt.Errorf("keep compute node uuid: %w", err)
			}
		}
		return cn, nil
	}
	// The kept uuid's record still lives under another host or node name: this host was
	// renamed ([DEFAULT] host, or the hypervisor hostname). nova 2023.1 refuses to start then;
	// so does novalet, rather than leave two records for one node.
	if kept != "" {
		if other, err := computeNodeByUUID(ctx, objs, kept); err != nil {
			return nil, err
		} else if other != nil {
			oh, _ := ovo.Value[string](other, "host")
			on, _ := ovo.Value[string](other, "hypervisor_hostname")
			return nil, fmt.Errorf("%w: this node's compute record %s (kept in %s) belongs to host %q, node %q, but this is host %q, node %q: "+
				"put [DEFAULT] host (and the hostname) back, or delete the old compute service to start this node anew",
				ErrHostRenamed, kept, filepath.Join(statePath, ComputeIDFile), oh, on, host, node)
		}
	}
	id := uuid.NewString()
	if err := saveComputeID(statePath, id, owner); err != nil {
		return nil, fmt.Errorf("keep compute node uuid: %w", err)
	}
	cn, err = ovo.New("ComputeNode")
	if err != nil {
		return nil, err
	}
	if err := set(cn, fields); err != nil {
		return nil, err
	}
	if err := set(cn, map[string]any{"uuid": id, "host": host, "hypervisor_hostname": node}); err != nil {
		return nil, err
	}
	if _, err := objs.action(ctx, rpc.NewAdminContext(nowUTC()), cn, "create", nil, nil); err != nil {
		return nil, fmt.Errorf("ComputeNode.create(%s): %w", node, err)
	}
	if kept != "" {
		log.Warn("this host's compute node record was gone (its service deleted?): created a new one with a new uuid, as nova-compute does; map it with `nova-manage cell_v2 discover_hosts`",
			"node", node, "old_uuid", kept, "compute_node_uuid", id)
	}
	return cn, nil
}
