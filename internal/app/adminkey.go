package app

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// adminKeyFile is where a generated admin key is kept, inside the data dir. Sluice never writes
// it back into config.yaml (a deliberate deviation from APISIX).
const adminKeyFile = "admin.key"

const keyAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// loadOrGenerateAdminKey returns the key stored in dataDir, creating a random 32-letter key (the
// shape APISIX generates) with mode 0600 when there is none. generated reports a new key, so the
// caller prints it exactly once.
func loadOrGenerateAdminKey(dataDir string) (key string, generated bool, err error) {
	path := filepath.Join(dataDir, adminKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		key = strings.TrimSpace(string(b))
		if key == "" {
			return "", false, fmt.Errorf("admin key file %s is empty: delete it to generate a new key", path)
		}
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read admin key: %w", err)
	}
	key, err = randomKey(32)
	if err != nil {
		return "", false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("create admin key file: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("write admin key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", false, fmt.Errorf("write admin key file: %w", err)
	}
	return key, true, nil
}

func randomKey(n int) (string, error) {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate admin key: %w", err)
	}
	for i, b := range buf {
		// 256 % 52 != 0, so reject-sample to keep every letter equally likely.
		for int(b) >= 256-256%len(keyAlphabet) {
			var one [1]byte
			if _, err := rand.Read(one[:]); err != nil {
				return "", fmt.Errorf("generate admin key: %w", err)
			}
			b = one[0]
		}
		buf[i] = keyAlphabet[int(b)%len(keyAlphabet)]
	}
	return string(buf), nil
}
