import CCurl
import Foundation

/// What to do about the libcurl errors a new user meets first (an unknown SSH host key, a refused login, a
/// wrong host or port): libcurl's own words say what failed, not what to change.
enum CurlErrorHint {
    static func hint(_ code: CURLcode, url: String, options: TransportOptions) -> String? {
        guard let parts = URLComponents(string: url), let host = parts.host else { return nil }
        let scheme = parts.scheme?.lowercased() ?? ""
        let ssh = scheme == "sftp" || scheme == "scp"
        let port = parts.port ?? (ssh ? 22 : nil)
        let place = port.map { "\(host):\($0)" } ?? host
        switch code {
        case CURLE_PEER_FAILED_VERIFICATION where ssh:
            let portOption = port.map { $0 == 22 ? "" : "-p \($0) " } ?? ""
            if let pinned = options.hostKeySHA256 {
                return "the SSH host key of \(place) does not match host_key_sha256 \(pinned); if the server's key changed "
                    + "on purpose, `ssh-keyscan \(portOption)\(host) | ssh-keygen -lf -` shows its SHA256 fingerprint to set instead"
            }
            let file = options.knownHosts ?? "~/.ssh/known_hosts"
            return "the SSH host key of \(place) is not in \(file), or differs from the one there; check the key "
                + "(`ssh-keyscan \(portOption)\(host) | ssh-keygen -lf -` prints its SHA256 fingerprint), then add it with "
                + "`ssh-keyscan \(portOption)\(host) >> \(file)` or set host_key_sha256: SHA256:…"
        case CURLE_PEER_FAILED_VERIFICATION:
            return "the TLS certificate of \(place) is not trusted; give its CA certificate as ca_cert: /path/ca.pem"
        case CURLE_LOGIN_DENIED:
            return ssh ? "\(place) refused the login; check the user name in the URL and private_key (its public key must be "
                + "in the account's ~/.ssh/authorized_keys)"
                : "\(place) refused the login; check username and the password (password_file)"
        case CURLE_COULDNT_RESOLVE_HOST:
            return "check the spelling of \(host) in the URL, or the DNS"
        case CURLE_COULDNT_CONNECT:
            return "nothing accepts connections at \(place); check that the server runs, the port in the URL, and firewalls"
        case CURLE_REMOTE_ACCESS_DENIED:
            return "\(place) denied access to the path; check the account's permissions there"
        default:
            return nil
        }
    }
}
