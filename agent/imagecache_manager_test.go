package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/rpc"
)

// plantBase puts a base file for image id into the cache, last used two days ago (older than
// remove_unused_original_minimum_age_seconds, 24 h by default).
func (e *opsEnv) plantBase(t *testing.T, id string) string {
	t.Helper()
	path := filepath.Join(e.images.BaseDir(), imagecache.BaseName(id))
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte("base of "+id), 0o644))
	old := time.Now().Add(-48 * time.Hour)
	must(t, os.Chtimes(path, old, old))
	return path
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (e *opsEnv) pruneCalls() int {
	n := 0
	for _, c := range e.images.Calls() {
		if c.Op == "Prune" {
			n++
		}
	}
	return n
}

// periodicRuns returns how many runs of task the metrics saw and whether one succeeded.
func periodicRuns(t *testing.T, m *metrics.Metrics, task string) (runs uint64, succeeded bool) {
	t.Helper()
	fams, err := m.Registry().Gather()
	must(t, err)
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			ours := false
			for _, l := range s.GetLabel() {
				ours = ours || l.GetName() == "task" && l.GetValue() == task
			}
			if !ours {
				continue
			}
			switch f.GetName() {
			case "novalet_periodic_task_duration_seconds":
				runs = s.GetHistogram().GetSampleCount()
			case "novalet_periodic_task_last_success_timestamp_seconds":
				succeeded = s.GetGauge().GetValue() > 0
			}
		}
	}
	return runs, succeeded
}

// A pass every manager_interval removes an old base no instance uses and keeps those the
// host's instances use (image_ref and kernel_id), and is timed as nova's periodic task.
func TestImageCacheManagerPrunesUnusedBases(t *testing.T) {
	e := newOpsEnv(t)
	m := metrics.New(metrics.Options{Version: "test", Logger: discardLogger()})
	e.a.obs = m
	kernel := uuid.NewString()
	inst := e.newInstance(t)
	must(t, set(inst, map[string]any{"kernel_id": kernel, "host": "cmp1"})) // an instance of this host
	e.cond.PutInstance(inst)
	used := e.plantBase(t, e.image)
	usedKernel := e.plantBase(t, kernel)
	unused := e.plantBase(t, uuid.NewString())

	e.a.c.opts.ImageCacheManagerInterval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.a.imageCacheManagerLoop(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for fileExists(unused) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if fileExists(unused) {
		t.Fatal("the unused base is still there after the image cache manager ran")
	}
	for _, p := range []string{used, usedKernel} {
		if !fileExists(p) {
			t.Errorf("the pass removed %s, which an instance of this host uses", p)
		}
	}
	if runs, ok := periodicRuns(t, m, imageCacheManagerTask); runs == 0 || !ok {
		t.Errorf("periodic task metrics: %d runs, succeeded %v", runs, ok)
	}
}

// Without the list of this host's instances nothing is pruned: every base would look unused.
func TestImageCacheManagerPrunesNothingWhenTheConductorFails(t *testing.T) {
	e := newOpsEnv(t)
	e.newInstance(t)
	used := e.plantBase(t, e.image)
	unused := e.plantBase(t, uuid.NewString())
	e.cond.FailCall("InstanceList.get_by_host", rpc.ErrTimeout)

	_, err := e.a.runImageCacheManagerPass(t.Context())
	if !errors.Is(err, rpc.ErrTimeout) {
		t.Fatalf("pass = %v, want the conductor's timeout", err)
	}
	if n := e.pruneCalls(); n != 0 {
		t.Fatalf("Prune called %d times without the instance list", n)
	}
	if !fileExists(used) || !fileExists(unused) {
		t.Fatal("a base file went although the instances could not be listed")
	}
}

// manager_interval -1 (and 0 at this level: cmd/novalet turns nova's 0 into 60 s) disables the
// image cache manager.
func TestImageCacheManagerDisabled(t *testing.T) {
	for _, interval := range []time.Duration{-1, 0} {
		e := newOpsEnv(t)
		e.newInstance(t)
		unused := e.plantBase(t, uuid.NewString())
		e.a.c.opts.ImageCacheManagerInterval = interval
		done := make(chan struct{})
		go func() {
			defer close(done)
			e.a.imageCacheManagerLoop(t.Context())
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("interval %v: the loop runs although disabled", interval)
		}
		if n := e.pruneCalls(); n != 0 || !fileExists(unused) {
			t.Fatalf("interval %v: %d Prune calls, base kept %v", interval, n, fileExists(unused))
		}
	}
}
