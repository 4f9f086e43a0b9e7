package systemd

import _ "embed"

// UnitPath is where the unit is installed on a Debian compute node.
const UnitPath = "/lib/systemd/system/novalet.service"

// UnitFile is novalet.service, embedded so the binary can print or install the unit that
// matches its own notify and watchdog behaviour.
//
//go:embed novalet.service
var UnitFile string
