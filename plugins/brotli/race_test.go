//go:build race

package brotli

// The race detector makes sync.Pool (which the encoder uses inside) drop items at random.
const raceEnabled = true
