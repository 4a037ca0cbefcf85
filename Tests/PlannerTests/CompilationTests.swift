import Foundation
import Pipeline
import Testing
import TestSupport
@testable import Planner

@Suite struct CompilationTests {
    func compile(pipeline name: String) throws -> CompiledPipeline {
        let config = try ConfigLoader.load(.file(Fixtures.pipelines.appendingPathComponent(name).path))
        return try Compiler.compile(config, builtins: Fixtures.builtins, secrets: Secrets(environment: [:]))
    }

    func edges(_ pipeline: CompiledPipeline) -> Set<String> {
        Set(pipeline.graph.edges.map { "\($0.from) -> \($0.to)" })
    }

    @Test func everyExamplePipelineValidates() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Fixtures.pipelines.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 3)
        for file in files {
            let pipeline = try compile(pipeline: file)
            #expect(!pipeline.graph.nodes.isEmpty)
            _ = try pipeline.graph.topologicalOrder()
        }
    }

    @Test func demoGraph() throws {
        let pipeline = try compile(pipeline: "demo.yaml")
        #expect(pipeline.ids(pipeline.graph.nodes) == [
            "dump:notes/documents", "dump:notes/app-db", "filter:notes/hashes", "collect:notes",
            "archive:notes/tar.zst", "upload:local-archives/notes", "verify:local-archives/notes",
        ])
        #expect(edges(pipeline) == [
            "dump:notes/documents -> filter:notes/hashes", "dump:notes/app-db -> filter:notes/hashes",
            "filter:notes/hashes -> collect:notes", "collect:notes -> archive:notes/tar.zst",
            "archive:notes/tar.zst -> upload:local-archives/notes", "upload:local-archives/notes -> verify:local-archives/notes",
            "collect:notes -> upload:local-archives/notes",
        ])
        #expect(pipeline.node("upload:local-archives/notes")?.parameters.string("url")
                == "file:///tmp/polyarchiv-demo/backups/notes/host1-2026-03-04.tar.zst")
    }

    @Test func websiteGraph() throws {
        let pipeline = try compile(pipeline: "website.yaml")
        let ids = Set(pipeline.ids(pipeline.graph.nodes))
        #expect(ids == [
            "dump:www.example.com/uploads", "dump:www.example.com/database", "dump:www.example.com/forum",
            "filter:www.example.com/hashes", "collect:www.example.com", "upload:git-mirror/www.example.com",
            "archive:www.example.com/tar.zst", "filter:s3-archives/www.example.com/encrypt", "upload:s3-archives/www.example.com",
            "verify:git-mirror/www.example.com", "verify:s3-archives/www.example.com",
        ])
        #expect(edges(pipeline).isSuperset(of: [
            "collect:www.example.com -> upload:git-mirror/www.example.com",
            "collect:www.example.com -> archive:www.example.com/tar.zst",
            "archive:www.example.com/tar.zst -> filter:s3-archives/www.example.com/encrypt",
            "filter:s3-archives/www.example.com/encrypt -> upload:s3-archives/www.example.com",
        ]))
        let database = try #require(pipeline.node("dump:www.example.com/database"))
        #expect(database.resourceKeys == ["postgresql:local:5432"])
        #expect(pipeline.node("upload:git-mirror/www.example.com")?.resourceKeys == ["host:backup.example.org"])
        // Two secrets cannot be read here; planning goes on and says so.
        #expect(pipeline.warnings.count == 3)
    }

    @Test func multiSiteKeepsTheIntranetLocal() throws {
        let pipeline = try compile(pipeline: "multi-site.yaml")
        let pairs = Set(pipeline.associations.map { "\($0.backupPoint)/\($0.collectPoint)" })
        #expect(pairs == ["offsite/blog", "offsite/shop", "restic-s3/blog", "restic-s3/shop"])
        #expect(!pipeline.graph.nodes.contains { $0.id.description.contains("/intranet") && $0.kind == .upload })
        #expect(pipeline.node("prune:offsite/blog")?.parameters["keep"] == .string("{daily: 7, weekly: 4, monthly: 12, yearly: 2}"))
        // Global hooks wrap the whole run: before every entry, after every exit.
        let before = pipeline.outputs(of: "notify:global/http/before")
        #expect(Set(before) == ["dump:blog/content", "dump:blog/db", "dump:shop/db", "dump:shop/media",
                                "dump:intranet/wiki", "dump:intranet/directory"])
        let after = Set(pipeline.inputs(of: "notify:global/http/after"))
        // restic forgets in its upload stage; archives are pruned by a stage of their own; the verifications
        // come after, and the global hook reports them too.
        #expect(after == ["prune:offsite/blog", "prune:offsite/shop", "upload:restic-s3/blog", "upload:restic-s3/shop",
                          "collect:intranet", "verify:offsite/blog", "verify:offsite/shop", "verify:restic-s3/blog", "verify:restic-s3/shop"])
        #expect(pipeline.node("upload:restic-s3/blog")?.parameters["keep"] != nil)
        #expect(pipeline.node("notify:global/http/after")?.runsAfterFailure == true)
    }

    @Test func backupPointsWithTheSameArchiveShareOneArchiveNode() throws {
        let pipeline = try Fixtures.compile(Fixtures.minimal + """

            backup_points:
              one: {engine: archive, url: "file:///b1/{name}.tar.zst"}
              two: {engine: archive, url: "sftp://h/b2/{name}.tar.zst", filters: [{engine: encrypt, recipients: [age14lp3z2p529p95edeyn69ujlmnkktrfkspc8r4dzdz0g34qu6qc6s7vj35n]}]}
              three: {engine: archive, url: "file:///b3/{name}.tar.zst", filters: [{engine: encrypt, recipients: [age14lp3z2p529p95edeyn69ujlmnkktrfkspc8r4dzdz0g34qu6qc6s7vj35n]}]}
            """)
        #expect(pipeline.ids(pipeline.graph.nodes.filter { $0.kind == .archive }) == ["archive:www/tar.zst"])
        // Identical filter settings on the same input: one encryption, two uploads.
        #expect(pipeline.ids(pipeline.graph.nodes.filter { $0.kind == .filter }) == ["filter:two/www/encrypt"])
        // (and the collect point's tree beside it: its row counts are recorded, its listing is not uploaded)
        #expect(pipeline.inputs(of: "upload:three/www") == ["filter:two/www/encrypt", "collect:www"])
    }

    @Test func keepTakesResticsWithinTiers() throws {
        let pipeline = try Fixtures.compile(Fixtures.minimal + """

            backup_points:
              roll: {engine: rolling_archive, url: "file:///b/{name}-{Y}{m}{d}.tar.gz", keep: {within_daily: 7d, within_weekly: 1mo, yearly: 3}}
            """)
        #expect(pipeline.node("prune:roll/www")?.parameters["keep"] == .string("{yearly: 3, within_daily: 7d, within_weekly: 1mo}"))
        let typo = Fixtures.diagnostics(Fixtures.minimal + """

            backup_points:
              roll: {engine: rolling_archive, url: "file:///b/{name}-{Y}{m}{d}.tar.gz", keep: {within_daly: 7d}}
            """)
        #expect(typo.map(\.message).contains { $0.contains("did you mean `within_daily`") }, "\(typo)")
        let minutes = Fixtures.diagnostics(Fixtures.minimal + """

            backup_points:
              roll: {engine: rolling_archive, url: "file:///b/{name}-{Y}{m}{d}.tar.gz", keep: {within_monthly: 6m}}
            """)
        #expect(minutes.map(\.message).contains { $0.contains("write months as `mo`") }, "\(minutes)")
    }

    @Test func metadataBesideDatedDirectoriesIsAWarning() throws {
        let pipeline = try Fixtures.compile(Fixtures.minimal + """

            backup_points:
              dated: {engine: archive, url: "file:///b/{Y}/{m}/{name}.tar.gz"}
              fixed: {engine: archive, url: "file:///b/{name}/{Y}-{m}-{d}.tar.gz"}
              pinned: {engine: archive, url: "file:///b/{Y}/{name}.tar.gz", metadata_url: "file:///b/{name}.json"}
            """)
        #expect(pipeline.warnings.count == 1)
        #expect(pipeline.warnings.first?.message.contains("backup point `dated`") == true)
        #expect(pipeline.node("upload:fixed/www")?.parameters.string("metadata_url") == "file:///b/www/fixed-www.host1.polyarchiv.json")
        #expect(pipeline.node("upload:pinned/www")?.parameters.string("metadata_url") == "file:///b/www.json")
    }

    @Test func twoFilesMergeAndADuplicateNameNamesBothPlaces() throws {
        let scratch = try TemporaryDirectory("pa-merge")
        let directory = scratch.url
        try Fixtures.minimal.write(to: directory.appendingPathComponent("a.yaml"), atomically: false, encoding: .utf8)
        try "backup_points:\n  out: {engine: archive, url: \"file:///b/{name}.tar.gz\"}\n"
            .write(to: directory.appendingPathComponent("b.yml"), atomically: false, encoding: .utf8)
        try "ignored".write(to: directory.appendingPathComponent("notes.txt"), atomically: false, encoding: .utf8)
        let merged = try ConfigLoader.load(.directory(directory.path))
        #expect(merged.collectPoints.map(\.name) == ["www"])
        #expect(merged.backupPoints.map(\.name) == ["out"])
        try Fixtures.minimal.write(to: directory.appendingPathComponent("c.yaml"), atomically: false, encoding: .utf8)
        do {
            _ = try ConfigLoader.load(.directory(directory.path))
            Issue.record("a duplicate collect point must fail")
        } catch let error as ConfigError {
            let message = try #require(error.diagnostics.first)
            #expect(message.location?.file.hasSuffix("c.yaml") == true)
            #expect(message.message.contains("a.yaml:2:3"))
        }
    }
}

@Suite struct NestingTests {
    /// A collect point inside its own source is refused (BrokenConfigs), unless the source excludes it.
    @Test func aCollectPointInsideItsSourceIsAcceptedWhenTheSourceExcludesIt() throws {
        let pipeline = try Fixtures.compile("""
            collect_points:
              www:
                engine: files
                path: /srv/www/backup/www
                sources:
                  site: {engine: files, path: /srv/www, exclude: ["backup/"]}
            backup_points:
              out: {engine: archive, url: "file:///srv/www/backup/{name}.tar.gz"}
            """)
        #expect(pipeline.collectPoints.map(\.name) == ["www"])
    }
}
