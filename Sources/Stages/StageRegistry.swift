import Pipeline

/// Which runner does each node's work; `nil` for engines whose stage does not exist yet.
public enum StageRegistry {
    public static func runner(for node: StageNode) -> (any StageRunner)? {
        runner(for: node.engine, kind: node.kind)
    }

    static func runner(for engine: String, kind: StageKind) -> (any StageRunner)? {
        switch (kind, engine) {
        case (.dump, "files"): return FilesSource()
        case (.dump, "command"): return CommandSource()
        case (.dump, "sqlite"): return SQLiteSource()
        case (.dump, "postgresql"): return PostgreSQLSource()
        case (.dump, "mysql"): return MySQLSource()
        case (.dump, "ldap"): return LDAPSource()
        case (.dump, "remote_files"): return RemoteFilesSource()
        case (.dump, "dovecot"): return DovecotSource()
        case (.filter, "hashes"): return HashesFilter()
        case (.filter, "encrypt"): return EncryptFilter()
        case (.collect, "files"): return FilesCollectPoint()
        case (.collect, "archive"): return ArchiveCollectPoint()
        case (.collect, "git"): return GitCollectPoint()
        case (.archive, "archive"): return ArchiveStage()
        case (.upload, "archive"), (.upload, "rolling_archive"): return ArchiveUpload()
        case (.prune, "rolling_archive"): return ArchivePrune()
        case (.upload, "git"): return GitBackupPoint()
        case (.upload, "gitlab"): return GitLabBackupPoint()
        case (.upload, "restic"): return ResticBackupPoint()
        case (.upload, "synchronize"): return SynchronizeBackupPoint()
        case (.notify, "log"): return HookEngines.log
        case (.notify, "command"): return HookEngines.command
        case (.notify, "http"): return HookEngines.http
        case (.notify, "email"): return HookEngines.email
        default: return nil
        }
    }
}

extension StageRegistry {
    /// Whether `apply` can run the node; `plan` marks the ones it cannot.
    public static func isImplemented(_ node: StageNode) -> Bool {
        guard runner(for: node) != nil else { return false }
        if node.kind == .upload || node.kind == .prune, ["archive", "rolling_archive"].contains(node.engine),
           let url = node.parameters.string("url") {
            return (try? Transports.make(url, options: TransportOptions())) != nil
        }
        return true
    }
}
