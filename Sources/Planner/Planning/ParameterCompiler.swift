import Foundation
import Pipeline
import Stages

/// Expands an engine instance's parameters in a variable scope into the values stages receive.
struct ParameterCompiler {
    var sink = DiagnosticSink()
    var warnings: [Diagnostic] = []
    /// Secrets already checked, so a secret shared by several pairs is reported once.
    private var checkedSecrets: Set<SourceLocation> = []
    let secrets: Secrets

    init(secrets: Secrets) { self.secrets = secrets }

    /// Parameters that belong to the point or the graph, not to the stage.
    static let pointLevel: Set<String> = ["engine", "frequency", "tags", "backup_points", "collect_points", "events",
                                          "metadata_url"]

    mutating func compile(_ instance: EngineInstance, scope: VariableScope, context: String) -> Parameters {
        var parameters = Parameters()
        let given = Set(instance.parameters.map(\.spec.name))
        for parameter in instance.parameters where !Self.pointLevel.contains(parameter.spec.name) {
            let name = parameter.spec.name
            // `password_file: /p` becomes the secret `password` read from /p.
            if name.hasSuffix("_file"), let secretSpec = instance.spec.parameter(String(name.dropLast(5))),
               secretSpec.type == .secret, case .text(let template, _) = parameter.value {
                guard let expanded = expand(template, scope, parameter.location, name, context) else { continue }
                let path = checkedPath(expanded, parameter.location, name)
                let secret = Secret(.file(path))
                checkSecret(secret, parameter.location, name, context)
                parameters[secretSpec.name] = .secret(secret)
                continue
            }
            if let value = value(parameter, scope: scope, context: context) { parameters[name] = value }
        }
        for spec in instance.spec.parameters where !given.contains(spec.name) {
            guard let fallback = spec.defaultValue, let value = defaultValue(spec, fallback, scope, instance.location, context)
            else { continue }
            parameters[spec.name] = value
        }
        return parameters
    }

    private mutating func value(_ parameter: ConfigParameter, scope: VariableScope, context: String) -> ParameterValue? {
        let name = parameter.spec.name
        switch parameter.value {
        case .text(let template, _):
            guard let text = expand(template, scope, parameter.location, name, context) else { return nil }
            return .string(parameter.spec.type == .path ? checkedPath(text, parameter.location, name) : text)
        case .int(let value): return .int(value)
        case .bool(let value): return .bool(value)
        case .duration(let seconds): return .int(seconds)
        case .list(let items):
            var texts: [String] = []
            for (template, _) in items {
                guard let text = expand(template, scope, parameter.location, name, context) else { return nil }
                texts.append(text)
            }
            return .list(texts)
        case .map(let entries):
            var result: [(String, ParameterValue)] = []
            for (key, mapValue) in entries {
                switch mapValue {
                case .text(let template, _):
                    guard let text = expand(template, scope, parameter.location, "\(name).\(key)", context) else { return nil }
                    result.append((key, .string(text)))
                case .secret(let secret):
                    checkSecret(secret, parameter.location, "\(name).\(key)", context)
                    result.append((key, .secret(secret)))
                }
            }
            return .map(result)
        case .secret(let secret):
            checkSecret(secret, parameter.location, name, context)
            return .secret(secret)
        case .retention(let retention):
            return retention.compiled
        case .frequency, .tagRule, .events:
            return nil
        }
    }

    private mutating func defaultValue(_ spec: ParameterSpec, _ text: String, _ scope: VariableScope,
                                       _ location: SourceLocation, _ context: String) -> ParameterValue? {
        switch spec.type {
        case .int: return Int(text).map { .int($0) }
        case .bool: return .bool(text == "true")
        case .duration: return TimeSpan.parse(text)?.fixedSeconds.map { .int($0) }
        case .string, .url, .choice:
            guard let template = try? Template(parsing: text) else { return .string(text) }
            return expand(template, scope, location, spec.name, context).map { .string($0) }
        default: return nil  // documentation-only defaults (known_hosts, …) are applied by the stage
        }
    }

    mutating func expand(_ template: Template, _ scope: VariableScope, _ location: SourceLocation,
                         _ name: String, _ context: String) -> String? {
        do {
            return try template.expand(scope)
        } catch let missing as Template.MissingVariables {
            let names = missing.names.map { "`{\($0)}`" }.joined(separator: ", ")
            sink.error("`\(name)` of \(context) uses undefined variable \(names); define it under `variables` "
                       + "or write {{ and }} for literal braces", at: location)
            return nil
        } catch {
            return nil
        }
    }

    /// An absolute path; `~/…` is in the home directory of the user polyarchiv runs as (root's, from cron).
    private mutating func checkedPath(_ path: String, _ location: SourceLocation, _ name: String) -> String {
        if path.hasPrefix("~/") { return HostIdentity.homeDirectory() + path.dropFirst() }
        if !path.hasPrefix("/") {
            sink.error("`\(name)` must be an absolute path (or start with ~/), not `\(path)`: polyarchiv runs from cron, "
                       + "where the current directory means nothing", at: location)
        }
        return path
    }

    /// An unreadable secret does not stop planning, but the plan says that apply will fail.
    private mutating func checkSecret(_ secret: Secret, _ location: SourceLocation, _ name: String, _ context: String) {
        guard checkedSecrets.insert(location).inserted else { return }
        do {
            _ = try secrets.reveal(secret)
        } catch {
            warnings.append(Diagnostic("`\(name)`: \(error); apply will fail where it is needed", at: location))
        }
    }
}
