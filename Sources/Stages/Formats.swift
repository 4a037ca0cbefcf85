/// Archive formats, chosen by a file name's suffix.
public enum ArchiveFormat: String, CaseIterable, Sendable {
    case tar, tarGzip = "tar.gz", tarBzip2 = "tar.bz2", tarXz = "tar.xz", tarZstd = "tar.zst"

    public static func from(name: String) -> ArchiveFormat? {
        let lower = name.lowercased()
        if lower.hasSuffix(".tgz") { return .tarGzip }
        return allCases.sorted { $0.rawValue.count > $1.rawValue.count }.first { lower.hasSuffix("." + $0.rawValue) }
    }

    public static let suffixList = ".tar.gz, .tar.bz2, .tar.xz, .tar.zst or .tar"
}

/// Where a source's data lands in the collect point when `destination` is not given.
public enum DefaultDestination {
    public static func of(engine: String, source: String, format: String?) -> String {
        switch engine {
        case "postgresql": return format == "custom" ? "\(source).dump" : "\(source).sql"
        case "mysql": return "\(source).sql"
        case "ldap": return "\(source).ldif"
        case "sqlite": return "\(source).sqlite3"
        case "command": return "\(source).out"
        default: return "\(source)/"
        }
    }
}
