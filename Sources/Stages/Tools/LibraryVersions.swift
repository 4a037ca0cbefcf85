import CArchive
import CCurl
import CGit2
import Pipeline

/// Versions of the C libraries this binary is linked with, for `--version`.
public enum LibraryVersions {
    public static var summary: String {
        var major: Int32 = 0, minor: Int32 = 0, revision: Int32 = 0
        git_libgit2_version(&major, &minor, &revision)
        let curl = curl_version().map { String(cString: $0) } ?? "libcurl"
        let archive = archive_version_details().map { String(cString: $0) } ?? "libarchive"
        return "libgit2 \(major).\(minor).\(revision); \(curl); \(archive); \(Journal.sqliteVersion)"
    }
}
