import Foundation
import Pipeline

/// `immutable:` on an S3 archive backup point: each backup (and its listing) is written with S3 Object Lock,
/// so the host that made it cannot delete or overwrite it before `immutable_days` have passed (GOVERNANCE:
/// only a user allowed to bypass it can; COMPLIANCE: nobody). Retention leaves a backup alone until its lock
/// ends, then deletes every version of it. The bucket must have Object Lock enabled (chosen at its creation).
struct ObjectLock: Sendable, Equatable {
    enum Mode: String, CaseIterable, Sendable { case governance, compliance }

    let mode: Mode
    let days: Int

    static let parameters = [
        ParameterSpec("immutable", .choice(Mode.allCases.map(\.rawValue)),
                      "s3:// only: write each backup with S3 Object Lock in this mode, so this host cannot delete it before "
                      + "immutable_days (the bucket needs Object Lock enabled)."),
        ParameterSpec("immutable_days", .int(1...36_500),
                      "Days each backup stays locked (default for rolling_archive: the keep: daily count, which every backup is kept for)."),
    ]

    /// The lock the parameters ask for; `policy` (a rolling archive's) gives the default number of days.
    static func parse(_ parameters: EngineParameters, url: String, policy: RetentionPolicy?) throws -> ObjectLock? {
        guard let modeName = parameters.string("immutable"), let mode = Mode(rawValue: modeName) else {
            if parameters.int("immutable_days") != nil {
                throw ConfigurationError("immutable_days goes with immutable: governance or compliance", parameter: "immutable_days")
            }
            return nil
        }
        guard url.lowercased().hasPrefix("s3://") else {
            throw ConfigurationError("immutable needs an s3:// url (S3 Object Lock); other servers cannot lock a file", parameter: "immutable")
        }
        let derived = policy.flatMap { $0.daily > 0 ? $0.daily : nil }
        guard let days = parameters.int("immutable_days") ?? derived else {
            throw ConfigurationError("immutable needs immutable_days (how long each backup stays locked)"
                                     + (policy == nil ? "" : ", or a keep: daily count to derive it from"), parameter: "immutable")
        }
        return ObjectLock(mode: mode, days: days)
    }

    func until(_ date: Date) -> Date { date.addingTimeInterval(TimeInterval(days) * 86_400) }

    /// What S3 is told for an upload made at `date`.
    func request(at date: Date) -> S3ObjectLock { S3ObjectLock(mode: mode.rawValue.uppercased(), until: until(date)) }

    var summary: String { "locked \(days) day\(days == 1 ? "" : "s"), \(mode.rawValue)" }
}

/// The Object Lock headers of one upload.
struct S3ObjectLock: Sendable {
    let mode: String
    let until: Date

    var headers: [String] {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return ["x-amz-object-lock-mode: " + mode, "x-amz-object-lock-retain-until-date: " + formatter.string(from: until)]
    }
}
