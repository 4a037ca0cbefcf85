/// Every engine polyarchiv knows, implemented or not yet.
public enum Catalogue {
    public static let all: [EngineSpec] = SourceEngines.all + CollectPointEngines.all + FilterEngines.all
        + BackupPointEngines.all + HookCatalogue.all

    public static func engines(_ kind: EngineKind) -> [EngineSpec] {
        all.filter { $0.kind == kind }
    }

    public static func engine(_ name: String, kind: EngineKind) -> EngineSpec? {
        all.first { $0.kind == kind && $0.name == name }
    }
}
