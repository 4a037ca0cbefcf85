import Foundation

/// A secret and where it comes from. Its value is read only when a stage needs it and is never printed:
/// `description` is always `***`.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public static let mask = "***"

    public enum Origin: Sendable, Equatable {
        /// Written in the config itself.
        case literal(String)
        /// `${env:NAME}`
        case environment(String)
        /// `${file:/path}` or `password_file: /path` (first line, trailing newline removed).
        case file(String)
    }

    public let origin: Origin

    public init(_ origin: Origin) { self.origin = origin }

    public var description: String { Secret.mask }
    public var debugDescription: String { Secret.mask }

    /// Where the secret comes from, safe to show (`env NAME`, `file /path`, or `inline`).
    public var source: String {
        switch origin {
        case .literal: return "inline"
        case .environment(let name): return "env \(name)"
        case .file(let path): return "file \(path)"
        }
    }

    public enum ResolutionError: Error, CustomStringConvertible {
        case missingEnvironment(String)
        case unreadableFile(String, String)

        public var description: String {
            switch self {
            case .missingEnvironment(let name):
                return "environment variable \(name) is not set; export it or use ${file:/path} instead"
            case let .unreadableFile(path, reason):
                return "cannot read secret file \(path): \(reason)"
            }
        }
    }

    /// The secret's value. Files hold the secret on their first line (a trailing newline is dropped).
    /// Stages reveal secrets through `Secrets`, which holds the one environment they come from.
    public func reveal(environment: [String: String]) throws -> String {
        switch origin {
        case .literal(let value):
            return value
        case .environment(let name):
            guard let value = environment[name] else { throw ResolutionError.missingEnvironment(name) }
            return value
        case .file(let path):
            guard let handle = FileHandle(forReadingAtPath: path) else {
                let reason = FileManager.default.fileExists(atPath: path) ? "permission denied for this user" : "no such file"
                throw ResolutionError.unreadableFile(path, reason)
            }
            defer { try? handle.close() }
            // A secret is a line, not a document: read a bounded amount.
            guard let data = try? handle.read(upToCount: 64 << 10) else {
                throw ResolutionError.unreadableFile(path, "read error")
            }
            var text = String(decoding: data, as: UTF8.self)
            if let newline = text.firstIndex(where: { $0 == "\n" || $0 == "\r\n" }) { text = String(text[..<newline]) }
            return text
        }
    }
}

/// The one place secrets are revealed, with the one environment `${env:…}` reads: the environment
/// polyarchiv started with. Children never inherit it whole (see ChildProcess), so a secret that reached
/// polyarchiv through its environment reaches only the tool that needs it.
public struct Secrets: Sendable {
    public let environment: [String: String]

    public init(environment: [String: String]) { self.environment = environment }

    public func reveal(_ secret: Secret) throws -> String { try secret.reveal(environment: environment) }

    /// The value of a secret parameter, nil when it is not set.
    public func reveal(_ value: ParameterValue?) throws -> String? {
        guard case .secret(let secret)? = value else { return nil }
        return try reveal(secret)
    }
}
