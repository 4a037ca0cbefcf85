import CCurl
import Foundation
import Pipeline

/// `sftp://user@host[:port]/path` and `scp://…` through libcurl (libssh2): key authentication, host key
/// checked against known_hosts or a SHA-256 fingerprint. The upload grows under a temporary name
/// (resumed from its remote size), is checked for size and renamed over SFTP.
struct SFTPTransport: RemoteTransport {
    let options: TransportOptions

    /// Where a replaced file waits until its successor is in place.
    static let previousSuffix = ".polyarchiv-prev"

    /// The path part of the URL, as the server sees it.
    static func path(_ url: String) -> String {
        guard let components = URLComponents(string: url) else { return url }
        return components.percentEncodedPath.removingPercentEncoding ?? components.path
    }

    /// `sftp://user@host:port/` of a URL: where quote commands (rename, rm) are sent.
    static func root(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        components.scheme = "sftp"
        components.path = "/"
        return components.string ?? url
    }

    func upload(_ file: String, to url: String, identity: String?, cancellation: CancellationFlag) throws {
        let temporary = Transports.temporaryName(url, identity: identity)
        let size = try localSize(file)
        try Transports.retrying("upload to \(Redaction.maskingURLSecrets(url))", retries: options.retries, cancellation: cancellation) {
            if url.hasPrefix("scp") { try makeDirectories(for: url, cancellation: cancellation) }
            var call = CurlCall(url: temporary, options: options)
            call.uploadFile = file
            call.createMissingDirectories = true
            // Resume: what an interrupted attempt left is kept when it is a prefix in size (SFTP appends).
            if identity != nil, url.hasPrefix("sftp"), let existing = try remoteSize(temporary, cancellation: cancellation),
               existing > 0, existing < size {
                call.uploadOffset = existing
                call.append = true
            }
            try CurlCall.check(try call.perform(cancellation: cancellation), "uploading \(Redaction.maskingURLSecrets(temporary))")
            guard try remoteSize(temporary, cancellation: cancellation) == size else {
                throw TransportError.transient("\(Redaction.maskingURLSecrets(temporary)) does not have the expected \(size) bytes")
            }
            if call.uploadOffset > 0 { try checkUploaded(temporary, file: file, identity: identity, cancellation: cancellation) }
            var rename = CurlCall(url: Self.root(url), options: options)
            rename.noBody = true
            // SFTP's rename does not replace: the old file steps aside first and goes only once the new one is in.
            let previous = Self.quoted(Self.path(url) + Self.previousSuffix)
            rename.quote = ["*rm \(previous)", "*rename \(Self.quoted(Self.path(url))) \(previous)",
                            "rename \(Self.quoted(Self.path(temporary))) \(Self.quoted(Self.path(url)))", "*rm \(previous)"]
            try CurlCall.check(try rename.perform(cancellation: cancellation), "renaming into \(Redaction.maskingURLSecrets(url))")
        }
    }

    func download(_ url: String, cancellation: CancellationFlag, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let result = try CurlCall(url: url, options: options).perform(cancellation: cancellation, sink: sink)
        if result.code == CURLE_REMOTE_FILE_NOT_FOUND { throw TransportError.missing(url) }
        try CurlCall.check(result, "downloading \(Redaction.maskingURLSecrets(url))")
    }

    func delete(_ url: String, cancellation: CancellationFlag) throws {
        try Transports.retrying("deleting \(Redaction.maskingURLSecrets(url))", retries: options.retries, cancellation: cancellation) {
            var call = CurlCall(url: Self.root(url), options: options)
            call.noBody = true
            call.quote = ["*rm \(Self.quoted(Self.path(url)))"]
            try CurlCall.check(try call.perform(cancellation: cancellation), "deleting \(Redaction.maskingURLSecrets(url))")
        }
    }

    /// SCP cannot create directories: the missing ones are made over SFTP first.
    private func makeDirectories(for url: String, cancellation: CancellationFlag) throws {
        let parts = Self.path(url).split(separator: "/").dropLast()
        guard !parts.isEmpty else { return }
        var call = CurlCall(url: Self.root(url), options: options)
        call.noBody = true
        call.quote = parts.indices.map { index in "*mkdir " + Self.quoted("/" + parts[...index].joined(separator: "/")) }
        try CurlCall.check(try call.perform(cancellation: cancellation), "creating the directories of \(Redaction.maskingURLSecrets(url))")
    }

    func remoteSize(_ url: String, cancellation: CancellationFlag) throws -> Int64? {
        var call = CurlCall(url: url.hasPrefix("scp") ? "sftp" + url.dropFirst(3) : url, options: options)
        call.noBody = true
        let result = try call.perform(cancellation: cancellation)
        if result.code == CURLE_REMOTE_FILE_NOT_FOUND { return nil }
        try CurlCall.check(result, "checking \(Redaction.maskingURLSecrets(url))")
        return result.contentLength >= 0 ? result.contentLength : nil
    }

    /// Quote-command arguments are double-quoted when they hold spaces or quotes.
    static func quoted(_ path: String) -> String {
        path.contains(where: { $0 == " " || $0 == "\"" || $0 == "\\" })
            ? "\"" + path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" : path
    }
}

func localSize(_ file: String) throws -> Int64 {
    var info = stat()
    guard stat(FileName.system(file), &info) == 0 else { throw StageFailure("cannot read \(file): \(FileIO.lastError)") }
    return Int64(info.st_size)
}
