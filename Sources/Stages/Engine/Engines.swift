import Pipeline

/// The one list of engines. Adding an engine is one new type and one line here; nothing else names it.
public enum Engines {
    public static let sources: [any SourceEngine.Type] = [
        FilesSource.self, RemoteFilesSource.self, PostgreSQLSource.self, MySQLSource.self, LDAPSource.self, DovecotSource.self,
        SQLiteSource.self, CommandSource.self,
    ]
    public static let collectPoints: [any CollectPointEngine.Type] = [FilesCollectPoint.self, GitCollectPoint.self, ArchiveCollectPoint.self]
    public static let filters: [any FilterEngine.Type] = [HashesFilter.self, EncryptFilter.self]
    public static let backupPoints: [any BackupPointEngine.Type] = [
        GitBackupPoint.self, GitLabBackupPoint.self, SynchronizeBackupPoint.self, ArchiveBackupPoint.self, RollingArchiveBackupPoint.self,
        ResticBackupPoint.self,
    ]
    public static let hooks: [any HookEngine.Type] = [LogHook.self, EmailHook.self, HTTPHook.self, CommandHook.self, PushgatewayHook.self,
                                                      AppriseHook.self]

    /// Every engine's spec, by kind.
    public static var specs: [EngineSpec] {
        sources.map { $0.spec } + collectPoints.map { $0.spec } + filters.map { $0.spec } + backupPoints.map { $0.spec } + hooks.map { $0.spec }
    }

    public static func specs(_ kind: EngineKind) -> [EngineSpec] { specs.filter { $0.kind == kind } }

    public static func spec(_ name: String, kind: EngineKind) -> EngineSpec? {
        specs.first { $0.kind == kind && $0.name == name }
    }

    public static func source(_ name: String) -> (any SourceEngine.Type)? { sources.first { $0.spec.name == name } }
    public static func collectPoint(_ name: String) -> (any CollectPointEngine.Type)? { collectPoints.first { $0.spec.name == name } }
    public static func filter(_ name: String) -> (any FilterEngine.Type)? { filters.first { $0.spec.name == name } }
    public static func backupPoint(_ name: String) -> (any BackupPointEngine.Type)? { backupPoints.first { $0.spec.name == name } }
    public static func hook(_ name: String) -> (any HookEngine.Type)? { hooks.first { $0.spec.name == name } }
}
