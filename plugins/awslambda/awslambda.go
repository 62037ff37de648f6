// Package awslambda registers APISIX's aws-lambda plugin, which invokes an AWS Lambda function (API
// key or SigV4 IAM auth) as the upstream. Only the registration is here (name, priority, the config
// schema, read from apisix/plugins/aws-lambda.lua and serverless/generic-upstream.lua); the
// plugin's behaviour is not implemented yet.
package awslambda

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "aws-lambda",
		Priority:       -1899,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
