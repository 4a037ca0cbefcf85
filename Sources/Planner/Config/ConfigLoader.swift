import Foundation

/// Where the configuration comes from: one file (`-c`) or every `*.yaml`/`*.yml` of a directory (`-C`).
public enum ConfigLocation: Sendable, Equatable {
    case file(String)
    case directory(String)

    public static let defaultDirectory = "/etc/polyarchiv"
}

public enum ConfigLoader {
    /// Reads, parses and merges the configuration; throws `ConfigError` with every problem found. With
    /// `deferringErrors`, what was read is returned with its problems (`diagnostics`) for the compiler to
    /// report with its own: every problem at once (a file that cannot be read still throws).
    public static func load(_ location: ConfigLocation, deferringErrors: Bool = false) throws -> PipelineConfig {
        var sink = DiagnosticSink()
        let files = try listFiles(location)
        var config = PipelineConfig()
        config.files = files
        for file in files {
            guard let root = YAMLReader.read(path: file, sink: &sink) else { continue }
            var parser = ConfigParser()
            parser.parse(root, into: &config)
            for diagnostic in parser.sink.diagnostics { sink.error(diagnostic.message, at: diagnostic.location) }
        }
        checkDuplicates(config, &sink)
        if sink.isEmpty && config.collectPoints.isEmpty {
            sink.error("no collect point is defined in " + files.joined(separator: ", ")
                       + "; add one under `collect_points` (see pipelines/demo.yaml)", at: nil)
        }
        if deferringErrors {
            config.diagnostics = sink.diagnostics
        } else {
            try sink.check()
        }
        return config
    }

    static func listFiles(_ location: ConfigLocation) throws -> [String] {
        switch location {
        case .file(let path):
            return [path]
        case .directory(let path):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ConfigError([Diagnostic("configuration directory \(path) does not exist; pass -c FILE or -C DIR", at: nil)])
            }
            guard isDirectory.boolValue else {
                throw ConfigError([Diagnostic("\(path) is not a directory; use -c for a single file", at: nil)])
            }
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: path)
            } catch {
                throw ConfigError([Diagnostic("cannot list \(path): not readable by this user", at: nil)])
            }
            let files = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.filter { !$0.hasPrefix(".") }.sorted()
                .map { (path as NSString).appendingPathComponent($0) }
            guard !files.isEmpty else {
                throw ConfigError([Diagnostic("no *.yaml or *.yml file in \(path); put the configuration there or pass -c FILE", at: nil)])
            }
            return files
        }
    }

    /// A name defined twice (in one file or across files) is an error naming both places.
    private static func checkDuplicates(_ config: PipelineConfig, _ sink: inout DiagnosticSink) {
        func check(_ items: [(String, SourceLocation)], _ what: String) {
            var first: [String: SourceLocation] = [:]
            for (name, location) in items {
                if let previous = first[name] {
                    sink.error("\(what) `\(name)` is defined twice: here and at \(previous); rename or remove one", at: location)
                } else {
                    first[name] = location
                }
            }
        }
        check(config.collectPoints.map { ($0.name, $0.location) }, "collect point")
        check(config.backupPoints.map { ($0.name, $0.location) }, "backup point")
        check(config.variables.entries.map { ($0.name, $0.location) }, "variable")
        check(config.hooks.map { ($0.name, $0.location) }, "hook")
    }
}
