//go:build component

package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/rpc"
)

// The resize reschedule on the wire: novalet's migrate_server call reaches a real
// oslo.messaging server that deserializes it with nova's serializers and nova 26.2.2's
// method signature (testdata/conductor_task_server.py), and a conductor's refusal comes
// back as nova's exception.

// conductorTaskServer starts the stand-in on its own exchange and topic, points the agent's
// conductor task target at that topic for the test (the broker is shared with a real
// control plane, whose nova-conductor consumes the queue "conductor"), and returns a client
// on that exchange and the stand-in's output lines (READY already read).
func conductorTaskServer(t *testing.T, fail bool) (*rpc.Client, *bufio.Scanner) {
	t.Helper()
	testenv.RequirePython(t, "oslo_messaging", "nova.objects", "nova.rpc")
	suffix := uuid.NewString()[:8]
	exchange, topic := "novalet-test-"+suffix, "conductor-standin-"+suffix
	saved := conductorMigrateTarget
	conductorMigrateTarget.Topic = topic
	t.Cleanup(func() { conductorMigrateTarget = saved })
	args := []string{filepath.Join("testdata", "conductor_task_server.py"), testenv.TransportURL(t), exchange, topic}
	if fail {
		args = append(args, "fail")
	}
	cmd := exec.Command(testenv.Python, args...)
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	t.Cleanup(func() { deleteStandInQueues(t, exchange, topic) })
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("conductor_task_server.py stderr:\n%s", stderr.String())
		}
	})
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	if !lines.Scan() || lines.Text() != `"READY"` {
		t.Fatalf("conductor_task_server.py did not start: %q\n%s", lines.Text(), stderr.String())
	}

	url, err := rpc.ParseTransportURL(testenv.TransportURL(t))
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := rpc.DialAMQP(ctx, url, rpc.DefaultRabbitOptions(), nil)
	must(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	client := rpc.NewClient(tr, rpc.ClientConfig{Exchange: exchange, Timeout: time.Minute})
	t.Cleanup(func() { client.Close(context.Background()) })
	return client, lines
}

// deleteStandInQueues removes what the stopped stand-in leaves on the broker: its topic
// queues (oslo declares them neither durable nor auto-delete) and its exchange.
func deleteStandInQueues(t *testing.T, exchange, topic string) {
	u := strings.Replace(testenv.TransportURL(t), "rabbit://", "amqp://", 1)
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Errorf("broker cleanup: %v", err)
		return
	}
	defer conn.Close()
	for _, q := range []string{topic, topic + ".standin"} {
		ch, err := conn.Channel()
		if err == nil {
			_, err = ch.QueueDelete(q, false, false, false)
			ch.Close()
		}
		if err != nil {
			t.Errorf("delete queue %s: %v", q, err)
		}
	}
	if ch, err := conn.Channel(); err == nil {
		if err := ch.ExchangeDelete(exchange, false, false); err != nil {
			t.Errorf("delete exchange %s: %v", exchange, err)
		}
		ch.Close()
	}
}

// nextLine is the stand-in's next output line, within d.
func nextLine(lines *bufio.Scanner, d time.Duration) ([]byte, bool) {
	got := make(chan []byte, 1)
	go func() {
		if lines.Scan() {
			got <- append([]byte(nil), lines.Bytes()...)
		}
		close(got)
	}()
	select {
	case l, ok := <-got:
		return l, ok
	case <-time.After(d):
		return nil, false
	}
}

// selectionPrimitive is an alternate host as the scheduler lists it (Selection 1.1).
func selectionPrimitive(host string) map[string]any {
	return map[string]any{"nova_object.name": "Selection", "nova_object.namespace": "nova", "nova_object.version": "1.1",
		"nova_object.data": map[string]any{"compute_node_uuid": uuid.NewString(), "service_host": host, "nodename": host,
			"cell_uuid": uuid.NewString(), "limits": nil, "allocation_request": `{"allocations": {}}`,
			"allocation_request_version": "1.28"}}
}

// standInCall is what the stand-in reports of one migrate_server call.
type standInCall struct {
	Method        string         `json:"method"`
	RequestID     string         `json:"request_id"`
	InstanceClass string         `json:"instance_class"`
	InstanceUUID  string         `json:"instance_uuid"`
	TaskState     string         `json:"task_state"`
	FlavorClass   string         `json:"flavor_class"`
	FlavorID      string         `json:"flavorid"`
	SchedulerHint map[string]any `json:"scheduler_hint"`
	Live          bool           `json:"live"`
	Rebuild       bool           `json:"rebuild"`
	CleanShutdown bool           `json:"clean_shutdown"`
	HostList      [][]string     `json:"host_list"`
}

func TestPrepResizeRescheduleOnTheWire(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("conductor-refuses=%v", fail), func(t *testing.T) {
			client, lines := conductorTaskServer(t, fail)
			e := newOpsEnv(t)
			e.a.c.caster = client
			id := e.newResizable(t)
			_, err := e.migrateToSelf(t, id, map[string]any{"retry": map[string]any{"num_attempts": 1, "hosts": []any{[]any{"vm", "vm"}}}},
				[]any{selectionPrimitive("vm2")})
			line, ok := nextLine(lines, time.Minute)
			if !ok {
				t.Fatalf("the stand-in reported no call (prep_resize: %v)", err)
			}
			var got standInCall
			must(t, json.Unmarshal(line, &got))
			if got.Method != "migrate_server" || got.InstanceClass != "Instance" || got.InstanceUUID != id || got.TaskState != taskResizePrep ||
				got.FlavorClass != "Flavor" || got.Live || got.Rebuild || !got.CleanShutdown || got.RequestID != "req-1" {
				t.Errorf("migrate_server as nova received it: %s", line)
			}
			fp, _ := got.SchedulerHint["filter_properties"].(map[string]any)
			retry, _ := fp["retry"].(map[string]any)
			if exc := fmt.Sprint(retry["exc"]); !strings.Contains(exc, "UnableToMigrateToSelf") {
				t.Errorf("scheduler_hint %v: the retry does not carry the exception", got.SchedulerHint)
			}
			if len(got.HostList) != 1 || got.HostList[0][0] != "Selection" || got.HostList[0][1] != "vm2" {
				t.Errorf("host_list as nova received it: %v", got.HostList)
			}
			msgs := e.cond.FaultMessages(id)
			if !fail {
				if err != nil || len(msgs) != 1 {
					t.Errorf("rescheduled prep_resize = %v, faults %q", err, msgs)
				}
				return
			}
			if err == nil || len(msgs) != 2 || !strings.Contains(msgs[0], "Exhausted all hosts") {
				t.Errorf("refused reschedule: prep_resize = %v, faults %q (want MaxRetriesExceeded's, then the original)", err, msgs)
			}
		})
	}
}
