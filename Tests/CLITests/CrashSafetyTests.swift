import Foundation
import Testing
import TestSupport

/// `kill -9` at random moments of an apply: the next apply completes, the backup point then holds exactly
/// what a clean run produces, no final name ever holds a partial file, and the journal stays sound.
@Suite struct CrashSafetyTests {
    static let pipeline = """
        collect_points:
          data:
            engine: files
            path: $STATE/collect
            sources:
              tree: {engine: files, path: $DATA}
        backup_points:
          local:
            engine: archive
            url: "file://$STATE/backups/{name}.tar.zst"
        """

    func configure(_ sandbox: Sandbox, data: String, state: String) throws -> String {
        let file = state + ".yaml"
        try Self.pipeline.replacingOccurrences(of: "$DATA", with: data).replacingOccurrences(of: "$STATE", with: state)
            .write(toFile: file, atomically: false, encoding: .utf8)
        return file
    }

    @Test func twentyKillsAtRandomMomentsNeverLoseOrCorruptABackup() throws {
        let sandbox = try Sandbox()
        let data = sandbox.path("data")
        // About 24 MiB in 120 files, half of it incompressible, so a run lasts long enough to be cut.
        let generate = try Sandbox.shell("""
            mkdir -p '\(data)/text' '\(data)/bin' && \
            for i in $(seq 1 60); do head -c 200000 /dev/urandom > '\(data)/bin/'$i.bin; \
            seq 1 40000 | sed "s/^/line $i /" > '\(data)/text/'$i.txt; done
            """)
        #expect(generate.status == 0, "\(generate.output)")

        // The reference: one clean run.
        let reference = sandbox.path("reference")
        let referenceConfig = try configure(sandbox, data: data, state: reference)
        let start = Date()
        let clean = try CLI.run(["apply", "-c", referenceConfig, "--state-dir", reference + "/state"])
        let cleanDuration = Date().timeIntervalSince(start)
        #expect(clean.status == 0, "\(clean.stdout)\n\(clean.stderr)")
        let expected = try Data(contentsOf: URL(fileURLWithPath: reference + "/backups/data.tar.zst"))

        var generator = SystemRandomNumberGenerator()
        var killedMidRun = 0
        for iteration in 0..<20 {
            let state = sandbox.path("run\(iteration)")
            let config = try configure(sandbox, data: data, state: state)
            let process = Process()
            process.executableURL = CLI.binary
            process.arguments = ["apply", "-c", config, "--state-dir", state + "/state"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(Double.random(in: 0...(cleanDuration * 0.7), using: &generator) * 1_000_000))
            if process.isRunning { killedMidRun += 1 }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()

            // Whatever sits under the final name after the kill is whole.
            let final = state + "/backups/data.tar.zst"
            if FileManager.default.fileExists(atPath: final) {
                #expect(try Data(contentsOf: URL(fileURLWithPath: final)) == expected, "iteration \(iteration): partial final file")
            }
            let resumed = try CLI.run(["apply", "-c", config, "--state-dir", state + "/state"])
            #expect(resumed.status == 0, "iteration \(iteration): \(resumed.stdout)\n\(resumed.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: final)) == expected, "iteration \(iteration): backup differs")
            let backups = try FileManager.default.contentsOfDirectory(atPath: state + "/backups")
            #expect(backups.sorted() == ["data.tar.zst", "data.tar.zst.polyarchiv-tree", Sandbox.document("local", "data")],
                    "iteration \(iteration): leftovers \(backups)")
            let metadata = try Data(contentsOf: URL(fileURLWithPath: state + "/backups/" + Sandbox.document("local", "data")))
            let document = try JSONSerialization.jsonObject(with: metadata) as? [String: Any]
            let listed = document?["backups"] as? [[String: Any]]
            #expect(listed?.count == 1, "iteration \(iteration): the metadata lists the backup once")
            let collectDiff = try Sandbox.shell("diff -r '\(data)' '\(state)/collect/tree'")
            #expect(FileManager.default.fileExists(atPath: state + "/collect/.polyarchiv-collect-point"))
            #expect(collectDiff.status == 0, "iteration \(iteration): \(collectDiff.output)")
            let integrity = try Sandbox.shell("sqlite3 '\(state)/state/journal.sqlite' 'PRAGMA integrity_check'")
            #expect(integrity.output.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "iteration \(iteration)")
            try? FileManager.default.removeItem(atPath: state)
        }
        #expect(killedMidRun >= 10, "most kills must land while the run is going (\(killedMidRun) of 20)")
    }
}
