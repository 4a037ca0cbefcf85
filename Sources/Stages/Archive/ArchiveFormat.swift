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
