//go:build component

package rpc_test

// Benchmarks on the real broker. The comparison the project reports:
//
//	go test -tags component -run '^$' -bench . -benchtime 1x ./rpc/
//
// BenchmarkPythonClientTrivialCall runs the same Python oslo.messaging client against a Go
// server and against a Python oslo.messaging server on the same broker and reports p50/p99
// latency and calls/s for each; BenchmarkGoClientTrivialCall is a plain Go-to-Go benchmark.

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/rpc"
)

const benchCalls, benchThreads = 1000, 8

func BenchmarkPythonClientTrivialCall(b *testing.B) {
	for _, server := range []string{"go", "python"} {
		b.Run(server+"-server", func(b *testing.B) {
			n := benchNames(b)
			if server == "go" {
				goBenchServer(b, n)
			} else {
				startPythonServer(b, n.Exchange, n.Topic, "bench", "python")
			}
			for i := 0; i < b.N; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				cmd := exec.CommandContext(ctx, testenv.Python, filepath.Join("testdata", "oslo_bench_client.py"),
					testenv.TransportURL(b), n.Exchange, n.Topic, strconv.Itoa(benchCalls), strconv.Itoa(benchThreads))
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				cancel()
				if err != nil {
					b.Fatalf("oslo_bench_client.py: %v\n%s", err, stderr.String())
				}
				var r struct {
					P50        float64 `json:"p50_ms"`
					P99        float64 `json:"p99_ms"`
					Seq        float64 `json:"sequential_calls_per_s"`
					Concurrent float64 `json:"concurrent_calls_per_s"`
					ReplyQueue string  `json:"reply_queue"`
				}
				if err := json.Unmarshal(out, &r); err != nil {
					b.Fatalf("bench output %q: %v", out, err)
				}
				deleteEntities(b, []string{r.ReplyQueue}, nil)
				b.ReportMetric(r.P50, "p50-ms")
				b.ReportMetric(r.P99, "p99-ms")
				b.ReportMetric(r.Seq, "seq-calls/s")
				b.ReportMetric(r.Concurrent, "calls/s@8")
			}
		})
	}
}

func BenchmarkGoClientTrivialCall(b *testing.B) {
	n := benchNames(b)
	goBenchServer(b, n)
	client := rpc.NewClient(dialAMQP(b, rpc.DefaultRabbitOptions()), rpc.ClientConfig{Exchange: n.Exchange, Logger: testLogger()})
	defer func() {
		q := client.ReplyQueue()
		_ = client.Close(context.Background())
		deleteEntities(b, []string{q}, nil)
	}()
	tgt := rpc.Target{Topic: n.Topic, Version: "3.0"}
	rc := rpc.NewAdminContext(time.Now())
	ctx := context.Background()
	if _, err := client.Call(ctx, tgt, rc, "whoami", nil, rpc.CallOptions{}); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := time.Now()
		if _, err := client.Call(ctx, tgt, rc, "whoami", nil, rpc.CallOptions{}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(s))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func benchNames(b *testing.B) names {
	id := strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	n := names{Exchange: "novalet_bench_" + id, Topic: "bench" + id}
	b.Cleanup(func() {
		deleteEntities(b, []string{n.Topic, n.Topic + ".bench"}, []string{n.Exchange, n.Topic + "_fanout"})
	})
	return n
}

func goBenchServer(b *testing.B, n names) {
	s, err := rpc.NewServer(dialAMQP(b, rpc.DefaultRabbitOptions()), rpc.ServerConfig{Exchange: n.Exchange, Topic: n.Topic, Server: "bench", Logger: testLogger(),
		Endpoints: []rpc.Endpoint{{Version: "3.0", Methods: map[string]rpc.HandlerFunc{
			"whoami": func(context.Context, *rpc.Request) (any, error) { return "go", nil },
		}}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
}
