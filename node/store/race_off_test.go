//go:build !race

package store

// raceEnabled reports whether the race detector is on; slow tests do less
// work under it.
const raceEnabled = false
