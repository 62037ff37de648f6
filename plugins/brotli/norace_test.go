//go:build !race

package brotli

const raceEnabled = false
