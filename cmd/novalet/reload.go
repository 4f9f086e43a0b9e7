package main

import (
	"log/slog"
	"reflect"

	"github.com/novalet/novalet/config"
)

// reloadConfig is what SIGHUP does, as nova-compute's: the config files are read again and
// the options nova treats as mutable take effect ([DEFAULT] debug); a group whose other options
// changed is named, since those take a restart. A file that no longer parses keeps the running
// configuration.
func reloadConfig(sources []config.Source, running *config.Config, level *slog.LevelVar, log *slog.Logger) *config.Config {
	cfg, err := config.Load(sources)
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
