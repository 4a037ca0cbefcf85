import CCurl
import Foundation
import Pipeline

/// Credentials, keys and limits of a transport, as an engine decodes them from its parameters when the plan
/// is made: secrets stay unrevealed until a transfer needs them (`options(_:)`).
struct TransportSettings: Sendable {
    var base = TransportOptions()
    var password: Secret?
    var s3SecretKey: Secret?

    init() {}

    init(_ parameters: EngineParameters) throws {
        base.privateKey = parameters.string("private_key").map { NSString(string: $0).expandingTildeInPath }
        base.knownHosts = parameters.string("known_hosts").map { NSString(string: $0).expandingTildeInPath }
        base.hostKeySHA256 = parameters.string("host_key_sha256")
        base.username = parameters.string("username")
        password = parameters.secret("password")
        base.caCert = parameters.string("ca_cert")
        base.clientCert = parameters.string("client_cert")
        base.clientKey = parameters.string("client_key")
        base.s3Region = parameters.string("s3_region") ?? "us-east-1"
        base.s3Endpoint = parameters.string("s3_endpoint")
        switch parameters.string("s3_url_style") {
        case "path": base.s3VirtualHosted = false
        case "virtual": base.s3VirtualHosted = true
        default: base.s3VirtualHosted = base.s3Endpoint == nil  // AWS: virtual-hosted; other stores: path style
        }
        base.s3AccessKey = parameters.string("s3_access_key")
        s3SecretKey = parameters.secret("s3_secret_key")
        if let mebibytes = parameters.int("s3_part_size") { base.s3PartSize = Int64(mebibytes) << 20 }
        if let retries = parameters.int("retries") { base.retries = retries }
        if let limit = parameters.string("bandwidth_limit") {
            guard let rate = TransportOptions.parseRate(limit) else {
                throw ConfigurationError("bandwidth_limit `\(limit)` is not a rate such as 500K or 10M", parameter: "bandwidth_limit")
            }
            base.bandwidthLimit = rate
        }
    }

    /// Takes the password out of a URL (`https://user:pw@host/…` → `https://user@host/…`): the URL is what
    /// is recorded (metadata documents, the journal) and shown, the password goes to the transfers only.
    mutating func takePassword(from url: inout String, parameter: String) throws {
        let (bare, found) = Redaction.splittingURLPassword(url)
        guard let found else { return }
        if let password, password != Secret(.literal(found)) {
            throw ConfigurationError("`\(parameter)` has a password and `password` is set too: give it once (better: `password: ${env:…}` "
                                     + "or `password_file`, which keep it out of the configuration)", parameter: parameter)
        }
        password = Secret(.literal(found))
        url = bare
    }

    /// The options of a transfer, secrets revealed.
    func options(_ secrets: Secrets) throws -> TransportOptions {
        var options = base
        options.password = try password.map { try secrets.reveal($0) }
        options.s3SecretKey = try s3SecretKey.map { try secrets.reveal($0) }
        return options
    }

    /// The same, for a quick attempt (`plan`): a short connection timeout and no retries.
    func quickOptions(_ secrets: Secrets) throws -> TransportOptions {
        var options = try options(secrets)
        options.connectTimeout = 5
        options.retries = 0
        return options
    }
}

/// The options of one transfer, secrets revealed (made from `TransportSettings` when a stage runs).
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
    /// The bucket in the host name (BUCKET.s3.REGION.amazonaws.com, BUCKET.ENDPOINT-HOST) rather than the path.
    var s3VirtualHosted = true
    var s3AccessKey: String?
    var s3SecretKey: String?
    var s3PartSize: Int64 = 64 << 20
    var retries = 3
    /// Bytes per second, 0 for no limit.
    var bandwidthLimit: Int64 = 0
    /// Seconds to wait for a connection.
    var connectTimeout = 30
    /// S3 Object Lock for the uploads made with these options (the backups of an `immutable` backup point).
    var s3ObjectLock: S3ObjectLock?
    /// A delete removes every version of the key (an `immutable` backup point's bucket keeps versions).
    var s3DeleteVersions = false
    /// Hears how far into the file an upload has sent (about every MiB), so a long upload shows progress.
    var uploadProgress: (@Sendable (Int64) -> Void)?

    init() {}

    /// `500K`, `10M`, `1G` (bytes per second).
    static func parseRate(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = text.uppercased()
        var factor: Int64 = 1
        if let last = digits.last, let unit = units[last] {
            factor = unit
            digits.removeLast()
        }
        guard let value = Int64(digits), value > 0 else { return nil }
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
