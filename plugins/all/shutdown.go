package all

import (
	"context"

	"github.com/sluicegw/sluice/plugins/internal/batch"
)

// Shutdown sends what the built-in plugins still buffer (the loggers' batches), waiting at
// most until ctx ends. The binary calls it once, after the node stopped serving.
func Shutdown(ctx context.Context) error { return batch.Shutdown(ctx) }
