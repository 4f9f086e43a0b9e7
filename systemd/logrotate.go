package systemd

import _ "embed"

// LogrotatePath is where the logrotate file is installed (see the file for why not "novalet").
const LogrotatePath = "/etc/logrotate.d/nova"

// LogrotateFile is novalet.logrotate: nova-compute.log rotated as Debian's nova-common does,
// embedded so a package or the binary can install the bytes this repository tests.
//
//go:embed novalet.logrotate
var LogrotateFile string
