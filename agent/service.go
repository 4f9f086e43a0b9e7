package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// ServiceVersion is nova 26.2.2's SERVICE_VERSION: what the control plane uses to decide which
// RPC versions and features a compute node supports.
const ServiceVersion = 64

// ComputeBinary and ComputeTopic name the service the way nova-compute registers it.
const (
	ComputeBinary = "nova-compute"
	ComputeTopic  = "compute"
)

// service is this node's Service record and its heartbeat.
type service struct {
	objs objects
	host string
	log  *slog.Logger
	obs  Observer

	mu       sync.Mutex
	obj      *ovo.Object
	epoch    uint64 // counts the saves other than heartbeats (setEnabled)
	lastBeat time.Time
}

// register gets or creates the Service record (nova/service.py Service.start): an existing one
// (e.g. left by the distribution's nova-compute) is adopted and its version brought to ours.
func (s *service) register(ctx context.Context) error {
	rc := rpc.NewAdminContext(time.Now())
	raw, err := s.objs.classAction(ctx, rc, "Service", "get_by_host_and_binary", []any{s.host, ComputeBinary}, nil)
	if err != nil {
		return fmt.Errorf("Service.get_by_host_and_binary(%s): %w", s.host, err)
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return fmt.Errorf("Service.get_by_host_and_binary: %w", err)
	}
	if obj == nil {
		if obj, err = s.create(ctx, rc); err != nil {
			return err
		}
	} else if v, _ := ovo.Value[int64](obj, "version"); v != ServiceVersion {
		if err := set(obj, map[string]any{"version": ServiceVersion}); err != nil {
			return err
		}
		if _, err := s.objs.action(ctx, rc, obj, "save", nil, nil); err != nil {
			return fmt.Errorf("Service.save(version): %w", err)
		}
	}
	s.mu.Lock()
	s.obj = obj
	s.mu.Unlock()
	id, _ := obj.Get("id")
	s.log.Info("service registered", "host", s.host, "service_id", id, "binary", ComputeBinary)
	return nil
}

func (s *service) create(ctx context.Context, rc rpc.Context) (*ovo.Object, error) {
	obj, err := ovo.New("Service")
	if err != nil {
		return nil, err
	}
	if err := set(obj, map[string]any{"host": s.host, "binary": ComputeBinary, "topic": ComputeTopic,
		"report_count": 0, "version": ServiceVersion}); err != nil {
		return nil, err
	}
	_, err = s.objs.action(ctx, rc, obj, "create", nil, nil)
	var re *rpc.RemoteError
	if errors.As(err, &re) && (re.Class == "ServiceTopicExists" || re.Class == "ServiceBinaryExists") {
		// Another process created it between our read and our create: read it again.
		raw, err := s.objs.classAction(ctx, rc, "Service", "get_by_host_and_binary", []any{s.host, ComputeBinary}, nil)
		if err != nil {
			return nil, err
		}
		return decodeObject(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("Service.create(%s): %w", s.host, err)
	}
	return obj, nil
}

// beat is one heartbeat: report_count + 1 and Service.save(), which makes the conductor set
// last_seen_up. The conductor's answer also refreshes fields the API changed (disabled).
func (s *service) beat(ctx context.Context) error {
	s.mu.Lock()
	obj := s.obj.Clone()
	epoch := s.epoch
	s.mu.Unlock()
	n, _ := ovo.Value[int64](obj, "report_count")
	if err := set(obj, map[string]any{"report_count": n + 1}); err != nil {
		return err
	}
	if _, err := s.objs.action(ctx, rpc.NewAdminContext(time.Now()), obj, "save", nil, nil); err != nil {
		return err
	}
	s.mu.Lock()
	if s.epoch == epoch {
		s.obj = obj
	} else {
		// setEnabled saved the record while this beat was under way: keep its fields.
		_ = s.obj.Set("report_count", n+1)
		s.obj.ObjResetChanges("report_count")
	}
	s.lastBeat = time.Now()
	s.mu.Unlock()
	s.obs.HeartbeatSucceeded(time.Now())
	return nil
}

// heartbeat beats every interval until ctx ends. A failed beat (conductor timeout, broker
// reconnecting) is logged and the next one tries again, as nova-compute does.
func (s *service) heartbeat(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.beat(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("heartbeat failed; will retry (lost connection to nova-conductor?)", "error", err)
			failing = true
			continue
		}
		if failing {
			s.log.Info("heartbeat recovered")
			failing = false
		}
	}
}

// disabled reports the service's disabled flag as last seen by a heartbeat.
func (s *service) disabled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.obj == nil {
		return false
	}
	d, _ := ovo.Value[bool](s.obj, "disabled")
	return d
}

// lastHeartbeat is when the last heartbeat succeeded (zero before the first).
func (s *service) lastHeartbeat() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastBeat
}

// setDisabled records the disabled flag nova-api just set, until the next heartbeat reads it.
func (s *service) setDisabled(d bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.obj != nil {
		_ = s.obj.Set("disabled", d)
		s.obj.ObjResetChanges("disabled")
	}
}
