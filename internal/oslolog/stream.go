package oslolog

import (
	"io"
	"sync"
)

// streamSink writes one line per record to stdout or stderr (oslo's ColorHandler, without
// the colour escapes its default format does not use).
type streamSink struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *streamSink) emit(e *entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(append(e.text, '\n'))
	return err
}
