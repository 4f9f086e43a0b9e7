package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// RabbitMQCtl runs Debian's rabbitmqctl against the node scripts/parts.sh started, with the
// same environment (HOME holds the Erlang cookie), e.g. RabbitMQCtl(t, "stop_app").
func RabbitMQCtl(t testing.TB, args ...string) {
	t.Helper()
	state := os.Getenv("NOVALET_PARTS_DIR")
	if state == "" {
		state = "/var/tmp/novalet-parts"
	}
	dir := filepath.Join(state, "rabbitmq")
	if _, err := os.Stat(filepath.Join(dir, ".erlang.cookie")); err != nil {
		t.Fatalf("testenv: no Erlang cookie of the test broker in %s (start it with scripts/parts.sh start): %v", dir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/lib/rabbitmq/bin/rabbitmqctl", append([]string{"-n", "rabbit@localhost"}, args...)...)
	cmd.Env = append(os.Environ(),
		"HOME="+dir,
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(dir, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbit.pid"),
		"RABBITMQ_NODENAME=rabbit@localhost",
		"ERL_EPMD_ADDRESS=127.0.0.1",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
}
