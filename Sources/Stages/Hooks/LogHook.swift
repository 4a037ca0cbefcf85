import Foundation
import Pipeline

/// `log`: writes (or appends) the scope's log to a file.
struct LogHook: HookEngine {
    static let spec = EngineSpec("log", .hook, "Writes the scope's log to a file.", parameters: [
        ParameterSpec("path", .path, required: true, "Log file; may use variables such as {Y}-{m}-{d}."),
        ParameterSpec("append", .bool, default: "false", "Append instead of replacing the file."),
    ])

    let path: String
    let append: Bool

    init(_ parameters: EngineParameters) throws {
        path = try parameters.required("path")
        append = parameters.bool("append") ?? false
    }

    func send(_ event: HookEvent, _ report: HookReport, _ context: HookContext) throws {
        let path = report.fill(self.path, event)
        let formatter = ISO8601DateFormatter()
        var text = "\(formatter.string(from: Date())) \(event.rawValue) \(report.status)\n"
        if !report.detailedStatus.isEmpty { text += report.detailedStatus + "\n" }
        if !report.completeLog.isEmpty { text += report.completeLog + "\n" }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        // Never through a link or into a FIFO (a log directory may be writable by others).
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (append ? O_APPEND : O_TRUNC), 0o640)
        guard descriptor >= 0 else { throw StageFailure("cannot write the log \(path): \(FileIO.lastError)") }
        defer { close(descriptor) }
        try Data(text.utf8).withUnsafeBytes { try FileIO.writeAll(descriptor, $0, what: path) }
    }
}
