//go:build race

package jwtauth

// sync.Pool drops items under the race detector, so allocation counts mean nothing there.
const raceEnabled = true
