package model

// References lists the resources obj refers to, in a stable order.
func References(kind Kind, obj map[string]any) []Ref {
	var refs []Ref
	add := func(k Kind, field string, v any) {
		if v == nil {
			return
		}
		refs = append(refs, Ref{Kind: k, ID: idString(v), Field: field})
	}
	switch kind {
	case Routes:
		add(Upstreams, "upstream_id", obj["upstream_id"])
		add(Services, "service_id", obj["service_id"])
		add(PluginConfigs, "plugin_config_id", obj["plugin_config_id"])
		refs = append(refs, trafficSplitRefs(obj["plugins"])...)
		refs = append(refs, upstreamTLSRefs(obj["upstream"])...)
	case Services:
		add(Upstreams, "upstream_id", obj["upstream_id"])
		refs = append(refs, trafficSplitRefs(obj["plugins"])...)
		refs = append(refs, upstreamTLSRefs(obj["upstream"])...)
	case StreamRoutes:
		add(Upstreams, "upstream_id", obj["upstream_id"])
		add(Services, "service_id", obj["service_id"])
		refs = append(refs, upstreamTLSRefs(obj["upstream"])...)
	case Consumers:
		add(ConsumerGroups, "group_id", obj["group_id"])
	case Upstreams:
		refs = append(refs, upstreamTLSRefs(obj)...)
	case PluginConfigs, ConsumerGroups, GlobalRules:
		refs = append(refs, trafficSplitRefs(obj["plugins"])...)
	}
	return refs
}

// upstreamTLSRefs finds an upstream's `tls.client_cert_id`, an ssl of type client.
func upstreamTLSRefs(up any) []Ref {
	m, _ := up.(map[string]any)
	tls, _ := m["tls"].(map[string]any)
	if id, ok := tls["client_cert_id"]; ok && id != nil {
		return []Ref{{Kind: SSLs, ID: idString(id), Field: "client_cert_id"}}
	}
	return nil
}

// trafficSplitRefs finds traffic-split's rules[].weighted_upstreams[].upstream_id.
func trafficSplitRefs(plugins any) []Ref {
	p, _ := plugins.(map[string]any)
	ts, _ := p["traffic-split"].(map[string]any)
	rules, _ := ts["rules"].([]any)
	var refs []Ref
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		wus, _ := rule["weighted_upstreams"].([]any)
		for _, w := range wus {
			wu, _ := w.(map[string]any)
			if id, ok := wu["upstream_id"]; ok && id != nil {
				refs = append(refs, Ref{Kind: Upstreams, ID: idString(id), Field: "upstream_id"})
			}
		}
	}
	return refs
}
