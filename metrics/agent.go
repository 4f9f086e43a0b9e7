package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Histogram buckets, in seconds. RPC handlers answer in milliseconds to a minute; operations
// and spawn phases include image downloads and guest boots, so they reach half an hour.
var (
	rpcBuckets       = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	operationBuckets = []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}
	taskBuckets      = []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
)

// Label limits for values that are not constants of the code.
const (
	maxRPCMethods  = 128 // nova's compute RPC API has ~90 methods
	maxFaultReason = 64
)

// SpawnPhase is one step of building an instance: the "phase" label.
type SpawnPhase string

// The spawn phases, in order.
const (
	PhaseImage   SpawnPhase = "image"    // base image in the cache
	PhaseDisk    SpawnPhase = "disk"     // overlay and config drive
	PhaseNetwork SpawnPhase = "network"  // Neutron ports allocated, bound and in the info cache
	PhaseDefine  SpawnPhase = "define"   // taps plugged, domain XML built and defined
	PhaseStart   SpawnPhase = "start"    // domain started
	PhaseVIFWait SpawnPhase = "vif_wait" // waiting for Neutron's network-vif-plugged
)

type agentMetrics struct {
	libvirtUp        prometheus.Gauge
	brokerConnected  prometheus.Gauge
	brokerReconnects prometheus.Counter
	heartbeat        prometheus.Gauge
	rpcRequests      *prometheus.CounterVec
	rpcDuration      *prometheus.HistogramVec
	opDuration       *prometheus.HistogramVec
	opsInFlight      *prometheus.GaugeVec
	spawnPhase       *prometheus.HistogramVec
	faults           *prometheus.CounterVec
	taskLastSuccess  *prometheus.GaugeVec
	taskDuration     *prometheus.HistogramVec
	placement        *prometheus.CounterVec

	methods *labelGuard
	reasons *labelGuard
}

func newAgentMetrics() agentMetrics {
	return agentMetrics{
		libvirtUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "novalet_libvirt_up",
			Help: "1 while the connection to libvirtd works, else 0.",
		}),
		brokerConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "novalet_broker_connected",
			Help: "1 while connected to the RabbitMQ broker, else 0.",
		}),
		brokerReconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "novalet_broker_reconnects_total",
			Help: "Reconnections to the RabbitMQ broker after a lost connection.",
		}),
		heartbeat: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "novalet_heartbeat_last_success_timestamp_seconds",
			Help: "Unix time of the last service heartbeat the conductor accepted.",
		}),
		rpcRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "novalet_rpc_requests_total",
			Help: "RPC requests handled, by method and result.",
		}, []string{"method", "result"}),
		rpcDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "novalet_rpc_request_duration_seconds",
			Help:    "Time to handle an RPC request, by method.",
			Buckets: rpcBuckets,
		}, []string{"method"}),
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "novalet_operation_duration_seconds",
			Help:    "Duration of instance operations (spawn, reboot, delete, ...), by operation and result.",
			Buckets: operationBuckets,
		}, []string{"operation", "result"}),
		opsInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "novalet_operations_in_flight",
			Help: "Instance operations running now, by operation.",
		}, []string{"operation"}),
		spawnPhase: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "novalet_spawn_phase_duration_seconds",
			Help:    "Duration of each phase of building an instance.",
			Buckets: operationBuckets,
		}, []string{"phase"}),
		faults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "novalet_instance_faults_total",
			Help: "Instance faults recorded, by reason (the exception class reported to nova).",
		}, []string{"reason"}),
		taskLastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "novalet_periodic_task_last_success_timestamp_seconds",
			Help: "Unix time the periodic task last finished successfully.",
		}, []string{"task"}),
		taskDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "novalet_periodic_task_duration_seconds",
			Help:    "Duration of periodic task runs, successful or not.",
			Buckets: taskBuckets,
		}, []string{"task"}),
		placement: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "novalet_placement_requests_total",
			Help: "Requests to the Placement API, by result.",
		}, []string{"result"}),
		methods: newLabelGuard(maxRPCMethods),
		reasons: newLabelGuard(maxFaultReason),
	}
}

func (a *agentMetrics) register(reg prometheus.Registerer) {
	reg.MustRegister(a.libvirtUp, a.brokerConnected, a.brokerReconnects, a.heartbeat,
		a.rpcRequests, a.rpcDuration, a.opDuration, a.opsInFlight, a.spawnPhase, a.faults,
		a.taskLastSuccess, a.taskDuration, a.placement)
}

// SetLibvirtUp records whether the libvirt connection works.
func (m *Metrics) SetLibvirtUp(up bool) {
	if m != nil {
		m.agent.libvirtUp.Set(boolValue(up))
		m.health.mu.Lock()
		m.health.libvirtSet, m.health.libvirtUp = true, up
		m.health.mu.Unlock()
	}
}

// SetBrokerConnected records whether the broker connection is up.
func (m *Metrics) SetBrokerConnected(connected bool) {
	if m != nil {
		m.agent.brokerConnected.Set(boolValue(connected))
		m.health.mu.Lock()
		m.health.brokerSet, m.health.brokerUp = true, connected
		m.health.mu.Unlock()
	}
}

// BrokerReconnected counts one reconnection to the broker.
func (m *Metrics) BrokerReconnected() {
	if m != nil {
		m.agent.brokerReconnects.Inc()
	}
}

// HeartbeatSucceeded records a service heartbeat the conductor accepted at time at.
func (m *Metrics) HeartbeatSucceeded(at time.Time) {
	if m != nil {
		m.agent.heartbeat.Set(unixSeconds(at))
		m.health.mu.Lock()
		m.health.lastBeat = at
		m.health.mu.Unlock()
	}
}

// ObserveRPC records one handled RPC request. method is the RPC method name as received; past
// 128 distinct names, new ones are recorded as "other".
func (m *Metrics) ObserveRPC(method string, result Result, d time.Duration) {
	if m == nil {
		return
	}
	method = m.agent.methods.value(method)
	m.agent.rpcRequests.WithLabelValues(method, string(result.valid())).Inc()
	m.agent.rpcDuration.WithLabelValues(method).Observe(d.Seconds())
}

// StartOperation counts an instance operation (a constant of the caller's, e.g. "spawn") as
// in flight and returns the function that ends it: it records the duration under result and
// takes it out of flight. Call the returned function exactly once.
func (m *Metrics) StartOperation(operation string) (done func(Result)) {
	if m == nil {
		return func(Result) {}
	}
	start := time.Now()
	inFlight := m.agent.opsInFlight.WithLabelValues(operation)
	inFlight.Inc()
	return func(r Result) {
		inFlight.Dec()
		m.agent.opDuration.WithLabelValues(operation, string(r.valid())).Observe(time.Since(start).Seconds())
	}
}

// ObserveSpawnPhase records how long one phase of a spawn took.
func (m *Metrics) ObserveSpawnPhase(phase SpawnPhase, d time.Duration) {
	if m != nil {
		m.agent.spawnPhase.WithLabelValues(string(phase)).Observe(d.Seconds())
	}
}

// InstanceFault counts a fault recorded on an instance; reason is the exception class name
// reported to nova (e.g. "RescheduledException"), never a message.
func (m *Metrics) InstanceFault(reason string) {
	if m != nil {
		m.agent.faults.WithLabelValues(m.agent.reasons.value(reason)).Inc()
	}
}

// ObservePeriodicTask records one run of a periodic task (a constant of the caller's, e.g.
// "update_available_resource"); a successful run also sets its last-success time to now.
func (m *Metrics) ObservePeriodicTask(task string, result Result, d time.Duration) {
	if m == nil {
		return
	}
	m.agent.taskDuration.WithLabelValues(task).Observe(d.Seconds())
	if result == ResultSuccess {
		m.agent.taskLastSuccess.WithLabelValues(task).Set(unixSeconds(m.now()))
	}
}

// PlacementRequest counts one request to Placement; a generation conflict is ResultConflict.
func (m *Metrics) PlacementRequest(result Result) {
	if m != nil {
		m.agent.placement.WithLabelValues(string(result.valid())).Inc()
	}
}

// WatchQueueDepth exposes depth, read at scrape time, as novalet_operation_queue_depth: the
// operations waiting for their instance's queue or the build semaphore. depth must not block.
func (m *Metrics) WatchQueueDepth(depth func() int) error {
	if m == nil {
		return nil
	}
	if depth == nil {
		return errNilSource
	}
	return m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "novalet_operation_queue_depth",
		Help: "Instance operations queued and not yet started.",
	}, func() float64 { return float64(depth()) }))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
