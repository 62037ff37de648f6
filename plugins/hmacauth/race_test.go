//go:build race

package hmacauth

// sync.Pool drops items under the race detector, so allocation counts mean nothing there.
const raceEnabled = true
