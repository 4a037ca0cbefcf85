import Foundation
import Pipeline

/// Variables visible at one place of the config; later layers win over earlier ones.
struct VariableScope: Sendable {
    private(set) var values: [String: String]

    init(_ values: [String: String] = [:]) { self.values = values }

    subscript(name: String) -> String? { values[name] }

    /// This scope with `layer` laid over it.
    func overlaid(with layer: [String: String]) -> VariableScope {
        VariableScope(values.merging(layer) { _, new in new })
    }

    var names: [String] { values.keys.sorted() }
}

/// The variables polyarchiv defines itself: host, user and one per strftime letter, all from one instant.
public struct BuiltinVariables: Sendable {
    /// The strftime letters that become variables (`{Y}`, `{m}`, `{d}`, …), as in the original tool.
    static let strftimeLetters: [Character] = ["a", "A", "w", "d", "b", "B", "m", "y", "Y", "H", "I", "p", "M", "S", "f",
                                               "z", "Z", "j", "U", "W", "c", "x", "X"]

    public let date: Date
    public let hostname: String
    public let fqdn: String
    public let username: String

    public init(date: Date, hostname: String, fqdn: String, username: String) {
        self.date = date
        self.hostname = hostname
        self.fqdn = fqdn
        self.username = username
    }

    /// The real host and user, at `date`.
    public static func current(at date: Date = Date()) -> BuiltinVariables {
        let fqdn = HostIdentity.fullyQualifiedName()
        return BuiltinVariables(date: date, hostname: HostName.short(), fqdn: fqdn, username: HostIdentity.userName())
    }

    /// What a built-in variable holds, for messages.
    static func meaning(of name: String) -> String {
        switch name {
        case "hostname": return "this host's short name"
        case "fqdn": return "this host's fully qualified name"
        case "username": return "the user polyarchiv runs as"
        case "name", "collect_point", "backup_point": return "the name of the point being planned"
        default: return "the strftime field %\(name) of the run's date"
        }
    }

    var values: [String: String] {
        var values = ["hostname": hostname, "fqdn": fqdn, "username": username]
        for letter in Self.strftimeLetters { values[String(letter)] = Self.format(letter, date) }
        return values
    }

    static func format(_ letter: Character, _ date: Date) -> String {
        if letter == "f" {
            let micro = Int((date.timeIntervalSince1970 - floor(date.timeIntervalSince1970)) * 1_000_000)
            return String(format: "%06d", micro)
        }
        var seconds = time_t(floor(date.timeIntervalSince1970))
        var parts = tm()
        localtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 128)
        let count = strftime(&buffer, buffer.count, "%\(letter)", &parts)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

enum HostIdentity {
    static func fullyQualifiedName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let short = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var hints = addrinfo()
        hints.ai_flags = AI_CANONNAME
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(short, nil, &hints, &result) == 0, let info = result else { return short }
        defer { freeaddrinfo(result) }
        if let canonical = info.pointee.ai_canonname { return String(cString: canonical) }
        return short
    }

    /// The home directory of the user polyarchiv runs as (from the password database, as cron sees it).
    static func homeDirectory() -> String {
        if let entry = getpwuid(geteuid()), let home = entry.pointee.pw_dir, home.pointee != 0 { return String(cString: home) }
        return ProcessInfo.processInfo.environment["HOME"] ?? "/"
    }

    static func userName() -> String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "unknown"
    }
}
