import Foundation
import Pipeline

/// The journal's record of a verification that failed (`verify-failed` namespace, by the verify stage's id):
/// until a verification of the pair succeeds, `apply` uploads the backup again whatever its cache says, and
/// verifies it again whatever its frequency, and `plan` says so.
public struct VerifyFailure: Codable, Sendable {
    public let backup: String
    public let found: Date
    public let reason: String

    public static let namespace = "verify-failed"

    /// The failure recorded for backup point `bp`'s copy of collect point `cp`, if its last verification failed.
    public static func find(_ bp: String, _ cp: String, in journal: Journal) throws -> VerifyFailure? {
        try journal.table(namespace).decoded(VerifyFailure.self, StageID(.verify, bp, cp).description)
    }
}
