// Package connectors owns Freshet's built-in sources and sinks and registers
// them all with Register:
//
//	sources: datagen, nexmark, file, stdin
//	sinks:   stdout, file, discard
//
// Each lives in its own subpackage (datagen, nexmark, file, stdio, discard);
// conntest is the harness they are tested with. Sources that read records
// which can be malformed apply the on-error policy of engine/onerror.
package connectors

import (
	"github.com/freshet/freshet/engine/connectors/datagen"
	"github.com/freshet/freshet/engine/connectors/discard"
	"github.com/freshet/freshet/engine/connectors/file"
	"github.com/freshet/freshet/engine/connectors/nexmark"
	"github.com/freshet/freshet/engine/connectors/stdio"
	"github.com/freshet/freshet/engine/registry"
)

// Register adds every built-in source and sink to r.
func Register(r *registry.Registry) {
	datagen.Register(r)
	nexmark.Register(r)
	file.Register(r)
	stdio.Register(r)
	discard.Register(r)
}
