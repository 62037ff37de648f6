package plugin

import "strings"

// VarKind says where a variable's value comes from.
type VarKind uint8

const (
	VarUnknown         VarKind = iota // any other name: resolved by Vars.Lookup by Name, or absent
	VarArg                            // arg_<name>: first query argument <name>
	VarHeader                         // http_<name>: request header, '_' read as '-', case-insensitive
	VarCookie                         // cookie_<name>: cookie <name> (case-sensitive)
	VarURIParam                       // uri_param_<name>: a router capture (:name or *name)
	VarPostArg                        // post_arg_<name>: urlencoded form body field
	VarURI                            // uri: normalized path, no query
	VarRequestURI                     // request_uri: raw target with query
	VarQueryString                    // query_string / args
	VarHost                           // host: Host without port, lower-case
	VarRemoteAddr                     // remote_addr
	VarRemotePort                     // remote_port
	VarServerAddr                     // server_addr
	VarServerPort                     // server_port
	VarRequestMethod                  // request_method
	VarScheme                         // scheme: http or https
	VarServerProtocol                 // server_protocol: HTTP/1.1, HTTP/2.0
	VarRouteID                        // route_id
	VarRouteName                      // route_name
	VarServiceID                      // service_id
	VarServiceName                    // service_name
	VarConsumerName                   // consumer_name
	VarConsumerGroupID                // consumer_group_id
	VarRequestID                      // apisix_request_id
	VarStatus                         // status: the response status (header_filter, body_filter, log)
)

// Var is a compiled variable reference: the name is parsed once, when a config is compiled,
// so a request never looks a variable up by its string name.
type Var struct {
	Kind VarKind
	// Name is the part after the prefix for the prefixed kinds (arg_x → "x"; http_x_api_key →
	// "x-api-key"), the whole name for VarUnknown and VarStatus (so a Vars that predates
	// VarStatus and resolves unknown kinds by name keeps answering it), and empty otherwise.
	Name string
}

var builtinVars = map[string]VarKind{
	"uri": VarURI, "request_uri": VarRequestURI, "query_string": VarQueryString, "args": VarQueryString,
	"host": VarHost, "remote_addr": VarRemoteAddr, "remote_port": VarRemotePort,
	"server_addr": VarServerAddr, "server_port": VarServerPort, "request_method": VarRequestMethod,
	"scheme": VarScheme, "server_protocol": VarServerProtocol, "route_id": VarRouteID,
	"route_name": VarRouteName, "service_id": VarServiceID, "service_name": VarServiceName,
	"consumer_name": VarConsumerName, "consumer_group_id": VarConsumerGroupID,
	"apisix_request_id": VarRequestID, "status": VarStatus,
}

// ParseVar compiles a variable name as APISIX and nginx spell it.
func ParseVar(name string) Var {
	if k, ok := builtinVars[name]; ok {
		if k == VarStatus {
			return Var{Kind: k, Name: name}
		}
		return Var{Kind: k}
	}
	for _, p := range []struct {
		prefix string
		kind   VarKind
	}{
		{"arg_", VarArg}, {"http_", VarHeader}, {"cookie_", VarCookie},
		{"uri_param_", VarURIParam}, {"post_arg_", VarPostArg},
	} {
		if rest, ok := strings.CutPrefix(name, p.prefix); ok && rest != "" {
			if p.kind == VarHeader {
				rest = strings.ToLower(strings.ReplaceAll(rest, "_", "-"))
			}
			return Var{Kind: p.kind, Name: rest}
		}
	}
	return Var{Kind: VarUnknown, Name: name}
}

// Vars resolves variables for one request. The returned slice is only valid until the phase
// returns (it may alias the engine's buffers); copy it to keep it.
type Vars interface {
	Lookup(v *Var) (value []byte, ok bool)
}
