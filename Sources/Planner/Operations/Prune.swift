import Foundation
import Pipeline
import Stages

/// `polyarchiv prune [BP…]`: the retention of each (backup point, collect point) pair applied now, whatever its
/// `delete:` says: run where deleting is allowed, for the backup points whose hosts only add (`delete: never`).
/// Only `host`'s backups (this host by default), and only those its name or this host's journal vouches for.
public enum Prune {
    public typealias Outcome = Repair.Outcome

    public static func run(_ pipeline: CompiledPipeline, backupPoints: [String], collectPoint: String?, host: String?, dryRun: Bool,
                           state: StateDirectory, secrets: Secrets) throws -> [Outcome] {
        let known = Set(pipeline.backups.map(\.backupPoint))
        for name in backupPoints where !known.contains(name) {
            throw StageFailure("no backup point \(name)" + Suggestion.didYouMean(name, among: known.sorted()))
        }
        let pairs = pipeline.backups.filter {
            (backupPoints.isEmpty || backupPoints.contains($0.backupPoint)) && (collectPoint == nil || $0.collectPoint == collectPoint)
        }
        let lock = state.exists && !dryRun ? try RunLock(directory: state.url, hint: "wait for it to finish, then run prune again") : nil
        defer { withExtendedLifetime(lock) {} }
        let journal = state.exists ? try Journal(path: state.journalPath, readOnly: true) : nil
        let scratch = try ScratchDirectory("polyarchiv-prune")
        defer { scratch.remove() }
        let warnings = WarningList()
        let context = RestoreContext(secrets: secrets, cancellation: CancellationFlag(), identityFile: nil, scratch: scratch.path,
                                     warn: { warnings.add($0) })
        let host = host ?? pipeline.host
        return pairs.compactMap { pair in
            let name = "\(pair.backupPoint)/\(pair.collectPoint)"
            do {
                guard let lines = try pair.engine.prune(host: host, dryRun: dryRun, journal: host == pipeline.host ? journal : nil, context)
                else { return nil }
                return Outcome(pair: name, lines: warnings.take().map { "warning: " + $0 } + lines, failure: nil)
            } catch {
                return Outcome(pair: name, lines: warnings.take().map { "warning: " + $0 }, failure: "\(error)")
            }
        }
    }

    private final class WarningList: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [String] = []
        func add(_ text: String) { lock.withLock { items.append(text) } }
        func take() -> [String] { lock.withLock { defer { items = [] }; return items } }
    }
}
