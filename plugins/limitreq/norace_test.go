//go:build !race

package limitreq

const raceEnabled = false
