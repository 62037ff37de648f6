package proxycache

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// zoneSpec is one apisix.proxy_cache.zones item. A zone with a disk_path is a disk zone.
type zoneSpec struct {
	Name        string
	MemorySize  int64  // memory zone: entry bytes; disk zone: index bytes (nginx keys_zone)
	DiskSize    int64  // disk zone: bytes of cached files (nginx max_size)
	DiskPath    string // "" for memory zones
	CacheLevels string // "1:2"
}

func (s zoneSpec) disk() bool { return s.DiskPath != "" }

// defaultZoneSpecs are config-default.yaml's zones.
func defaultZoneSpecs() []zoneSpec {
	return []zoneSpec{
		{Name: "disk_cache_one", MemorySize: 50 << 20, DiskSize: 1 << 30, DiskPath: "/tmp/disk_cache_one", CacheLevels: "1:2"},
		{Name: "memory_cache", MemorySize: 50 << 20},
	}
}

// defaultDiskTTL is apisix.proxy_cache.cache_ttl's default (nginx proxy_cache_valid any 10s).
const defaultDiskTTL = 10 * time.Second

// nodeConf is apisix.proxy_cache as the node configuration holds it; sizes and times may be
// written as numbers or as nginx strings ("50m", "10s").
type nodeConf struct {
	CacheTTL json.RawMessage `json:"cache_ttl"`
	Zones    []struct {
		Name        string          `json:"name"`
		MemorySize  json.RawMessage `json:"memory_size"`
		DiskSize    json.RawMessage `json:"disk_size"`
		DiskPath    string          `json:"disk_path"`
		CacheLevels json.RawMessage `json:"cache_levels"`
	} `json:"zones"`
}

// parseNodeConf reads apisix.proxy_cache (nil: the defaults).
func parseNodeConf(raw json.RawMessage) ([]zoneSpec, time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return defaultZoneSpecs(), defaultDiskTTL, nil
	}
	var nc nodeConf
	if err := json.Unmarshal(raw, &nc); err != nil {
		return nil, 0, fmt.Errorf("apisix.proxy_cache: %w", err)
	}
	ttl := defaultDiskTTL
	if len(nc.CacheTTL) > 0 && string(nc.CacheTTL) != "null" {
		d, err := parseNginxTime(rawScalar(nc.CacheTTL))
		if err != nil {
			return nil, 0, fmt.Errorf("apisix.proxy_cache.cache_ttl: %w", err)
		}
		ttl = d
	}
	if nc.Zones == nil {
		return defaultZoneSpecs(), ttl, nil
	}
	seen := map[string]bool{}
	specs := make([]zoneSpec, 0, len(nc.Zones))
	for i, z := range nc.Zones {
		if z.Name == "" {
			return nil, 0, fmt.Errorf("apisix.proxy_cache.zones[%d]: name is required", i)
		}
		if seen[z.Name] {
			return nil, 0, fmt.Errorf("apisix.proxy_cache.zones[%d]: duplicate zone %q", i, z.Name)
		}
		seen[z.Name] = true
		s := zoneSpec{Name: z.Name, DiskPath: z.DiskPath, CacheLevels: "1:2"}
		var err error
		if s.MemorySize, err = parseSize(rawScalar(z.MemorySize), 50<<20); err != nil {
			return nil, 0, fmt.Errorf("apisix.proxy_cache.zones[%d] (%s).memory_size: %w", i, z.Name, err)
		}
		if s.DiskSize, err = parseSize(rawScalar(z.DiskSize), 1<<30); err != nil {
			return nil, 0, fmt.Errorf("apisix.proxy_cache.zones[%d] (%s).disk_size: %w", i, z.Name, err)
		}
		if lv := rawScalar(z.CacheLevels); lv != "" {
			s.CacheLevels = lv
		}
		if s.disk() {
			if _, err := parseLevels(s.CacheLevels); err != nil {
				return nil, 0, fmt.Errorf("apisix.proxy_cache.zones[%d] (%s).cache_levels: %w", i, z.Name, err)
			}
		}
		specs = append(specs, s)
	}
	return specs, ttl, nil
}

// rawScalar turns a JSON string or number into its text ("" for absent or null).
func rawScalar(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// parseSize reads an nginx size: bytes, or a number with k/K, m/M, g/G.
func parseSize(s string, def int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	num := s
	if mult != 1 {
		num = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

// parseNginxTime reads an nginx time: seconds, or numbers with ms/s/m/h/d/w/M/y units
// ("1h30m" included).
func parseNginxTime(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty time")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	var total time.Duration
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid time %q", s)
		}
		n, _ := strconv.ParseInt(rest[:i], 10, 64)
		rest = rest[i:]
		unit := time.Second
		switch {
		case strings.HasPrefix(rest, "ms"):
			unit, rest = time.Millisecond, rest[2:]
		case rest == "":
		default:
			switch rest[0] {
			case 's':
				unit = time.Second
			case 'm':
				unit = time.Minute
			case 'h':
				unit = time.Hour
			case 'd':
				unit = 24 * time.Hour
			case 'w':
				unit = 7 * 24 * time.Hour
			case 'M':
				unit = 30 * 24 * time.Hour
			case 'y':
				unit = 365 * 24 * time.Hour
			default:
				return 0, fmt.Errorf("invalid time %q", s)
			}
			rest = rest[1:]
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

// parseLevels reads nginx's levels ("1:2"): up to three levels of 1 or 2 hex digits.
func parseLevels(s string) ([]int, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return nil, fmt.Errorf("invalid levels %q", s)
	}
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 2 {
			return nil, fmt.Errorf("invalid levels %q", s)
		}
		out[i] = n
	}
	return out, nil
}

// zones is the plugin's node-level state (Definition.Start's Shared): every configured zone,
// created once per node, because entries must outlive config reloads and be shared by every
// route naming the zone, as nginx's shared zones are.
type zones struct {
	specs  []zoneSpec
	byName map[string]*zone
}

// start is Definition.Start: it creates the zones apisix.proxy_cache configures.
func start(node plugin.Node) (plugin.Shared, error) {
	specs, ttl, err := parseNodeConf(node.Config("apisix.proxy_cache"))
	if err != nil {
		return nil, err
	}
	return newZones(specs, ttl, node)
}

func newZones(specs []zoneSpec, diskTTL time.Duration, node plugin.Node) (*zones, error) {
	zs := &zones{specs: specs, byName: make(map[string]*zone, len(specs))}
	for _, s := range specs {
		z, err := newZone(s, diskTTL)
		if err != nil {
			zs.Close()
			return nil, fmt.Errorf("proxy-cache zone %s: %w", s.Name, err)
		}
		zs.byName[s.Name] = z
		if node != nil && s.disk() {
			node.Logger().Info("proxy-cache disk zone loaded", "zone", s.Name, "path", s.DiskPath,
				"entries", z.count(), "bytes", z.used.Load())
		}
	}
	return zs, nil
}

// Close drops memory entries; disk entries stay on disk for the next start.
func (zs *zones) Close() error {
	for _, z := range zs.byName {
		z.close()
	}
	return nil
}
