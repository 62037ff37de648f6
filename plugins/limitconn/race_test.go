//go:build race

package limitconn

// raceEnabled: sync.Pool drops items on purpose under -race, so allocation counts are off.
const raceEnabled = true
