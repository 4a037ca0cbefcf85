import Foundation
import Pipeline
import Stages

/// Checks one YAML value against a parameter type, reporting what is wrong and where.
struct ValueParser {
    var sink = DiagnosticSink()

    mutating func parse(_ node: ConfigNode, as spec: ParameterSpec) -> ConfigValue? {
        let name = spec.name
        switch spec.type {
        case .string, .path, .url:
            guard let text = scalar(node, name, expecting: "a string") else { return nil }
            if spec.type == .url { checkURL(text, node.location, name) }
            return template(text, node.location, name).map { .text($0, raw: text) }
        case .int(let range):
            guard let text = scalar(node, name, expecting: "an integer") else { return nil }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
                sink.error("`\(name)` must be an \(spec.type.displayName), not `\(text)`", at: node.location)
                return nil
            }
            return .int(value)
        case .bool:
            guard let text = scalar(node, name, expecting: "true or false") else { return nil }
            switch text.lowercased() {
            case "true", "yes", "on": return .bool(true)
            case "false", "no", "off": return .bool(false)
            default:
                sink.error("`\(name)` must be true or false, not `\(text)`", at: node.location)
                return nil
            }
        case .list:
            guard let items = stringList(node, name) else { return nil }
            var templates: [(Template, raw: String)] = []
            for (text, location) in items {
                guard let parsed = template(text, location, name) else { return nil }
                templates.append((parsed, raw: text))
            }
            return .list(templates)
        case .map:
            return stringMap(node, name)
        case .secret:
            guard let text = scalar(node, name, expecting: "a string") else { return nil }
            return secret(text, node.location, name).map { .secret($0) }
        case .choice(let choices):
            guard let text = scalar(node, name, expecting: "one of " + choices.joined(separator: ", ")) else { return nil }
            guard choices.contains(text) else {
                sink.error("`\(name)` must be one of \(choices.joined(separator: ", ")), not `\(text)`"
                           + Suggestion.didYouMean(text, among: choices), at: node.location)
                return nil
            }
            return .text(Template(literal: text), raw: text)
        case .duration:
            guard let text = scalar(node, name, expecting: "a duration") else { return nil }
            guard let span = TimeSpan.parse(text), let seconds = span.fixedSeconds, seconds > 0 else {
                let why = TimeSpan.parse(text).map { $0.fixedSeconds == nil ? " (a fixed length: years and months vary)" : "" } ?? ""
                sink.error("`\(name)` must be \(TimeSpan.grammar), not `\(text)`\(why)", at: node.location)
                return nil
            }
            return .duration(seconds)
        case .frequency:
            guard let text = scalar(node, name, expecting: "a frequency") else { return nil }
            do {
                return .frequency(try Frequency.parse(text))
            } catch {
                sink.error("\(error)", at: node.location)
                return nil
            }
        case .retention:
            return retention(node)
        case .tagRule:
            return tagRule(node, name)
        case .events:
            guard let items = stringList(node, name) else { return nil }
            var events: [HookEvent] = []
            for (name, location) in items {
                if let event = HookEvent(rawValue: name) {
                    events.append(event)
                } else {
                    sink.error("unknown event `\(name)`" + Suggestion.didYouMean(name, among: HookEvent.names)
                               + "; events are " + HookEvent.names.joined(separator: ", "), at: location)
                }
            }
            return events.isEmpty ? nil : .events(events)
        }
    }

    // MARK: - Shapes

    mutating func scalar(_ node: ConfigNode, _ name: String, expecting: String) -> String? {
        guard case .scalar(let scalar) = node, !scalar.isNull else {
            sink.error("`\(name)` must be \(expecting), not \(node.typeName)", at: node.location)
            return nil
        }
        return scalar.text
    }

    /// A list of strings; a single string counts as a list of one.
    mutating func stringList(_ node: ConfigNode, _ name: String) -> [(String, SourceLocation)]? {
        switch node {
        case .scalar(let scalar) where !scalar.isNull:
            return [(scalar.text, scalar.location)]
        case .sequence(let items, _):
            var result: [(String, SourceLocation)] = []
            for item in items {
                guard let text = scalar(item, "\(name)[]", expecting: "a string") else { return nil }
                result.append((text, item.location))
            }
            return result
        default:
            sink.error("`\(name)` must be a list of strings, not \(node.typeName)", at: node.location)
            return nil
        }
    }

    mutating func stringMap(_ node: ConfigNode, _ name: String) -> ConfigValue? {
        guard case .mapping(let entries, _) = node else {
            if node.isNull { return .map([]) }
            sink.error("`\(name)` must be a map of strings, not \(node.typeName)", at: node.location)
            return nil
        }
        var result: [(key: String, value: ConfigValue.MapValue)] = []
        for entry in entries {
            guard let text = scalar(entry.value, "\(name).\(entry.key)", expecting: "a string") else { continue }
            if let reference = SecretReference.parse(text) {
                result.append((entry.key, .secret(reference)))
            } else if let parsed = template(text, entry.value.location, "\(name).\(entry.key)") {
                result.append((entry.key, .text(parsed, raw: text)))
            }
        }
        return .map(result)
    }

    // MARK: - Strings

    mutating func template(_ text: String, _ location: SourceLocation, _ name: String) -> Template? {
        if SecretReference.containsReference(text) {
            sink.error("`\(name)` is printed in plans, so it cannot hold a secret reference (${env:…}, ${file:…}); "
                       + "put the secret in a password or token parameter", at: location)
            return nil
        }
        do {
            return try Template(parsing: text)
        } catch let error as Template.ParseError {
            sink.error("in `\(name)`: \(error)", at: location)
            return nil
        } catch {
            return nil
        }
    }

    mutating func secret(_ text: String, _ location: SourceLocation, _ name: String) -> Secret? {
        if let reference = SecretReference.parse(text) { return reference }
        if SecretReference.containsReference(text) {
            sink.error("`\(name)`: a secret reference must be the whole value, such as ${env:NAME} or ${file:/path}", at: location)
            return nil
        }
        return Secret(.literal(text))
    }

    static let urlSchemes = ["file", "sftp", "scp", "ssh", "ftp", "ftps", "http", "https", "s3", "git",
                             "smtp", "smtps", "ldap", "ldaps"]

    mutating func checkURL(_ text: String, _ location: SourceLocation, _ name: String) {
        if text.hasPrefix("/") || text.hasPrefix("{") { return }
        guard let range = text.range(of: "://") else {
            sink.error("`\(name)` must be a URL such as sftp://host/path or an absolute path, not `\(text)`", at: location)
            return
        }
        let scheme = text[..<range.lowerBound].lowercased()
        if !scheme.contains("{") && !Self.urlSchemes.contains(scheme) {
            sink.error("`\(name)`: unsupported URL scheme `\(scheme)`" + Suggestion.didYouMean(scheme, among: Self.urlSchemes)
                       + "; polyarchiv speaks " + Self.urlSchemes.joined(separator: ", "), at: location)
        }
    }

    // MARK: - Structured values

    mutating func retention(_ node: ConfigNode) -> ConfigValue? {
        guard case .mapping(let entries, _) = node else {
            sink.error("`keep` must be a map such as {daily: 7, weekly: 4}, not \(node.typeName)", at: node.location)
            return nil
        }
        var retention = RetentionPolicy()
        for entry in entries {
            if RetentionPolicy.countKeys.contains(entry.key) {
                guard let text = scalar(entry.value, "keep.\(entry.key)", expecting: "a count"),
                      let count = Int(text), count >= 0 else {
                    sink.error("`keep.\(entry.key)` must be a count (0 or more)", at: entry.value.location)
                    continue
                }
                retention.set(entry.key, count)
            } else if RetentionPolicy.spanKeys.contains(entry.key) {
                guard let text = scalar(entry.value, "keep.\(entry.key)", expecting: "a duration") else { continue }
                guard let within = TimeSpan.parse(text), !within.isZero else {
                    sink.error("`keep.\(entry.key)` must be \(TimeSpan.grammar), not `\(text)`", at: entry.value.location)
                    continue
                }
                // Retention counts in hours at the finest (restic's rule); `m` is minutes everywhere in polyarchiv.
                guard within.minutes == 0 && within.seconds == 0 else {
                    sink.error("`keep.\(entry.key): \(text)`: retention counts in hours at the finest; `m` means minutes in every "
                               + "polyarchiv duration, so write months as `mo` (`1y6mo`)", at: entry.value.location)
                    continue
                }
                retention.spans[entry.key] = within
            } else {
                sink.error("unknown key `\(entry.key)` in `keep`" + Suggestion.didYouMean(entry.key, among: RetentionPolicy.keys)
                           + "; keys are " + RetentionPolicy.keys.joined(separator: ", "), at: entry.keyLocation)
            }
        }
        if retention.isEmpty && entries.isEmpty {
            sink.error("`keep` is empty: name at least one of " + RetentionPolicy.keys.joined(separator: ", "), at: node.location)
            return nil
        }
        // Only zero counts would keep nothing but the newest backup: almost certainly not what was meant.
        let counts = [retention.last, retention.hourly, retention.daily, retention.weekly, retention.monthly, retention.yearly]
        if !entries.isEmpty && retention.spans.isEmpty && counts.allSatisfy({ $0 == 0 }) {
            sink.error("`keep` keeps nothing (every count is 0): give at least one count of 1 or more, or a `within` span", at: node.location)
            return nil
        }
        return .retention(retention)
    }

    mutating func tagRule(_ node: ConfigNode, _ name: String) -> ConfigValue? {
        switch node {
        case .sequence, .scalar:
            guard let items = stringList(node, name) else { return nil }
            return .tagRule(TagRule(include: items.map(\.0)))
        case .mapping(let entries, _):
            var rule = TagRule()
            for entry in entries {
                switch entry.key {
                case "include":
                    rule.include = entry.value.isNull ? [] : stringList(entry.value, "\(name).include")?.map(\.0)
                case "exclude":
                    rule.exclude = entry.value.isNull ? [] : stringList(entry.value, "\(name).exclude")?.map(\.0) ?? []
                default:
                    sink.error("unknown key `\(entry.key)` in `\(name)`" + Suggestion.didYouMean(entry.key, among: ["include", "exclude"])
                               + "; use include and exclude", at: entry.keyLocation)
                }
            }
            return .tagRule(rule)
        }
    }
}

/// `${env:NAME}` and `${file:/path}`, the two ways to keep a secret out of the config file.
enum SecretReference {
    static func parse(_ text: String) -> Secret? {
        guard text.hasPrefix("${"), text.hasSuffix("}"), text.count > 3 else { return nil }
        let body = text.dropFirst(2).dropLast()
        if body.hasPrefix("env:") {
            let name = String(body.dropFirst(4))
            return Template.isName(name) ? Secret(.environment(name)) : nil
        }
        if body.hasPrefix("file:") {
            let path = String(body.dropFirst(5))
            return path.isEmpty ? nil : Secret(.file(path))
        }
        return nil
    }

    static func containsReference(_ text: String) -> Bool {
        text.contains("${env:") || text.contains("${file:")
    }
}

extension Template {
    init(literal text: String) {
        self.init(segments: text.isEmpty ? [] : [.text(text)])
    }
}
