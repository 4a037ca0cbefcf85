import Foundation

/// The one reading of where a URL (or a local path) points: its directory and its name for building
/// places, and a parsed, normalised form for the questions deletion depends on.
public enum RemotePath {
    /// `scheme://host/dir` of `scheme://host/dir/name` (the text up to its last `/`).
    public static func directory(of url: String) -> String {
        url.range(of: "/", options: .backwards).map { String(url[..<$0.lowerBound]) } ?? url
    }

    /// The last component of a URL or path.
    public static func name(of url: String) -> String {
        String(url.split(separator: "/", omittingEmptySubsequences: false).last ?? Substring(url))
    }

    /// A URL taken apart: scheme, authority (user, host, port; the password left out) and the path's
    /// components, percent-decoded. nil when it cannot be read.
    struct Parsed: Equatable {
        let scheme: String
        let authority: String
        let components: [String]
    }

    static func parse(_ text: String) -> Parsed? {
        if text.hasPrefix("/") {
            return Parsed(scheme: "file", authority: "", components: text.split(separator: "/", omittingEmptySubsequences: false)
                .dropFirst().map(String.init))
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else { return nil }
        let host = (components.host ?? "").lowercased()
        let authority = (components.user.map { $0 + "@" } ?? "") + host + (components.port.map { ":\($0)" } ?? "")
        var path = components.percentEncodedPath
        if scheme == "s3" { path = "/" + host + path }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var decoded: [String] = []
        for part in parts {
            guard let value = part.removingPercentEncoding else { return nil }
            decoded.append(value)
        }
        return Parsed(scheme: scheme == "file" ? "file" : scheme, authority: scheme == "file" ? "" : authority, components: decoded)
    }

    /// The local path a `file://` URL (or a plain absolute path) names, normalised; nil for other schemes.
    public static func localPath(_ place: String) -> String? {
        guard let parsed = parse(place), parsed.scheme == "file" else { return nil }
        return "/" + parsed.components.filter { !$0.isEmpty && $0 != "." }.joined(separator: "/")
    }

    /// Whether `location` names a file directly inside `directory` (the same scheme and server, one more
    /// path component that is a real name): never the directory itself, its parent, or a place reached
    /// through `.` or `..`, however encoded.
    static func isDirectChild(_ location: String, of directory: String) -> Bool {
        guard let child = parse(location), let parent = parse(directory) else { return false }
        var base = parent.components
        while base.last == "" { base.removeLast() }
        guard child.scheme == parent.scheme, child.authority == parent.authority, child.components.count == base.count + 1,
              Array(child.components.prefix(base.count)) == base, !base.contains(where: { $0 == "." || $0 == ".." }),
              let name = child.components.last else { return false }
        return !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }
}
