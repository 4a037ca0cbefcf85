import ArgumentParser
import Planner

struct StateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"),
            help: "The journal and store (default: $POLYARCHIV_STATE_DIR, else the configuration's state_dir, else /var/lib/polyarchiv as root, else $XDG_STATE_HOME/polyarchiv).")
    var path: String?

    func directory(for pipeline: CompiledPipeline) -> StateDirectory { StateDirectory(path, for: pipeline) }
}
