import ArgumentParser
import Planner

struct StateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"),
            help: "The journal and store (default: $POLYARCHIV_STATE_DIR, else /var/lib/polyarchiv as root, else $XDG_STATE_HOME/polyarchiv).")
    var path: String?

    var directory: StateDirectory { StateDirectory(path) }
}
