import CCurl
import Foundation
import Pipeline

/// `ftp://` and `ftps://` (explicit TLS: AUTH TLS, required for control and data) through libcurl. The
/// upload grows under a temporary name (resumed with APPE from its remote size), is checked with SIZE
/// and renamed with RNFR/RNTO.
struct FTPTransport: RemoteTransport {
    let options: TransportOptions

    /// libcurl's `ftps://` is implicit TLS (port 990); ours is the explicit kind servers use today.
    func curlURL(_ url: String) -> (String, Bool) {
        url.lowercased().hasPrefix("ftps://") ? ("ftp://" + url.dropFirst("ftps://".count), true) : (url, false)
    }

    /// The path relative to the login directory, as RNFR, RNTO and DELE want it.
    static func commandPath(_ url: String) -> String {
        guard let components = URLComponents(string: url) else { return url }
        let path = components.percentEncodedPath.removingPercentEncoding ?? components.path
        return path.hasPrefix("/") ? String(path.dropFirst()) : path
    }

    func call(_ url: String) -> CurlCall {
        let (plain, tls) = curlURL(url)
        var call = CurlCall(url: plain, options: options)
        call.requireTLS = tls
        return call
    }

    func upload(_ file: String, to url: String, identity: String?, cancellation: CancellationFlag) throws {
        let temporary = Transports.temporaryName(url, identity: identity)
        let size = try localSize(file)
        try Transports.retrying("upload to \(Redaction.maskingURLSecrets(url))", retries: options.retries, cancellation: cancellation) {
            var upload = call(temporary)
            upload.uploadFile = file
            upload.createMissingDirectories = true
            if identity != nil, let existing = try remoteSize(temporary, cancellation: cancellation), existing > 0, existing < size {
                upload.uploadOffset = existing
                upload.append = true
            }
            try CurlCall.check(try upload.perform(cancellation: cancellation), "uploading \(Redaction.maskingURLSecrets(temporary))")
            guard try remoteSize(temporary, cancellation: cancellation) == size else {
                throw TransportError.transient("\(Redaction.maskingURLSecrets(temporary)) does not have the expected \(size) bytes")
            }
            // Without TLS nothing checks the bytes on the way.
            if upload.uploadOffset > 0 || !upload.requireTLS { try checkUploaded(temporary, file: file, identity: identity, cancellation: cancellation) }
            var rename = call(Self.base(url))
            rename.noBody = true
            rename.quote = ["RNFR " + Self.commandPath(temporary), "RNTO " + Self.commandPath(url)]
            try CurlCall.check(try rename.perform(cancellation: cancellation), "renaming into \(Redaction.maskingURLSecrets(url))")
        }
    }

    /// `ftp://user@host:port/`: the login directory.
    static func base(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        components.path = "/"
        return components.string ?? url
    }

    func download(_ url: String, cancellation: CancellationFlag, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let result = try call(url).perform(cancellation: cancellation, sink: sink)
        if result.code == CURLE_REMOTE_FILE_NOT_FOUND { throw TransportError.missing(url) }
        try CurlCall.check(result, "downloading \(Redaction.maskingURLSecrets(url))")
    }

    func delete(_ url: String, cancellation: CancellationFlag) throws {
        try Transports.retrying("deleting \(Redaction.maskingURLSecrets(url))", retries: options.retries, cancellation: cancellation) {
            guard try remoteSize(url, cancellation: cancellation) != nil else { return }
            var delete = call(Self.base(url))
            delete.noBody = true
            delete.quote = ["DELE " + Self.commandPath(url)]
            try CurlCall.check(try delete.perform(cancellation: cancellation), "deleting \(Redaction.maskingURLSecrets(url))")
        }
    }

    func remoteSize(_ url: String, cancellation: CancellationFlag) throws -> Int64? {
        var size = call(url)
        size.noBody = true
        let result = try size.perform(cancellation: cancellation)
        // A missing directory (CWD refused) holds no file either; a real permission problem shows at upload.
        if [CURLE_REMOTE_FILE_NOT_FOUND, CURLE_FTP_COULDNT_RETR_FILE, CURLE_REMOTE_ACCESS_DENIED].contains(result.code) { return nil }
        try CurlCall.check(result, "checking \(Redaction.maskingURLSecrets(url))")
        return result.contentLength >= 0 ? result.contentLength : nil
    }
}
