import Foundation
import Testing
import TestSupport

/// What restore may create and where: only files, directories and links, under the target (through a
/// link in the target's own path too), never a partial file under a final name, even when interrupted.
@Suite(.serialized) struct RestoreSafetyTests {
    /// `filters`: the collect point's (YAML flow list); `backupPoint`: another backup point than the archive.
    func makeSandbox(archive: String = "{name}.tar.gz", filters: String = "[]", backupPoint: String? = nil) throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.write("data/www/index.html", "<h1>one</h1>\n")
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect/{name}
                sources:
                  www: {engine: files, path: $ROOT/data/www}
                filters: \(filters)
            backup_points:
              \(backupPoint ?? "local: {engine: archive, url: \"file://$ROOT/backups/\(archive)\"}")
            """)
        return sandbox
    }

    /// Replaces the backup with a tar.gz the script writes (`t` is the open tarfile), and makes the metadata
    /// document vouch for it, as a tampered but consistent backup point would.
    func tamper(_ sandbox: Sandbox, _ script: String) throws {
        let archive = sandbox.path("backups/site.tar.gz")
        let write = try Sandbox.shell("""
            python3 -c "import tarfile,io,sys
            t=tarfile.open(sys.argv[1],'w:gz')
            def add(name, kind, mode=0o644, data=b'', major=0, minor=0):
                i=tarfile.TarInfo(name); i.type=kind; i.mode=mode; i.size=len(data); i.devmajor=major; i.devminor=minor
                t.addfile(i, io.BytesIO(data) if data else None)
            \(script)
            t.close()" '\(archive)' 2>&1
            """)
        #expect(write.status == 0, "\(write.output)")
        let digest = try Sandbox.shell("sha256sum '\(archive)' | cut -d' ' -f1").output.trimmingCharacters(in: .whitespacesAndNewlines)
        try Sandbox.shell("python3 -c \"import json,sys; p=sys.argv[1]; d=json.load(open(p)); d['backups'][0]['digest']=sys.argv[2]; "
                          + "d['backups'][0]['size']=int(sys.argv[3]); json.dump(d, open(p,'w'))\" "
                          + "'\(sandbox.path("backups/" + Sandbox.document("local", "site")))' \(digest) $(stat -c %s '\(archive)')")
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    @Test func devicesFIFOsAndSocketsFromATamperedArchiveAreRefusedNamingEach() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        try tamper(sandbox, """
            add('www/index.html', tarfile.REGTYPE, data=b'<h1>one</h1>')
            add('www/pipe', tarfile.FIFOTYPE)
            add('www/null', tarfile.CHRTYPE, major=1, minor=3)
            add('www/disk', tarfile.BLKTYPE, major=7, minor=0)
            """)
        let run = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(run.status == 2)
        for entry in ["www/pipe (FIFO)", "www/null (character device)", "www/disk (block device)"] {
            #expect(run.stderr.contains(entry), "\(entry) named: \(run.stderr)")
        }
        #expect(FileManager.default.fileExists(atPath: sandbox.path("restored/site/www/index.html")), "the rest is restored")
        let left = try Sandbox.shell("find '\(sandbox.path("restored"))' ! -type f ! -type d ! -type l")
        #expect(left.output.isEmpty, "no special file was created: \(left.output)")
    }

    @Test func setuidAndSetgidBitsAreClearedUnlessKept() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        try tamper(sandbox, """
            add('www/index.html', tarfile.REGTYPE, data=b'<h1>one</h1>')
            add('www/su', tarfile.REGTYPE, mode=0o4755, data=b'#!/bin/sh')
            add('www/sg', tarfile.REGTYPE, mode=0o2755, data=b'#!/bin/sh')
            add('www/shared', tarfile.DIRTYPE, mode=0o3777)
            """)
        let run = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try mode(sandbox.path("restored/site/www/su")) == 0o755)
        #expect(try mode(sandbox.path("restored/site/www/sg")) == 0o755)
        #expect(try mode(sandbox.path("restored/site/www/shared")) == 0o3777, "a directory keeps its sticky and setgid bits")
        let kept = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("kept"), "--keep-special-bits"])
        #expect(kept.status == 0, "\(kept.stderr)")
        #expect(try mode(sandbox.path("kept/site/www/su")) == 0o4755)
        #expect(try mode(sandbox.path("kept/site/www/sg")) == 0o2755)
    }

    @Test func aLinkInTheTargetsOwnPathIsFollowed() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        try FileManager.default.createDirectory(atPath: sandbox.path("nas/backup"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: sandbox.path("backup"), withDestinationPath: sandbox.path("nas/backup"))
        let run = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("backup/restored")])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("nas/backup/restored/site/www/index.html"), encoding: .utf8) == "<h1>one</h1>\n")
    }

    @Test func anInterruptedRestoreLeavesNothingUnderAFinalNameAndTheRerunCompletes() throws {
        let sandbox = try makeSandbox(archive: "{name}.tar")
        // Large enough that the extraction is still under way when it is interrupted.
        #expect(try Sandbox.shell("head -c 300000000 /dev/urandom > '\(sandbox.path("data/www/big.bin"))'").status == 0)
        #expect(try sandbox.apply().status == 0)
        let target = sandbox.path("restored")
        let partial = target + "/.site.polyarchiv-partial/www/big.bin"
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["restore", "-c", sandbox.config, "--target", target]
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        // Interrupted while the big file is being written.
        var waited = 0
        while process.isRunning, waited < 30_000 {
            var info = stat()
            if stat(partial, &info) == 0, info.st_size > 0 { break }
            usleep(2_000)
            waited += 2
        }
        #expect(process.isRunning, "the restore was still running when interrupted")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 130, "\(stderr)")
        #expect(stderr.contains("interrupted"), "\(stderr)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
        #expect(left.isEmpty, "nothing left behind: \(left)")
        let rerun = try CLI.run(["restore", "-c", sandbox.config, "--target", target])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(try Sandbox.shell("cmp '\(sandbox.path("data/www/big.bin"))' '\(target)/site/www/big.bin'").status == 0)
    }
}
