import CGit2
import Crypto
import Foundation
import Pipeline

/// Pushing a branch with libgit2 over file://, git://, ssh:// (key, host key checked against known_hosts
/// or a SHA-256 fingerprint) and http(s):// (password or token). A rejected update (the remote branch
/// has commits we lack) fails: backups never force-push over someone's history.
struct GitPush {
    var username: String?
    var password: String?
    var privateKey: String?
    var knownHosts: String?
    var hostKeySHA256: String?

    init(password: String?, ssh: SSHSettings) {
        self.password = password
        privateKey = ssh.privateKey.map { NSString(string: $0).expandingTildeInPath }
        knownHosts = ssh.knownHosts.map { NSString(string: $0).expandingTildeInPath }
        hostKeySHA256 = ssh.hostKeySHA256
    }

    /// What the callbacks see, through their payload pointer.
    private final class State {
        let push: GitPush
        let url: String
        let cancellation: CancellationFlag
        var credentialAttempts = 0
        var rejection: String?
        var hostKeyProblem: String?
        init(push: GitPush, url: String, cancellation: CancellationFlag) {
            self.push = push
            self.url = url
            self.cancellation = cancellation
        }
    }

    /// Sets the credential and host key callbacks; `state` must outlive their use.
    private func configure(_ callbacks: inout git_remote_callbacks, _ state: State) {
        callbacks.payload = Unmanaged.passUnretained(state).toOpaque()
            callbacks.credentials = { out, _, usernameFromURL, allowed, payload in
                let state = Unmanaged<State>.fromOpaque(payload!).takeUnretainedValue()
                state.credentialAttempts += 1
                guard state.credentialAttempts <= 2 else { return GIT_EAUTH.rawValue }
                let user = usernameFromURL.map { String(cString: $0) } ?? state.push.username ?? "git"
                if allowed & GIT_CREDENTIAL_SSH_KEY.rawValue != 0, let key = state.push.privateKey {
                    return git_credential_ssh_key_new(out, user, nil, key, nil)
                }
                if allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0, let password = state.push.password {
                    return git_credential_userpass_plaintext_new(out, user, password)
                }
                return GIT_PASSTHROUGH.rawValue
            }
            callbacks.certificate_check = { certificate, valid, host, payload in
                let state = Unmanaged<State>.fromOpaque(payload!).takeUnretainedValue()
                guard let certificate, certificate.pointee.cert_type == GIT_CERT_HOSTKEY_LIBSSH2 else {
                    return valid != 0 ? 0 : GIT_PASSTHROUGH.rawValue  // TLS: libgit2's own verification
                }
                let hostKey = UnsafeRawPointer(certificate).assumingMemoryBound(to: git_cert_hostkey.self).pointee
                if let problem = state.push.checkHostKey(hostKey, host: host.map { String(cString: $0) } ?? "", url: state.url) {
                    state.hostKeyProblem = problem
                    return -1
                }
                return 0
            }
            callbacks.push_update_reference = { reference, status, payload in
                let state = Unmanaged<State>.fromOpaque(payload!).takeUnretainedValue()
                if let status { state.rejection = "\(reference.map { String(cString: $0) } ?? "?"): \(String(cString: status))" }
                return 0
            }
            callbacks.push_transfer_progress = { _, _, _, payload in
                Unmanaged<State>.fromOpaque(payload!).takeUnretainedValue().cancellation.isCancelled ? -1 : 0
            }
            callbacks.transfer_progress = { _, payload in
                Unmanaged<State>.fromOpaque(payload!).takeUnretainedValue().cancellation.isCancelled ? -1 : 0
            }
    }

    /// Pushes `branch` of `repository` to the same branch of `url` (or to `remoteBranch`).
    func push(_ repository: GitRepository, branch: String, remoteBranch: String? = nil, to url: String,
              cancellation: CancellationFlag) throws {
        var remote: OpaquePointer?
        try GitRepository.check(git_remote_create_anonymous(&remote, repository.handle, url),
                                "invalid git remote \(Redaction.maskingURLSecrets(url))")
        defer { git_remote_free(remote) }
        var options = git_push_options()
        try GitRepository.check(git_push_options_init(&options, UInt32(GIT_PUSH_OPTIONS_VERSION)), "libgit2 push options")
        let state = State(push: self, url: url, cancellation: cancellation)
        try withExtendedLifetime(state) {
            configure(&options.callbacks, state)
            let refspec = "refs/heads/\(branch):refs/heads/\(remoteBranch ?? branch)"
            var strings = git_strarray()
            let code: Int32 = refspec.withCString { pointer in
                var pointers: [UnsafeMutablePointer<CChar>?] = [UnsafeMutablePointer(mutating: pointer)]
                return pointers.withUnsafeMutableBufferPointer { buffer in
                    strings.strings = buffer.baseAddress
                    strings.count = 1
                    return git_remote_push(remote, &strings, &options)
                }
            }
            try cancellation.check()
            if let problem = state.hostKeyProblem { throw StageFailure(problem) }
            // A branch with commits we lack: refused by the remote (a rejection) or by libgit2 before sending.
            let rejection = state.rejection ?? (code == GIT_ENONFASTFORWARD.rawValue ? "the push to \(branch)" : nil)
            if let rejection {
                throw StageFailure("the remote \(Redaction.maskingURLSecrets(url)) refused \(rejection): its branch has commits this "
                                   + "backup does not have (another host or collect point pushes there? give each its own branch or URL); "
                                   + "nothing was forced")
            }
            try GitRepository.check(code, "pushing \(branch) to \(Redaction.maskingURLSecrets(url))")
        }
    }

    /// A bare copy of the remote repository at `path` (for list and restore).
    func clone(_ url: String, into path: String, cancellation: CancellationFlag) throws -> GitRepository {
        _ = try? GitRepository.open("/nonexistent")  // initialises libgit2
        var options = git_clone_options()
        try GitRepository.check(git_clone_options_init(&options, UInt32(GIT_CLONE_OPTIONS_VERSION)), "libgit2 clone options")
        options.bare = 1
        let state = State(push: self, url: url, cancellation: cancellation)
        return try withExtendedLifetime(state) {
            configure(&options.fetch_opts.callbacks, state)
            var handle: OpaquePointer?
            let code = git_clone(&handle, url, path, &options)
            try cancellation.check()
            if let problem = state.hostKeyProblem { throw StageFailure(problem) }
            try GitRepository.check(code, "cloning \(Redaction.maskingURLSecrets(url))")
            git_repository_free(handle)
            guard let repository = try GitRepository.open(path) else { throw StageFailure("cannot open the clone of \(url)") }
            return repository
        }
    }

    /// nil when the SSH host key is the expected one.
    func checkHostKey(_ key: git_cert_hostkey, host: String, url: String) -> String? {
        if let expected = hostKeySHA256 {
            guard key.type.rawValue & GIT_CERT_SSH_SHA256.rawValue != 0 else { return "libgit2 gave no SHA-256 of the host key of \(host)" }
            var hash = key.hash_sha256
            var actual = withUnsafeBytes(of: &hash) { Data($0) }.base64EncodedString()
            while actual.hasSuffix("=") { actual.removeLast() }
            var wanted = expected.hasPrefix("SHA256:") ? String(expected.dropFirst(7)) : expected
            while wanted.hasSuffix("=") { wanted.removeLast() }
            return actual == wanted ? nil
                : "the SSH host key of \(host) is SHA256:\(actual), not host_key_sha256 SHA256:\(wanted): refusing to push"
        }
        guard key.type.rawValue & GIT_CERT_SSH_RAW.rawValue != 0, let raw = key.hostkey else {
            return "libgit2 gave no host key of \(host) to check"
        }
        let blob = Data(bytes: raw, count: key.hostkey_len).base64EncodedString()
        let port = URLComponents(string: url)?.port
        let names = [host] + (port.map { ["[\(host)]:\($0)"] } ?? [])
        let file = knownHosts ?? NSString(string: "~/.ssh/known_hosts").expandingTildeInPath
        let lines = ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n")
        for line in lines where !line.hasPrefix("#") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3, fields[2] == blob else { continue }
            if fields[0].split(separator: ",").contains(where: { pattern in names.contains { Self.matches(String(pattern), $0) } }) { return nil }
        }
        return "the SSH host key of \(host) is not in \(file); add it (ssh-keyscan) or set host_key_sha256: refusing to push"
    }

    /// A known_hosts name: plain, or hashed (`|1|salt|hmac`, HMAC-SHA1 of the name under the salt).
    static func matches(_ pattern: String, _ name: String) -> Bool {
        guard pattern.hasPrefix("|1|") else { return pattern == name }
        let parts = pattern.split(separator: "|")
        guard parts.count == 3, let salt = Data(base64Encoded: String(parts[1])), let hash = Data(base64Encoded: String(parts[2])) else {
            return false
        }
        return Data(HMAC<Insecure.SHA1>.authenticationCode(for: Data(name.utf8), using: SymmetricKey(data: salt))) == hash
    }
}
