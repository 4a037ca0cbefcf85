import Foundation
import Pipeline

/// The last success and failure of every point (for `frequency`, `check` and the metrics file), kept in
/// the journal's `points` namespace: one entry per collect point, backup point, and backup of one
/// collect point by one backup point.
struct PointStatuses {
    struct Status: Codable, Sendable {
        var lastSuccess: Date?
        var lastFailure: Date?
        var successes = 0
        var failures = 0
        var lastDuration: Double?
        var lastBytes: Int64?
        var lastError: String?
        /// The last run that began this point and was interrupted before it ended.
        var lastInterrupted: Date?
    }

    enum Kind: String, CaseIterable {
        case collectPoint = "collect point", backupPoint = "backup point", backup
        /// The verification of a backup point's backups of one collect point (`verify:BP/CP`).
        case verify
    }

    let table: StateTable

    init(_ journal: Journal) { table = journal.table("points") }

    func status(_ kind: Kind, _ name: String) -> Status? {
        try? table.decoded(Status.self, name, scope: kind.rawValue)
    }

    func all(_ kind: Kind) -> [(name: String, status: Status)] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return ((try? table.entries(scope: kind.rawValue)) ?? [:]).compactMap { name, data in
            (try? decoder.decode(Status.self, from: data)).map { (name, $0) }
        }.sorted { $0.name < $1.name }
    }

    func record(_ kind: Kind, _ name: String, succeeded: Bool, at date: Date, duration: Double, bytes: Int64, error: String?) throws {
        var status = self.status(kind, name) ?? Status()
        if succeeded {
            status.lastSuccess = date
            status.successes += 1
            status.lastBytes = bytes
            status.lastError = nil
        } else {
            status.lastFailure = date
            status.failures += 1
            status.lastError = error
        }
        status.lastDuration = duration
        try table.encode(status, name, scope: kind.rawValue)
    }

    func recordInterruption(_ kind: Kind, _ name: String, at date: Date) throws {
        var status = self.status(kind, name) ?? Status()
        status.lastInterrupted = date
        try table.encode(status, name, scope: kind.rawValue)
    }
}
