import Crypto
import Foundation
import Pipeline

/// `s3://bucket/key` on AWS or an S3-compatible store (`s3_endpoint`), signed with SigV4 by libcurl.
/// A small file is one PUT (S3 shows an object only once it is whole); a large one is a multipart upload,
/// visible only when completed, and resumed from the parts an interrupted attempt left.
struct S3Transport: RemoteTransport {
    let options: TransportOptions

    /// The HTTP URL of `s3://bucket/key`, virtual-hosted (the bucket in the host name) or path style.
    func httpURL(_ url: String, query: String = "") throws -> String {
        guard url.lowercased().hasPrefix("s3://") else { throw StageFailure("`\(url)` is not an s3:// URL") }
        let rest = url.dropFirst("s3://".count)
        guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex else {
            throw StageFailure("`\(url)` needs a bucket and a key: s3://bucket/path/name")
        }
        let bucket = String(rest[..<slash])
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        let key = String(rest[rest.index(after: slash)...]).addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
        let suffix = query.isEmpty ? "" : "?" + query
        let endpoint = options.s3Endpoint.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "https://s3.\(options.s3Region).amazonaws.com"
        guard options.s3VirtualHosted else { return endpoint + "/\(bucket)/\(key)" + suffix }
        guard let scheme = endpoint.range(of: "://") else { throw StageFailure("`s3_endpoint` `\(endpoint)` needs a scheme (https://…)") }
        return endpoint[..<scheme.upperBound] + bucket + "." + endpoint[scheme.upperBound...] + "/\(key)" + suffix
    }

    /// A request signed with SigV4. An upload signs its payload's SHA-256, so S3 refuses bytes changed on the
    /// way (a request without a body says UNSIGNED-PAYLOAD). The query must be in S3's canonical form (keys
    /// sorted, `key=` for an empty value): libcurl 7.88 signs it as written.
    private func call(_ url: String, query: String = "", payload: Pipeline.Digest? = nil) throws -> CurlCall {
        var call = CurlCall(url: try httpURL(url, query: query), options: options)
        call.signS3 = true
        call.headers = ["x-amz-content-sha256: " + (payload?.hex ?? "UNSIGNED-PAYLOAD")]
        return call
    }

    /// Resumed parts are checked against the file (MD5) whatever `identity` says.
    func upload(_ file: String, to url: String, identity: String?, cancellation: CancellationFlag) throws {
        let size = try localSize(file)
        try Transports.retrying("upload to \(url)", retries: options.retries, cancellation: cancellation) {
            if size <= options.s3PartSize {
                // The file's SHA-256: its identity when it is a store object (checked on the way out), else read.
                let digest = try identity.flatMap { Pipeline.Digest(hex: $0) } ?? Transports.sha256(file, offset: 0, length: size)
                var put = try call(url, payload: digest)
                put.uploadFile = file
                put.method = "PUT"
                if let lock = options.s3ObjectLock {
                    // S3 wants a Content-MD5 with every write under Object Lock.
                    put.headers += lock.headers + ["Content-MD5: " + Self.base64(hex: try Self.md5(file, offset: 0, length: size))]
                }
                try CurlCall.check(try put.perform(cancellation: cancellation), "uploading \(url)")
            } else {
                try multipart(file, size: size, to: url, cancellation: cancellation)
            }
            guard try remoteSize(url, cancellation: cancellation) == size else {
                throw TransportError.transient("\(url) does not have the expected \(size) bytes")
            }
        }
    }

    private func multipart(_ file: String, size: Int64, to url: String, cancellation: CancellationFlag) throws {
        let partSize = max(options.s3PartSize, (size + 9_999) / 10_000)  // S3 allows 10,000 parts
        // The key as S3 lists it (unencoded), from the s3:// URL itself.
        let key = String(url.dropFirst("s3://".count).drop { $0 != "/" }.dropFirst())
        // An upload an interrupted run began is resumed: its parts that match are kept.
        var uploadID: String?
        var done: [Int: String] = [:]
        let bucketURL = "s3://" + url.dropFirst("s3://".count).prefix { $0 != "/" } + "/"
        let prefix = key.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? key
        let listing = try text(try call(bucketURL, query: "prefix=" + prefix + "&uploads="), cancellation: cancellation, "listing uploads of \(url)")
        for upload in Self.elements("Upload", in: listing) where Self.elements("Key", in: upload).first == key {
            uploadID = Self.elements("UploadId", in: upload).first
        }
        if let existing = uploadID {
            let parts = try text(try call(url, query: "uploadId=" + existing), cancellation: cancellation, "listing parts of \(url)")
            for part in Self.elements("Part", in: parts) {
                guard let number = Self.elements("PartNumber", in: part).first.flatMap(Int.init),
                      let etag = Self.elements("ETag", in: part).first,
                      let partBytes = Self.elements("Size", in: part).first.flatMap(Int64.init) else { continue }
                let offset = Int64(number - 1) * partSize
                if partBytes == min(partSize, size - offset),
                   try Self.md5(file, offset: offset, length: partBytes) == etag.replacingOccurrences(of: "\"", with: "")
                    .replacingOccurrences(of: "&quot;", with: "") {
                    done[number] = etag
                }
            }
        } else {
            var start = try call(url, query: "uploads=")
            start.method = "POST"
            if let lock = options.s3ObjectLock { start.headers += lock.headers }
            let answer = try text(start, cancellation: cancellation, "starting the upload of \(url)")
            guard let id = Self.elements("UploadId", in: answer).first else {
                throw TransportError.permanent("starting the upload of \(url): no UploadId in the answer")
            }
            uploadID = id
        }
        let id = uploadID!
        let count = Int((size + partSize - 1) / partSize)
        for number in 1...count where done[number] == nil {
            let offset = Int64(number - 1) * partSize
            let length = min(partSize, size - offset)
            var put = try call(url, query: "partNumber=\(number)&uploadId=\(id)", payload: try Transports.sha256(file, offset: offset, length: length))
            put.method = "PUT"
            put.uploadFile = file
            put.uploadOffset = offset
            put.uploadLength = length
            if options.s3ObjectLock != nil {
                put.headers.append("Content-MD5: " + Self.base64(hex: try Self.md5(file, offset: offset, length: length)))
            }
            let result = try put.perform(cancellation: cancellation)
            try CurlCall.check(result, "uploading part \(number) of \(url)")
            guard let etag = result.headers["etag"] else { throw TransportError.transient("part \(number) of \(url) has no ETag") }
            done[number] = etag
        }
        let body = "<CompleteMultipartUpload>" + (1...count).map {
            "<Part><PartNumber>\($0)</PartNumber><ETag>\(done[$0]!)</ETag></Part>"
        }.joined() + "</CompleteMultipartUpload>"
        var complete = try call(url, query: "uploadId=" + id)
        complete.method = "POST"
        complete.headers.append("Content-Type: application/xml")
        complete.body = Data(body.utf8)
        let answer = try text(complete, cancellation: cancellation, "completing the upload of \(url)")
        if answer.contains("<Error>") { throw TransportError.transient("completing the upload of \(url): \(answer.prefix(300))") }
    }

    private func text(_ call: CurlCall, cancellation: CancellationFlag, _ what: String) throws -> String {
        var data = Data()
        let result = try call.perform(cancellation: cancellation) { data.append(contentsOf: $0) }
        try CurlCall.check(result, what)
        return String(decoding: data, as: UTF8.self)
    }

    /// The contents of each `<name>…</name>` (S3's answers are small and flat enough for this).
    static func elements(_ name: String, in xml: String) -> [String] {
        var results: [String] = []
        var rest = xml[...]
        while let open = rest.range(of: "<\(name)>"), let close = rest.range(of: "</\(name)>", range: open.upperBound..<rest.endIndex) {
            results.append(String(rest[open.upperBound..<close.lowerBound]))
            rest = rest[close.upperBound...]
        }
        return results
    }

    static func base64(hex: String) -> String {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return Data(bytes).base64EncodedString()
    }

    static func md5(_ file: String, offset: Int64, length: Int64) throws -> String {
        var hasher = Insecure.MD5()
        try Transports.read(file, offset: offset, length: length) { hasher.update(data: $0) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    func download(_ url: String, cancellation: CancellationFlag, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard try remoteSize(url, cancellation: cancellation) != nil else { throw TransportError.missing(url) }
        let result = try call(url).perform(cancellation: cancellation, sink: sink)
        try CurlCall.check(result, "downloading \(url)")
    }

    /// An interrupted multipart upload to that key is aborted (S3 keeps its parts, unlisted, until then).
    func removeLeftovers(of url: String, identity: String?, cancellation: CancellationFlag) throws {
        let key = String(url.dropFirst("s3://".count).drop { $0 != "/" }.dropFirst())
        let bucketURL = "s3://" + url.dropFirst("s3://".count).prefix { $0 != "/" } + "/"
        let prefix = key.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? key
        let listing = try text(try call(bucketURL, query: "prefix=" + prefix + "&uploads="), cancellation: cancellation, "listing uploads of \(url)")
        for upload in Self.elements("Upload", in: listing) where Self.elements("Key", in: upload).first == key {
            guard let id = Self.elements("UploadId", in: upload).first else { continue }
            var abort = try call(url, query: "uploadId=" + id)
            abort.method = "DELETE"
            try CurlCall.check(try abort.perform(cancellation: cancellation), "aborting the interrupted upload to \(url)")
        }
    }

    func delete(_ url: String, cancellation: CancellationFlag) throws {
        if options.s3DeleteVersions { return try deleteVersions(url, cancellation: cancellation) }
        try Transports.retrying("deleting \(url)", retries: options.retries, cancellation: cancellation) {
            var delete = try call(url)
            delete.method = "DELETE"
            let result = try delete.perform(cancellation: cancellation)
            if result.status == 404 { return }
            try CurlCall.check(result, "deleting \(url)")
        }
    }

    /// Every version of the key (and its delete markers): in a versioned bucket a plain DELETE only hides the
    /// bytes. A version still under Object Lock is refused by the server.
    private func deleteVersions(_ url: String, cancellation: CancellationFlag) throws {
        let key = String(url.dropFirst("s3://".count).drop { $0 != "/" }.dropFirst())
        let bucketURL = "s3://" + url.dropFirst("s3://".count).prefix { $0 != "/" } + "/"
        let prefix = key.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? key
        let listing = try text(try call(bucketURL, query: "prefix=" + prefix + "&versions="), cancellation: cancellation, "listing versions of \(url)")
        let entries = Self.elements("Version", in: listing) + Self.elements("DeleteMarker", in: listing)
        for entry in entries where Self.elements("Key", in: entry).first == key {
            guard let version = Self.elements("VersionId", in: entry).first else { continue }
            let encoded = version.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? version
            try Transports.retrying("deleting \(url) (version \(version))", retries: options.retries, cancellation: cancellation) {
                var delete = try call(url, query: "versionId=" + encoded)
                delete.method = "DELETE"
                let result = try delete.perform(cancellation: cancellation)
                if result.status == 404 { return }
                try CurlCall.check(result, "deleting \(url) (version \(version))")
            }
        }
    }

    func remoteSize(_ url: String, cancellation: CancellationFlag) throws -> Int64? {
        var head = try call(url)
        head.noBody = true
        let result = try head.perform(cancellation: cancellation)
        if result.status == 404 { return nil }
        try CurlCall.check(result, "checking \(url)")
        return result.contentLength >= 0 ? result.contentLength : nil
    }
}
