import CCurl
import Foundation
import Pipeline

/// One libcurl transfer, configured field by field (blocking: call it on a blocking thread). TLS and
/// SSH host keys are always verified. An upload reads a local file from an offset; a download goes to
/// a sink. The handle lives and dies inside `perform`, on the calling thread.
struct CurlCall {
    var url: String
    var method: String?
    var headers: [String] = []
    var quote: [String] = []
    var noBody = false
    var createMissingDirectories = false
    /// Upload this file from `uploadOffset`, appending to the remote file when `append`.
    var uploadFile: String?
    var uploadOffset: Int64 = 0
    /// Upload only this many bytes from the offset (an S3 part); the rest of the file when nil.
    var uploadLength: Int64?
    var append = false
    var body: Data?
    var options: TransportOptions
    var signS3 = false
    var fetchFileTime = false
    var requireTLS = false

    struct Result {
        let code: CURLcode
        let status: Int
        let message: String
        let contentLength: Int64
        let headers: [String: String]
        /// The remote file's modification time (seconds since the epoch), when asked for and known.
        var fileTime: Int64 = -1
        var ok: Bool { code == CURLE_OK && (status == 0 || status < 400) }
    }

    /// Upload source and download sink, reached by the C callbacks through their payload pointer.
    private final class Payload {
        var descriptor: Int32 = -1
        var remaining = Int64.max
        var body: [UInt8] = []
        var bodyOffset = 0
        var sink: ((UnsafeRawBufferPointer) throws -> Void)?
        var error: Error?
        var headers: [String: String] = [:]
        /// Where in the file the upload is, and where it was last reported.
        var position: Int64 = 0
        var reported: Int64 = 0
        var progress: (@Sendable (Int64) -> Void)?
        let cancellation: CancellationFlag
        init(cancellation: CancellationFlag) { self.cancellation = cancellation }
    }

    init(url: String, options: TransportOptions) {
        self.url = url
        self.options = options
    }

    func perform(cancellation: CancellationFlag, sink: (UnsafeRawBufferPointer) throws -> Void = { _ in }) throws -> Result {
        try withoutActuallyEscaping(sink) { sink in try perform(cancellation, sink) }
    }

    private func perform(_ cancellation: CancellationFlag, _ sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> Result {
        _ = HTTPRequest.globalInit
        guard let handle = curl_easy_init() else { throw StageFailure("libcurl: cannot create a handle") }
        defer { curl_easy_cleanup(handle) }
        let payload = Payload(cancellation: cancellation)
        payload.sink = sink
        if let uploadFile {
            payload.descriptor = open(FileName.system(uploadFile), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
            guard payload.descriptor >= 0 else { throw StageFailure("cannot read \(uploadFile): \(FileIO.lastError)") }
            if uploadOffset > 0 { lseek(payload.descriptor, off_t(uploadOffset), SEEK_SET) }
            payload.position = uploadOffset
            payload.progress = options.uploadProgress
            if let uploadLength { payload.remaining = uploadLength }
        }
        defer { if payload.descriptor >= 0 { close(payload.descriptor) } }
        if let body { payload.body = Array(body) }
        var headerList: UnsafeMutablePointer<curl_slist>?
        var quoteList: UnsafeMutablePointer<curl_slist>?
        defer {
            curl_slist_free_all(headerList)
            curl_slist_free_all(quoteList)
        }
        for header in headers { headerList = curl_slist_append(headerList, header) }
        for command in quote { quoteList = curl_slist_append(quoteList, command) }
        var errors = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = errors.withUnsafeMutableBufferPointer { errorBuffer in
            withExtendedLifetime(payload) {
                let opaque = Unmanaged.passUnretained(payload).toOpaque()
                pa_curl_setopt_str(handle, CURLOPT_URL, url)
                pa_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
                pa_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer.baseAddress)
                pa_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, options.connectTimeout)
                // A stalled transfer (under 1 byte/s for a minute) is a transient failure, retried.
                pa_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
                pa_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, 60)
                options.apply(to: handle, url: url, signS3: signS3, requireTLS: requireTLS)
                if headerList != nil { pa_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, headerList) }
                if quoteList != nil { pa_curl_setopt_ptr(handle, CURLOPT_QUOTE, quoteList) }
                if let method { pa_curl_setopt_str(handle, CURLOPT_CUSTOMREQUEST, method) }
                if noBody { pa_curl_setopt_long(handle, CURLOPT_NOBODY, 1) }
                if fetchFileTime { pa_curl_setopt_long(handle, CURLOPT_FILETIME, 1) }
                if createMissingDirectories { pa_curl_setopt_long(handle, CURLOPT_FTP_CREATE_MISSING_DIRS, 2) }
                if uploadFile != nil || body != nil {
                    pa_curl_setopt_long(handle, CURLOPT_UPLOAD, 1)
                    if append { pa_curl_setopt_long(handle, CURLOPT_APPEND, 1) }
                    let size = body.map { Int64($0.count) } ?? uploadLength ?? (fileSize(payload.descriptor) - uploadOffset)
                    pa_curl_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(size))
                    pa_curl_setopt_ptr(handle, CURLOPT_READDATA, opaque)
                    pa_curl_setopt_readfn(handle) { buffer, size, count, pointer in
                        let payload = Unmanaged<Payload>.fromOpaque(pointer!).takeUnretainedValue()
                        if payload.cancellation.isCancelled { return Int(CURL_READFUNC_ABORT) }
                        if payload.descriptor >= 0 {
                            let got = Glibc.read(payload.descriptor, buffer, Int(min(Int64(size * count), payload.remaining)))
                            if got < 0 { return Int(CURL_READFUNC_ABORT) }
                            payload.remaining -= Int64(got)
                            payload.position += Int64(got)
                            if let progress = payload.progress, payload.position - payload.reported >= 1 << 20 || got == 0 {
                                payload.reported = payload.position
                                progress(payload.position)
                            }
                            return got
                        }
                        let length = min(size * count, payload.body.count - payload.bodyOffset)
                        payload.body.withUnsafeBytes { _ = memcpy(buffer!, $0.baseAddress! + payload.bodyOffset, length) }
                        payload.bodyOffset += length
                        return length
                    }
                }
                pa_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, opaque)
                pa_curl_setopt_writefn(handle) { buffer, size, count, pointer in
                    let payload = Unmanaged<Payload>.fromOpaque(pointer!).takeUnretainedValue()
                    guard let sink = payload.sink, let buffer else { return size * count }
                    do {
                        try payload.cancellation.check()
                        try sink(UnsafeRawBufferPointer(start: buffer, count: size * count))
                        return size * count
                    } catch {
                        payload.error = error
                        return 0
                    }
                }
                pa_curl_setopt_ptr(handle, CURLOPT_HEADERDATA, opaque)
                pa_curl_setopt_headerfn(handle) { buffer, size, count, pointer in
                    let payload = Unmanaged<Payload>.fromOpaque(pointer!).takeUnretainedValue()
                    let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: size * count), as: UTF8.self)
                    if let colon = line.firstIndex(of: ":") {
                        payload.headers[line[..<colon].lowercased()] = line[line.index(after: colon)...]
                            .trimmingCharacters(in: .whitespacesAndNewlines)
                    }
                    return size * count
                }
                let code = curl_easy_perform(handle)
                // The buffer dies with this closure; the handle lives until the function ends.
                pa_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, nil)
                return code
            }
        }
        if let error = payload.error { throw error }
        try cancellation.check()
        var status = 0
        pa_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var length: curl_off_t = -1
        pa_curl_getinfo_off(handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length)
        let detail = String(decoding: errors.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let summary = curl_easy_strerror(code).map { String(cString: $0) } ?? "libcurl error \(code.rawValue)"
        let hint = CurlErrorHint.hint(code, url: url, options: options).map { ": " + $0 } ?? ""
        var result = Result(code: code, status: status, message: (detail.isEmpty ? summary : detail) + hint, contentLength: Int64(length),
                            headers: payload.headers)
        if fetchFileTime {
            var time: curl_off_t = -1
            pa_curl_getinfo_off(handle, CURLINFO_FILETIME_T, &time)
            result.fileTime = Int64(time)
        }
        return result
    }

    /// Success, or the failure as transient (worth a retry) or permanent, with `what` in front.
    static func check(_ result: Result, _ what: String) throws {
        if result.ok { return }
        let transientCodes: Set<UInt32> = [CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_OPERATION_TIMEDOUT, CURLE_RECV_ERROR,
                                           CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_SSH, CURLE_SSL_CONNECT_ERROR,
                                           CURLE_FTP_ACCEPT_TIMEOUT, CURLE_UPLOAD_FAILED, CURLE_READ_ERROR].map(\.rawValue).reduce(into: []) { $0.insert($1) }
        if result.code != CURLE_OK {
            let message = "\(what): \(result.message)"
            if transientCodes.contains(result.code.rawValue) { throw TransportError.transient(message) }
            throw TransportError.permanent(message)
        }
        let message = "\(what): HTTP \(result.status)"
        if result.status >= 500 || result.status == 408 || result.status == 429 { throw TransportError.transient(message) }
        throw TransportError.permanent(message + (result.status == 401 || result.status == 403 ? " (check the credentials)" : ""))
    }

    /// The size of the file being sent (the open file itself: its name may be gone or another file by now).
    private func fileSize(_ descriptor: Int32) -> Int64 {
        var info = stat()
        return fstat(descriptor, &info) == 0 ? Int64(info.st_size) : 0
    }
}
