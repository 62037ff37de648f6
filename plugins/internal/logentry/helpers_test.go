package logentry

import "github.com/sluicegw/sluice/plugins/internal/batch"

func batchCfg(size int) batch.Config { return batch.Config{BatchMaxSize: size} }
