package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/novalet/novalet/agent"
	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/internal/remotefs"
	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/openstack/neutron"
	"github.com/novalet/novalet/openstack/placement"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/systemd"
	"github.com/novalet/novalet/virt"
)

// Start-up and shutdown bounds.
const (
	startTimeout = 5 * time.Minute  // registration, through conductor retries
	stopTimeout  = 60 * time.Second // in-flight RPC after SIGTERM (nova's graceful_shutdown_timeout)
)

// exConfig is sysexits' EX_CONFIG: the configuration is wrong, and a restart cannot help (the
// unit's RestartPreventExitStatus).
const exConfig = 78

// runCommand is `novalet run`: the compute agent, until SIGTERM or SIGINT.
func runCommand(sources []config.Source, flags logFlags, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(sources, flags)
	if err != nil {
		fmt.Fprintf(stderr, "novalet run: %v\n", err)
		return exConfig
	}
	if _, err := computeDriver(cfg.Default.ComputeDriver); err != nil {
		fmt.Fprintf(stderr, "novalet run: %v\n", err)
		return exConfig
	}
	level := new(slog.LevelVar)
	level.Set(logLevel(cfg.Default.Debug))
	logs, err := openLogging(cfg.Default, level, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "novalet run: %v\n", err)
		return 1
	}
	defer logs.Close()
	log := logs.Logger
	for _, w := range cfg.Warnings {
		log.Warn("config", "file", w.File, "line", w.Line, "group", w.Group, "option", w.Option, "message", w.Message)
	}
	for _, w := range cfg.Ignored {
		log.Warn("config: option ignored", "file", w.File, "line", w.Line, "group", w.Group, "option", w.Option, "message", w.Message)
	}
	lock, err := lockHost(cfg.Default.StatePath)
	if err != nil {
		log.Error("novalet run refused", "error", err)
		return 1
	}
	defer lock.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGHUP reloads instead of ending the process (systemd would count that as a clean exit
	// and Restart=on-failure would not bring the node back).
	// SIGUSR2 writes a Guru Meditation report to stderr, as nova-compute does.
	hup, usr2 := make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	signal.Notify(usr2, syscall.SIGUSR2)
	defer signal.Stop(hup)
	defer signal.Stop(usr2)
	go func() {
		running := cfg
		r := reloader{sources: sources, flags: flags, level: level, logs: logs, log: log}
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				running = r.reload(running)
			case <-usr2:
				writeGuruReport(stderr, running, current.Load())
				log.Info("SIGUSR2: Guru Meditation report written to stderr")
			}
		}
	}()
	if err := serve(ctx, cfg, log, systemd.FromEnv()); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// SIGTERM or SIGINT before start-up finished (e.g. while waiting for the broker):
			// a stop, not a failure.
			log.Info("novalet stopped during start-up", "reason", err)
			return 0
		}
		log.Error("novalet run failed", "error", err)
		if errors.Is(err, agent.ErrHostRenamed) {
			return exConfig // a restart cannot fix it; the operator must
		}
		return 1
	}
	return 0
}

// serve runs the agent: READY is sent only once the node is registered.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, notify systemd.Notifier) error {
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	status := func(s string) { _ = notify.Status(ctx, s) }

	m := metrics.New(metrics.Options{Version: version, Logger: log})
	if addr := cfg.Novalet.MetricsListen; addr != "" {
		go func() {
			if err := m.Serve(ctx, addr); err != nil {
				log.Error("metrics endpoint stopped", "listen", addr, "error", err)
			}
		}()
	}

	status("connecting to libvirt")
	drv, err := openDriver(startCtx, cfg, log)
	if err != nil {
		return err
	}
	defer drv.Close()
	hv := drv.hv
	if drv.fake() {
		log.Warn("compute_driver fake.FakeDriver: instances are kept in memory only, nothing runs", "compute_driver", drv.name)
	}
	m.SetLibvirtUp(true)
	_ = m.WatchInstances(hv)
	if err := os.MkdirAll(cfg.Default.InstancesPath, 0o755); err != nil {
		return fmt.Errorf("instances_path: %w", err)
	}

	status("connecting to RabbitMQ")
	url, err := rpc.ParseTransportURL(cfg.Default.TransportURL)
	if err != nil {
		return fmt.Errorf("[DEFAULT] transport_url: %w", err)
	}
	ropts := rabbitOptions(cfg.Rabbit)
	ropts.OnConnectionState = brokerMetrics(m)
	if err := ropts.ApplyQuery(url.Query); err != nil {
		return err
	}
	transport, err := rpc.DialAMQP(startCtx, url, ropts, log)
	if err != nil {
		return err
	}
	defer transport.Close()
	timeout := time.Duration(cfg.Default.RPCResponseTimeout) * time.Second
	client := rpc.NewClient(transport, rpc.ClientConfig{Exchange: cfg.Default.ControlExchange, Timeout: timeout, Logger: log})
	defer client.Close(context.Background())

	icOpts, err := imageCacheOptions(cfg, log)
	if err != nil {
		return err
	}
	icOpts.Observer = imageCacheMetrics{m}
	var images imagecache.Cache = imagecache.NewNoDisks(cfg.Default.InstancesPath)
	if !drv.fake() {
		if images, err = imagecache.New(icOpts); err != nil {
			return err
		}
	}
	_ = m.WatchImageCache(imageCacheUsage{images})
	if removed, err := images.CleanLeftovers(startCtx); err != nil {
		log.Warn("image cache leftovers not cleaned", "error", err)
	} else if len(removed) > 0 {
		log.Info("removed files left by interrupted image work", "files", removed)
	}
	// The Glance client the cache downloads with also writes snapshots and backups.
	imageService, ok := icOpts.Fetcher.(agent.ImageService)
	if !ok {
		return fmt.Errorf("the image cache's Glance client (%T) cannot write images", icOpts.Fetcher)
	}
	opts := agentOptions(cfg, timeout, icOpts.Owner)
	if drv.fake() {
		opts.Resources.DiskGB = fakeLocalGB
	}
	ru, err := remoteUser()
	if err != nil {
		return err
	}
	remote, err := remotefs.New(cfg.Libvirt.RemoteFilesystemTransport, remotefs.Exec(ru))
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Deps{
		Conductor:    rpc.NewConductorClient(client, rpc.CallOptions{}),
		Host:         hv,
		Hypervisor:   virt.WithCallTimeout(hv, time.Duration(cfg.Novalet.LibvirtCallTimeout)*time.Second),
		Images:       images,
		ImageService: imageService,
		Caster:       client,
		Network:      neutron.NewConnector(cfg.Neutron, log),
		Taps:         drv.taps,
		Remote:       remote,
		ConnectPlacement: func(ctx context.Context) (agent.ReportClient, error) {
			p, err := placement.Connect(ctx, cfg.Placement, log)
			if err != nil {
				return nil, err
			}
			p.OnRequest = func(err error) { m.PlacementRequest(metrics.ResultOf(err)) }
			return p, nil
		},
		Observer: m,
		Log:      log,
	}, opts)
	if err != nil {
		return err
	}
	_ = m.WatchInventory(a.Inventory)
	_ = m.WatchQueueDepth(a.QueueDepth)
	_ = m.WatchTaps(a)
	current.Store(&running{m: m, a: a})
	defer current.Store(nil)
	m.WatchHealth(a.Healthy, time.Duration(cfg.Default.ServiceDownTime)*time.Second)

	status("registering with nova-conductor")
	if err := startAgent(startCtx, a, log); err != nil {
		return err
	}
	server, err := rpc.NewServer(transport, rpc.ServerConfig{Exchange: cfg.Default.ControlExchange,
		Topic: agent.ComputeTopic, Server: a.Host(), PingEnabled: cfg.Default.RPCPingEnabled, Endpoints: a.Endpoints(), Logger: log})
	if err != nil {
		return err
	}
	if err := server.Start(startCtx); err != nil {
		return err
	}
	log.Info("novalet ready", "host", cfg.Default.Host, "node", a.NodeName(), "compute_node_uuid", a.NodeUUID())
	_ = notify.Ready(ctx)
	serving := fmt.Sprintf("serving compute.%s; node %s", cfg.Default.Host, a.NodeName())
	status(serving)
	go reportLibvirtStatus(ctx, hv, serving, status)

	loops, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	go func() {
		interval, _ := systemd.WatchdogInterval()
		_ = systemd.Watchdog{Notifier: notify, Interval: interval, Healthy: a.Healthy, Logger: log}.Run(loops)
	}()
	a.Run(loops) // returns on SIGTERM/SIGINT

	_ = notify.Stopping(context.Background())
	log.Info("stopping: finishing in-flight requests")
	stopCtx, cancelStop := context.WithTimeout(context.Background(), stopTimeout)
	defer cancelStop()
	// As oslo.service: stop consuming, then give the work in flight (RPC handlers, then builds
	// running in the background) the rest of graceful_shutdown_timeout.
	err = server.Stop(stopCtx)
	if derr := a.Drain(stopCtx); derr != nil {
		log.Warn("stopping with builds still running; start-up recovery settles them", "error", derr)
	}
	return err
}

// reportLibvirtStatus puts the libvirt connection's state in the unit's status line
// (`systemctl status novalet`) while it is lost. The watchdog keeps being fed meanwhile: the
// agent's loops go round and the connection is being reopened, and a restart would only trade
// a disabled node for one that fails to start; /healthz and novalet_libvirt_up say it is down.
func reportLibvirtStatus(ctx context.Context, hv virt.ConnectionSource, serving string, status func(string)) {
	states, err := hv.WatchConnection(ctx)
	if err != nil {
		return
	}
	for st := range states {
		if st.Up {
			status(serving)
		} else {
			status(fmt.Sprintf("%s; libvirt connection lost since %s (%s): service disabled, reconnecting",
				serving, st.Since.UTC().Format(time.RFC3339), st.Reason))
		}
	}
}

// startAgent registers the node, retrying while the conductor is not answering yet (nova-compute
// waits for the conductor the same way).
func startAgent(ctx context.Context, a *agent.Agent, log *slog.Logger) error {
	for {
		err := a.Start(ctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, rpc.ErrTimeout) || ctx.Err() != nil {
			return err
		}
		log.Warn("nova-conductor did not answer; retrying registration", "error", err)
	}
}

func resourceOptions(cfg *config.Config) agent.ResourceOptions {
	d := cfg.Default
	return agent.ResourceOptions{
		StatePath: d.StatePath, InstancesPath: d.InstancesPath, MyIP: d.MyIP, VirtType: cfg.Libvirt.VirtType,
		ReservedHostMemoryMB: d.ReservedHostMemoryMB, ReservedHostDiskMB: d.ReservedHostDiskMB, ReservedHostCPUs: d.ReservedHostCPUs,
		CPUAllocationRatio: d.CPUAllocationRatio, RAMAllocationRatio: d.RAMAllocationRatio, DiskAllocationRatio: d.DiskAllocationRatio,
		InitialCPUAllocationRatio: d.InitialCPUAllocationRatio, InitialRAMAllocationRatio: d.InitialRAMAllocationRatio,
		InitialDiskAllocationRatio: d.InitialDiskAllocationRatio,
		LibvirtCallTimeout:         time.Duration(cfg.Novalet.LibvirtCallTimeout) * time.Second,
	}
}

// rabbitOptions maps [oslo_messaging_rabbit] onto the transport's options.
func rabbitOptions(r config.Rabbit) rpc.RabbitOptions {
	o := rpc.DefaultRabbitOptions()
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	o.HeartbeatTimeoutThreshold = sec(r.HeartbeatTimeoutThreshold)
	o.HeartbeatRate = r.HeartbeatRate
	o.RetryInterval, o.RetryBackoff, o.IntervalMax = sec(r.RetryInterval), sec(r.RetryBackoff), sec(r.IntervalMax)
	o.SSL, o.SSLCAFile, o.SSLCertFile, o.SSLKeyFile = r.SSL, r.SSLCAFile, r.SSLCertFile, r.SSLKeyFile
	o.AMQPDurableQueues, o.AMQPAutoDelete, o.HAQueues, o.QuorumQueue = r.AMQPDurableQueues, r.AMQPAutoDelete, r.HAQueues, r.QuorumQueue
	o.TransientQueuesTTL = sec(r.TransientQueuesTTL)
	o.QosPrefetchCount = r.QoSPrefetchCount
	o.LoginMethod = r.LoginMethod
	return o
}
