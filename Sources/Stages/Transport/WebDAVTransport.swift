import Foundation
import Pipeline

/// `http(s)://` WebDAV: missing collections made with MKCOL, the file PUT under a temporary name,
/// its size checked, then MOVEd (Overwrite: T) to its final name. An interrupted PUT starts over.
struct WebDAVTransport: RemoteTransport {
    let options: TransportOptions

    func upload(_ file: String, to url: String, identity: String?, cancellation: CancellationFlag) throws {
        let temporary = Transports.temporaryName(url, identity: identity)
        let size = try localSize(file)
        try Transports.retrying("upload to \(Redaction.maskingURLSecrets(url))", retries: options.retries, cancellation: cancellation) {
            try makeCollections(for: url, cancellation: cancellation)
            var put = CurlCall(url: temporary, options: options)
            put.uploadFile = file
            put.method = "PUT"
            try CurlCall.check(try put.perform(cancellation: cancellation), "uploading \(Redaction.maskingURLSecrets(temporary))")
            guard try remoteSize(temporary, cancellation: cancellation) == size else {
                throw TransportError.transient("\(Redaction.maskingURLSecrets(temporary)) does not have the expected \(size) bytes")
            }
            // Without TLS nothing checks the bytes on the way.
            if !url.lowercased().hasPrefix("https://") { try checkUploaded(temporary, file: file, identity: identity, cancellation: cancellation) }
            var move = CurlCall(url: temporary, options: options)
            move.method = "MOVE"
            move.headers = ["Destination: " + Self.withoutCredentials(url), "Overwrite: T"]
            try CurlCall.check(try move.perform(cancellation: cancellation), "moving into \(Redaction.maskingURLSecrets(url))")
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
            try CurlCall.check(result, "creating the collection \(Redaction.maskingURLSecrets(components.string ?? url))")
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
        // A 404's body must not reach the sink: ask first (a resource whose size is not told exists all the same).
        guard try head(url, cancellation: cancellation) != nil else { throw TransportError.missing(url) }
        let result = try CurlCall(url: url, options: options).perform(cancellation: cancellation, sink: sink)
        try CurlCall.check(result, "downloading \(Redaction.maskingURLSecrets(url))")
    }

    /// Deletes one file. A WebDAV DELETE of a collection deletes everything in it: a URL that names one (or
    /// ends with `/`) is refused, whatever a document says.
    func delete(_ url: String, cancellation: CancellationFlag) throws {
        guard !url.hasSuffix("/") else {
            throw TransportError.permanent("refusing to delete \(Redaction.maskingURLSecrets(url)): it names a collection (a directory)")
        }
        try Transports.retrying("deleting \(Redaction.maskingURLSecrets(url))", retries: options.retries, cancellation: cancellation) {
            var propfind = CurlCall(url: url, options: options)
            propfind.method = "PROPFIND"
            propfind.headers = ["Depth: 0", "Content-Type: application/xml"]
            propfind.body = Data(#"<?xml version="1.0"?><propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>"#.utf8)
            var answer = Data()
            let found = try propfind.perform(cancellation: cancellation) { answer.append(contentsOf: $0) }
            if found.status == 404 { return }
            try CurlCall.check(found, "checking \(Redaction.maskingURLSecrets(url)) before deleting it")
            if Self.isCollection(inPropfind: String(decoding: answer, as: UTF8.self)) {
                throw TransportError.permanent("refusing to delete \(Redaction.maskingURLSecrets(url)): it is a collection (a directory), "
                                               + "and polyarchiv deletes only the files it uploaded")
            }
            var delete = CurlCall(url: url, options: options)
            delete.method = "DELETE"
            let result = try delete.perform(cancellation: cancellation)
            if result.status == 404 { return }
            try CurlCall.check(result, "deleting \(Redaction.maskingURLSecrets(url))")
        }
    }

    /// The size of the resource; nil when there is none. A server whose HEAD gives no Content-Length is
    /// asked by PROPFIND (getcontentlength).
    func remoteSize(_ url: String, cancellation: CancellationFlag) throws -> Int64? {
        guard let length = try head(url, cancellation: cancellation) else { return nil }
        if length >= 0 { return length }
        var propfind = CurlCall(url: url, options: options)
        propfind.method = "PROPFIND"
        propfind.headers = ["Depth: 0", "Content-Type: application/xml"]
        propfind.body = Data(#"<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getcontentlength/></prop></propfind>"#.utf8)
        var answer = Data()
        let result = try propfind.perform(cancellation: cancellation) { answer.append(contentsOf: $0) }
        if result.status == 404 { return nil }
        try CurlCall.check(result, "asking the size of \(Redaction.maskingURLSecrets(url))")
        guard let size = Self.contentLength(inPropfind: String(decoding: answer, as: UTF8.self)) else {
            throw TransportError.permanent("\(Redaction.maskingURLSecrets(url)) exists but the server tells neither its Content-Length "
                                           + "nor its getcontentlength")
        }
        return size
    }

    /// HEAD: nil when the resource does not exist, else its Content-Length (-1 when the server gives none).
    private func head(_ url: String, cancellation: CancellationFlag) throws -> Int64? {
        var head = CurlCall(url: url, options: options)
        head.noBody = true
        let result = try head.perform(cancellation: cancellation)
        if result.status == 404 { return nil }
        try CurlCall.check(result, "checking \(Redaction.maskingURLSecrets(url))")
        return result.contentLength >= 0 ? result.contentLength : -1
    }

    /// `<D:resourcetype><D:collection/></D:resourcetype>`, whatever the namespace prefix.
    static func isCollection(inPropfind xml: String) -> Bool {
        guard let start = xml.range(of: "resourcetype>"), let end = xml[start.upperBound...].range(of: "resourcetype>") else { return false }
        return xml[start.upperBound..<end.lowerBound].contains("collection")
    }

    /// `<D:getcontentlength>123</D:getcontentlength>`, whatever the namespace prefix.
    static func contentLength(inPropfind xml: String) -> Int64? {
        guard let open = xml.range(of: "getcontentlength>"), let close = xml[open.upperBound...].range(of: "</") else { return nil }
        return Int64(xml[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
