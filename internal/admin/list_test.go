package admin

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluicegw/sluice/internal/store"
)

func init() {
	register(
		suiteCase{"Paging", testPaging},
		suiteCase{"Filters", testFilters},
		suiteCase{"ListSkipsPlaceholders", testListPlaceholders},
	)
}

// listIDs returns the ids of a list answer, in order, and its total.
func listIDs(t *testing.T, e *env, path string) ([]string, int) {
	t.Helper()
	got := e.do("GET", path, "")
	e.expect(got, 200, "", false)
	m := decode(t, got.body)
	var ids []string
	for _, it := range m["list"].([]any) {
		id, _ := idString(it.(map[string]any)["value"].(map[string]any)["id"])
		ids = append(ids, id)
	}
	return ids, int(m["total"].(float64))
}

func testPaging(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	// Created in reverse key order: lists follow creation, not keys.
	for i := 25; i >= 1; i-- {
		e.expect(e.do("PUT", fmt.Sprintf("/apisix/admin/routes/%02d", i), route1), 201, "", false)
	}
	for _, c := range []struct {
		query      string
		first      string
		n, total   int
		wantStatus int
		wantBody   string
	}{
		{"", "25", 25, 25, 200, ""},
		{"?page=1&page_size=10", "25", 10, 25, 200, ""},
		{"?page=3&page_size=10", "05", 5, 25, 200, ""},
		{"?page=4&page_size=10", "", 0, 25, 200, ""},
		{"?page=0&page_size=10", "25", 10, 25, 200, ""},
		{"?page=2", "25", 25, 25, 200, ""},
		{"?page_size=10", "25", 25, 25, 200, ""},
		{"?page=1&page_size=9", "", 0, 0, 400, "page_size must be between 10 and 500"},
		{"?page=1&page_size=501", "", 0, 0, 400, "page_size must be between 10 and 500"},
	} {
		t.Run(c.query, func(t *testing.T) {
			if c.wantStatus != 200 {
				e.expect(e.do("GET", "/apisix/admin/routes"+c.query, ""), c.wantStatus, c.wantBody, true)
				return
			}
			ids, total := listIDs(t, e, "/apisix/admin/routes"+c.query)
			if len(ids) != c.n || total != c.total || (c.n > 0 && ids[0] != c.first) {
				t.Fatalf("ids %v total %d, want %d items from %q, total %d", ids, total, c.n, c.first, c.total)
			}
		})
	}
}

func testFilters(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	e.expect(e.do("PUT", "/apisix/admin/upstreams/u1", upstream1), 201, "", false)
	e.expect(e.do("PUT", "/apisix/admin/services/s1", `{"upstream_id":"u1"}`), 201, "", false)
	for _, r := range []string{
		`{"id":"1","name":"api-users","uri":"/users/*","labels":{"env":"prod"},"upstream_id":"u1"}`,
		`{"id":"2","name":"api-orders","uris":["/orders","/carts"],"labels":{"team":"b"},"service_id":"s1"}`,
		`{"id":"3","uri":"/health","upstream_id":"u1","service_id":"s1"}`,
	} {
		e.expect(e.do("PUT", "/apisix/admin/routes", r), 201, "", false)
	}
	for _, c := range []struct {
		query string
		ids   []string
	}{
		{"?name=api", []string{"1", "2"}},
		{"?name=^api-o", []string{"2"}},
		{"?label=env", []string{"1"}},
		{"?label=prod", nil},
		{"?uri=users", []string{"1"}},
		{"?uri=carts", []string{"2"}},
		{"?name=api&label=team", []string{"2"}},
		{"?filter=service_id%3Ds1", []string{"2", "3"}},
		{"?filter=service_id%3Ds1%26upstream_id%3Du1", []string{"3"}},
		{"?filter=upstream_id%3Dnope", nil},
		{"?name=api&page=1&page_size=10", []string{"1", "2"}},
	} {
		t.Run(c.query, func(t *testing.T) {
			ids, total := listIDs(t, e, "/apisix/admin/routes"+c.query)
			if fmt.Sprint(ids) != fmt.Sprint(c.ids) || total != len(c.ids) {
				t.Fatalf("ids %v total %d, want %v", ids, total, c.ids)
			}
		})
	}
}

func testListPlaceholders(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	ctx := context.Background()
	// `apisix init_etcd` leaves an init_dir placeholder at <prefix>/<dir>/.
	if _, _, err := st.Put(ctx, prefix+"/routes/", []byte(`"init_dir"`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.expect(e.do("GET", "/apisix/admin/routes", ""), 200, `{"list":[],"total":0}`, true)
	e.expect(e.do("PUT", "/apisix/admin/routes/1", route1), 201, "", false)
	if ids, total := listIDs(t, e, "/apisix/admin/routes"); total != 1 || ids[0] != "1" {
		t.Fatalf("ids %v total %d", ids, total)
	}
}
