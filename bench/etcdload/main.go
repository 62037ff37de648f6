// Command etcdload writes many routes straight into etcd, as `etcdctl put` would, in
// transactions of up to -batch keys: bench/run.sh's case d and bench/mem.sh load 10k routes
// in seconds this way instead of minutes of Admin API PUTs (each of which is validated,
// written and fsynced on its own).
//
//	go run ./bench/etcdload -endpoints http://127.0.0.1:2379 -n 10000 -upstream origin
//
// Route i is /apisix/routes/<id-prefix><i> = {"id":…,"uri":"<uri-prefix><i>","upstream_id":…}
// with create_time/update_time, the value the Admin API would have stored. The upstream must
// exist (the Admin API creates it); the gateway picks the routes up through its watch.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	endpoints := flag.String("endpoints", "http://127.0.0.1:2379", "etcd client URLs, comma-separated")
	prefix := flag.String("prefix", "/apisix", "the gateway's etcd key prefix (deployment.etcd.prefix)")
	n := flag.Int("n", 10000, "routes to write (1..n)")
	idPrefix := flag.String("id-prefix", "bench-d-", "route id = id-prefix + i")
	uriPrefix := flag.String("uri-prefix", "/bench/d/", "route uri = uri-prefix + i")
	upstream := flag.String("upstream", "origin", "upstream_id of every route")
	batch := flag.Int("batch", 100, "keys per transaction (etcd's --max-txn-ops defaults to 128)")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if err := run(strings.Split(*endpoints, ","), *prefix, *n, *idPrefix, *uriPrefix, *upstream, *batch, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "etcdload:", err)
		os.Exit(1)
	}
}

func run(endpoints []string, prefix string, n int, idPrefix, uriPrefix, upstream string, batch int, timeout time.Duration) error {
	if n < 1 || batch < 1 {
		return fmt.Errorf("-n and -batch must be >= 1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second, Context: ctx})
	if err != nil {
		return fmt.Errorf("connect %v: %w", endpoints, err)
	}
	defer cli.Close()
	now := time.Now().Unix()
	start := time.Now()
	ops := make([]clientv3.Op, 0, batch)
	for i := 1; i <= n; i++ {
		id := fmt.Sprint(idPrefix, i)
		v, err := json.Marshal(map[string]any{
			"id": id, "uri": fmt.Sprint(uriPrefix, i), "upstream_id": upstream,
			"create_time": now, "update_time": now,
		})
		if err != nil {
			return fmt.Errorf("route %s: %w", id, err)
		}
		ops = append(ops, clientv3.OpPut(prefix+"/routes/"+id, string(v)))
		if len(ops) == batch || i == n {
			if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
				return fmt.Errorf("write routes up to %s: %w", id, err)
			}
			ops = ops[:0]
		}
	}
	fmt.Printf("etcdload: %d routes written in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}
