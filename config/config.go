// Package config reads nova.conf the way oslo.config does and hands each part of novalet
// the typed options it uses.
//
// Files are read in order (several --config-file, later wins; --config-dir adds its *.conf
// files in sorted order), values may refer to other options as $name or ${name} (same group,
// then [DEFAULT]; $group.name for another group), and every option's type, default, limits,
// choices and deprecated names are nova 26.2.2's own (nova_options.json). Options nova does not
// know are reported as warnings, once each, with a suggestion for near misses.
package config

import "errors"

// Error classes; callers decide with errors.Is.
var (
	ErrParse    = errors.New("malformed config file")
	ErrInvalid  = errors.New("invalid option value")
	ErrNotFound = errors.New("config file not found")
)

// Config is every option novalet reads, grouped as in nova.conf. Field tags name the option
// (`opt:"name"`) and struct tags on Config name the group (`group:"name"`). Pointer fields are
// options whose default is None in nova: nil means unset.
type Config struct {
	Default       Default       `group:"DEFAULT"`
	API           API           `group:"api"`
	Libvirt       Libvirt       `group:"libvirt"`
	VNC           VNC           `group:"vnc"`
	Glance        Glance        `group:"glance"`
	Placement     Keystone      `group:"placement"`
	Neutron       Neutron       `group:"neutron"`
	Rabbit        Rabbit        `group:"oslo_messaging_rabbit"`
	ImageCache    ImageCache    `group:"image_cache"`
	UpgradeLevels UpgradeLevels `group:"upgrade_levels"`
	Workarounds   Workarounds   `group:"workarounds"`
	Novalet       Novalet       `group:"novalet"`
	Scheduler     Scheduler     `group:"filter_scheduler"`
	ConsoleAuth   ConsoleAuth   `group:"consoleauth"`

	// Files lists the files read, in order.
	Files []string
	// Warnings lists unknown or deprecated options found in the files, each once.
	Warnings []Warning
	// Ignored lists options nova knows that the files set and novalet does not act on, each
	// once.
	Ignored []Warning
}

// Default is [DEFAULT].
type Default struct {
	Host                        string   `opt:"host"`
	MyIP                        string   `opt:"my_ip"`
	StatePath                   string   `opt:"state_path"`
	InstancesPath               string   `opt:"instances_path"`
	TransportURL                string   `opt:"transport_url"`
	ControlExchange             string   `opt:"control_exchange"`
	RPCResponseTimeout          int      `opt:"rpc_response_timeout"`
	LongRPCTimeout              int      `opt:"long_rpc_timeout"`
	RPCPingEnabled              bool     `opt:"rpc_ping_enabled"`
	ReportInterval              int      `opt:"report_interval"`
	ServiceDownTime             int      `opt:"service_down_time"`
	ComputeDriver               string   `opt:"compute_driver"`
	MaxConcurrentBuilds         int      `opt:"max_concurrent_builds"`
	MaxConcurrentSnapshots      int      `opt:"max_concurrent_snapshots"`
	ShelvedOffloadTime          int      `opt:"shelved_offload_time"`
	ShelvedPollInterval         int      `opt:"shelved_poll_interval"`
	ResizeConfirmWindow         int      `opt:"resize_confirm_window"`
	ReservedHostMemoryMB        int      `opt:"reserved_host_memory_mb"`
	ReservedHostDiskMB          int      `opt:"reserved_host_disk_mb"`
	ReservedHostCPUs            int      `opt:"reserved_host_cpus"`
	CPUAllocationRatio          *float64 `opt:"cpu_allocation_ratio"`
	RAMAllocationRatio          *float64 `opt:"ram_allocation_ratio"`
	DiskAllocationRatio         *float64 `opt:"disk_allocation_ratio"`
	InitialCPUAllocationRatio   float64  `opt:"initial_cpu_allocation_ratio"`
	InitialRAMAllocationRatio   float64  `opt:"initial_ram_allocation_ratio"`
	InitialDiskAllocationRatio  float64  `opt:"initial_disk_allocation_ratio"`
	ForceConfigDrive            bool     `opt:"force_config_drive"`
	PasswordLength              int      `opt:"password_length"`
	ConfigDriveFormat           string   `opt:"config_drive_format"`
	MkisofsCmd                  string   `opt:"mkisofs_cmd"`
	ForceRawImages              bool     `opt:"force_raw_images"`
	UseCowImages                bool     `opt:"use_cow_images"`
	SyncPowerStateInterval      int      `opt:"sync_power_state_interval"`
	ShutdownTimeout             int      `opt:"shutdown_timeout"`
	ResumeGuestsStateOnHostBoot bool     `opt:"resume_guests_state_on_host_boot"`
	VIFPluggingTimeout          int      `opt:"vif_plugging_timeout"`
	VIFPluggingIsFatal          bool     `opt:"vif_plugging_is_fatal"`
	InstanceNameTemplate        string   `opt:"instance_name_template"`
	PointerModel                string   `opt:"pointer_model"`
	DefaultAvailabilityZone     string   `opt:"default_availability_zone"`
	ReclaimInstanceInterval     int      `opt:"reclaim_instance_interval"`
	Debug                       bool     `opt:"debug"`
	// oslo.log's options (nova-compute's handlers and their precedence; see cmd/novalet's
	// logging). watch_log_file is accepted: novalet reopens its log file on SIGHUP instead.
	LogFile           string `opt:"log_file"`
	LogDir            string `opt:"log_dir"`
	UseStderr         bool   `opt:"use_stderr"`
	UseJournal        bool   `opt:"use_journal"`
	UseSyslog         bool   `opt:"use_syslog"`
	SyslogLogFacility string `opt:"syslog_log_facility"`
	UseJSON           bool   `opt:"use_json"`
	LogDateFormat     string `opt:"log_date_format"`
	WatchLogFile      bool   `opt:"watch_log_file"`
}

// API is [api] (only what a compute node uses).
type API struct {
	DHCPDomain string `opt:"dhcp_domain"`
}

// Libvirt is [libvirt].
type Libvirt struct {
	VirtType              string   `opt:"virt_type"`
	ConnectionURI         string   `opt:"connection_uri"`
	HWMachineType         []string `opt:"hw_machine_type"`
	CPUMode               string   `opt:"cpu_mode"`
	CPUModels             []string `opt:"cpu_models"`
	ImagesType            string   `opt:"images_type"`
	WaitSoftRebootSeconds int      `opt:"wait_soft_reboot_seconds"`
	// Snapshots: where the image is staged, its format ("" = the disk's own), compression.
	SnapshotsDirectory  string `opt:"snapshots_directory"`
	SnapshotImageFormat string `opt:"snapshot_image_format"`
	SnapshotCompression bool   `opt:"snapshot_compression"`
	// RemoteFilesystemTransport is how a resize or cold migration copies disks to another
	// host: "ssh" (scp, nova's default) or "rsync".
	RemoteFilesystemTransport string `opt:"remote_filesystem_transport"`
	// Rescue: the kernel and ramdisk a rescue boots (rescue_image_id is read by nova's driver
	// but never reached; it is accepted and unused).
	RescueImageID   string `opt:"rescue_image_id"`
	RescueKernelID  string `opt:"rescue_kernel_id"`
	RescueRamdiskID string `opt:"rescue_ramdisk_id"`
}

// VNC is [vnc].
type VNC struct {
	Enabled                  bool   `opt:"enabled"`
	ServerListen             string `opt:"server_listen"`
	ServerProxyclientAddress string `opt:"server_proxyclient_address"`
	NoVNCProxyBaseURL        string `opt:"novncproxy_base_url"`
}

// Adapter is keystoneauth's adapter and session options, shared by every REST client section.
type Adapter struct {
	ServiceType      string   `opt:"service_type"`
	RegionName       string   `opt:"region_name"`
	ValidInterfaces  []string `opt:"valid_interfaces"`
	EndpointOverride string   `opt:"endpoint_override"`
	Insecure         bool     `opt:"insecure"`
	CAFile           string   `opt:"cafile"`
	Timeout          *int     `opt:"timeout"`
}

// Keystone is a section with keystoneauth credentials ([placement], [neutron]).
type Keystone struct {
	Adapter
	AuthType          string `opt:"auth_type"`
	AuthURL           string `opt:"auth_url"`
	Username          string `opt:"username"`
	UserID            string `opt:"user_id"`
	Password          string `opt:"password" secret:"true"`
	ProjectName       string `opt:"project_name"`
	ProjectID         string `opt:"project_id"`
	ProjectDomainName string `opt:"project_domain_name"`
	ProjectDomainID   string `opt:"project_domain_id"`
	UserDomainName    string `opt:"user_domain_name"`
	UserDomainID      string `opt:"user_domain_id"`
	SystemScope       string `opt:"system_scope"`
}

// Glance is [glance].
type Glance struct {
	Adapter
	APIServers []string `opt:"api_servers"`
	NumRetries int      `opt:"num_retries"`
}

// Neutron is [neutron].
type Neutron struct {
	Keystone
	ServiceMetadataProxy      bool     `opt:"service_metadata_proxy"`
	MetadataProxySharedSecret string   `opt:"metadata_proxy_shared_secret"`
	HTTPRetries               int      `opt:"http_retries"`
	Physnets                  []string `opt:"physnets"`
}

// Rabbit is [oslo_messaging_rabbit] (oslo.messaging 14.0.3).
type Rabbit struct {
	HeartbeatTimeoutThreshold int     `opt:"heartbeat_timeout_threshold"`
	HeartbeatRate             int     `opt:"heartbeat_rate"`
	RetryInterval             int     `opt:"rabbit_retry_interval"`
	RetryBackoff              int     `opt:"rabbit_retry_backoff"`
	IntervalMax               int     `opt:"rabbit_interval_max"`
	LoginMethod               string  `opt:"rabbit_login_method"`
	SSL                       bool    `opt:"ssl"`
	SSLCAFile                 string  `opt:"ssl_ca_file"`
	SSLCertFile               string  `opt:"ssl_cert_file"`
	SSLKeyFile                string  `opt:"ssl_key_file"`
	AMQPDurableQueues         bool    `opt:"amqp_durable_queues"`
	AMQPAutoDelete            bool    `opt:"amqp_auto_delete"`
	HAQueues                  bool    `opt:"rabbit_ha_queues"`
	QuorumQueue               bool    `opt:"rabbit_quorum_queue"`
	TransientQueuesTTL        int     `opt:"rabbit_transient_queues_ttl"`
	QoSPrefetchCount          int     `opt:"rabbit_qos_prefetch_count"`
	KombuReconnectDelay       float64 `opt:"kombu_reconnect_delay"`
	DirectMandatoryFlag       bool    `opt:"direct_mandatory_flag"`
}

// ImageCache is [image_cache].
type ImageCache struct {
	ManagerInterval                       int    `opt:"manager_interval"`
	SubdirectoryName                      string `opt:"subdirectory_name"`
	RemoveUnusedBaseImages                bool   `opt:"remove_unused_base_images"`
	RemoveUnusedOriginalMinimumAgeSeconds int    `opt:"remove_unused_original_minimum_age_seconds"`
	RemoveUnusedResizedMinimumAgeSeconds  int    `opt:"remove_unused_resized_minimum_age_seconds"`
}

// UpgradeLevels is [upgrade_levels].
type UpgradeLevels struct {
	Compute *string `opt:"compute"`
}

// Workarounds is [workarounds].
type Workarounds struct {
	ReserveDiskResourceForImageCache bool `opt:"reserve_disk_resource_for_image_cache"`
	HandleVirtLifecycleEvents        bool `opt:"handle_virt_lifecycle_events"`
}

// Scheduler is [filter_scheduler] (what a compute node reads of it).
type Scheduler struct {
	TrackInstanceChanges bool `opt:"track_instance_changes"`
}

// ConsoleAuth is [consoleauth].
type ConsoleAuth struct {
	TokenTTL int `opt:"token_ttl"`
}

// Novalet is novalet's own [novalet] group.
type Novalet struct {
	MetricsListen      string `opt:"metrics_listen"`
	LibvirtCallTimeout int    `opt:"libvirt_call_timeout"`
	MinFreeDiskMB      int    `opt:"min_free_disk_mb"`
}
