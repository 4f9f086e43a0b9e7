package oslolog

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// fileSink is oslo's WatchedFileHandler: the log file opened for append (O_APPEND, so
// logrotate's copytruncate leaves no hole), reopened by Reopen after a rotation that moved it.
type fileSink struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// openFile opens path for append, creating it (0640) and its directory (0750) if missing.
func openFile(path string) (*fileSink, error) {
	s := &fileSink{path: path}
	if err := s.reopen(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fileSink) open() (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return nil, fmt.Errorf("log file %s: %w", s.path, err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// reopen opens the path afresh (logrotate's create mode moved the old file away) and closes
// the previous file; on failure the previous file stays in use.
func (s *fileSink) reopen() error {
	f, err := s.open()
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.f
	s.f = f
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return nil
}

func (s *fileSink) emit(e *entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.f.Write(append(e.text, '\n'))
	return err
}

func (s *fileSink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}
