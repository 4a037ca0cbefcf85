import Foundation
import Pipeline

/// Getting a `synchronize` mirror back: rsync from a folder or over ssh, or every file of the
/// `.polyarchiv-tree` manifest from WebDAV, with its mode, extended attributes and mtime.
extension Mirror {
    func manifest(_ secrets: Secrets, cancellation: CancellationFlag) throws -> Tree? {
        guard let data = try read(SynchronizeBackupPoint.manifest, secrets, cancellation: cancellation), !data.isEmpty else { return nil }
        return try Tree.decode(data)
    }

    /// The host whose mirror it is, from the mark (`polyarchiv mirror of HOST: …`); nil for a mirror with no mark.
    func markedHost(_ secrets: Secrets, cancellation: CancellationFlag) throws -> String? {
        guard let data = try read(SynchronizeBackupPoint.mark, secrets, cancellation: cancellation) else { return nil }
        let text = String(decoding: data.prefix(4096), as: UTF8.self)
        guard text.hasPrefix("polyarchiv mirror of "), let colon = text.firstIndex(of: ":") else { return nil }
        return String(text[text.index(text.startIndex, offsetBy: "polyarchiv mirror of ".count)..<colon])
    }

    /// One of the mirror's own files at its root, nil when it is not there.
    private func read(_ name: String, _ secrets: Secrets, cancellation: CancellationFlag) throws -> Data? {
        if url.lowercased().hasPrefix("ssh://") {
            let scratch = try SecretFile(name: "mirror-file", content: "")
            defer { scratch.remove() }
            try fetchWithRsync(file: name, into: scratch.path, cancellation: cancellation)
            return FileManager.default.contents(atPath: scratch.path)
        }
        let transport = try Transports.make(url, options: try transport.options(secrets))
        return try transport.read(Mirror.join(url, name), cancellation: cancellation)
    }

    func fetch(into directory: String, _ context: RestoreContext) throws {
        let cancellation = context.cancellation
        if isWebDAV {
            guard let tree = try manifest(context.secrets, cancellation: cancellation) else {
                throw StageFailure("\(Redaction.maskingURLSecrets(url)) has no \(SynchronizeBackupPoint.manifest): nothing to restore")
            }
            let transport = try Transports.make(url, options: try self.transport.options(context.secrets))
            // The manifest comes from the server: no entry may lead outside the target, directly or through a link.
            let links = Set(tree.entries.filter { $0.kind == .symlink }.map(\.path))
            for entry in tree.entries where !entry.path.isEmpty {
                let components = entry.path.split(separator: "/")
                let parents = components.indices.dropLast().map { components[...$0].joined(separator: "/") }
                guard !entry.path.hasPrefix("/"), !components.contains(".."), !parents.contains(where: links.contains) else {
                    throw StageFailure("the mirror's manifest names `\(entry.path)`, outside the restored data: not trustworthy")
                }
            }
            for entry in tree.entries where !entry.path.isEmpty && entry.kind != .symlink {
                let path = directory + "/" + entry.path
                switch entry.kind {
                case .directory:
                    // The manifest is sorted: a directory comes before what it holds.
                    guard mkdir(FileName.system(path), 0o700) == 0 || errno == EEXIST else {
                        throw StageFailure("cannot create \(TerminalText.escaped(path)): \(FileIO.lastError)")
                    }
                case .symlink:
                    continue
                case .file:
                    var hash = StreamingHash()
                    var received: Int64 = 0
                    try AtomicFile.write(path) { sink in
                        try transport.download(Mirror.join(url, Mirror.percentEncoded(entry.path)),
                                               cancellation: cancellation) { chunk in
                            // No more than the manifest says: a hostile server cannot fill the disk.
                            received += Int64(chunk.count)
                            guard received <= entry.size else {
                                throw StageFailure("\(TerminalText.escaped(entry.path)) on the mirror is larger than its manifest says: "
                                                   + "the mirror is damaged or was tampered with")
                            }
                            hash.update(chunk)
                            try sink(chunk)
                        }
                    }
                    if let digest = entry.digest, hash.finalize() != digest {
                        unlink(FileName.system(path))
                        throw StageFailure("\(entry.path) on the mirror does not match its manifest: the mirror is damaged")
                    }
                }
            }
            // Links last, so that nothing is ever written through one.
            for entry in tree.entries where entry.kind == .symlink {
                symlink(FileName.system(entry.target ?? ""), FileName.system(directory + "/" + entry.path))
            }
            // The whole mode (the restored-tree check clears set-id bits from files, as for an archive), then the
            // extended attributes the manifest records (ACLs, capabilities: after the mode, which an ACL refines).
            for entry in tree.entries.reversed() where !entry.path.isEmpty && entry.kind != .symlink {
                chmod(FileName.system(directory + "/" + entry.path), mode_t(entry.mode & 0o7777))
                for failure in ExtendedAttributes.set(entry.xattrs, path: directory + "/" + entry.path) {
                    context.warn("\(TerminalText.escaped(entry.path)): \(failure)")
                }
                var times = [timespec(tv_sec: Int(entry.mtime / 1_000_000_000), tv_nsec: Int(entry.mtime % 1_000_000_000))]
                times.append(times[0])
                utimensat(AT_FDCWD, FileName.system(directory + "/" + entry.path), &times, 0)
            }
            return
        }
        try fetchWithRsync(file: nil, into: directory + "/", cancellation: cancellation)
        unlink(directory + "/" + SynchronizeBackupPoint.manifest)
    }

    /// rsync from the mirror (or one file of it) to a local path.
    private func fetchWithRsync(file: String?, into local: String, cancellation: CancellationFlag) throws {
        let rsync = try ExternalTool.locate(["rsync"], package: "rsync")
        if url.lowercased().hasPrefix("ssh://") {
            let (target, path) = try SSHOptions.parse(url)
            let command = SSHOptions(target, settings: ssh)
            let source = (path.hasSuffix("/") ? path : path + "/") + (file ?? "")
            try command.withCommand(cancellation: cancellation) { line in
                try rsync.run(["-aHSAX", "-e", line, "--", command.destination + ":" + source, local], timeout: timeout,
                              cancellation: cancellation)
            }
        } else {
            let path = FileTransport.path(url)
            try rsync.run(["-aHSAX", "--", (path.hasSuffix("/") ? path : path + "/") + (file ?? ""), local], timeout: timeout,
                          cancellation: cancellation)
        }
    }
}
