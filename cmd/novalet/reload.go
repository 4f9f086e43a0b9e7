package main

import (
	"log/slog"
	"reflect"

	"github.com/novalet/novalet/config"
)

// reloader is what SIGHUP acts on.
type reloader struct {
	sources []config.Source
	flags   logFlags
	level   *slog.LevelVar
	logs    interface{ Reopen() error } // the log file, reopened after logrotate moved it
	log     *slog.Logger
}

// reload is what SIGHUP does, as nova-compute's: the log file is reopened (logrotate without
// copytruncate), the config files are read again and the options nova treats as mutable take
// effect ([DEFAULT] debug); a group whose other options changed is named, since those take a
// restart. A file that no longer parses keeps the running configuration.
func (r reloader) reload(running *config.Config) *config.Config {
	log, level := r.log, r.level
	if err := r.logs.Reopen(); err != nil {
		log.Error("SIGHUP: log file not reopened; writing to the previous one", "error", err)
	}
	cfg, err := loadConfig(r.sources, r.flags)
	if err != nil {
		log.Error("SIGHUP: configuration not reloaded; the running one stays", "error", err)
		return running
	}
	level.Set(logLevel(cfg.Default.Debug))
	var restart []string
	rv, nv := reflect.ValueOf(*running), reflect.ValueOf(*cfg)
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		group := f.Tag.Get("group")
		if group == "" {
			continue
		}
		a, b := rv.Field(i).Interface(), nv.Field(i).Interface()
		if group == "DEFAULT" {
			da, db := running.Default, cfg.Default
			da.Debug, db.Debug = false, false
			a, b = da, db
		}
		if !reflect.DeepEqual(a, b) {
			restart = append(restart, group)
		}
	}
	log.Info("SIGHUP: configuration reloaded", "files", cfg.Files, "debug", cfg.Default.Debug)
	if len(restart) > 0 {
		log.Warn("SIGHUP: options changed that take effect at the next restart", "groups", restart)
	}
	return cfg
}

func logLevel(debug bool) slog.Level {
	if debug {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
