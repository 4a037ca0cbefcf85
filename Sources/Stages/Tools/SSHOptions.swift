import Crypto
import Foundation
import Pipeline

/// The SSH parameters of an engine (`private_key`, `known_hosts`, `host_key_sha256`), decoded once.
struct SSHSettings: Sendable {
    let privateKey: String?
    let knownHosts: String?
    let hostKeySHA256: String?

    init(_ parameters: EngineParameters) {
        privateKey = parameters.string("private_key")
        knownHosts = parameters.string("known_hosts")
        hostKeySHA256 = parameters.string("host_key_sha256")
    }
}

/// ssh command-line options for rsync over ssh: key, port, and a host key that must match known_hosts
/// or a configured SHA-256 fingerprint (then checked with ssh-keyscan and pinned in a temporary file).
struct SSHOptions {
    let host: String
    let port: Int?
    let user: String?
    let settings: SSHSettings

    /// `ssh://user@host:port/path` → its parts.
    static func parse(_ url: String) throws -> (SSHOptions.Target, String) {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            throw StageFailure("`\(Redaction.maskingURLSecrets(url))` is not a valid URL")
        }
        let path = components.percentEncodedPath.removingPercentEncoding ?? components.path
        return (Target(host: host, port: components.port, user: components.user), path.isEmpty ? "/" : path)
    }

    struct Target {
        let host: String
        let port: Int?
        let user: String?
    }

    init(_ target: Target, settings: SSHSettings) {
        host = target.host
        port = target.port
        user = target.user
        self.settings = settings
    }

    var destination: String { (user.map { $0 + "@" } ?? "") + host }

    /// Runs `body` with the ssh command line (a string for rsync -e) whose host key checking is strict.
    func withCommand<T>(cancellation: CancellationFlag, _ body: (String) throws -> T) throws -> T {
        var options = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=30"]
        if let port { options += ["-p", String(port)] }
        if let key = settings.privateKey { options += ["-i", key, "-o", "IdentitiesOnly=yes"] }
        guard let fingerprint = settings.hostKeySHA256 else {
            let knownHosts = NSString(string: settings.knownHosts ?? "~/.ssh/known_hosts").expandingTildeInPath
            return try body(Self.join(options + ["-o", "UserKnownHostsFile=" + knownHosts]))
        }
        let pinned = try pin(fingerprint, cancellation: cancellation)
        defer { pinned.remove() }
        return try body(Self.join(options + ["-o", "UserKnownHostsFile=" + pinned.path]))
    }

    /// The server's keys from ssh-keyscan; only the one with the expected fingerprint is trusted.
    private func pin(_ expected: String, cancellation: CancellationFlag) throws -> SecretFile {
        let wanted = expected.hasPrefix("SHA256:") ? String(expected.dropFirst(7)) : expected
        var arguments = ["-T", "10"]
        if let port { arguments += ["-p", String(port)] }
        let scan = try ExternalTool.locate(["ssh-keyscan"], package: "openssh-client")
            .output(arguments + [host], timeout: 30, cancellation: cancellation)
        for line in scan.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3, let key = Data(base64Encoded: String(fields[2])) else { continue }
            var fingerprint = Data(SHA256.hash(data: key)).base64EncodedString()
            while fingerprint.hasSuffix("=") { fingerprint.removeLast() }
            if fingerprint == wanted { return try SecretFile(name: "known_hosts", content: line + "\n") }
        }
        throw StageFailure("the SSH host key of \(host) does not match host_key_sha256 SHA256:\(wanted); "
                           + "someone may be impersonating the server, or its key changed (check with ssh-keyscan | ssh-keygen -lf -)")
    }

    /// Words for rsync's -e, single-quoted where needed.
    static func join(_ words: [String]) -> String {
        words.map { word in
            word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:@~+,".contains($0) } ? word
                : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}
