//go:build sluice_fifo_netpoll

// An assembly file lets fifo.go declare patchedRuntime without a body (it links to the runtime).
