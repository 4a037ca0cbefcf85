import CCurl
import Foundation
import Pipeline

/// A remote tree mirrored into a local directory over SFTP (libcurl): directories listed, files fetched
/// when their size or modification time differ from the local copy (each written beside its final name
/// and renamed), local files the remote no longer has deleted. Modes and mtimes follow the remote.
struct SFTPMirror {
    let options: TransportOptions
    let excludes: PathPatterns
    let cancellation: CancellationFlag

    struct Listing {
        enum Kind { case file, directory, symlink }
        let name: String
        let kind: Kind
        let mode: mode_t
        let size: Int64
        let target: String?
    }

    func mirror(_ url: String, into local: String, relative: String = "") throws {
        try cancellation.check()
        let base = url.hasSuffix("/") ? url : url + "/"
        let entries = try list(base)
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        var wanted = Set<String>()
        for entry in entries {
            let path = relative.isEmpty ? entry.name : relative + "/" + entry.name
            if excludes.matches(path, isDirectory: entry.kind == .directory) { continue }
            wanted.insert(entry.name)
            let target = local + "/" + entry.name
            let remote = base + (entry.name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? entry.name)
            switch entry.kind {
            case .directory:
                var info = stat()
                if lstat(target, &info) == 0 && info.st_mode & S_IFMT != S_IFDIR { try FileManager.default.removeItem(atPath: target) }
                try mirror(remote, into: target, relative: path)
                chmod(target, entry.mode)
            case .symlink:
                if (try? FileManager.default.destinationOfSymbolicLink(atPath: target)) != entry.target {
                    try? FileManager.default.removeItem(atPath: target)
                    symlink(entry.target ?? "", target)
                }
            case .file:
                try fetch(remote, to: target, size: entry.size, mode: entry.mode)
            }
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: local)) ?? [] where !wanted.contains(name) {
            try FileManager.default.removeItem(atPath: local + "/" + name)
        }
    }

    private func fetch(_ remote: String, to target: String, size: Int64, mode: mode_t) throws {
        var probe = CurlCall(url: remote, options: options)
        probe.noBody = true
        probe.fetchFileTime = true
        let head = try probe.perform(cancellation: cancellation)
        try check(head, remote)
        var info = stat()
        if lstat(target, &info) == 0, Int64(info.st_size) == size, head.fileTime >= 0, Int64(info.st_mtim.tv_sec) == head.fileTime {
            if info.st_mode & 0o7777 != mode { chmod(target, mode) }
            return
        }
        var download = CurlCall(url: remote, options: options)
        download.fetchFileTime = true
        var result: CurlCall.Result?
        try AtomicFile.write(target) { sink in
            result = try download.perform(cancellation: cancellation, sink: sink)
            try check(result!, remote)
        }
        chmod(target, mode)
        if let time = result?.fileTime, time >= 0 {
            var times = [timespec(tv_sec: Int(time), tv_nsec: 0), timespec(tv_sec: Int(time), tv_nsec: 0)]
            utimensat(AT_FDCWD, target, &times, AT_SYMLINK_NOFOLLOW)
        }
    }

    private func check(_ result: CurlCall.Result, _ url: String) throws {
        try CurlCall.check(result, Redaction.maskingURLSecrets(url))
    }

    /// The entries of a remote directory, from libssh2's `ls -l` style listing.
    func list(_ url: String) throws -> [Listing] {
        var data = Data()
        let result = try CurlCall(url: url, options: options).perform(cancellation: cancellation) { data.append(contentsOf: $0) }
        try check(result, url)
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { Self.parse(String($0)) }
    }

    /// `drwxr-xr-x    2 root     root         4096 Nov 27 10:21 name` (names may hold spaces; links end in ` -> target`).
    static func parse(_ line: String) -> Listing? {
        let fields = line.split(separator: " ", maxSplits: 8, omittingEmptySubsequences: true)
        guard fields.count == 9, let size = Int64(fields[4]), let type = fields[0].first else { return nil }
        var name = String(fields[8])
        var target: String?
        let kind: Listing.Kind
        switch type {
        case "d": kind = .directory
        case "-": kind = .file
        case "l":
            kind = .symlink
            if let arrow = name.range(of: " -> ") {
                target = String(name[arrow.upperBound...])
                name = String(name[..<arrow.lowerBound])
            }
        default: return nil  // sockets, devices, fifos
        }
        guard name != ".", name != "..", !name.contains("/") else { return nil }
        var mode: mode_t = 0
        for (index, character) in fields[0].dropFirst().prefix(9).enumerated() where character != "-" {
            mode |= 1 << (8 - index)
        }
        return Listing(name: name, kind: kind, mode: mode, size: size, target: target)
    }
}
