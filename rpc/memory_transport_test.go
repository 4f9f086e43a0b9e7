package rpc_test

import (
	"testing"

	"github.com/novalet/novalet/rpc"
)

func TestMemoryTransportConformance(t *testing.T) {
	broker := rpc.NewMemoryBroker()
	runTransportConformance(t, transportHarness{
		New: func(t *testing.T, opts rpc.RabbitOptions) rpc.Transport {
			tr := broker.Transport(opts)
			t.Cleanup(func() { _ = tr.Close() })
			return tr
		},
	})
}
