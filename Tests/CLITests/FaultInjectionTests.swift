import Foundation
import Testing
import TestSupport

/// Faults on the wire, through a TCP proxy in front of each real server (fault_proxy.py): connections cut,
/// truncated, stalled or corrupted at chosen byte offsets, on every upload and download attempt. Whatever
/// happens, no final name holds anything but a whole, correct backup, the next apply without the fault
/// completes, and a restore gives back exactly the data or fails with nothing half-restored. The suite
/// prints its tally (faults tried, survived, bytes lost, partial files under final names).
@Suite(.serialized) struct FaultInjectionTests {
    struct Fault: CustomStringConvertible {
        let direction: String
        let action: String
        let at: Int
        var description: String { "\(action) \(direction) at \(at)" }
        var rule: [String: Any] {
            var rule: [String: Any] = ["every": true, "direction": direction, "action": action, "at": at]
            if action == "stall" { rule["seconds"] = 4 }
            return rule
        }
    }

    /// Upload faults land inside the archive's bytes (the data is 3 MiB of random bytes); download faults in
    /// the restore's transfer of it. A stall holds the stream for 4 s on every connection.
    static let uploadFaults = [Fault(direction: "upstream", action: "cut", at: 1 << 20),
                               Fault(direction: "upstream", action: "truncate_and_close", at: 2 << 20),
                               Fault(direction: "upstream", action: "corrupt", at: 1_500_000),
                               Fault(direction: "upstream", action: "stall", at: 1 << 20)]
    static let downloadFaults = [Fault(direction: "downstream", action: "cut", at: 1 << 20),
                                 Fault(direction: "downstream", action: "corrupt", at: 1_500_000),
                                 Fault(direction: "downstream", action: "stall", at: 1 << 20)]

    func setFaults(_ proxy: TestServer, _ faults: [Fault]) throws {
        let control = proxy.string("control")
        try JSONSerialization.data(withJSONObject: faults.map(\.rule)).write(to: URL(fileURLWithPath: control + ".new"))
        #expect(rename(control + ".new", control) == 0)
    }

    @Test(arguments: [TransportTests.Kind.sftp, .ftp, .webdav, .s3])
    func faultsOnTheWireNeverLeaveABadBackupOrAHalfRestore(kind: TransportTests.Kind) throws {
        var tried = 0, survived = 0, lost = 0, partial = 0
        for (index, fault) in (Self.uploadFaults + Self.downloadFaults).enumerated() {
            // A server (and a proxy) of its own for each fault: nothing one leaves can answer for another.
            guard let server = try TestServer.start(kind.script, options: kind.options) else { return }
            defer { server.stop() }
            guard let proxy = try TestServer.start("fault_proxy.py", options: ["--target", "127.0.0.1:\(server.port)"]
                                                   + (kind == .ftp ? ["--ftp"] : [])) else { return }
            defer { proxy.stop() }
            tried += 1
            let sandbox = try Sandbox()
            #expect(try Sandbox.shell("mkdir -p '\(sandbox.path("data"))' && head -c 3145728 /dev/urandom > '\(sandbox.path("data/random.bin"))'").status == 0)
            var (yaml, list) = try TransportTests().backupPoint(kind, server, sandbox)
            yaml = yaml.replacingOccurrences(of: ":\(server.port)", with: ":\(proxy.port)")
            if kind == .sftp {
                // The host key, known for the proxy's port.
                let knownHosts = sandbox.path("known_hosts")
                try String(contentsOfFile: server.string("known_hosts"), encoding: .utf8)
                    .replacingOccurrences(of: "]:\(server.port)", with: "]:\(proxy.port)").write(toFile: knownHosts, atomically: false, encoding: .utf8)
                yaml = yaml.replacingOccurrences(of: server.string("known_hosts"), with: knownHosts)
            }
            yaml = String(yaml.dropLast()) + ", retries: 1}"
            try sandbox.configure("""
                collect_points:
                  site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
                backup_points:
                  offsite: \(yaml)
                """)
            let isUpload = index < Self.uploadFaults.count
            var ok = true
            if isUpload {
                try setFaults(proxy, [fault])
                let faulty = try sandbox.apply()
                // Whatever the fault did, the final name holds nothing or the whole, right archive.
                if try list().contains("site.tar.zst") {
                    let check = try restoreAndCompare(sandbox, into: "check-\(index)")
                    if !check { partial += 1; ok = false }
                }
                #expect(faulty.status == 0 || faulty.status == 2, "\(kind) \(fault): \(faulty.stdout)")
                try setFaults(proxy, [])
                let clean = try sandbox.apply()
                #expect(clean.status == 0, "\(kind) \(fault): after the fault: \(clean.stdout)")
                if clean.status != 0 { ok = false }
                if !(try restoreAndCompare(sandbox, into: "restored")) { lost += 1; ok = false }
            } else {
                try setFaults(proxy, [])
                #expect(try sandbox.apply().status == 0)
                try setFaults(proxy, [fault])
                let target = sandbox.path("faulty-restore")
                let restore = try CLI.run(["restore", "-c", sandbox.config, "--target", target])
                if restore.status == 0 {
                    if try Sandbox.shell("cmp '\(sandbox.path("data/random.bin"))' '\(target)/site/www/random.bin'").status != 0 { partial += 1; ok = false }
                } else {
                    let left = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
                    if !left.isEmpty { partial += 1; ok = false }
                    #expect(left.isEmpty, "\(kind) \(fault): a failed restore leaves nothing: \(left)")
                }
                try setFaults(proxy, [])
                if !(try restoreAndCompare(sandbox, into: "restored")) { lost += 1; ok = false }
            }
            print("fault injection \(kind) \(fault): " + (ok ? "survived" : "FAILED"))
            #expect(ok, "\(kind) \(fault)")
            if ok { survived += 1 }
        }
        print("fault injection \(kind): \(tried) faults tried, \(survived) survived, \(lost) backups lost, \(partial) partial or wrong files under final names")
        #expect(lost == 0 && partial == 0)
    }

    func restoreAndCompare(_ sandbox: Sandbox, into name: String) throws -> Bool {
        let target = sandbox.path(name)
        let restore = try CLI.run(["restore", "-c", sandbox.config, "--target", target])
        guard restore.status == 0 else {
            print("restore into \(name) failed: \(restore.stdout)\(restore.stderr)")
            return false
        }
        let compare = try Sandbox.shell("cmp '\(sandbox.path("data/random.bin"))' '\(target)/site/www/random.bin' 2>&1")
        if compare.status != 0 { print("restored into \(name), but: \(compare.output) \(restore.stdout)") }
        return compare.status == 0
    }
}
