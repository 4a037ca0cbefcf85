import Foundation
import Pipeline

/// `http(s)://` WebDAV: missing collections made with MKCOL, the file PUT under a temporary name,
/// its size checked, then MOVEd (Overwrite: T) to its final name. An interrupted PUT starts over.
struct WebDAVTransport: RemoteTransport {
    let options: TransportOptions

    func upload(_ file: String, to url: String, identity: String?, cancellation: CancellationFlag) throws {
        let temporary = Transports.temporaryName(url, identity: identity)
        let size = try localSize(file)
        try Transports.retrying("upload to \(Redaction.maskingURLPassword(url))", retries: options.retries, cancellation: cancellation) {
            try makeCollections(for: url, cancellation: cancellation)
            var put = CurlCall(url: temporary, options: options)
            put.uploadFile = file
            put.method = "PUT"
            try CurlCall.check(try put.perform(cancellation: cancellation), "uploading \(Redaction.maskingURLPassword(temporary))")
            guard try remoteSize(temporary, cancellation: cancellation) == size else {
                throw TransportError.transient("\(Redaction.maskingURLPassword(temporary)) does not have the expected \(size) bytes")
            }
            var move = CurlCall(url: temporary, options: options)
            move.method = "MOVE"
            move.headers = ["Destination: " + Self.withoutCredentials(url), "Overwrite: T"]
            try CurlCall.check(try move.perform(cancellation: cancellation), "moving into \(Redaction.maskingURLPassword(url))")
        }
    }

    /// MKCOL of every parent collection, from the top; 405 means it exists.
    private func makeCollections(for url: String, cancellation: CancellationFlag) throws {
        guard var components = URLComponents(string: url) else { throw TransportError.permanent("`\(url)` is not a URL") }
        let parts = components.percentEncodedPath.split(separator: "/").dropLast()
        var path = ""
        for part in parts {
            path += "/" + part
            components.percentEncodedPath = path + "/"
            var mkcol = CurlCall(url: components.string ?? url, options: options)
            mkcol.method = "MKCOL"
            let result = try mkcol.perform(cancellation: cancellation)
            if result.ok || result.status == 405 || result.status == 301 { continue }
            try CurlCall.check(result, "creating the collection \(Redaction.maskingURLPassword(components.string ?? url))")
        }
    }

    /// The Destination header names the resource without the user's password.
    static func withoutCredentials(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        components.user = nil
        components.password = nil
        return components.string ?? url
    }

    func download(_ url: String, cancellation: CancellationFlag, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        // A 404's body must not reach the sink: check the size first.
        guard try remoteSize(url, cancellation: cancellation) != nil else { throw TransportError.missing(url) }
        let result = try CurlCall(url: url, options: options).perform(cancellation: cancellation, sink: sink)
        try CurlCall.check(result, "downloading \(Redaction.maskingURLPassword(url))")
    }

    func delete(_ url: String, cancellation: CancellationFlag) throws {
        try Transports.retrying("deleting \(Redaction.maskingURLPassword(url))", retries: options.retries, cancellation: cancellation) {
            var delete = CurlCall(url: url, options: options)
            delete.method = "DELETE"
            let result = try delete.perform(cancellation: cancellation)
            if result.status == 404 { return }
            try CurlCall.check(result, "deleting \(Redaction.maskingURLPassword(url))")
        }
    }

    func remoteSize(_ url: String, cancellation: CancellationFlag) throws -> Int64? {
        var head = CurlCall(url: url, options: options)
        head.noBody = true
        let result = try head.perform(cancellation: cancellation)
        if result.status == 404 { return nil }
        try CurlCall.check(result, "checking \(Redaction.maskingURLPassword(url))")
        return result.contentLength >= 0 ? result.contentLength : nil
    }
}
