//go:build race

package limitreq

// raceEnabled: sync.Pool drops items on purpose under -race, so allocation counts are off.
const raceEnabled = true
