import CCurl
import Foundation
import Pipeline

/// One HTTP request through libcurl (blocking: call it on a blocking thread). TLS is always verified,
/// against `caCert` when given; a status of 400 or more is an error.
struct HTTPRequest {
    var method = "GET"
    var url: String
    var headers: [(String, String)] = []
    var body: String?
    var username: String?
    var password: String?
    var caCert: String?
    var timeout = 30
    var retries = 2

    static let globalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

    /// Performs the request, retrying transport errors and 5xx answers with a growing pause.
    func perform(cancellation: CancellationFlag) throws -> Int {
        _ = Self.globalInit
        var attempt = 0
        while true {
            try cancellation.check()
            do {
                let status = try once()
                if status >= 500 && attempt < retries { throw StageFailure("HTTP \(status)") }
                guard status < 400 else {
                    throw Permanent(message: "\(method) \(Redaction.maskingURLSecrets(url)) answered HTTP \(status)")
                }
                return status
            } catch let error as Permanent {
                throw StageFailure(error.message)
            } catch {
                attempt += 1
                guard attempt <= retries else {
                    throw StageFailure("\(method) \(Redaction.maskingURLSecrets(url)) failed after \(attempt) attempt(s): \(error)")
                }
                usleep(useconds_t(min(8, 1 << (attempt - 1))) * 500_000)
            }
        }
    }

    private struct Permanent: Error { let message: String }

    private func once() throws -> Int {
        guard let handle = curl_easy_init() else { throw StageFailure("libcurl: cannot create a handle") }
        defer { curl_easy_cleanup(handle) }
        var list: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(list) }
        for (name, value) in headers { list = curl_slist_append(list, "\(name): \(value)") }
        pa_curl_setopt_str(handle, CURLOPT_URL, url)
        pa_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        pa_curl_setopt_long(handle, CURLOPT_TIMEOUT, timeout)
        pa_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 1)
        pa_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, list)
        if let caCert { pa_curl_setopt_str(handle, CURLOPT_CAINFO, caCert) }
        if let username { pa_curl_setopt_str(handle, CURLOPT_USERNAME, username) }
        if let password { pa_curl_setopt_str(handle, CURLOPT_PASSWORD, password) }
        switch method {
        case "GET": break
        case "HEAD": pa_curl_setopt_long(handle, CURLOPT_NOBODY, 1)
        case "POST": pa_curl_setopt_long(handle, CURLOPT_POST, 1)
        default: pa_curl_setopt_str(handle, CURLOPT_CUSTOMREQUEST, method)
        }
        if let body {
            pa_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.utf8.count))
            pa_curl_setopt_str(handle, CURLOPT_COPYPOSTFIELDS, body)
            if method == "GET" { pa_curl_setopt_str(handle, CURLOPT_CUSTOMREQUEST, "GET") }
        }
        // The answer's body is not needed: swallow it.
        pa_curl_setopt_writefn(handle) { _, size, count, _ in size * count }
        let code = curl_easy_perform(handle)
        guard code == CURLE_OK else {
            throw StageFailure(curl_easy_strerror(code).map { String(cString: $0) } ?? "libcurl error \(code.rawValue)")
        }
        var status = 0
        pa_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return status
    }
}
