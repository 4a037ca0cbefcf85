import Foundation
import Pipeline

/// The original let several collect points send to one fixed remote (its own test configuration synchronizes
/// two collect points into one folder): here they would overwrite each other, and the configuration is
/// refused. Each collect point gets its own subfolder instead (`URL/{name}`), with a warning saying so.
extension IniImporter {
    /// Backup point engines whose `url` names one place written by each collect point it receives.
    private static let placeEngines = ["synchronize", "archive", "rolling_archive", "git"]

    mutating func separateSharedRemotes() {
        guard case .map(let collectPoints)? = root["collect_points"], case .map(var backupPoints)? = root["backup_points"] else { return }
        let collect = collectPoints.entries.compactMap { entry -> (name: String, labels: [String], rule: TagRule)? in
            guard case .map(let map) = entry.value else { return nil }
            return (entry.key, Self.strings(map["tags"]) + [entry.key], Self.rule(map["backup_points"]))
        }
        var changed = false
        for entry in backupPoints.entries {
            guard case .map(var map) = entry.value, case .string(let engine)? = map["engine"], Self.placeEngines.contains(engine),
                  case .string(let url)? = map["url"], !url.contains("{name}") else { continue }
            let labels = Self.strings(map["tags"]) + [entry.key]
            let rule = Self.rule(map["collect_points"])
            let receivers = collect.filter {
                Association.associates(collectPointLabels: $0.labels, rule: $0.rule, backupPointLabels: labels, rule: rule)
            }.map(\.name)
            guard receivers.count > 1 else { continue }
            let separated = Self.subfolder(url, fileLike: engine != "synchronize")
            map["url"] = .string(separated)
            backupPoints[entry.key] = .map(map)
            changed = true
            warn("backup point `\(entry.key)` receives \(receivers.map { "`\($0)`" }.joined(separator: ", ")) at one fixed place, "
                 + "\(Redaction.maskingURLSecrets(url)), where they would overwrite each other: each now gets its own subfolder, "
                 + "\(Redaction.maskingURLSecrets(separated)) (move what is already there if you keep it)", at: nil)
        }
        if changed { root["backup_points"] = .map(backupPoints) }
    }

    /// `…/mirror` → `…/mirror/{name}`; a file (`…/site.tar.gz`, `…/repo.git`) → `…/{name}/site.tar.gz`.
    static func subfolder(_ url: String, fileLike: Bool) -> String {
        let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
        guard fileLike, let slash = trimmed.lastIndex(of: "/") else { return trimmed + "/{name}" }
        return trimmed[..<slash] + "/{name}" + trimmed[slash...]
    }

    private static func strings(_ value: YAMLValue?) -> [String] {
        guard case .list(let items)? = value else { return [] }
        return items.compactMap { if case .string(let text) = $0 { return text } else { return nil } }
    }

    private static func rule(_ value: YAMLValue?) -> TagRule {
        guard case .map(let map)? = value else { return TagRule() }
        return TagRule(include: map["include"] == nil ? nil : strings(map["include"]), exclude: strings(map["exclude"]))
    }
}
