//go:build component

package rpc_test

// Helpers that run Debian's Python oslo.messaging (testdata/*.py) as the peer.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

// pyOp is one operation of testdata/oslo_client.py.
type pyOp struct {
	Op        string         `json:"op"`
	Topic     string         `json:"topic"`
	Server    string         `json:"server,omitempty"`
	Fanout    bool           `json:"fanout,omitempty"`
	Version   string         `json:"version,omitempty"`
	Namespace string         `json:"namespace,omitempty"`
	Method    string         `json:"method"`
	Args      map[string]any `json:"args,omitempty"`
	Context   map[string]any `json:"context,omitempty"`
	Timeout   float64        `json:"timeout,omitempty"`
	CMTimeout *int           `json:"cm_timeout,omitempty"`
	Exmods    []string       `json:"exmods,omitempty"`
}

type pyError struct {
	Class   string         `json:"class"`
	Module  string         `json:"module"`
	MRO     []string       `json:"mro"`
	Str     string         `json:"str"`
	Kwargs  map[string]any `json:"kwargs"`
	ExcType string         `json:"exc_type"`
}

func (e *pyError) is(class string) bool {
	for _, c := range e.MRO {
		if c == class {
			return true
		}
	}
	return false
}

type pyResult struct {
	Result json.RawMessage `json:"result"`
	Error  *pyError        `json:"error"`
}

// runPythonClient runs the ops in one Python process and returns one result per op; Python's
// reply queues are deleted afterwards.
func runPythonClient(t testing.TB, exchange string, ops []pyOp) []pyResult {
	t.Helper()
	testenv.RequirePython(t, "oslo_messaging", "nova.exception")
	in, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Python, filepath.Join("testdata", "oslo_client.py"), testenv.TransportURL(t), exchange)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oslo_client.py: %v\nstderr:\n%s", err, stderr.String())
	}
	var res struct {
		Results     []pyResult `json:"results"`
		ReplyQueues []string   `json:"reply_queues"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("oslo_client.py output %q: %v\nstderr:\n%s", out, err, stderr.String())
	}
	deleteEntities(t, res.ReplyQueues, nil)
	if len(res.Results) != len(ops) {
		t.Fatalf("oslo_client.py returned %d results for %d ops", len(res.Results), len(ops))
	}
	return res.Results
}

// pythonServer is a running testdata/oslo_server.py.
type pythonServer struct {
	events chan map[string]any
}

// startPythonServer starts oslo_server.py and waits for it to consume; it is stopped cleanly
// (stdin closed) when the test ends.
func startPythonServer(t testing.TB, exchange, topic, server, name string) *pythonServer {
	t.Helper()
	testenv.RequirePython(t, "oslo_messaging", "nova.exception")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cmd := exec.CommandContext(ctx, testenv.Python, filepath.Join("testdata", "oslo_server.py"), testenv.TransportURL(t), exchange, topic, server, name)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting oslo_server.py: %v", err)
	}
	exited := make(chan error, 1)
	ready := make(chan struct{})
	p := &pythonServer{events: make(chan map[string]any, 100)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var v any
			if json.Unmarshal(sc.Bytes(), &v) != nil {
				continue
			}
			if v == "READY" {
				close(ready)
				continue
			}
			if m, ok := v.(map[string]any); ok {
				p.events <- m
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		defer cancel()
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			t.Errorf("oslo_server.py %s did not stop within 60s after stdin closed", name)
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case <-ready:
		return p
	case err := <-exited:
		t.Fatalf("oslo_server.py %s exited before consuming: %v\nstderr:\n%s", name, err, stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("oslo_server.py %s not consuming after 90s (a 406 on declare retries forever)\nstderr:\n%s", name, stderr.String())
	}
	return nil
}

// nextEvent returns the next line the Python server printed.
func (p *pythonServer) nextEvent(t *testing.T) map[string]any {
	t.Helper()
	select {
	case e := <-p.events:
		return e
	case <-time.After(waitFor):
		t.Fatalf("no event from the Python server within %s", waitFor)
		return nil
	}
}
