//go:build !race

package limitconn

const raceEnabled = false
