import Foundation
import Pipeline

/// Moves whole files to and from a URL. Every upload goes to a temporary name first and takes its final
/// name only when complete and verified (size; a checksum where the protocol has one), so a final name
/// never holds a partial file. Transient failures are retried with exponential backoff.
protocol Transport {
    /// Uploads a local file to `url`. With an `identity` (the content's digest), an interrupted upload of
    /// the same content resumes where the protocol allows it; without one it starts over.
    func upload(_ file: String, to url: String, identity: String?, cancellation: CancellationFlag) throws
    /// Streams the file at `url` to `sink`; throws `TransportError.missing` when there is none.
    func download(_ url: String, cancellation: CancellationFlag, sink: (UnsafeRawBufferPointer) throws -> Void) throws
    /// The size of the file at `url`, or nil when there is none.
    func size(_ url: String, cancellation: CancellationFlag) throws -> Int64?
    func delete(_ url: String, cancellation: CancellationFlag) throws
    /// Removes what an interrupted upload to `url` (of content `identity`) left under a temporary name.
    func removeLeftovers(of url: String, identity: String?, cancellation: CancellationFlag) throws
}

extension RemoteTransport {
    func removeLeftovers(of url: String, identity: String?, cancellation: CancellationFlag) throws {
        let temporary = Transports.temporaryName(url, identity: identity)
        if try size(temporary, cancellation: cancellation) != nil { try delete(temporary, cancellation: cancellation) }
    }
}

/// A transport to a server: one attempt at a size (nil when missing), retried by `size`.
protocol RemoteTransport: Transport {
    var options: TransportOptions { get }
    func remoteSize(_ url: String, cancellation: CancellationFlag) throws -> Int64?
}

extension RemoteTransport {
    /// An uploaded temporary file that nothing but its size vouches for (a resumed upload kept bytes an earlier
    /// attempt sent; plain FTP and HTTP carry no integrity check) is read back and hashed before it takes
    /// its final name. When it differs, it is deleted and the upload starts over.
    func checkUploaded(_ temporary: String, file: String, identity: String?, cancellation: CancellationFlag) throws {
        let expected = try identity.flatMap { Digest(hex: $0) } ?? Transports.sha256(file, offset: 0, length: .max)
        var hash = StreamingHash()
        try download(temporary, cancellation: cancellation) { hash.update($0) }
        guard hash.finalize() == expected else {
            try? delete(temporary, cancellation: cancellation)
            throw TransportError.transient("the uploaded \(Redaction.maskingURLSecrets(temporary)) does not hold the file's bytes "
                                           + "(changed on the way, or left by an earlier attempt); it was deleted and is sent again")
        }
    }

    func size(_ url: String, cancellation: CancellationFlag) throws -> Int64? {
        try Transports.retrying("checking \(Redaction.maskingURLSecrets(url))", retries: options.retries, cancellation: cancellation) {
            try remoteSize(url, cancellation: cancellation)
        }
    }
}

enum TransportError: Error, CustomStringConvertible {
    /// Worth another try: 5xx, reset, timeout, refused connection.
    case transient(String)
    /// Trying again will not help: 401, 403, a missing parent, a full disk, a wrong host key.
    case permanent(String)
    case missing(String)

    var description: String {
        switch self {
        case .transient(let message), .permanent(let message): return message
        case .missing(let url): return "\(url) does not exist"
        }
    }
}

extension Transport {
    func upload(_ file: String, to url: String, cancellation: CancellationFlag) throws {
        try upload(file, to: url, identity: nil, cancellation: cancellation)
    }

    /// The bytes at `url`, or nil when there is none (for small files: metadata documents).
    func read(_ url: String, cancellation: CancellationFlag) throws -> Data? {
        var data = Data()
        do {
            try download(url, cancellation: cancellation) { chunk in
                data.append(contentsOf: chunk)
                guard data.count < 64 << 20 else { throw StageFailure("\(Redaction.maskingURLSecrets(url)) is larger than 64 MiB") }
            }
        } catch TransportError.missing {
            return nil
        }
        return data
    }

    /// Writes small data to `url` through a local temporary file and an atomic upload.
    func write(_ data: Data, to url: String, cancellation: CancellationFlag) throws {
        let file = try SecretFile(name: "upload", content: "")
        defer { file.remove() }
        try data.write(to: URL(fileURLWithPath: file.path))
        try upload(file.path, to: url, cancellation: cancellation)
    }
}

enum Transports {
    /// Reads `length` bytes of a file from `offset` (to its end when shorter) through `body`, 1 MiB at a time.
    static func read(_ file: String, offset: Int64, length: Int64, _ body: (Data) -> Void) throws {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        var remaining = length
        while remaining > 0, let chunk = try handle.read(upToCount: Int(min(remaining, 1 << 20))), !chunk.isEmpty {
            body(chunk)
            remaining -= Int64(chunk.count)
        }
    }

    /// The SHA-256 of that range (an S3 part, a whole file to compare with what a server holds).
    static func sha256(_ file: String, offset: Int64, length: Int64) throws -> Digest {
        var hash = StreamingHash()
        try read(file, offset: offset, length: length) { hash.update($0) }
        return hash.finalize()
    }

    static let schemes = ["file", "sftp", "scp", "ftp", "ftps", "http", "https", "s3"]

    static func scheme(_ url: String) -> String {
        url.hasPrefix("/") ? "file" : (url.components(separatedBy: "://").first?.lowercased() ?? "")
    }

    /// The transport for a URL's scheme.
    static func make(_ url: String, options: TransportOptions) throws -> any Transport {
        switch scheme(url) {
        case "file": return FileTransport()
        case "sftp", "scp": return SFTPTransport(options: options)
        case "ftp", "ftps": return FTPTransport(options: options)
        case "http", "https": return WebDAVTransport(options: options)
        case "s3": return S3Transport(options: options)
        default:
            throw StageFailure("`\(Redaction.maskingURLSecrets(url))`: no transport for \(scheme(url))://; use "
                               + schemes.joined(separator: ", "))
        }
    }

    /// At plan time: a URL whose scheme no transport speaks is a configuration error (`ssh://` for an archive:
    /// use `sftp://`).
    static func check(_ url: String, parameter: String) throws {
        let scheme = scheme(url)
        guard schemes.contains(scheme) else {
            let hint = scheme == "ssh" ? "; archives travel over sftp:// (the same server and key)" : ""
            throw ConfigurationError("`\(parameter)` `\(Redaction.maskingURLSecrets(url))`: archives cannot be sent over \(scheme)://"
                                     + hint + "; use " + schemes.joined(separator: ", "), parameter: parameter)
        }
    }

    /// Runs `body`, retrying transient failures `retries` times with a growing pause (1 s, 2 s, 4 s… up to 60 s).
    static func retrying<T>(_ what: String, retries: Int, cancellation: CancellationFlag, _ body: () throws -> T) throws -> T {
        var attempt = 0
        while true {
            try cancellation.check()
            do {
                return try body()
            } catch TransportError.transient(let message) {
                attempt += 1
                guard attempt <= retries else {
                    throw StageFailure("\(what) failed after \(attempt) attempts: \(message)")
                }
                let pause = min(60.0, pow(2.0, Double(attempt - 1)))
                let deadline = Date().addingTimeInterval(pause)
                while Date() < deadline {
                    try cancellation.check()
                    usleep(50_000)
                }
            } catch TransportError.permanent(let message) {
                throw StageFailure("\(what) failed: \(message)")
            }
        }
    }

    /// `dir/name` → `dir/.name[.IDENTITY].polyarchiv-part`: where an upload grows before it is renamed. The
    /// content's identity in the name means a part is only ever resumed with the same bytes.
    static func temporaryName(_ url: String, identity: String? = nil) -> String {
        let suffix = (identity.map { "." + $0.prefix(16) } ?? "") + ".polyarchiv-part"
        guard let slash = url.lastIndex(of: "/") else { return ".\(url)" + suffix }
        return String(url[...slash]) + "." + String(url[url.index(after: slash)...]) + suffix
    }
}

/// Local files (`file://` or a path): written beside the final name, fsynced, renamed.
struct FileTransport: Transport {
    static func path(_ url: String) -> String {
        guard url.hasPrefix("file://") else { return url }
        let path = String(url.dropFirst("file://".count))
        return path.removingPercentEncoding ?? path
    }

    func upload(_ file: String, to url: String, identity: String?, cancellation: CancellationFlag) throws {
        let path = Self.path(url)
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // On the same file system, the file itself takes the name (a link: no copy; its bytes are on disk
        // already), under a temporary name first.
        AtomicFile.removeLeftovers(of: path)
        let temporary = AtomicFile.temporaryName(for: path)
        if Glibc.link(file, temporary) == 0 {
            guard rename(temporary, path) == 0 else {
                let reason = FileIO.lastError
                unlink(temporary)
                throw StageFailure("cannot rename \(temporary) to \(path): \(reason)")
            }
            // When the final name already was this very file (an interrupted run linked it), rename does
            // nothing and leaves the temporary name: remove it.
            unlink(temporary)
            AtomicFile.syncDirectory(directory)
            return
        }
        let input = open(FileName.system(file), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard input >= 0 else { throw StageFailure("cannot read \(file): \(FileIO.lastError)") }
        defer { close(input) }
        let buffer = ReadBuffer(size: 1 << 20)
        try AtomicFile.write(path) { sink in
            while true {
                try cancellation.check()
                let count = Glibc.read(input, buffer.bytes.baseAddress, buffer.bytes.count)
                guard count >= 0 else { throw StageFailure("cannot read \(file): \(FileIO.lastError)") }
                if count == 0 { break }
                try sink(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<count]))
            }
        }
    }

    func removeLeftovers(of url: String, identity: String?, cancellation: CancellationFlag) throws {
        AtomicFile.removeLeftovers(of: Self.path(url))
    }

    func download(_ url: String, cancellation: CancellationFlag, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let path = Self.path(url)
        // Never a FIFO or a device that would block or never end: only a regular file is read.
        let input = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard input >= 0 else {
            if errno == ENOENT { throw TransportError.missing(url) }
            throw StageFailure("cannot read \(path): \(FileIO.lastError)")
        }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw StageFailure("\(path) is not a regular file; refused")
        }
        let buffer = ReadBuffer(size: 1 << 20)
        while true {
            try cancellation.check()
            let count = Glibc.read(input, buffer.bytes.baseAddress, buffer.bytes.count)
            guard count >= 0 else { throw StageFailure("cannot read \(path): \(FileIO.lastError)") }
            if count == 0 { return }
            try sink(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<count]))
        }
    }

    func size(_ url: String, cancellation: CancellationFlag) throws -> Int64? {
        var info = stat()
        return stat(Self.path(url), &info) == 0 ? Int64(info.st_size) : nil
    }

    func delete(_ url: String, cancellation: CancellationFlag) throws {
        guard unlink(Self.path(url)) == 0 || errno == ENOENT else {
            throw StageFailure("cannot delete \(Self.path(url)): \(FileIO.lastError)")
        }
    }
}
