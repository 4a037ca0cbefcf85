import Foundation
import Pipeline
import Stages

/// `polyarchiv repair BP`: each metadata document this host keeps at the backup point (one per collect point
/// it receives) rebuilt from what the backup point holds, when it is damaged; under the state directory's
/// lock, so no apply writes it meanwhile.
public enum Repair {
    public struct Outcome: Sendable {
        public let pair: String
        public let lines: [String]
        public let failure: String?
    }

    public static func run(_ pipeline: CompiledPipeline, backupPoint: String, collectPoint: String?, state: StateDirectory,
                           secrets: Secrets) throws -> [Outcome] {
        let pairs = pipeline.backups.filter { $0.backupPoint == backupPoint && (collectPoint == nil || $0.collectPoint == collectPoint) }
        guard !pairs.isEmpty else {
            let names = Set(pipeline.backups.map(\.backupPoint)).sorted()
            throw StageFailure("no backup point \(backupPoint)" + (collectPoint.map { " receives collect point \($0)" } ?? "")
                               + Suggestion.didYouMean(backupPoint, among: names))
        }
        let lock = state.exists ? try RunLock(directory: state.url, hint: "wait for it to finish, then run repair again") : nil
        defer { withExtendedLifetime(lock) {} }
        let journal = state.exists ? try Journal(path: state.journalPath, readOnly: true) : nil
        let scratch = try ScratchDirectory("polyarchiv-repair")
        defer { scratch.remove() }
        var context = RestoreContext(secrets: secrets, cancellation: CancellationFlag(), identityFile: nil, scratch: scratch.path)
        context.host = pipeline.host
        return pairs.map { pair in
            let name = "\(pair.backupPoint)/\(pair.collectPoint)"
            do {
                return Outcome(pair: name, lines: try pair.engine.repair(context, journal: journal), failure: nil)
            } catch {
                return Outcome(pair: name, lines: [], failure: "\(error)")
            }
        }
    }
}
