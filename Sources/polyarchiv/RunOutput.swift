import Foundation
import Pipeline
import Planner

/// Turns executor events into what `apply` prints: plain lines, one JSON object per line, or live
/// progress on a terminal. Thread-safe: events arrive from concurrent stages.
final class RunOutput: @unchecked Sendable {
    enum Style: Sendable { case plain, json, terminal }

    private let lock = NSLock()
    private let style: Style
    private let write: @Sendable (String) -> Void
    private let log: FileHandle?
    private var progress: [StageID: (bytes: Int64, started: Date)] = [:]
    private var lastDraw = Date.distantPast
    private var progressLineShown = false
    /// The journal's id of the run, on every line of the log file and every JSON event.
    private var runID: Int64?

    /// `-q`: only warnings, failures and (when something went wrong) the summary reach the output; the log
    /// file still gets every line.
    private let quiet: Bool
    /// `-v`: why each stage runs; `-vv`: also a progress line every 5 seconds for a long stage (for logs,
    /// where the terminal's live line does not show).
    private let verbosity: Int
    private var lastProgressLine: [StageID: Date] = [:]
    /// Colour on a terminal, unless `NO_COLOR` is set (no-color.org) or the terminal is `dumb`; never in logs.
    private let colour: Bool

    /// `--stats`: the statistics after the summary.
    private let stats: Bool
    /// The last bytes each stage said it processed (a source's bytes read).
    private var processed: [StageID: Int64] = [:]
    /// What each running stage said it will process.
    private var totals: [StageID: Int64] = [:]

    init(style: Style, logFile: FileHandle?, quiet: Bool = false, verbosity: Int = 0, stats: Bool = false,
         environment: [String: String] = ProcessInfo.processInfo.environment, write: @escaping @Sendable (String) -> Void) {
        self.style = style
        self.stats = stats
        colour = style == .terminal && (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb"
        self.quiet = quiet
        self.verbosity = verbosity
        self.log = logFile
        self.write = write
    }

    func started(run: Int64) {
        lock.lock()
        defer { lock.unlock() }
        runID = run
    }

    func handle(_ event: ExecutionEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case let .decided(id, reason):
            if verbosity >= 1 { emit(plain: "why      \(id): \(reason)", json: ["event": "decided", "stage": id.description, "reason": reason]) }
        case let .started(id):
            progress[id] = (0, Date())
            emit(plain: "started  \(id)", json: ["event": "started", "stage": id.description, "kind": id.kind.rawValue])
        case let .fileChanged(id, change, path):
            if verbosity >= 1 {
                emit(plain: change.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) + "\(id)  \(TerminalText.escaped(path))",
                     json: ["event": "file", "stage": id.description, "change": change.rawValue, "path": path])
            }
        case let .total(id, bytes):
            totals[id] = bytes
        case let .progress(id, bytes):
            processed[id] = bytes
            progress[id] = (bytes, progress[id]?.started ?? Date())
            if style == .json {
                let now = Date()
                if now.timeIntervalSince(lastDraw) > 0.5 {
                    lastDraw = now
                    var object: [String: Any] = ["event": "progress", "stage": id.description, "bytes": bytes]
                    if let total = totals[id] { object["total"] = total }
                    emit(plain: nil, json: object)
                }
            } else if style == .terminal && !quiet && verbosity < 2 {
                drawProgress()
            } else if verbosity >= 2 {
                let now = Date()
                if now.timeIntervalSince(lastProgressLine[id] ?? progress[id]?.started ?? now) >= 5 {
                    lastProgressLine[id] = now
                    emit(plain: "progress " + status(id, now: now, separator: "  "), json: [:])
                }
            }
        case let .warning(id, message):
            emit(plain: "warning  \(id): \(message)", json: ["event": "warning", "stage": id.description, "message": message], trouble: true,
                 tone: .caution)
        case .finished(let result):
            progress[result.id] = nil
            totals[result.id] = nil
            lastProgressLine[result.id] = nil
            emit(plain: Self.line(result), json: Self.json(result), trouble: [.failed, .blocked].contains(result.outcome),
                 tone: Tone(result.outcome))
        }
    }

    /// The summary after a run: every stage with its state, duration and bytes.
    func summary(_ report: Planner.Apply.Report) {
        lock.lock()
        defer { lock.unlock() }
        let counts = Dictionary(grouping: report.results, by: \.outcome).mapValues(\.count)
        let line = NodeOutcome.allCases.map { "\(counts[$0, default: 0]) \($0.rawValue)" }.joined(separator: ", ")
        if style == .json {
            emit(plain: nil, json: ["event": "summary", "run": report.runID, "exit_code": Int(report.exitCode), "left_out": report.leftOut,
                                    "counts": Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) })])
            return
        }
        var lines = ["", "Summary of run \(report.runID):"]
        var tones: [Tone] = [.normal, .normal]
        let width = report.results.map(\.id.description.count).max() ?? 10
        // Two spaces after the longest state, so no state runs into its stage id.
        let stateWidth = NodeOutcome.allCases.map(\.rawValue.count).max()! + 2
        for result in report.results {
            lines.append("  " + result.outcome.rawValue.padding(toLength: stateWidth, withPad: " ", startingAt: 0)
                         + result.id.description.padding(toLength: width + 2, withPad: " ", startingAt: 0)
                         + String(format: "%7.2fs  ", result.duration) + Self.bytes(result.bytes))
            tones.append(Tone(result.outcome))
        }
        lines.append(line + ".")
        if report.leftOut > 0 {
            lines.append("\(report.leftOut) \(report.leftOut == 1 ? "entry" : "entries") could not be read and \(report.leftOut == 1 ? "was" : "were") "
                         + "left out of the backups (see the warnings above); the rest was backed up.")
        }
        if report.interrupted { lines.append("The run was interrupted; the next apply resumes it.") }
        if stats { lines += statistics(report) }
        let shown = colour ? zip(lines, tones + Array(repeating: .normal, count: lines.count)).map { $1.paint($0) } : lines
        emit(plain: lines.joined(separator: "\n"), json: [:], trouble: report.exitCode != 0, shown: shown.joined(separator: "\n"))
    }

    /// `--stats`: what each source found and read, what each collect point wrote, what each backup point sent.
    private func statistics(_ report: Planner.Apply.Report) -> [String] {
        var lines = ["", "Statistics:"]
        for result in report.results where result.id.kind == .dump {
            var line = "  \(result.id): "
            if let changes = result.changes {
                line += "files \(changes.new) new, \(changes.changed) changed, \(changes.unchanged) unchanged, \(changes.removed) removed; "
            }
            line += result.outcome == .succeeded ? "\(Self.bytes(processed[result.id] ?? result.bytes)) read" : result.outcome.rawValue
            lines.append(line)
        }
        for result in report.results where result.id.kind == .collect {
            lines.append("  \(result.id): " + (result.outcome == .succeeded ? "\(Self.bytes(processed[result.id] ?? 0)) written" : result.outcome.rawValue))
        }
        // Per backup point: every upload of its collect points.
        var sent: [String: (bytes: Int64, uploads: Int, unchanged: Int)] = [:]
        for result in report.results where result.id.kind == .upload {
            let backupPoint = result.id.path.first ?? result.id.description
            var total = sent[backupPoint] ?? (0, 0, 0)
            if result.outcome == .succeeded {
                total.bytes += processed[result.id] ?? result.bytes
                total.uploads += 1
            } else {
                total.unchanged += 1
            }
            sent[backupPoint] = total
        }
        for (backupPoint, total) in sent.sorted(by: { $0.key < $1.key }) {
            lines.append("  backup point \(backupPoint): \(Self.bytes(total.bytes)) sent in \(total.uploads) upload(s)"
                         + (total.unchanged > 0 ? ", \(total.unchanged) not sent (cached, skipped or failed)" : ""))
        }
        return lines
    }

    /// To the output, and to the log file in the same form: JSON lines with `--json`, else each line with its
    /// time and the run's id.
    private func emit(plain: String?, json: [String: Any], trouble: Bool = false, tone: Tone = .normal, shown: String? = nil) {
        if style == .json {
            var object = json
            object["time"] = ISO8601DateFormatter().string(from: Date())
            object["schema"] = JSONText.schema
            if let runID { object["run"] = runID }
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                let line = String(decoding: data, as: UTF8.self) + "\n"
                write(line)
                log?.write(Data(line.utf8))
            }
            return
        }
        guard let plain else { return }
        if progressLineShown {
            write("\r\u{1B}[K")
            progressLineShown = false
        }
        if !quiet || trouble { write((shown ?? (colour ? tone.paint(plain) : plain)) + "\n") }
        if let log {
            let prefix = Self.timestamp() + " run " + (runID.map(String.init) ?? "-") + " "
            log.write(Data(plain.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
                .map { prefix + $0 + "\n" }.joined().utf8))
        }
    }

    private func drawProgress() {
        let now = Date()
        guard now.timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = now
        let running = progress.keys.sorted()
        var line = running.prefix(3).map { status($0, now: now, separator: " ") }.joined(separator: " | ")
        if running.count > 3 { line += " | +\(running.count - 3) more" }
        // Never wider than the terminal: a wrapped line could not be redrawn in place.
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 1, line.count >= Int(size.ws_col) {
            line = String(line.prefix(Int(size.ws_col) - 2)) + "…"
        }
        write("\r\u{1B}[K" + line)
        progressLineShown = true
    }

    /// `upload:offsite/www 12.0 MiB / 48.0 MiB 25% 4.1 MiB/s ETA 0:09` (the total, percentage and ETA when
    /// the stage said how much it will process).
    private func status(_ id: StageID, now: Date, separator: String) -> String {
        let value = progress[id] ?? (0, now)
        let elapsed = max(0.001, now.timeIntervalSince(value.started))
        let rate = Double(value.bytes) / elapsed
        var parts = ["\(id)", Self.bytes(value.bytes)]
        if let total = totals[id], total > 0 {
            parts[1] += " / " + Self.bytes(total)
            parts.append("\(min(100, Int(Double(value.bytes) * 100 / Double(total))))%")
            parts.append("\(Self.bytes(Int64(rate)))/s")
            if rate > 0, value.bytes < total { parts.append("ETA " + Self.duration(Double(total - value.bytes) / rate)) }
        } else {
            parts.append("\(Self.bytes(Int64(rate)))/s")
        }
        return parts.joined(separator: separator)
    }

    /// `0:09`, `12:30`, `1:02:03`.
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded(.up))
        let (hours, minutes, rest) = (total / 3600, total / 60 % 60, total % 60)
        return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, rest) : String(format: "%d:%02d", minutes, rest)
    }

    /// How a line is shown on a colour terminal: failures red, what needs a look yellow.
    enum Tone {
        case normal, bad, caution

        init(_ outcome: NodeOutcome) {
            switch outcome {
            case .failed: self = .bad
            case .blocked, .interrupted: self = .caution
            default: self = .normal
            }
        }

        func paint(_ text: String) -> String {
            switch self {
            case .normal: return text
            case .bad: return "\u{1B}[1;31m" + text + "\u{1B}[0m"
            case .caution: return "\u{1B}[33m" + text + "\u{1B}[0m"
            }
        }
    }

    static func line(_ result: NodeResult) -> String {
        let duration = String(format: "%.2fs", result.duration)
        switch result.outcome {
        case .succeeded: return "done     \(result.id)  \(bytes(result.bytes))  \(duration)"
        case .cached: return "cached   \(result.id)"
        case .skipped: return "skipped  \(result.id)  (\(result.detail ?? ""))"
        case .blocked: return "blocked  \(result.id)  (\(result.detail ?? ""))"
        case .interrupted: return "stopped  \(result.id)  (\(result.detail ?? "interrupted"))"
        case .failed: return "FAILED   \(result.id)  \(duration): \(result.detail ?? "")"
        }
    }

    static func json(_ result: NodeResult) -> [String: Any] {
        var object: [String: Any] = ["event": result.outcome == .failed ? "failed" : "finished", "stage": result.id.description,
                                     "state": result.outcome.rawValue, "duration": result.duration, "bytes": result.bytes]
        if let detail = result.detail { object["detail"] = detail }
        return object
    }

    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// Local time with its offset, as a log reader on another machine needs it.
    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = .current
        return formatter.string(from: Date())
    }
}

