import CCurl
import Foundation
import Pipeline

/// Sends one message through libcurl's SMTP (blocking: call it on a blocking thread). `smtp://` upgrades
/// with STARTTLS when the server offers it (and must, with `requireTLS`); `smtps://` is TLS from the
/// start. Certificates are always verified, against `caCert` when given.
struct SMTPSend {
    var url: String
    var message: MailMessage
    var username: String?
    var password: String?
    var caCert: String?
    var requireTLS = false
    var timeout = 60
    var retries = 2

    /// The message's bytes, read by libcurl through the payload pointer.
    private final class Upload {
        let bytes: [UInt8]
        var offset = 0
        init(_ text: String) { bytes = Array(text.utf8) }
    }

    func perform(cancellation: CancellationFlag) throws {
        _ = HTTPRequest.globalInit
        var attempt = 0
        while true {
            try cancellation.check()
            let (code, detail) = once()
            if code == CURLE_OK { return }
            attempt += 1
            let reason = "sending mail through \(Redaction.maskingURLSecrets(url)) failed: \(detail)"
            // A refused login, sender or recipient will be refused again: no retry.
            let permanent = [CURLE_LOGIN_DENIED, CURLE_SEND_FAIL_REWIND, CURLE_USE_SSL_FAILED, CURLE_PEER_FAILED_VERIFICATION,
                             CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT].contains(code) || detail.contains("RCPT")
            guard !permanent, attempt <= retries else { throw StageFailure(reason) }
            usleep(useconds_t(min(8, 1 << (attempt - 1))) * 500_000)
        }
    }

    private func once() -> (CURLcode, String) {
        guard let handle = curl_easy_init() else { return (CURLE_FAILED_INIT, "libcurl: cannot create a handle") }
        defer { curl_easy_cleanup(handle) }
        var recipients: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(recipients) }
        for recipient in message.to { recipients = curl_slist_append(recipients, "<\(MailMessage.address(recipient))>") }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let upload = Upload(message.text)
        let code = errorBuffer.withUnsafeMutableBufferPointer { errors in
            withExtendedLifetime(upload) {
                pa_curl_setopt_str(handle, CURLOPT_URL, url)
                pa_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
                pa_curl_setopt_long(handle, CURLOPT_TIMEOUT, timeout)
                pa_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errors.baseAddress)
                pa_curl_setopt_str(handle, CURLOPT_MAIL_FROM, "<\(MailMessage.address(message.from))>")
                pa_curl_setopt_ptr(handle, CURLOPT_MAIL_RCPT, recipients)
                pa_curl_setopt_long(handle, CURLOPT_USE_SSL, Int(requireTLS ? CURLUSESSL_ALL.rawValue : CURLUSESSL_TRY.rawValue))
                if let caCert { pa_curl_setopt_str(handle, CURLOPT_CAINFO, caCert) }
                if let username { pa_curl_setopt_str(handle, CURLOPT_USERNAME, username) }
                if let password { pa_curl_setopt_str(handle, CURLOPT_PASSWORD, password) }
                pa_curl_setopt_long(handle, CURLOPT_UPLOAD, 1)
                pa_curl_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(upload.bytes.count))
                pa_curl_setopt_ptr(handle, CURLOPT_READDATA, Unmanaged.passUnretained(upload).toOpaque())
                pa_curl_setopt_readfn(handle) { buffer, size, count, payload in
                    guard let buffer, let payload else { return 0 }
                    let upload = Unmanaged<Upload>.fromOpaque(payload).takeUnretainedValue()
                    let length = min(size * count, upload.bytes.count - upload.offset)
                    upload.bytes.withUnsafeBytes { bytes in
                        _ = memcpy(buffer, bytes.baseAddress! + upload.offset, length)
                    }
                    upload.offset += length
                    return length
                }
                let code = curl_easy_perform(handle)
                pa_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, nil)  // the buffer dies with this closure
                return code
            }
        }
        let detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let summary = curl_easy_strerror(code).map { String(cString: $0) } ?? "libcurl error \(code.rawValue)"
        return (code, detail.isEmpty ? summary : "\(summary) (\(detail.trimmingCharacters(in: .whitespacesAndNewlines)))")
    }
}
