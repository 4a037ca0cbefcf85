import Foundation
import Pipeline
import Stages

/// `validate --check-access`: every source's server and credentials, and every backup point, tried the
/// way a run would reach them, with nothing dumped, uploaded or written (a backup point is listed).
public enum AccessCheck {
    public struct Line: Sendable {
        public let what: String
        /// nil: it worked; else why not.
        public let failure: String?
        public let detail: String
    }

    public static func run(_ pipeline: CompiledPipeline, secrets: Secrets, cancellation: CancellationFlag = CancellationFlag()) throws -> [Line] {
        let scratch = try ScratchDirectory("polyarchiv-access")
        defer { scratch.remove() }
        var context = RestoreContext(secrets: secrets, cancellation: cancellation, identityFile: nil, scratch: scratch.path)
        context.host = pipeline.host
        var lines: [Line] = []
        func attempt(_ what: String, _ body: () throws -> String) {
            do {
                lines.append(Line(what: what, failure: nil, detail: try body()))
            } catch {
                lines.append(Line(what: what, failure: "\(error)", detail: ""))
            }
        }
        for point in pipeline.collectPoints {
            for source in pipeline.collects[point.name]?.sources ?? [] {
                attempt("source \(source.name) of \(point.name)") { try source.engine.checkAccess(context) }
            }
        }
        for backup in pipeline.backups {
            attempt("backup point \(backup.backupPoint) for \(backup.collectPoint)") { try backup.engine.checkAccess(context) }
        }
        return lines
    }
}
