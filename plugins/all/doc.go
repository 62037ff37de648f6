// Package all imports every built-in plugin so that it registers.
package all
