import CCurl
import Foundation
import Pipeline

/// Credentials, keys and limits of a transport, from a point's parameters.
struct TransportOptions: Sendable {
    var privateKey: String?
    var knownHosts: String?
    var hostKeySHA256: String?
    var username: String?
    var password: String?
    var caCert: String?
    var clientCert: String?
    var clientKey: String?
    var s3Region = "us-east-1"
    var s3Endpoint: String?
    var s3AccessKey: String?
    var s3SecretKey: String?
    var s3PartSize: Int64 = 64 << 20
    var retries = 3
    /// Bytes per second, 0 for no limit.
    var bandwidthLimit: Int64 = 0
    /// Seconds to wait for a connection.
    var connectTimeout = 30

    init() {}

    init(_ parameters: Parameters) throws {
        privateKey = parameters.string("private_key").map { NSString(string: $0).expandingTildeInPath }
        knownHosts = parameters.string("known_hosts").map { NSString(string: $0).expandingTildeInPath }
        hostKeySHA256 = parameters.string("host_key_sha256")
        username = parameters.string("username")
        password = try parameters.secretValue("password")
        caCert = parameters.string("ca_cert")
        clientCert = parameters.string("client_cert")
        clientKey = parameters.string("client_key")
        s3Region = parameters.string("s3_region") ?? "us-east-1"
        s3Endpoint = parameters.string("s3_endpoint")
        s3AccessKey = parameters.string("s3_access_key")
        s3SecretKey = try parameters.secretValue("s3_secret_key")
        if case .int(let mebibytes)? = parameters["s3_part_size"] { s3PartSize = Int64(mebibytes) << 20 }
        if case .int(let retries)? = parameters["retries"] { self.retries = retries }
        if let limit = parameters.string("bandwidth_limit") { bandwidthLimit = try Self.parseRate(limit) }
    }

    /// `500K`, `10M`, `1G` (bytes per second).
    static func parseRate(_ text: String) throws -> Int64 {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = text.uppercased()
        var factor: Int64 = 1
        if let last = digits.last, let unit = units[last] {
            factor = unit
            digits.removeLast()
        }
        guard let value = Int64(digits), value > 0 else { throw StageFailure("bandwidth_limit `\(text)` is not a rate such as 500K or 10M") }
        return value * factor
    }

    /// `signS3`: an S3 request (SigV4 with the access key); `requireTLS`: FTP upgraded with AUTH TLS or failing.
    func apply(to handle: UnsafeMutableRawPointer, url: String, signS3: Bool, requireTLS: Bool) {
        let scheme = signS3 ? "s3" : url.components(separatedBy: "://").first?.lowercased() ?? ""
        if requireTLS { pa_curl_setopt_long(handle, CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue)) }
        switch scheme {
        case "sftp", "scp":
            pa_curl_setopt_long(handle, CURLOPT_SSH_AUTH_TYPES, Int(CURLSSH_AUTH_PUBLICKEY))
            if let privateKey { pa_curl_setopt_str(handle, CURLOPT_SSH_PRIVATE_KEYFILE, privateKey) }
            if let hostKeySHA256 {
                var value = hostKeySHA256.hasPrefix("SHA256:") ? String(hostKeySHA256.dropFirst(7)) : hostKeySHA256
                while value.count % 4 != 0 { value += "=" }
                pa_curl_setopt_str(handle, CURLOPT_SSH_HOST_PUBLIC_KEY_SHA256, value)
            } else {
                pa_curl_setopt_str(handle, CURLOPT_SSH_KNOWNHOSTS, knownHosts ?? NSString(string: "~/.ssh/known_hosts").expandingTildeInPath)
            }
        case "s3":
            pa_curl_setopt_str(handle, CURLOPT_AWS_SIGV4, "aws:amz:\(s3Region):s3")
            if let s3AccessKey { pa_curl_setopt_str(handle, CURLOPT_USERNAME, s3AccessKey) }
            if let s3SecretKey { pa_curl_setopt_str(handle, CURLOPT_PASSWORD, s3SecretKey) }
        default:
            if let username { pa_curl_setopt_str(handle, CURLOPT_USERNAME, username) }
            if let password { pa_curl_setopt_str(handle, CURLOPT_PASSWORD, password) }
        }
        if let caCert { pa_curl_setopt_str(handle, CURLOPT_CAINFO, caCert) }
        if let clientCert { pa_curl_setopt_str(handle, CURLOPT_SSLCERT, clientCert) }
        if let clientKey { pa_curl_setopt_str(handle, CURLOPT_SSLKEY, clientKey) }
        if bandwidthLimit > 0 { pa_curl_setopt_off(handle, CURLOPT_MAX_SEND_SPEED_LARGE, curl_off_t(bandwidthLimit)) }
    }
}
