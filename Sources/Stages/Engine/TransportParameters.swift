/// Parameters shared by every engine that moves files over a URL (file, sftp, scp, ftp(s), WebDAV, S3).
public enum TransportParameters {
    static let ssh: [ParameterSpec] = [
        ParameterSpec("private_key", .path, "SSH private key (ed25519 recommended) for ssh://, sftp:// and scp:// URLs."),
        ParameterSpec("known_hosts", .path, default: "~/.ssh/known_hosts", "Known hosts file that SSH host keys are checked against."),
        ParameterSpec("host_key_sha256", .string,
                      "Expected SHA-256 fingerprint of the SSH host key (as `ssh-keygen -lf` prints it), instead of known_hosts."),
    ]

    static let all: [ParameterSpec] = ssh + [
        ParameterSpec("username", .string, "User name for ftp(s):// and http(s):// (or put it in the URL)."),
        ParameterSpec("password", .secret, "Password for ftp(s):// and http(s)://."),
        ParameterSpec("password_file", .path, "File whose first line is the password."),
        ParameterSpec("ca_cert", .path, "CA bundle that TLS certificates are checked against (default: the system's)."),
        ParameterSpec("client_cert", .path, "Client certificate (PEM) for TLS."),
        ParameterSpec("client_key", .path, "Private key (PEM) of the client certificate."),
        ParameterSpec("s3_region", .string, default: "us-east-1", "Region of s3:// URLs."),
        ParameterSpec("s3_endpoint", .url, "Endpoint of an S3-compatible store (MinIO, Ceph, …); default AWS."),
        ParameterSpec("s3_url_style", .choice(["auto", "path", "virtual"]), default: "auto",
                      "How the bucket is named: `path` (ENDPOINT/BUCKET/KEY), `virtual` (BUCKET.HOST/KEY); auto: virtual on AWS, path on s3_endpoint."),
        ParameterSpec("s3_access_key", .string, "Access key id for s3:// URLs."),
        ParameterSpec("s3_secret_key", .secret, "Secret access key for s3:// URLs."),
        ParameterSpec("s3_secret_key_file", .path, "File whose first line is the secret access key."),
        ParameterSpec("s3_part_size", .int(5...5120), default: "64",
                      "MiB: a larger file is sent as a multipart upload in parts of this size (resumed part by part)."),
        ParameterSpec("retries", .int(0...100), default: "3", "Retries of a transient failure (5xx, reset, timeout), with exponential backoff."),
        ParameterSpec("bandwidth_limit", .string, "Upload bandwidth limit, such as 10M (bytes per second)."),
    ]

    static let exclusive = [["password", "password_file"], ["s3_secret_key", "s3_secret_key_file"],
                            ["known_hosts", "host_key_sha256"]]

    /// The given transport parameters that a URL's scheme does not use (a `password` on `sftp://`, an
    /// `s3_region` on WebDAV): the planner warns, since the user meant something by them.
    public static func ignored(_ given: Set<String>, for url: String) -> (scheme: String, names: [String]) {
        let scheme = Transports.scheme(url)
        let ssh: Set<String> = ["private_key", "known_hosts", "host_key_sha256"]
        let login: Set<String> = ["password", "password_file"]
        let tls: Set<String> = ["ca_cert", "client_cert", "client_key"]
        let s3 = Set(all.map(\.name).filter { $0.hasPrefix("s3_") })
        let unused: Set<String>
        switch scheme {
        case "file": unused = ssh.union(login).union(tls).union(s3).union(["username", "bandwidth_limit"])
        case "sftp", "scp", "ssh": unused = login.union(tls).union(s3)
        case "ftp", "ftps", "http", "https": unused = ssh.union(s3)
        case "s3": unused = ssh.union(login).union(["username"])
        default: return (scheme, [])
        }
        return (scheme, given.intersection(unused).sorted())
    }

    /// The host a URL talks to, for per-host transfer limits; none for local paths.
    static func hostKey(_ url: String?) -> [String] {
        guard let url, let schemeEnd = url.range(of: "://") else { return [] }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme != "file" else { return [] }
        var rest = url[schemeEnd.upperBound...]
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        return rest.isEmpty ? [] : ["host:\(rest.lowercased())"]
    }
}
