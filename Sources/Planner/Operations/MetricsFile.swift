import Foundation
import Pipeline
import Stages

/// `apply --metrics-file`: the state of every point in the Prometheus text exposition format, for
/// node_exporter's textfile collector. Written atomically, so the collector never reads half a file.
public enum MetricsFile {
    public static func write(_ path: String, journal: Journal, pipeline: CompiledPipeline, report: Apply.Report, date: Date) throws {
        let statuses = PointStatuses(journal)
        let points = PointStatuses.Kind.allCases.flatMap { kind in statuses.all(kind).map { Point(kind: kind.rawValue, name: $0.name, status: $0.status) } }
        let text = render(points, report: report, date: date)
        do {
            // Read by node_exporter, which runs as another user.
            try AtomicFile.write(path, permissions: 0o644) { sink in try Data(text.utf8).withUnsafeBytes { try sink($0) } }
        } catch let failure as StageFailure {
            throw StageFailure("cannot write the metrics file: \(failure.message)")
        }
    }

    struct Point {
        let kind: String
        let name: String
        let status: PointStatuses.Status
        var lastSuccess: Date? { status.lastSuccess }
        var lastFailure: Date? { status.lastFailure }
        var lastDuration: Double? { status.lastDuration }
        var lastBytes: Int64? { status.lastBytes }
        var successes: Int { status.successes }
        var failures: Int { status.failures }
    }

    static func render(_ points: [Point], report: Apply.Report, date: Date) -> String {
        var families: [(name: String, type: String, help: String, samples: [String])] = []
        func family(_ name: String, _ type: String, _ help: String, _ value: (Point) -> Double?) {
            let samples = points.compactMap { point in value(point).map { "polyarchiv_\(name){\(labels(point))} \(number($0))" } }
            families.append((name, type, help, samples))
        }
        family("last_success_timestamp_seconds", "gauge", "Start of the last run in which the point succeeded.") {
            $0.lastSuccess?.timeIntervalSince1970
        }
        family("last_failure_timestamp_seconds", "gauge", "Start of the last run in which the point failed.") {
            $0.lastFailure?.timeIntervalSince1970
        }
        family("last_duration_seconds", "gauge", "Time the point's stages took in its last run.") { $0.lastDuration }
        family("last_bytes", "gauge", "Bytes the point's stages produced in its last successful run.") { $0.lastBytes.map(Double.init) }
        family("up", "gauge", "1 when the point's last run succeeded, 0 when it failed.") { point in
            (point.lastFailure ?? .distantPast) > (point.lastSuccess ?? .distantPast) ? 0 : 1
        }
        family("successes_total", "counter", "Runs in which the point succeeded.") { Double($0.successes) }
        family("failures_total", "counter", "Runs in which the point failed.") { Double($0.failures) }
        let counts = Dictionary(grouping: report.results, by: \.outcome).mapValues(\.count)
        families.append(("run_stages", "gauge", "Stages of the last run by outcome.", NodeOutcome.allCases.map {
            "polyarchiv_run_stages{outcome=\"\($0.rawValue)\"} \(counts[$0, default: 0])"
        }))
        families.append(("run_entries_left_out", "gauge", "Entries the last apply left out of its backups because they could not be read.",
                         ["polyarchiv_run_entries_left_out \(report.leftOut)"]))
        families.append(("run_exit_code", "gauge", "Exit status of the last apply (0 ok, 2 a stage failed, 3 only hooks failed or entries were left out, 130 interrupted).",
                         ["polyarchiv_run_exit_code \(report.exitCode)"]))
        families.append(("run_timestamp_seconds", "gauge", "Start of the last apply.",
                         ["polyarchiv_run_timestamp_seconds \(number(date.timeIntervalSince1970))"]))
        return families.filter { !$0.samples.isEmpty }.map { family in
            (["# HELP polyarchiv_\(family.name) \(family.help)", "# TYPE polyarchiv_\(family.name) \(family.type)"] + family.samples)
                .joined(separator: "\n")
        }.joined(separator: "\n") + "\n"
    }

    /// `collect point` www → kind="collect_point",name="www"; a backup of one collect point is `bp/cp`.
    static func labels(_ point: Point) -> String {
        "kind=\"\(escape(point.kind.replacingOccurrences(of: " ", with: "_")))\",name=\"\(escape(point.name))\""
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
