import Foundation
import Pipeline

/// `dovecot` source: `doveadm backup` of one user's mail, or every user's, into a scratch maildir per
/// user, walked into a tree (`USER/…`). Dovecot's index and UIDVALIDITY-seed files are left out: they
/// change on every copy and Dovecot rebuilds them, so unchanged mail gives an unchanged tree. Put back
/// with `doveadm import` under a new folder `restored-DATE` (never over the mail that arrived since:
/// dsync's mirror restore would empty an INBOX that changed).
struct DovecotSource: SourceEngine {
    static let spec = EngineSpec("dovecot", .source, "Dovecot mailboxes with doveadm backup (a maildir per user).", parameters: [
        ParameterSpec("user", .string,
                      "The user whose mail to back up, or a mask with * and ? (`*@example.org`, as doveadm -u takes); leave it out for every user doveadm lists."),
        ParameterSpec("config", .path, "dovecot.conf for doveadm (-c); default: the system's."),
    ])

    let version = "1"
    let alwaysRuns = true
    let user: String?
    let config: String?
    let timeout: TimeInterval?

    init(_ parameters: EngineParameters) throws {
        user = parameters.string("user")
        config = parameters.string("config")
        timeout = parameters.seconds("timeout").map(TimeInterval.init)
    }

    func defaultDestination(source name: String) -> String { "\(name)/" }
    var resourceKeys: [String] { ["dovecot:local"] }
    var summary: String { "doveadm backup " + (user.map { $0.contains("*") || $0.contains("?") ? "of the users matching \($0)" : $0 } ?? "of every user") }
    var putBackOrder: Int { 60 }

    /// The one user named, or every user doveadm lists that the mask matches (none is an error: a mask
    /// with a typo would otherwise back up nothing, night after night).
    func users(_ doveadm: Doveadm, cancellation: CancellationFlag) throws -> [String] {
        guard let user else { return try doveadm.users(cancellation: cancellation) }
        guard user.contains("*") || user.contains("?") else { return [user] }
        let matching = try doveadm.users(cancellation: cancellation).filter { fnmatch(user, $0, 0) == 0 }
        guard !matching.isEmpty else { throw StageFailure("no Dovecot user matches `\(user)`; `doveadm user '*'` lists them") }
        return matching
    }

    /// Dovecot's own bookkeeping that it rebuilds: indexes, and the seed of new UIDVALIDITY values (made
    /// from the clock when the copy is created; each mailbox keeps its own UIDVALIDITY in dovecot-uidlist).
    static func isIndex(_ name: String) -> Bool {
        name.hasPrefix("dovecot.index") || name.hasPrefix("dovecot.list.index") || name.hasPrefix("dovecot-uidvalidity")
    }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let doveadm = try Doveadm(config: config)
            let users = try self.users(doveadm, cancellation: context.cancellation)
            let scratch = try Doveadm.scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            for user in users {
                let directory = try doveadm.directory(for: user, in: scratch, cancellation: context.cancellation)
                try doveadm.tool.run(doveadm.options + ["backup", "-u", user, "maildir:\(directory)/mail"], timeout: timeout,
                                     cancellation: context.cancellation)
                // Root's again before root works in it: the mail user can no longer swap what is inside for links.
                try Doveadm.give(directory, to: (0, 0))
            }
            for path in FileManager.default.enumerator(atPath: scratch)?.allObjects as? [String] ?? []
            where Self.isIndex((path as NSString).lastPathComponent) {
                unlink(scratch + "/" + path)
            }
            // Each run copies into a new scratch directory: only a message's mtime (its arrival time) is data;
            // directories and Dovecot's own files get a fixed one, so unchanged mail gives an unchanged tree.
            let walked = try FilesSource.tree(of: scratch, context: context, copying: true)
            let entries = walked.entries.map { entry -> Tree.Entry in
                var entry = entry
                let parent = ((entry.path as NSString).deletingLastPathComponent as NSString).lastPathComponent
                if !(entry.kind == .file && (parent == "cur" || parent == "new")) { entry.mtime = 0 }
                return entry
            }
            return [try context.store.put(Tree(entries: entries))]
        }
    }
}

/// doveadm with the configured dovecot.conf, and the scratch directories it writes as the mail user.
struct Doveadm {
    let tool: ExternalTool
    let options: [String]

    init(config: String?) throws {
        tool = try ExternalTool.locate(["doveadm"], package: "dovecot-core")
        options = config.map { ["-c", $0] } ?? []
    }

    func users(cancellation: CancellationFlag) throws -> [String] {
        let users = try tool.output(options + ["user", "*"], cancellation: cancellation).split(separator: "\n").map(String.init)
        guard !users.isEmpty else { throw StageFailure("doveadm lists no user (is the userdb iterable?)") }
        return users
    }

    /// A scratch directory, traversable (not listable) by the mail users.
    static func scratchDirectory() throws -> String {
        let path = try ScratchDirectory("polyarchiv-dovecot", in: "/var/tmp").path
        chmod(path, 0o711)  // a new directory of ours (mkdtemp): no other user could make it a link
        return path
    }

    /// `scratch/USER`, owned by the user's mail uid and gid (doveadm -u writes as them); `fill` runs first,
    /// while the directory is still root's alone (nobody else can swap what it writes there for a link).
    func directory(for user: String, in scratch: String, cancellation: CancellationFlag,
                   fill: (_ directory: String, _ owner: (uid_t, gid_t)) throws -> Void = { _, _ in }) throws -> String {
        guard !user.contains("/"), !user.hasPrefix("."), !user.isEmpty else { throw StageFailure("odd dovecot user name `\(user)`") }
        let uid = try tool.output(options + ["user", "-f", "uid", user], cancellation: cancellation).trimmingCharacters(in: .whitespacesAndNewlines)
        let gid = try tool.output(options + ["user", "-f", "gid", user], cancellation: cancellation).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let uid = uid_t(uid), let gid = gid_t(gid) else { throw StageFailure("doveadm gives no uid and gid for `\(user)`") }
        let directory = scratch + "/" + user
        guard mkdir(directory, 0o700) == 0 else { throw StageFailure("cannot create \(directory): \(FileIO.lastError)") }
        try fill(directory, (uid, gid))
        try Self.give(directory, to: (uid, gid))
        return directory
    }

    /// A scratch directory of ours given to an owner through its descriptor (mode 0700).
    static func give(_ directory: String, to owner: (uid_t, gid_t)) throws {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { throw StageFailure("cannot open \(directory): \(FileIO.lastError)") }
        defer { close(descriptor) }
        guard fchown(descriptor, owner.0, owner.1) == 0, fchmod(descriptor, 0o700) == 0 else {
            throw StageFailure("cannot give \(directory) to \(owner.0):\(owner.1): \(FileIO.lastError)")
        }
    }
}

extension DovecotSource {
    func putBack(_ data: String, _ request: PutBackRequest, _ context: RestoreContext) throws -> String {
        let cancellation = context.cancellation
        // Asked for this source alone, --replace is a mistake; for every source at once (--in-place), it is
        // meant for the databases, and mail still goes beside the current mail.
        guard !request.replace || request.inPlace else {
            throw StageFailure("dovecot mail is restored beside the current mail, never over it: leave out --replace")
        }
        let doveadm = try Doveadm(config: config)
        let users = (try? FileManager.default.contentsOfDirectory(atPath: data))?.sorted() ?? []
        let chosen = request.into.map { [$0] } ?? users
        guard !chosen.isEmpty else { throw StageFailure("\(data) holds no user's mail") }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd'T'HHmmss"
        let base = "restored-" + formatter.string(from: request.date)
        var lines: [String] = []
        for user in chosen {
            // A folder of its own: two restores in the same second never import into one folder.
            let existing = Set(try doveadm.tool.output(doveadm.options + ["mailbox", "list", "-u", user], cancellation: cancellation)
                .split(separator: "\n").map { $0.split(separator: "/").first.map(String.init) ?? "" })
            let folder = ([base] + (2...99).map { "\(base)-\($0)" }).first { !existing.contains($0) } ?? base + "-" + UUID().uuidString.prefix(8)
            let source = data + "/" + (users.count == 1 && request.into != nil ? users[0] : user) + "/mail"
            guard FileManager.default.fileExists(atPath: source) else { throw StageFailure("no mail of \(user) in \(data)") }
            // The restored files sit under a 0700 target: doveadm reads a copy it may reach, as the mail user.
            let scratch = try Doveadm.scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let directory = try doveadm.directory(for: user, in: scratch, cancellation: cancellation) { directory, owner in
                try FileManager.default.copyItem(atPath: source, toPath: directory + "/mail")
                if let walker = FileManager.default.enumerator(atPath: directory) {
                    while let path = walker.nextObject() as? String { lchown(directory + "/" + path, owner.0, owner.1) }
                }
            }
            try doveadm.tool.run(doveadm.options + ["import", "-u", user, "maildir:\(directory)/mail", folder, "all"],
                                 timeout: timeout, cancellation: cancellation)
            lines.append("imported the mail of \(user) into its folder \(folder)")
        }
        return lines.joined(separator: "\n  ")
    }
}
