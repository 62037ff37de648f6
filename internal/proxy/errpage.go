package proxy

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// Error responses. APISIX answers most gateway errors with core.response.exit(status) and no
// body, so nginx's built-in page goes out; Sluice sends the same page with its own name where
// nginx prints "openresty". Route-level JSON errors keep APISIX's `{"error_msg": ...}` shape.

// routeNotFound is APISIX's body for an unmatched request (core.response.exit with a table:
// JSON plus a trailing newline), sent as nginx's default_type text/plain.
var routeNotFound = []byte(`{"error_msg":"404 Route Not Found"}` + "\n")

// nginx's status lines for the pages it generates (ngx_http_special_response.c).
var statusText = map[int]string{
	400: "Bad Request",
	403: "Forbidden",
	404: "Not Found",
	405: "Not Allowed",
	408: "Request Time-out",
	413: "Request Entity Too Large",
	414: "Request-URI Too Large",
	431: "Request Header Fields Too Large",
	500: "Internal Server Error",
	501: "Not Implemented",
	502: "Bad Gateway",
	503: "Service Temporarily Unavailable",
	504: "Gateway Time-out",
	505: "HTTP Version Not Supported",
}

// errorPages are built once: status → page bytes.
var errorPages = func() map[int][]byte {
	m := make(map[int][]byte, len(statusText))
	for code, text := range statusText {
		line := strconv.Itoa(code) + " " + text
		m[code] = []byte("<html>\r\n<head><title>" + line + "</title></head>\r\n<body>\r\n<center><h1>" +
			line + "</h1></center>\r\n<hr><center>sluice</center>\r\n</body>\r\n</html>\r\n")
	}
	return m
}()

// writeErrorPage sets an nginx-style error response. The response head must still be fresh
// (nothing copied from a node), so the Server header fasthttp set stays.
func writeErrorPage(fc *fasthttp.RequestCtx, status int) {
	fc.SetStatusCode(status)
	fc.Response.Header.SetContentType("text/html")
	fc.Response.SetBodyRaw(errorPages[status])
}

// setPageCopy sets nginx's page for status as the response body, copied into the response's
// own buffer: a body filter may edit its chunk in place, never the shared page.
func setPageCopy(fc *fasthttp.RequestCtx, status int) {
	fc.SetStatusCode(status)
	fc.Response.Header.SetContentType("text/html")
	fc.Response.SetBody(exitPage(status))
}

// writeJSONError sets an APISIX `{"error_msg": ...}` response; msg must be JSON-safe.
func writeJSONError(fc *fasthttp.RequestCtx, status int, msg string) {
	fc.SetStatusCode(status)
	fc.Response.Header.SetContentType("text/plain")
	fc.Response.SetBodyString(`{"error_msg":"` + msg + "\"}\n")
}
