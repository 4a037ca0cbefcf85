import Foundation
import Testing
import Pipeline
@testable import Stages

@Suite struct EnginesTests {
    @Test func everyEngineOfTheDesignIsKnown() {
        let expected: [EngineKind: [String]] = [
            .source: ["files", "remote_files", "postgresql", "mysql", "ldap", "dovecot", "sqlite", "command"],
            .collectPoint: ["files", "git", "archive"],
            .filter: ["hashes", "encrypt"],
            .backupPoint: ["git", "gitlab", "synchronize", "archive", "rolling_archive", "restic"],
            .hook: ["log", "email", "http", "command", "pushgateway", "apprise"],
        ]
        for (kind, names) in expected {
            #expect(Engines.specs(kind).map(\.name) == names)
        }
    }

    @Test func everyParameterIsDocumentedOnceAndGroupsNameRealParameters() {
        for engine in Engines.specs {
            let names = (CommonParameters.of(engine.kind) + engine.parameters).map(\.name)
            #expect(Set(names).count == names.count, "\(engine.name) declares a parameter twice")
            for parameter in engine.parameters { #expect(!parameter.doc.isEmpty) }
            for name in (engine.exclusive + engine.oneOf).joined() {
                #expect(engine.parameter(name) != nil, "\(engine.name): group names unknown parameter \(name)")
            }
        }
    }

    @Test func archiveFormatsFollowTheSuffix() {
        #expect(ArchiveFormat.from(name: "x/2026.tar.zst") == .tarZstd)
        #expect(ArchiveFormat.from(name: "a.TAR.GZ") == .tarGzip)
        #expect(ArchiveFormat.from(name: "a.tgz") == .tarGzip)
        #expect(ArchiveFormat.from(name: "a.tar") == .tar)
        #expect(ArchiveFormat.from(name: "a.zip") == nil)
    }

    @Test func resourceKeysNameTheHost() {
        #expect(TransportParameters.hostKey("sftp://bk@Backup.example.org:2222/x") == ["host:backup.example.org:2222"])
        #expect(TransportParameters.hostKey("file:///srv/x").isEmpty)
        #expect(TransportParameters.hostKey("/srv/x").isEmpty)
    }

    @Test func theCLibrariesAreLinked() {
        let summary = LibraryVersions.summary
        #expect(summary.contains("libgit2 1."))
        #expect(summary.contains("libcurl/"))
        #expect(summary.contains("libarchive"))
    }
}

/// How an s3:// URL becomes an HTTP one: the bucket in the host name or in the path.
@Suite struct S3AddressingTests {
    func url(_ endpoint: String?, virtual: Bool, _ s3: String = "s3://bucket/dir/a b.tar.zst") throws -> String {
        var options = TransportOptions()
        options.s3Endpoint = endpoint
        options.s3VirtualHosted = virtual
        options.s3Region = "eu-west-3"
        return try S3Transport(options: options).httpURL(s3)
    }

    @Test func virtualHostedAndPathStyle() throws {
        #expect(try url(nil, virtual: true) == "https://bucket.s3.eu-west-3.amazonaws.com/dir/a%20b.tar.zst")
        #expect(try url(nil, virtual: false) == "https://s3.eu-west-3.amazonaws.com/bucket/dir/a%20b.tar.zst")
        #expect(try url("http://localhost:9000/", virtual: true) == "http://bucket.localhost:9000/dir/a%20b.tar.zst")
        #expect(try url("http://127.0.0.1:9000", virtual: false) == "http://127.0.0.1:9000/bucket/dir/a%20b.tar.zst")
    }
}

/// A restic snapshot's path comes from the repository: it may only choose a directory inside the scratch one.
@Suite struct ResticSnapshotPathTests {
    @Test func aSnapshotPathNeverLeadsOutOfTheScratchDirectory() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pa-restic-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch + "/srv/www", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let parent = (scratch as NSString).deletingLastPathComponent
        #expect(ResticBackupPoint.restoredRoot(scratch: scratch, snapshotPath: "/srv/www") == scratch + "/srv/www")
        #expect(ResticBackupPoint.restoredRoot(scratch: scratch, snapshotPath: ".") == scratch)
        for hostile in ["/../..", "/srv/../../..", "/../" + (parent as NSString).lastPathComponent, "/../../etc"] {
            #expect(ResticBackupPoint.restoredRoot(scratch: scratch, snapshotPath: hostile) == scratch, "\(hostile)")
        }
    }
}

/// A file:// upload links the store object under its final name; when an interrupted run already did, the
/// temporary name must not stay behind (rename of two links to one file does nothing).
@Suite struct FileUploadTests {
    @Test func uploadingOverTheSameFileLeavesNoTemporaryName() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pa-upload-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/store", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let object = directory + "/store/object"
        try "archive bytes".write(toFile: object, atomically: false, encoding: .utf8)
        let final = directory + "/backups/site.tar.zst"
        let transport = FileTransport()
        try transport.upload(object, to: "file://" + final, identity: nil, cancellation: CancellationFlag())
        try transport.upload(object, to: "file://" + final, identity: nil, cancellation: CancellationFlag())
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/backups") == ["site.tar.zst"])
        #expect(try String(contentsOfFile: final, encoding: .utf8) == "archive bytes")
    }
}
