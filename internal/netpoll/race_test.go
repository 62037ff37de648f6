//go:build race

package netpoll

// raceEnabled: the race detector's runtime shuffles run queues on purpose (randomizeScheduler),
// so no poll order survives to the goroutines.
const raceEnabled = true
